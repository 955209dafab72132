// The public page's map: the month's published district counts (counts.geojson, the same file anyone
// downloads) as a choropleth of cases received, with each district's figures on hover and in a legend.
// Leaflet is the platform's own copy; there is no basemap, so nothing is fetched from outside.
const messages = JSON.parse(document.getElementById("cityops-messages").textContent);
const word = (key, values = {}) =>
  (messages[`public.${key}`] || key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
const SHADES = ["#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c"];

/** Up to five classes by quantile of the districts' counts (each shade holds about as many districts), their
 * lower limits rounded to tens and never repeated, so no class is a sliver. */
function classes(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const limits = [1, 2, 3, 4].map((q) => Math.round(sorted[Math.floor((q * sorted.length) / 5)] / 10) * 10);
  return limits.filter((limit, i) => limit > sorted[0] && limit !== limits[i - 1]);
}

function shade(value, breaks) {
  return SHADES[breaks.filter((limit) => value >= limit).length];
}

function legend(breaks, values) {
  const max = Math.max(...values);
  const control = L.control({ position: "bottomright" });
  control.onAdd = () => {
    const box = L.DomUtil.create("div", "public-legend");
    const edges = [Math.min(...values), ...breaks, max + 1];
    box.innerHTML = `<strong>${word("received")}</strong>`;
    SHADES.slice(0, breaks.length + 1).forEach((colour, i) => {
      const row = L.DomUtil.create("div", "", box);
      const swatch = L.DomUtil.create("span", "swatch", row);
      swatch.style.background = colour;
      row.append(` ${edges[i]}–${Math.max(edges[i], edges[i + 1] - 1)}`);
    });
    return box;
  };
  return control;
}

async function draw(element) {
  const answer = await fetch(element.dataset.counts);
  if (!answer.ok) {
    element.textContent = word("map_failed");
    return;
  }
  const counts = await answer.json();
  const values = counts.features.map((f) => f.properties.received);
  const breaks = classes(values);
  const map = L.map(element, { zoomSnap: 0.25, attributionControl: false, scrollWheelZoom: false });
  const layer = L.geoJSON(counts, {
    style: (f) => ({ color: "#fff", weight: 1, fillOpacity: 0.85, fillColor: shade(f.properties.received, breaks) }),
    onEachFeature: (f, shape) => {
      const p = f.properties;
      shape.bindTooltip(`${p.name}<br>${word("received")} ${p.received} · ${word("closed")} ${p.closed}`, { sticky: true });
    },
  }).addTo(map);
  map.fitBounds(layer.getBounds(), { animate: false });
  legend(breaks, values).addTo(map);
}

const element = document.getElementById("public-map");
if (element) draw(element);
