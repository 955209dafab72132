// The case page: the map inset (the case's place and its grid outline, no basemap needed: offline),
// printing, and after a step taken here the whole case read again (timeline, assignments, clocks).
function drawInset() {
  const inset = document.getElementById("inset");
  if (!inset || !window.L || inset.dataset.drawn) return;
  inset.dataset.drawn = "1";
  const point = [Number(inset.dataset.lat), Number(inset.dataset.lon)];
  const map = L.map(inset, { zoomControl: true, attributionControl: false }).setView(point, 16);
  L.circleMarker(point, { radius: 9, color: "#b3261e", weight: 3, fillOpacity: 0.6 }).addTo(map);
  fetch(`/api/v1/units/${encodeURIComponent(inset.dataset.grid)}`, { credentials: "same-origin" })
    .then((response) => (response.ok ? response.json() : null))
    .then((grid) => {
      if (!grid) return;
      const outline = L.geoJSON(grid, { style: { color: "#0b5cad", weight: 2, fill: false } }).addTo(map);
      map.fitBounds(outline.getBounds().extend(point), { animate: false, padding: [12, 12] });
    });
}

document.addEventListener("click", (event) => {
  if (event.target.closest?.("[data-print]")) window.print();
});
document.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful && event.detail.requestConfig?.verb === "post") {
    window.htmx.ajax("GET", location.pathname, { target: "#main", select: "#main", swap: "outerHTML" });
  }
});
document.addEventListener("htmx:afterSettle", drawInset);
drawInset();
