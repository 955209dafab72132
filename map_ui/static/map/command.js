/* The command view: cases and forces of the commander's jurisdiction, live; a case's details,
   routing trace, timeline, recommended forces and dispatch, and the case's assignments with their
   story, in the side panel — every word from the page's catalogue, every time in Beijing time.

   What is drawn, bottom to top (Leaflet panes, so nothing drawn later can cover a case):
   unit boundaries and buildings, optional hexagons, unit names (never clickable), per-unit count
   bubbles, forces (diamonds), cases (circles). Zoomed out (below CASE_ZOOM) cases are counted per
   district or street (GET /api/v1/map/unit-counts); forces are off below FORCE_ZOOM unless the
   commander turns them on (below CASE_ZOOM as hexagon counts); from CASE_ZOOM on both are markers
   read by bbox from the OGC API. Colours are Okabe–Ito hues darkened to ≥ 3:1 against the map's background
   (window.cityopsPalette, which the tests measure), and cases and forces differ by shape too.
   The live stream upserts what changed (the highest version of a case wins, so a replayed or late
   item never rolls the map back) and has the counts read again, at most every COUNT_DELAY. */
"use strict";
window.cityopsCommand = function (map, options) {
  var C = window.cityops;
  var CASE_ZOOM = 13, FORCE_ZOOM = 14, COUNT_DELAY = 1500, LIMIT = 5000, READY_WAIT = 3000, TREND_DAYS = 30;
  var PALETTE = {
    background: "#f4f1ea",
    cases: {new: "#d55e00", handling: "#0072b2", returned: "#a2467e", checking: "#8c6d00", waiting: "#6e6e6e"},
    forces: {available: "#007a5a", busy: "#1a1a1a", off: "#767676"},
    overdue: "#000000", bubble: "#0072b2", hexCases: "#d55e00", hexForces: "#007a5a",
    trend: {reported: "#d55e00", closed: "#0072b2"}
  };
  var CASE_GROUPS = {new: ["reported", "accepted", "filed"], handling: ["dispatched", "acknowledged", "handling"],
    returned: ["returned", "rework"], checking: ["checking"],
    waiting: ["extension_requested", "parking_requested", "parked"]};
  var FORCE_GROUPS = {available: ["available"], busy: ["assigned", "en_route", "on_scene"],
    off: ["off_duty", "out_of_service"]};
  var RADIUS = {I: 12, II: 10, III: 8, IV: 7};
  var FINAL = {closed: true, void: true};
  // 红橙黄蓝: the warning colour of each incident level (table incident_level)
  var LEVEL_COLOUR = {I: "#b3261e", II: "#c25400", III: "#b38600", IV: "#0b5cad"};
  var SEP = C.t("command.separator");
  var PANES = [["cityops-units", 300], ["cityops-hexes", 350], ["cityops-labels", 420], ["cityops-counts", 450],
    ["cityops-forces", 500], ["cityops-cases", 560]];
  var LABEL_SIZE = {district: 16, street: 13, community: 12, grid: 11};  // px, as cityops.css writes them
  window.cityopsPalette = PALETTE;

  function groupOf(groups, code) {
    return Object.keys(groups).filter(function (g) { return groups[g].indexOf(code) >= 0; })[0];
  }
  function caseColour(state) { return PALETTE.cases[groupOf(CASE_GROUPS, state)] || PALETTE.cases.waiting; }
  function forceGroup(status) { return groupOf(FORCE_GROUPS, status) || "off"; }
  function categoryName(code) { return (options.categories || {})[code] || C.t("command.category_unknown"); }

  PANES.forEach(function (pane) {
    map.createPane(pane[0]).style.zIndex = pane[1];
  });
  map.getPane("cityops-labels").style.pointerEvents = "none";
  var caseRenderer = L.svg({pane: "cityops-cases"}), hexRenderer = L.svg({pane: "cityops-hexes"});

  C.fit(map, options);
  var control = L.control.layers(null, null, {collapsed: false}).addTo(map);
  map.cityopsLayers = control;  // the page's extensions (sensors.js) add their overlays here
  var caseLayer = L.layerGroup().addTo(map), countLayer = L.layerGroup().addTo(map);
  var caseHexes = L.geoJSON(null, {style: hexStyle("cases"), onEachFeature: hexTip("cases")});
  var forceLayer = L.layerGroup(), labelLayer = L.layerGroup().addTo(map);
  control.addOverlay(caseLayer, C.t("command.layer.cases"));
  control.addOverlay(countLayer, C.t("command.layer.counts"));
  control.addOverlay(caseHexes, C.t("command.layer.case_hexagons"));
  control.addOverlay(labelLayer, C.t("command.layer.labels"));
  if (options.forces) control.addOverlay(forceLayer, C.t("command.layer.forces"));
  var forceHexes = L.geoJSON(null, {style: hexStyle("forces"), onEachFeature: hexTip("forces")}).addTo(forceLayer);
  var forceMarkers = L.layerGroup().addTo(forceLayer);
  /* major incidents: their current areas in the level's warning colour, each a link to its command board */
  var incidentLayer = L.geoJSON(null, {
    style: function (feature) {
      return {color: LEVEL_COLOUR[feature.properties.level] || "#b3261e", weight: 2, fillOpacity: 0.08, dashArray: "6 4"};
    },
    onEachFeature: function (feature, layer) {
      var p = feature.properties;
      layer.bindPopup("<div class='cityops-popup'><a href='/incidents/" + encodeURIComponent(p.id) + "'>" +
        C.escapeHtml(p.code + " · " + p.title) + "</a><div>" + C.escapeHtml(C.label("severity", p.level)) + "</div></div>");
    }
  }).addTo(map);
  control.addOverlay(incidentLayer, C.t("command.layer.incidents"));
  function loadIncidents() {
    fetch("/api/v1/incidents/map", {credentials: "same-origin"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (areas) {
        incidentLayer.clearLayers();
        if (areas) incidentLayer.addData(areas);
        window.cityopsIncidents = areas ? areas.features.length : 0;
      });
  }

  var cases = {}, forces = {}, applied = {}, counts = {units: [], total: {open: 0, overdue: 0}};
  var loading = {cases: 0, forces: 0, labels: 0}, countTimer = null;
  window.cityopsMap = map; window.cityopsCases = cases; window.cityopsForces = forces;
  window.cityopsApplied = applied; window.cityopsReady = false; window.cityopsUnitCounts = counts;
  window.cityopsLabels = {zoom: null, tiers: [], names: []};
  var kpi = C.panel("cityops-kpi", "cityops-kpi");
  var side = C.panel("cityops-side", "cityops-side");
  side.hidden = true;
  kpi.setAttribute("aria-live", "polite");

  /* forces: off by default below FORCE_ZOOM (a district's thousands of diamonds would bury its cases), on from
     it, unless the commander chose in the layer control; below CASE_ZOOM they are hexagon counts */
  var forcesChosen = null, switching = false;
  function forcesShown() { return map.hasLayer(forceLayer); }
  function forcesByZoom() {
    if (!options.forces || forcesChosen !== null) return;
    var wanted = map.getZoom() >= FORCE_ZOOM;
    if (wanted === forcesShown()) return;
    switching = true;
    if (wanted) forceLayer.addTo(map); else map.removeLayer(forceLayer);
    switching = false;
  }
  map.on("overlayadd overlayremove", function (event) {
    if (event.layer === forceLayer && !switching) { forcesChosen = event.type === "overlayadd"; refresh(); }
    if (event.layer === labelLayer && event.type === "overlayadd") loadLabels();
    if (event.layer === caseHexes && event.type === "overlayadd") refresh();
  });

  function overdue(item) {
    var now = Date.now();
    return !FINAL[item.state] && ((item.deadline && Date.parse(item.deadline) < now) ||
                                  (item.due_at && Date.parse(item.due_at) < now));
  }

  function hexStyle(layer) {
    return function (feature) {
      var p = feature.properties, n = layer === "cases" ? p.open || p.count : p.count;
      var colour = layer === "cases" ? PALETTE.hexCases : PALETTE.hexForces;
      return {color: p.overdue ? PALETTE.overdue : colour, weight: p.overdue ? 2 : 0.6, fillColor: colour,
              fillOpacity: Math.min(0.45, 0.1 + Math.log10(1 + n) / 4), renderer: hexRenderer, interactive: true};
    };
  }

  function hexTip(layer) {
    return function (feature, shape) {
      var p = feature.properties;
      var text = layer === "cases" ? C.t("command.hex.cases", {n: C.number(p.open), overdue: C.number(p.overdue)}) :
        C.t("command.hex.forces", {n: C.number(p.count), available: C.number(p.available), busy: C.number(p.busy)});
      shape.bindTooltip(C.escapeHtml(text), {sticky: true});
    };
  }

  /* ---- cases: circles, coloured by state group, sized by severity, a black ring when overdue ---- */
  function caseStyle(item) {
    var late = overdue(item);
    return {radius: RADIUS[item.severity] || 6, color: late ? PALETTE.overdue : "#ffffff", weight: late ? 3 : 1.5,
            fillColor: caseColour(item.state), fillOpacity: 0.95, className: late ? "cityops-overdue" : "",
            bubblingMouseEvents: false, renderer: caseRenderer, pane: "cityops-cases"};
  }

  function caseTip(id) {
    var item = cases[id].item;
    return C.escapeHtml(categoryName(item.category) + " · " + C.label("state", item.state) +
      (overdue(item) ? " · " + C.t("command.overdue") : "") + " · " + C.label("severity", item.severity) +
      (item.deadline ? " · " + C.t("command.deadline_at", {at: C.beijing(item.deadline, "short")}) : ""));
  }

  function putCase(item) {
    var known = cases[item.id];
    if (known && known.item.version > item.version) return;  // an older state than the one shown
    if (FINAL[item.state] || item.merged_into) {
      if (known) { caseLayer.removeLayer(known.marker); delete cases[item.id]; }
      return;
    }
    if (known) {
      known.item = Object.assign({}, known.item, item, {category: item.category || known.item.category});
      known.marker.setLatLng([item.lat, item.lon]).setStyle(caseStyle(known.item));
      return;
    }
    var marker = L.circleMarker([item.lat, item.lon], caseStyle(item)).addTo(caseLayer);
    marker.on("click", function () { showCase(item.id); });
    cases[item.id] = {item: item, marker: marker};
    marker.bindTooltip(function () { return caseTip(item.id); });
  }

  /* ---- forces: diamonds (a marker's own element, above the cases' layer only where no case is) ---- */
  function forceIcon(item) {
    var group = forceGroup(item.status);
    return L.divIcon({className: "cityops-force cityops-force-" + group, iconSize: [14, 14],
                      html: "<i style='background:" + PALETTE.forces[group] + "'></i>"});
  }

  function forceTip(id) {
    var f = forces[id].item;
    return C.escapeHtml(f.code + " " + f.name + " · " + C.label("command.kind", f.kind || "other") + " · " +
      C.label("force", f.status) + (f.fixed_at ? " · " + C.t("command.fixed_at", {at: C.beijing(f.fixed_at, "short")}) : ""));
  }

  function putForce(item) {
    if (item.lon === null || item.lon === undefined) return;
    var known = forces[item.id];
    if (known && known.item.fixed_at && item.fixed_at && Date.parse(known.item.fixed_at) > Date.parse(item.fixed_at)) {
      return;  // an older fix than the one shown (a list read before the stream's newer item arrived)
    }
    if (known) {
      var regroup = forceGroup(known.item.status) !== forceGroup(item.status);
      known.item = item;
      known.marker.setLatLng([item.lat, item.lon]);
      if (regroup) known.marker.setIcon(forceIcon(item));
    } else {
      var marker = L.marker([item.lat, item.lon], {icon: forceIcon(item), pane: "cityops-forces", keyboard: false,
                                                   bubblingMouseEvents: false}).addTo(forceMarkers);
      marker.bindTooltip(function () { return forceTip(item.id); });
      forces[item.id] = {item: item, marker: marker};
    }
    applied[item.id] = Date.now();
  }

  function clearForces() {
    forceMarkers.clearLayers();
    Object.keys(forces).forEach(function (id) { delete forces[id]; });
  }

  /* OGC features → the stream's item shape, so one upsert serves both */
  function caseFromFeature(f) {
    var p = f.properties;
    return {id: f.id, state: p.state, version: -1, severity: p.severity, category: p.category,
            deadline: p.deadline, due_at: null, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1]};
  }

  function forceFromFeature(f) {
    var p = f.properties;
    return {id: f.id, code: p.code, name: p.name, kind: p.kind, status: p.status, unit: p.unit,
            fixed_at: p.fixed_at, lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1]};
  }

  /* ---- zoomed out: one bubble per district or street, its open cases inside, a black ring when any is overdue ---- */
  function bubble(unit) {
    var size = Math.round(Math.min(64, 24 + 5 * Math.sqrt(unit.open)));
    var late = unit.overdue > 0;
    var words = C.t("command.bubble", {name: unit.name, tier: C.label("tier", unit.tier), n: C.number(unit.open),
                                       overdue: C.number(unit.overdue)});
    var icon = L.divIcon({className: "cityops-bubble" + (late ? " cityops-bubble-late" : ""), iconSize: [size, size],
                          html: "<span style='background:" + PALETTE.bubble + "'>" + C.number(unit.open) + "</span>"});
    var marker = L.marker([unit.lat, unit.lon], {icon: icon, pane: "cityops-counts", title: words, alt: words,
                                                  keyboard: true, riseOnHover: true});
    marker.bindTooltip(C.escapeHtml(words));
    marker.on("click", function () { map.setView([unit.lat, unit.lon], Math.min(CASE_ZOOM, map.getZoom() + 2)); });
    return marker;
  }

  function loadCounts(ticket, zoom, bbox) {
    return C.getJson("/api/v1/map/unit-counts?zoom=" + zoom + "&bbox=" + bbox).then(function (body) {
      if (ticket !== loading.cases) return;
      counts = window.cityopsUnitCounts = body;
      countLayer.clearLayers();
      body.units.forEach(function (unit) { if (unit.open > 0) bubble(unit).addTo(countLayer); });
    });
  }

  function loadCases() {
    var ticket = ++loading.cases, zoom = map.getZoom(), bbox = C.bboxOf(map);
    if (zoom >= CASE_ZOOM) {
      return C.getJson("/ogc/collections/cases/items?open=true&limit=" + LIMIT + "&bbox=" + bbox).then(function (fc) {
        if (ticket !== loading.cases) return;
        caseHexes.clearLayers();
        countLayer.clearLayers();
        var keep = {};
        fc.features.forEach(function (f) { keep[f.id] = true; putCase(caseFromFeature(f)); });
        Object.keys(cases).forEach(function (id) {
          if (!keep[id]) { caseLayer.removeLayer(cases[id].marker); delete cases[id]; }
        });
        C.status(fc.numberMatched > fc.numberReturned ?
          C.t("command.partial", {shown: C.number(fc.numberReturned), all: C.number(fc.numberMatched)}) : "");
      });
    }
    caseLayer.clearLayers();
    Object.keys(cases).forEach(function (id) { delete cases[id]; });
    var asks = [loadCounts(ticket, zoom, bbox)];
    if (map.hasLayer(caseHexes)) {
      asks.push(C.getJson("/api/v1/hexagons?layer=cases&resolution=" + C.resolutionFor(zoom) + "&bbox=" + bbox)
        .then(function (fc) { if (ticket === loading.cases) caseHexes.clearLayers().addData(fc); }));
    }
    return Promise.all(asks);
  }

  function loadForces() {
    forcesByZoom();
    var ticket = ++loading.forces, zoom = map.getZoom(), bbox = C.bboxOf(map);
    if (!options.forces || !forcesShown()) { clearForces(); forceHexes.clearLayers(); return Promise.resolve(); }
    if (zoom >= CASE_ZOOM) {
      return C.getJson("/ogc/collections/forces/items?limit=" + LIMIT + "&bbox=" + bbox).then(function (fc) {
        if (ticket !== loading.forces) return;
        forceHexes.clearLayers();
        fc.features.forEach(function (f) { putForce(forceFromFeature(f)); });
      });
    }
    return C.getJson("/api/v1/hexagons?layer=forces&resolution=" + C.resolutionFor(zoom) + "&bbox=" + bbox)
      .then(function (fc) {
        if (ticket !== loading.forces) return;
        clearForces();
        forceHexes.clearLayers().addData(fc);
      });
  }

  /* ---- unit names: the hierarchy names the map at each zoom (never clickable, under cases and forces) ---- */
  /* whether a name fits beside those already placed (the server sends the largest units first, so a small
     unit's name gives way to its neighbour's rather than the two printed over each other); CJK characters are
     about a square each, latin ones about half */
  function roomFor(unit, placed) {
    var size = LABEL_SIZE[unit.tier] || 12, at = map.latLngToContainerPoint([unit.lat, unit.lon]);
    var width = unit.name.split("").reduce(function (w, c) { return w + (c.charCodeAt(0) > 255 ? size : size * 0.6); }, 0);
    var box = {left: at.x - width / 2 - 2, right: at.x + width / 2 + 2, top: at.y + 6, bottom: at.y + 10 + size * 1.2};
    var free = placed.every(function (o) {
      return box.right < o.left || box.left > o.right || box.bottom < o.top || box.top > o.bottom;
    });
    if (free) placed.push(box);
    return free;
  }

  function loadLabels() {
    var ticket = ++loading.labels, zoom = map.getZoom();
    if (!map.hasLayer(labelLayer)) return Promise.resolve();
    return C.getJson("/api/v1/map/labels?zoom=" + zoom + "&bbox=" + C.bboxOf(map)).then(function (body) {
      if (ticket !== loading.labels) return;
      labelLayer.clearLayers();
      var placed = [];
      body.labels.filter(function (unit) { return unit.tier === "district" || roomFor(unit, placed); }).forEach(function (unit) {
        var icon = L.divIcon({className: "cityops-label cityops-label-" + unit.tier, iconSize: null,
                              html: "<span>" + C.escapeHtml(unit.name) + "</span>"});
        L.marker([unit.lat, unit.lon], {icon: icon, pane: "cityops-labels", interactive: false, keyboard: false})
          .addTo(labelLayer);
      });
      window.cityopsLabels = {zoom: body.zoom, tiers: body.tiers, names: body.labels.map(function (u) { return u.name; })};
    });
  }

  /* ---- the KPI panel: figures with their units, rates as percentages, the last weeks' flow ---- */
  var unitFigures = "", trendHtml = "";
  function figure(label, value, unit) {
    return "<div><span>" + C.escapeHtml(label) + "</span><b class='cityops-kpi-value'>" + C.escapeHtml(value) +
      (unit ? " <small>" + C.escapeHtml(unit) + "</small>" : "") + "</b></div>";
  }
  function rate(value) { return value === null || value === undefined ? C.t("time.none") : C.percent(value); }

  function showKpi() {
    var open = 0, late = 0, supervised = 0, available = 0, busy = 0, zoomedIn = map.getZoom() >= CASE_ZOOM;
    if (zoomedIn) {
      Object.keys(cases).forEach(function (id) {
        var item = cases[id].item;
        open += 1; if (overdue(item)) late += 1; if (item.supervised) supervised += 1;
      });
    } else {
      open = counts.total.open; late = counts.total.overdue;
    }
    Object.keys(forces).forEach(function (id) {
      if (forces[id].item.status === "available") available += 1; else busy += 1;
    });
    forceHexes.eachLayer(function (l) { available += l.feature.properties.available; busy += l.feature.properties.busy; });
    var rows = [figure(C.t("command.kpi.open"), C.number(open), C.t("command.unit.cases")),
      figure(C.t("command.kpi.overdue"), C.number(late), C.t("command.unit.cases") +
             (open ? C.t("command.kpi.share", {share: C.percent(late / open)}) : ""))];
    if (zoomedIn) rows.push(figure(C.t("command.kpi.supervised"), C.number(supervised), C.t("command.unit.cases")));
    if (options.forces && forcesShown()) {
      rows.push(figure(C.t("command.kpi.available"), C.number(available), C.t("command.unit.forces")),
                figure(C.t("command.kpi.busy"), C.number(busy), C.t("command.unit.forces")));
    }
    kpi.innerHTML = "<h2>" + C.escapeHtml(C.t(zoomedIn ? "command.kpi.in_view" : "command.kpi.in_units")) + "</h2>" +
      rows.join("") + unitFigures + trendHtml;
  }

  function evaluation() {  // the jurisdiction's month, for commanders who may read evaluations (after the map)
    if (!options.analytics || evaluation.asked) return;
    evaluation.asked = true;
    C.getJson("/api/v1/evaluation?unit=" + encodeURIComponent(options.user.unit)).then(function (e) {
      var total = e.total || {};
      unitFigures = "<h2>" + C.escapeHtml(C.t("command.kpi.month", {unit: options.user.unit_name})) + "</h2>" +
        figure(C.t("command.kpi.filed"), C.number(total.filed || 0), C.t("command.unit.cases")) +
        figure(C.t("command.kpi.closure_rate"), rate(total.closure_rate)) +
        figure(C.t("command.kpi.on_time_rate"), rate(total.on_time_closure_rate));
      showKpi();
    }).catch(function () { /* the view works without it */ });
  }

  function sparkline(days) {
    var width = 220, height = 44, most = 1;
    days.forEach(function (d) { most = Math.max(most, d.reported, d.closed); });
    function line(key) {
      return days.map(function (d, i) {
        return (i * width / Math.max(1, days.length - 1)).toFixed(1) + "," + (height - 2 - d[key] * (height - 4) / most).toFixed(1);
      }).join(" ");
    }
    var reported = 0, closed = 0;
    days.forEach(function (d) { reported += d.reported; closed += d.closed; });
    var words = C.t("command.trend.summary", {days: days.length, reported: C.number(reported), closed: C.number(closed),
      from: C.beijing(days[0].date + "T12:00:00+08:00", "date"),
      to: C.beijing(days[days.length - 1].date + "T12:00:00+08:00", "date")});
    return "<h2>" + C.escapeHtml(C.t("command.trend.title", {days: days.length})) + "</h2>" +
      "<svg class='cityops-trend' role='img' aria-label='" + C.escapeHtml(words) + "' viewBox='0 0 " + width + " " +
      height + "' width='" + width + "' height='" + height + "'><title>" + C.escapeHtml(words) + "</title>" +
      "<polyline fill='none' stroke-width='2' stroke='" + PALETTE.trend.reported + "' points='" + line("reported") + "'/>" +
      "<polyline fill='none' stroke-width='2' stroke-dasharray='4 2' stroke='" + PALETTE.trend.closed + "' points='" +
      line("closed") + "'/></svg><div class='cityops-trend-keys'><span><i style='background:" + PALETTE.trend.reported +
      "'></i>" + C.escapeHtml(C.t("command.trend.reported", {n: C.number(reported)})) + "</span><span><i style='background:" +
      PALETTE.trend.closed + "'></i>" + C.escapeHtml(C.t("command.trend.closed", {n: C.number(closed)})) + "</span></div>";
  }

  function trend() {
    if (trend.asked) return;
    trend.asked = true;
    C.getJson("/api/v1/map/trend?days=" + TREND_DAYS).then(function (body) {
      trendHtml = sparkline(body.days);
      window.cityopsTrend = body;
      showKpi();
    }).catch(function () { /* the view works without it */ });
  }

  function refresh() {
    Promise.all([loadCases(), loadForces(), loadLabels()]).then(function () {
      showKpi();
      window.cityopsReady = true;
      if (!window.cityopsReadyAt) window.cityopsReadyAt = performance.now();
      evaluation();
      trend();
    }).catch(function (error) { C.status(C.errorText(error)); });
  }

  function soon() {  // counts are read again once the burst of changes has passed
    if (countTimer) return;
    countTimer = setTimeout(function () { countTimer = null; refresh(); }, COUNT_DELAY);
  }

  function inView(item) {
    return item.lon !== null && item.lon !== undefined && map.getBounds().contains([item.lat, item.lon]);
  }

  function applyChanges(batch) {
    var zoom = map.getZoom(), recount = false;
    batch.cases.forEach(function (item) {
      if (zoom < CASE_ZOOM) { recount = true; return; }
      if (cases[item.id] || inView(item)) putCase(item);
      if (openCase === item.id) showCase(item.id);
    });
    batch.forces.forEach(function (item) {
      if (!forcesShown()) return;
      if (zoom < CASE_ZOOM) { recount = true; return; }
      if (forces[item.id] || inView(item)) putForce(item);
    });
    if ((batch.assignments || []).some(function (a) { return a.case_id === openCase; })) showAssignments(openCase);
    if ((batch.incidents || []).length) loadIncidents();
    if (recount) soon();
    showKpi();
  }

  /* ---- the legend: everything drawn, in the page's language ---- */
  function legend() {
    var box = C.panel("cityops-legend", "cityops-legend cityops-command-legend");
    function swatch(shape, colour, extra) {
      return "<i class='cityops-swatch cityops-swatch-" + shape + "' style='background:" + colour + ";" + (extra || "") + "'></i>";
    }
    function item(mark, words) { return "<li>" + mark + "<span>" + C.escapeHtml(words) + "</span></li>"; }
    // open beside a wide map, folded on a phone (where it would cover the map); one tap opens it
    var html = "<details" + (map.getSize().x > 700 ? " open" : "") + "><summary>" + C.escapeHtml(C.t("command.legend.title")) + "</summary>";
    html += "<h3>" + C.escapeHtml(C.t("command.legend.cases")) + "</h3><ul>" + Object.keys(CASE_GROUPS).map(function (g) {
      return item(swatch("circle", PALETTE.cases[g]), C.label("command.group", g) +
        C.t("command.paren", {text: CASE_GROUPS[g].map(function (s) { return C.label("state", s); }).join(SEP)}));
    }).join("") + item(swatch("circle", "#ffffff", "box-shadow: 0 0 0 3px " + PALETTE.overdue + " inset"), C.t("command.legend.overdue")) +
      "<li class='cityops-sizes'>" + ["I", "II", "III", "IV"].map(function (s) {
        return "<span>" + swatch("circle", "#888", "width:" + 2 * RADIUS[s] + "px;height:" + 2 * RADIUS[s] + "px") +
          C.escapeHtml(C.label("severity", s)) + "</span>";
      }).join("") + "</li></ul>";
    if (options.forces) {
      html += "<h3>" + C.escapeHtml(C.t("command.legend.forces")) + "</h3><ul>" + Object.keys(FORCE_GROUPS).map(function (g) {
        return item(swatch("diamond", PALETTE.forces[g]), FORCE_GROUPS[g].map(function (s) { return C.label("force", s); }).join(SEP));
      }).join("") + "</ul>";
    }
    html += "<h3>" + C.escapeHtml(C.t("command.legend.aggregates")) + "</h3><ul>" +
      item(swatch("bubble", PALETTE.bubble), C.t("command.legend.bubble")) +
      item(swatch("bubble", PALETTE.bubble, "box-shadow: 0 0 0 3px " + PALETTE.overdue), C.t("command.legend.bubble_late")) +
      item(swatch("hexagon", PALETTE.hexCases, "opacity:0.5"), C.t("command.legend.hexagons")) + "</ul>";
    html += "<h3>" + C.escapeHtml(C.t("command.legend.units")) + "</h3><ul>" + options.tiers.map(function (tier) {
      return item(swatch("line", tier.style.color, "height:" + Math.max(1, tier.style.weight) + "px"), tier.label);
    }).join("") + "</ul></details>";
    box.innerHTML = html;
  }

  /* ---- the side panel: one case, in words ---- */
  var openCase = null;
  var notes = {};  // case id → confirmations shown until the commander dismisses them (they outlive redraws)

  function row(label, value) {
    return "<tr><th>" + C.escapeHtml(label) + "</th><td>" + C.escapeHtml(value) + "</td></tr>";
  }

  function distance(metres) {
    return metres >= 1000 ? C.t("command.km", {n: C.number(metres / 1000, 1)}) : C.t("command.m", {n: C.number(metres)});
  }

  /* who acted, as a person reads it: a user's name, the intake channel, the platform itself */
  function actorName(actor) {
    var intake = /^intake:(\w+)$/.exec(actor || ""), cli = /^cli:(.+)$/.exec(actor || "");
    if (intake) return C.t("command.actor.intake", {source: C.label("source", intake[1])});
    if (/^system(:|$)/.test(actor || "")) return C.t("command.actor.system");
    return cli ? cli[1] : actor;
  }

  function minutes(seconds) { return C.t("command.minutes", {n: C.number(Math.max(1, Math.round(seconds / 60)))}); }

  var LIMITS = {  // a category's time limit by its kind, as a sentence
    urgent_hours: function (n) { return C.t("command.trace.limit.urgent_hours", {n: n}); },
    working_hours: function (n) { return C.t("command.trace.limit.working_hours", {n: n}); },
    working_days: function (n) { return C.t("command.trace.limit.working_days", {n: n}); },
    calendar_days: function (n) { return C.t("command.trace.limit.calendar_days", {n: n}); }
  };

  /* the routing trace as sentences: where the report landed, which rule chose the unit, the time limit */
  function traceSentences(trace, detail) {
    var said = [];
    if (trace.cell) {
      said.push(C.t("command.trace.located", {grid: detail.grid ? detail.grid.name : C.t("time.none"),
        how: C.t(trace.index === "interior" ? "command.trace.interior" : "command.trace.boundary")}));
    }
    if (trace.rule) {
      var wanted = /→ (\w+)/.exec(trace.rule), severity = /severity (\w+)/.exec(trace.rule);
      var fallback = /no (\w+) tier here/.exec(trace.rule), managed = /managed by (.+)$/.exec(trace.rule);
      said.push(C.t("command.trace.rule", {category: detail.category.name_shown,
                                           tier: C.label("tier", wanted ? wanted[1] : detail.responsible.tier)}));
      if (severity) said.push(C.t("command.trace.escalated", {severity: C.label("severity", severity[1])}));
      if (fallback) said.push(C.t("command.trace.fallback", {tier: C.label("tier", fallback[1])}));
      if (managed) said.push(C.t("command.trace.managed", {unit: managed[1]}));
      said.push(C.t("command.trace.responsible", {unit: detail.responsible.name,
        tier: C.label("tier", detail.responsible.tier),
        departments: (detail.responsible.departments || []).join(SEP) || C.t("time.none")}));
    }
    if (trace.time_limit && typeof trace.time_limit === "object") {
      var limit = LIMITS[trace.time_limit.kind] || LIMITS.calendar_days;
      said.push(limit(C.number(Number(trace.time_limit.value), 1)));
    }
    if (trace.boundary_version) said.push(C.t("command.trace.version", {version: trace.boundary_version}));
    if (trace.import_batch) said.push(C.t("command.trace.imported", {batch: trace.import_batch}));
    return said;
  }

  function showCase(id) {
    openCase = id;
    side.hidden = false;
    side.innerHTML = "<p>" + C.escapeHtml(C.t("command.loading")) + "</p>";
    var asks = [C.getJson("/api/v1/cases/" + id), C.getJson("/api/v1/cases/" + id + "/transitions")];
    if (options.forces) asks.push(C.getJson("/api/v1/cases/" + id + "/candidates?k=5"));
    Promise.all(asks).then(function (answers) {
      if (openCase !== id) return;
      var detail = answers[0], chain = answers[1], card = answers[2];
      detail.category.name_shown = C.lang === "en" && detail.category.name_en ? detail.category.name_en : detail.category.name;
      var late = chain.deadline && Date.parse(chain.deadline) < Date.now();
      var html = "<button type='button' class='cityops-close' aria-label='" + C.escapeHtml(C.t("command.close")) + "'>×</button>" +
        "<h3>" + C.escapeHtml(detail.category.name_shown) + " <small>" + C.escapeHtml(C.t("command.case_number", {id: detail.id})) +
        "</small></h3><p><a href='/cases/" + encodeURIComponent(detail.id) + "' target='_blank' rel='noopener'>" +
        C.escapeHtml(C.t("command.open_case_page")) + "</a></p><table>" +
        row(C.t("command.field.state"), C.label("state", chain.state) + (late ? " · " + C.t("command.overdue") : "") +
            (chain.supervised ? " · " + C.t("command.supervised") : "")) +
        row(C.t("command.field.severity"), C.label("severity", detail.severity)) +
        row(C.t("command.field.source"), C.label("source", detail.source)) +
        row(C.t("command.field.responsible"), detail.responsible.name +
            C.t("command.paren", {text: C.label("tier", detail.responsible.tier)})) +
        row(C.t("command.field.departments"), (detail.responsible.departments || []).join(SEP) || C.t("time.none")) +
        row(C.t("command.field.address"), detail.address || C.t("command.no_address")) +
        row(C.t("command.field.reported_at"), C.beijing(detail.created_at)) +
        row(C.t("command.field.deadline"), C.beijing(chain.deadline || detail.deadline)) +
        (chain.due_at ? row(C.t("command.field.due_at"), C.beijing(chain.due_at)) : "") +
        row(C.t("command.field.description"), detail.description || C.t("time.none")) + "</table>" +
        "<div class='cityops-notes' aria-live='polite'></div><p class='cityops-side-message' role='alert'></p>";
      if (options.forces) {
        html += "<h4>" + C.escapeHtml(C.t("command.assignments")) + "</h4><div class='cityops-assignments'>" +
          C.escapeHtml(C.t("command.loading")) + "</div>";
      }
      html += "<h4>" + C.escapeHtml(C.t("command.trace")) + "</h4><ul class='cityops-trace'>" +
        traceSentences(detail.routing_trace || {}, detail).map(function (s) { return "<li>" + C.escapeHtml(s) + "</li>"; }).join("") + "</ul>";
      html += "<h4>" + C.escapeHtml(C.t("command.timeline")) + "</h4><ol class='cityops-timeline'>" + chain.transitions.map(function (t) {
        return "<li><time datetime='" + C.escapeHtml(t.at) + "'>" + C.escapeHtml(C.beijing(t.at, "short")) + "</time> " +
          C.escapeHtml(C.t("command.step", {action: C.label("action", t.action), state: C.label("state", t.to_state)})) +
          " <i>" + C.escapeHtml(actorName(t.actor)) + "</i></li>";
      }).join("") + "</ol>";
      if (card) {
        html += "<h4>" + C.escapeHtml(C.t("command.candidates")) + "</h4><table class='cityops-candidates'>" +
          card.candidates.map(function (f) {
            var button = options.dispatch && f.status === "available" ?
              "<button type='button' class='cityops-dispatch' data-force='" + C.escapeHtml(f.id) + "'>" +
              C.escapeHtml(C.t("command.dispatch")) + "</button>" : "";
            return "<tr><td>" + C.escapeHtml(f.code + " " + f.name) + "</td><td>" + C.escapeHtml(distance(f.distance_m)) +
              "</td><td>" + C.escapeHtml(minutes(f.eta_s)) + "</td><td>" + button + "</td></tr>";
          }).join("") + "</table>" + (card.shortfall ? "<p>" + C.escapeHtml(C.t("command.shortfall",
            {n: C.number(card.shortfall.missing)})) + "</p>" : "");
      }
      side.innerHTML = html;
      side.querySelector(".cityops-close").addEventListener("click", function () { openCase = null; side.hidden = true; });
      showNotes(id);
      if (options.forces) showAssignments(id);
      Array.prototype.forEach.call(side.querySelectorAll(".cityops-dispatch"), function (button) {
        button.addEventListener("click", function () { dispatch(id, Number(button.dataset.force), button); });
      });
    }).catch(function (error) { side.innerHTML = "<p role='alert'>" + C.escapeHtml(C.errorText(error)) + "</p>"; });
  }

  function dispatch(caseId, forceId, button) {
    button.disabled = true;
    C.postJson("/api/v1/cases/" + caseId + "/assignments", {force_ids: [forceId]}).then(function (answer) {
      var who = button.closest("tr").cells[0].textContent;
      (notes[caseId] = notes[caseId] || []).push(answer.assignments.map(function (a) {
        return C.t("command.dispatched", {force: who, at: C.beijing(a.accept_by, "time")});
      }).join(SEP));
      showNotes(caseId);
      showAssignments(caseId);
      window.cityopsDispatched = answer;
    }).catch(function (error) {
      button.disabled = false;
      side.querySelector(".cityops-side-message").textContent = C.errorText(error);
    });
  }

  function showNotes(caseId) {
    var box = side.querySelector(".cityops-notes");
    if (!box || openCase !== caseId) return;
    box.innerHTML = (notes[caseId] || []).map(function (text, i) {
      return "<div class='cityops-note'><span>" + C.escapeHtml(text) + "</span><button type='button' data-note='" + i +
        "'>" + C.escapeHtml(C.t("command.dismiss")) + "</button></div>";
    }).join("");
    Array.prototype.forEach.call(box.querySelectorAll("[data-note]"), function (button) {
      button.addEventListener("click", function () { notes[caseId].splice(Number(button.dataset.note), 1); showNotes(caseId); });
    });
  }

  function why(note) {  // a release's or a re-offer's reason in words; a re-offer's own note names the assignment
    var reoffer = /^re-offer of assignment (\d+)$/.exec(note || "");
    if (reoffer) return C.t("command.why.reoffer_of", {id: reoffer[1]});
    var said = C.label("command.why", note);
    return said === note ? C.label("assignment", note) : said;
  }

  function stepHtml(step) {
    var text = C.label("assignment", step.step);
    if (step.step === "reoffered") {
      text += " " + (step.next_force_code ? step.next_force_code + " " + (step.next_force_name || "") :
                     C.t("command.force_number", {id: step.next_force_id})) +
        (step.note ? C.t("command.paren", {text: why(step.note)}) : "");
    } else if (step.note) {
      text = C.t("command.because", {what: text, why: why(step.note)});
    }
    return "<li data-step='" + C.escapeHtml(step.step) + "'><time datetime='" + C.escapeHtml(step.at) + "'>" +
      C.escapeHtml(C.beijing(step.at, "short")) + "</time> " + C.escapeHtml(text) + " <i>" + C.escapeHtml(actorName(step.actor)) +
      "</i></li>";
  }

  /* the case's assignments, newest first, each with its story; redrawn alone when one changes */
  function showAssignments(caseId) {
    C.getJson("/api/v1/cases/" + caseId + "/assignments").then(function (body) {
      var box = side.querySelector(".cityops-assignments");
      if (!box || openCase !== caseId) return;
      box.innerHTML = body.items.length ? body.items.map(function (a) {
        var wait = a.stage === "offered" ? " · " + C.t("command.accept_by", {at: C.beijing(a.accept_by, "time")}) : "";
        return "<div class='cityops-assignment' data-assignment='" + C.escapeHtml(a.id) + "' data-stage='" +
          C.escapeHtml(a.stage) + "'><b>" + C.escapeHtml((a.force_code || C.t("command.force_number", {id: a.force_id})) +
          " " + (a.force_name || "")) + "</b> <span class='cityops-stage'>" + C.escapeHtml(C.label("assignment", a.stage) +
          (a.release_reason ? C.t("command.paren", {text: why(a.release_reason)}) : "") + wait) + "</span>" +
          "<ol class='cityops-story'>" + a.steps.map(stepHtml).join("") + "</ol></div>";
      }).join("") : "<p>" + C.escapeHtml(C.t("command.no_assignments")) + "</p>";
    }).catch(function (error) {
      var box = side.querySelector(".cityops-assignments");
      if (box) box.textContent = C.errorText(error);
    });
  }

  /* a click beside the markers: which units answer for that spot (grid up to the city) */
  map.on("click", function (event) {
    if (!options.locate) return;
    C.getJson("/api/v1/locate?lon=" + event.latlng.lng.toFixed(6) + "&lat=" + event.latlng.lat.toFixed(6))
      .then(function (body) {
        var html = body.chain.map(function (u) {
          return "<div class='cityops-chain-row'><b>" + C.escapeHtml(C.label("tier", u.tier)) + "</b> " + C.escapeHtml(u.name) +
            (u.kind === "management" ? " " + C.escapeHtml(C.t("command.management")) : "") + "</div>";
        }).join("");
        L.popup({maxWidth: 420}).setLatLng(event.latlng).setContent("<div class='cityops-popup'>" + html + "</div>")
          .openOn(map);
      }).catch(function (error) { C.status(C.errorText(error)); });
  });

  /* the view lives in the address (#zoom/lat/lon), so a link or a reload shows the same place */
  map.on("moveend", function () {
    var centre = map.getCenter();
    history.replaceState(null, "", "#" + map.getZoom() + "/" + centre.lat.toFixed(5) + "/" + centre.lng.toFixed(5));
    refresh();
  });
  /* the layers load once the stream is subscribed (its "ready"), so no change can fall between the
     two; a stream that cannot connect within READY_WAIT does not hold the map back */
  var loaded = false;
  function firstLoad() { if (!loaded) { loaded = true; refresh(); loadIncidents(); } }
  legend();
  C.liveStream({onReady: firstLoad, onChanges: applyChanges, onReset: refresh});
  setTimeout(firstLoad, READY_WAIT);
  C.tierLayers(map, options, control, "cityops-units");
};
