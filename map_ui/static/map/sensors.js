/* 物联感知 on the command map: every sensor of the commander's jurisdiction by condition — 正常 (normal),
   报警 (alarm), 故障 (fault: it sent a physically impossible value), 离线 (offline: silent past its rule) —
   as small squares (cases are circles, forces diamonds), and in each one's popup its newest value and a
   24-hour chart drawn from GET /api/v1/sensors/{code}/readings (averaged buckets, the band of each bucket's
   low and high shaded), times in Beijing time.

   Zoomed out (below DETAIL_ZOOM) only the sensors that need eyes are drawn — alarm, fault, offline —
   for the whole jurisdiction; from DETAIL_ZOOM on, every sensor in view. Read again every REFRESH_MS and on
   each move; an alarm that files a case also reaches the map at once as that case, on the live stream. */
"use strict";
(function () {
  var C = window.cityops;
  var DETAIL_ZOOM = 15, REFRESH_MS = 15000, CHART_W = 260, CHART_H = 90;
  var NEEDS_EYES = "alarm,fault,offline";
  // Okabe–Ito hues darkened to ≥ 3:1 on the map's background; the condition is also said in the popup and legend
  var COLOUR = {normal: "#007a5a", alarm: "#c21807", fault: "#7b3294", offline: "#5f5f5f", unknown: "#8d8d8d",
    maintenance: "#8c6d00"};

  function sensorLayer(map, options) {
    if (!options.sensors) return;
    map.createPane("cityops-sensors").style.zIndex = 530;  // above forces (500), below cases (560)
    var renderer = L.canvas({pane: "cityops-sensors"});
    var layer = L.layerGroup().addTo(map);
    if (map.cityopsLayers) map.cityopsLayers.addOverlay(layer, C.t("sensors.layer"));
    var state = {loaded: 0, features: [], asked: 0};
    window.cityopsSensors = state;

    var markers = {};  // code → square: kept across reads, so an open popup survives the next one
    function square(feature) {
      var p = feature.properties, c = feature.geometry.coordinates;
      var colour = COLOUR[p.condition] || COLOUR.unknown;
      var style = {renderer: renderer, color: colour, weight: p.condition === "normal" ? 1 : 2, fillColor: colour,
        fillOpacity: p.condition === "offline" ? 0.15 : 0.8};
      var marker = markers[p.code];
      if (marker) {
        marker.setBounds(squareAround(c[1], c[0])).setStyle(style);
      } else {
        marker = markers[p.code] = L.rectangle(squareAround(c[1], c[0]), style).addTo(layer);
        marker.on("click", function (event) { L.DomEvent.stop(event); openSensor(marker, marker.feature); });  // not the unit beneath
      }
      marker.feature = feature.properties;
      marker.bindTooltip(C.escapeHtml(p.name + " · " + C.label("sensors.condition", p.condition)));
      return marker;
    }
    /* a square of ~7 px at the current zoom: drawn as a rectangle so the canvas renderer draws thousands */
    function squareAround(lat, lon) {
      var centre = map.project([lat, lon]), half = 3.5;
      return L.latLngBounds(map.unproject(centre.subtract([half, half])), map.unproject(centre.add([half, half])));
    }

    function load() {
      if (!map.hasLayer(layer)) return;
      var detail = map.getZoom() >= DETAIL_ZOOM;
      var url = "/api/v1/sensors?" + (detail ? "bbox=" + C.bboxOf(map) : "condition=" + NEEDS_EYES);
      var asked = ++state.asked;
      C.getJson(url).then(function (collection) {
        if (asked !== state.asked) return;  // a newer read is on its way
        var seen = {};
        collection.features.forEach(function (feature) { seen[feature.id] = square(feature); });
        Object.keys(markers).forEach(function (code) {
          if (!seen[code]) { layer.removeLayer(markers[code]); delete markers[code]; }
        });
        state.features = collection.features;
        state.loaded += 1;
      }).catch(function (error) { C.status(C.errorText(error)); });
    }

    function openSensor(marker, p) {
      var box = document.createElement("div");
      box.className = "cityops-popup sensor-popup";
      box.innerHTML = "<strong>" + C.escapeHtml(p.name) + "</strong>" +
        "<div>" + C.escapeHtml(C.label("sensors.kind", p.kind)) + " · " +
        "<span class='sensor-condition " + C.escapeHtml(p.condition) + "'>" + C.escapeHtml(C.label("sensors.condition", p.condition)) + "</span></div>" +
        "<div>" + C.escapeHtml(C.t("sensors.newest", {
          value: p.value === null ? "—" : C.number(p.value, 2) + " " + p.unit,
          at: C.beijing(p.observed_at)
        })) + "</div>" +
        (p.asset ? "<div>" + C.escapeHtml(C.t("sensors.asset", {asset: p.asset})) + "</div>" : "") +
        "<div class='sensor-chart' role='img' aria-label='" + C.escapeHtml(C.t("sensors.chart", {name: p.name})) + "'>" +
        C.escapeHtml(C.t("sensors.chart_loading")) + "</div>";
      marker.bindPopup(box, {maxWidth: CHART_W + 40}).openPopup();
      C.getJson("/api/v1/sensors/" + encodeURIComponent(p.code) + "/readings?hours=24").then(function (series) {
        var chart = box.querySelector(".sensor-chart");
        chart.innerHTML = series.points.length ? svgChart(series.points, series.unit) : C.escapeHtml(C.t("sensors.no_readings"));
        window.cityopsSensorChart = {code: p.code, points: series.points.length};
      }).catch(function (error) { box.querySelector(".sensor-chart").textContent = C.errorText(error); });
    }

    map.on("moveend", load);
    map.on("overlayadd", function (event) { if (event.layer === layer) load(); });
    setInterval(load, REFRESH_MS);
    load();
    legend(map);
  }

  /* the series as a line of averages over the shaded band of lows and highs, with its range and first/last times */
  function svgChart(points, unit) {
    var lows = points.map(function (p) { return p.low; }), highs = points.map(function (p) { return p.high; });
    var min = Math.min.apply(null, lows), max = Math.max.apply(null, highs);
    if (max === min) { max += 1; min -= 1; }
    var t0 = Date.parse(points[0].t), t1 = Date.parse(points[points.length - 1].t) || t0 + 1;
    function x(t) { return 30 + (CHART_W - 34) * (t1 === t0 ? 0.5 : (Date.parse(t) - t0) / (t1 - t0)); }
    function y(v) { return 4 + (CHART_H - 22) * (1 - (v - min) / (max - min)); }
    var band = points.map(function (p) { return x(p.t).toFixed(1) + "," + y(p.high).toFixed(1); })
      .concat(points.slice().reverse().map(function (p) { return x(p.t).toFixed(1) + "," + y(p.low).toFixed(1); }));
    var line = points.map(function (p) { return x(p.t).toFixed(1) + "," + y(p.v).toFixed(1); });
    return "<svg width='" + CHART_W + "' height='" + CHART_H + "' viewBox='0 0 " + CHART_W + " " + CHART_H + "'>" +
      "<polygon points='" + band.join(" ") + "' fill='#0072b2' fill-opacity='0.15' stroke='none'/>" +
      "<polyline points='" + line.join(" ") + "' fill='none' stroke='#0072b2' stroke-width='1.5'/>" +
      "<text x='0' y='12' font-size='10'>" + C.escapeHtml(C.number(max, 2)) + "</text>" +
      "<text x='0' y='" + (CHART_H - 18) + "' font-size='10'>" + C.escapeHtml(C.number(min, 2)) + "</text>" +
      "<text x='30' y='" + (CHART_H - 4) + "' font-size='10'>" + C.escapeHtml(C.beijing(points[0].t, "short")) + "</text>" +
      "<text x='" + CHART_W + "' y='" + (CHART_H - 4) + "' font-size='10' text-anchor='end'>" +
      C.escapeHtml(C.beijing(points[points.length - 1].t, "short") + " " + unit) + "</text></svg>";
  }

  function legend(map) {
    var Legend = L.Control.extend({
      options: {position: "bottomright"},  // the bottom left holds the page's figures
      onAdd: function () {
        var box = L.DomUtil.create("div", "sensor-legend leaflet-bar");
        box.setAttribute("aria-label", C.t("sensors.layer"));
        box.innerHTML = "<strong>" + C.escapeHtml(C.t("sensors.layer")) + "</strong>" +
          ["normal", "alarm", "fault", "offline"].map(function (condition) {
            return "<div><span class='swatch' style='background:" + COLOUR[condition] + "'></span>" +
              C.escapeHtml(C.label("sensors.condition", condition)) + "</div>";
          }).join("");
        return box;
      }
    });
    new Legend().addTo(map);
  }

  C.extend(sensorLayer);
})();
