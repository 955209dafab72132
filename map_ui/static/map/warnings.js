/* 预警区域 on the command map: the official warnings in force over the commander's jurisdiction (CAP alerts
   received from the meteorological and other services, GET /api/v1/warnings), each area in its warning
   colour (蓝黄橙红) until it expires, is replaced or is cancelled; read again every REFRESH_MS. */
"use strict";
(function () {
  var C = window.cityops;
  var REFRESH_MS = 60000;
  var COLOUR = {blue: "#0b5cad", yellow: "#b38600", orange: "#c25400", red: "#b3261e"};

  function warningLayer(map, options) {
    if (!options.warnings) return;
    var layer = L.geoJSON(null, {
      style: function (feature) {
        var colour = COLOUR[feature.properties.colour] || COLOUR.orange;
        return {color: colour, weight: 2, dashArray: "2 6", fillColor: colour, fillOpacity: 0.06, interactive: true};
      },
      onEachFeature: function (feature, shape) {
        var p = feature.properties;
        shape.bindPopup("<div class='cityops-popup'><strong>" + C.escapeHtml(p.headline || p.event) + "</strong><div>" +
          C.escapeHtml(C.t("warnings.until", {sender: p.sender, at: C.beijing(p.expires)})) + "</div></div>");
      }
    }).addTo(map);
    layer.bringToBack();
    if (map.cityopsLayers) map.cityopsLayers.addOverlay(layer, C.t("warnings.layer"));
    function load() {
      C.getJson("/api/v1/warnings").then(function (collection) {
        layer.clearLayers();
        layer.addData(collection);
        window.cityopsWarnings = collection.features.length;
      }).catch(function (error) { C.status(C.errorText(error)); });
    }
    load();
    setInterval(load, REFRESH_MS);
  }

  C.extend(warningLayer);
})();
