// The metropolitan map: this city, the peer cities' boundaries and every handover's point, coloured by
// direction (out: handed to a neighbour; in: handed here). Leaflet is the platform's own copy and there is
// no basemap, so nothing is fetched from outside the platform.
const messages = JSON.parse(document.getElementById("cityops-messages").textContent);
const word = (key) => messages[`metro.${key}`] || key;
const COLOURS = { own: "#3182bd", peer: "#fd8d3c", out: "#d94801", in: "#08519c" };

async function json(url) {
  const answer = await fetch(url, { credentials: "same-origin" });
  if (!answer.ok) throw new Error(`${url}: ${answer.status}`);
  return answer.json();
}

async function draw(element) {
  let own, peers, handovers;
  try {
    [own, peers, handovers] = await Promise.all([
      json("/api/v1/peers/self"),
      json("/api/v1/peers"),
      json("/api/v1/handovers"),
    ]);
  } catch (failed) {
    element.textContent = word("map_failed");
    return;
  }
  const map = L.map(element, { zoomSnap: 0.25, attributionControl: false, scrollWheelZoom: false });
  const areas = L.featureGroup().addTo(map);
  L.geoJSON(own.boundary, { style: { color: COLOURS.own, weight: 2, fillOpacity: 0.08 } })
    .bindTooltip(own.name, { sticky: true })
    .addTo(areas);
  for (const peer of peers.peers) {
    L.geoJSON(peer.boundary, { style: { color: COLOURS.peer, weight: 2, dashArray: "4 4", fillOpacity: 0.08 } })
      .bindTooltip(peer.name, { sticky: true })
      .addTo(areas);
  }
  map.fitBounds(areas.getBounds(), { animate: false });  // the view first: a point is placed in it
  for (const h of handovers.handovers) {
    const label = `${h.direction === "out" ? word("outgoing_short") : word("incoming_short")} · ${h.peer_name} · ${h.category_name || h.category}`;
    L.circleMarker([h.lat, h.lon], { radius: 6, color: "#fff", weight: 1, fillOpacity: 0.9, fillColor: COLOURS[h.direction] })
      .bindTooltip(label)
      .addTo(map);
  }
  const legend = L.control({ position: "bottomright" });
  legend.onAdd = () => {
    const box = L.DomUtil.create("div", "public-legend");
    for (const [key, colour] of Object.entries(COLOURS)) {
      const row = L.DomUtil.create("div", "", box);
      L.DomUtil.create("span", "swatch", row).style.background = colour;
      row.append(` ${word(`legend.${key}`)}`);
    }
    return box;
  };
  legend.addTo(map);
}

const element = document.getElementById("metro-map");
if (element) draw(element);
