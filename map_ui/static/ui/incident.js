// The incident pages' maps (no basemap needed: offline): on the list, a map of the districts to place a
// new incident's command post by clicking; on the board, the incident's areas by kind, its command
// post, its cases (linked, reported inside, proposed) and the forces near it, and a click setting the
// centre of an area to draw. After a form here the board is the server's again (htmx swaps #main), and
// so it is when the change feed says the incident moved (its timeline grew) — unless the user is typing.
import { liveStream } from "./ui.js";

const messages = JSON.parse(document.getElementById("cityops-messages").textContent);
const word = (key) => messages[key] || key;
const AREA_STYLE = {
  perimeter: { color: "#b3261e", weight: 2, fillOpacity: 0.05, dashArray: "6 4" },
  hot_zone: { color: "#b3261e", weight: 2, fillOpacity: 0.25 },
  warm_zone: { color: "#e07a00", weight: 2, fillOpacity: 0.18 },
  evacuation: { color: "#6a3d9a", weight: 2, fillOpacity: 0.12 },
  closure: { color: "#333333", weight: 3, fillOpacity: 0.3 },
  staging: { color: "#1b7a3a", weight: 2, fillOpacity: 0.25 },
};
const CASE_COLOUR = { linked: "#b3261e", flagged: "#e07a00", proposed: "#0b5cad" };

// Leaflet reads a string as HTML: what people typed (an area's label, a force's name) goes in as text
const asText = (words) => document.createTextNode(words);

function json(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : null;
}

function districts(map) {
  fetch("/api/v1/units?tier=district&limit=50", { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then((units) => {
      if (units) L.geoJSON(units, { style: { color: "#56496e", weight: 1.5, fill: false }, interactive: false }).addTo(map);
    });
}

/** A click sets the two inputs (and a marker), so a point is chosen on the map, not typed. */
function picking(map, lonInput, latInput) {
  let marker = null;
  map.on("click", (event) => {
    lonInput.value = event.latlng.lng.toFixed(6);
    latInput.value = event.latlng.lat.toFixed(6);
    if (marker) marker.setLatLng(event.latlng);
    else marker = L.marker(event.latlng, { keyboard: false }).addTo(map);
    document.dispatchEvent(new CustomEvent("cityops:picked"));
  });
}

function drawPicker() {
  const canvas = document.getElementById("pick");
  if (!canvas || !window.L || canvas.dataset.drawn) return;
  canvas.dataset.drawn = "1";
  const map = L.map(canvas, { attributionControl: false }).setView([32.06, 118.8], 9);
  window.cityopsPickMap = map;
  districts(map);
  picking(map, document.getElementById("pick-lon"), document.getElementById("pick-lat"));
}

function drawBoard() {
  const canvas = document.getElementById("board-map-canvas");
  if (!canvas || !window.L || canvas.dataset.drawn) return;
  canvas.dataset.drawn = "1";
  const post = [Number(canvas.dataset.lat), Number(canvas.dataset.lon)];
  const map = L.map(canvas, { attributionControl: false }).setView(post, 14);
  districts(map);
  const areas = L.geoJSON(json("incident-areas"), {
    style: (feature) => AREA_STYLE[feature.properties.kind] || AREA_STYLE.perimeter,
    onEachFeature: (feature, layer) => layer.bindTooltip(
      asText(`${word(`incident.area.${feature.properties.kind}`)} ${feature.properties.label || ""}`)),
  }).addTo(map);
  L.marker(post, { title: word("incident.post_marker") }).addTo(map).bindTooltip(word("incident.post_marker"));
  for (const item of json("incident-cases") || []) {
    L.circleMarker([item.lat, item.lon], { radius: 6, color: CASE_COLOUR[item.link] || "#555", weight: 2, fillOpacity: 0.7 })
      .bindTooltip(`#${item.case_id} · ${word(`incident.link.${item.link}`)}`)
      .addTo(map);
  }
  if (areas.getLayers().length) map.fitBounds(areas.getBounds(), { animate: false, padding: [16, 16] });
  const bounds = map.getBounds();
  const bbox = [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()].map((v) => v.toFixed(5)).join(",");
  fetch(`/api/v1/forces?format=geojson&bbox=${bbox}&limit=1000`, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then((forces) => {
      if (!forces) return;
      L.geoJSON(forces, {
        pointToLayer: (feature, at) => L.circleMarker(at, { radius: 4, color: "#1b7a3a", weight: 1, fillOpacity: 0.9 }),
        onEachFeature: (feature, layer) => layer.bindTooltip(asText(feature.properties.name || "")),
      }).addTo(map);
    });
  const lon = document.getElementById("area-lon"), lat = document.getElementById("area-lat");
  if (lon && lat) picking(map, lon, lat);
  window.cityopsBoardMap = map;
}

function draw() {
  drawPicker();
  drawBoard();
  window.cityopsReady = true; // what a test waits for: the page's maps are drawn
}

// a form the user has begun to fill is never wiped by a refresh: the board says it has news instead, and is
// read again when they submit (the answer is the board) or press that notice
let dirty = false;
const touched = (event) => { if (event.target.closest?.("#main form")) dirty = true; };
document.addEventListener("input", touched);
document.addEventListener("change", touched);
document.addEventListener("cityops:picked", () => { dirty = true; });
document.addEventListener("htmx:afterSwap", () => { dirty = false; });
const BACKGROUND = "X-Board-Refresh";
function reload(background = false) {
  window.htmx.ajax("GET", location.pathname + location.search, {
    target: "#main", select: "#main", swap: "outerHTML", headers: background ? { [BACKGROUND]: "1" } : {},
  });
}
function news() {
  const notice = document.getElementById("board-stale");
  if (notice) notice.hidden = false;
}
function refresh() {
  if (dirty) news();
  else reload(true);
}
// a background read that comes back after the user began a form is not swapped in: the notice instead
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.requestConfig?.headers?.[BACKGROUND] && dirty) {
    event.detail.shouldSwap = false;
    news();
  }
});
document.addEventListener("click", (event) => { if (event.target.closest?.("[data-board-reload]")) reload(); });

const board = document.getElementById("board-map-canvas");
if (board) {
  liveStream({
    changes: (event) => {
      const changed = JSON.parse(event.data).incidents || [];
      if (changed.some((item) => item.id === board.dataset.incident)) refresh();
    },
  });
}
document.addEventListener("htmx:afterSettle", draw);
draw();
