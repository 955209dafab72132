/* The command view: cases and forces of the commander's jurisdiction, live; a case's details,
   routing trace, timeline, recommended forces and dispatch, and the case's assignments with their
   story (offered, accepted, on scene, released, timed out and re-offered to whom), in the side panel.
   Zoomed out, cases and forces are hexagon counts (the server aggregates on H3); from
   CASE_ZOOM / FORCE_ZOOM on they are markers read by bbox from the OGC API. The live stream
   upserts what changed (the highest version of a case wins, so a replayed or late item never
   rolls the map back) and, in hexagon mode, has the counts read again, at most every HEX_DELAY. */
"use strict";
window.cityopsCommand = function (map, options) {
  var C = window.cityops;
  var CASE_ZOOM = 13, FORCE_ZOOM = 12, HEX_DELAY = 1500, LIMIT = 5000, READY_WAIT = 3000;
  var CASE_COLOURS = {reported: "#e67e22", accepted: "#f1c40f", filed: "#f1c40f", dispatched: "#2e86c1",
    acknowledged: "#2e86c1", handling: "#2e86c1", returned: "#e74c3c", rework: "#e74c3c", checking: "#8e44ad",
    extension_requested: "#16a085", parking_requested: "#16a085", parked: "#95a5a6"};
  var FORCE_COLOURS = {available: "#27ae60", assigned: "#f39c12", en_route: "#e67e22", on_scene: "#c0392b",
    off_duty: "#95a5a6", out_of_service: "#34495e"};
  var RADIUS = {I: 10, II: 8, III: 6, IV: 5};
  var STAGES = {offered: "待接受 offered", en_route: "前往途中 en route", on_scene: "在现场 on scene",
    released: "已结束 released"};
  var STEPS = {offered: "派出 offered", accepted: "接受 accepted", en_route: "出发 en route",
    on_scene: "到达现场 on scene", completed: "完成 completed", cancelled: "取消 cancelled",
    reassigned: "改派 reassigned", unable: "无法执行 unable", timed_out: "超时未接受 timed out",
    reoffered: "改派给 re-offered to", not_reoffered: "未能改派 not re-offered"};
  var WHY = {accept_timeout: "超时未接受 not accepted in time", unable: "无法执行 unable",
    no_candidate: "本单位暂无可调派力量 no free force of the unit", case_closed: "案件已结 case closed"};
  var BEIJING = new Intl.DateTimeFormat("zh-CN", {timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});
  var FINAL = {closed: true, void: true};

  C.fit(map, options);
  var control = L.control.layers(null, null, {collapsed: false}).addTo(map);
  var caseLayer = L.layerGroup().addTo(map), forceLayer = L.layerGroup().addTo(map);
  var caseHexes = L.geoJSON(null, {style: hexStyle("cases"), onEachFeature: hexTip("cases")}).addTo(map);
  var forceHexes = L.geoJSON(null, {style: hexStyle("forces"), onEachFeature: hexTip("forces")});
  control.addOverlay(caseLayer, "事件 cases");
  control.addOverlay(caseHexes, "事件密度 case hexagons");
  if (options.forces) {
    forceLayer.addTo(map); forceHexes.addTo(map);
    control.addOverlay(forceLayer, "力量 forces");
    control.addOverlay(forceHexes, "力量密度 force hexagons");
  }
  var cases = {}, forces = {}, applied = {};
  var loading = {cases: 0, forces: 0}, hexTimer = null;
  window.cityopsMap = map; window.cityopsCases = cases; window.cityopsForces = forces;
  window.cityopsApplied = applied; window.cityopsReady = false;
  var kpi = C.panel("cityops-kpi", "cityops-kpi");
  var side = C.panel("cityops-side", "cityops-side");
  side.hidden = true;

  function overdue(item) {
    var now = Date.now();
    return !FINAL[item.state] && ((item.deadline && Date.parse(item.deadline) < now) ||
                                  (item.due_at && Date.parse(item.due_at) < now));
  }

  function hexStyle(layer) {
    return function (feature) {
      var p = feature.properties, n = layer === "cases" ? p.open || p.count : p.count;
      var alpha = Math.min(0.75, 0.15 + Math.log10(1 + n) / 3);
      var colour = layer === "cases" ? "#d35400" : "#1e8449";
      return {color: p.overdue ? "#c0392b" : colour, weight: p.overdue ? 2 : 0.6, fillColor: colour,
              fillOpacity: alpha};
    };
  }

  function hexTip(layer) {
    return function (feature, shape) {
      var p = feature.properties;
      var text = layer === "cases" ? p.count + " 件 cases · 超期 overdue " + p.overdue :
        p.count + " 力量 forces · 可用 available " + p.available + " · 执行中 busy " + p.busy;
      shape.bindTooltip(C.escapeHtml(text), {sticky: true});
    };
  }

  function caseStyle(item) {
    var late = overdue(item);
    return {radius: RADIUS[item.severity] || 6, color: late ? "#c0392b" : "#ffffff", weight: late ? 3 : 1,
            fillColor: CASE_COLOURS[item.state] || "#7f8c8d", fillOpacity: 0.9,
            className: late ? "cityops-overdue" : "", bubblingMouseEvents: false};
  }

  function putCase(item) {
    var known = cases[item.id];
    if (known && known.item.version > item.version) return;  // an older state than the one shown
    if (FINAL[item.state] || item.merged_into) {
      if (known) { caseLayer.removeLayer(known.marker); delete cases[item.id]; }
      return;
    }
    if (known) {
      known.item = item;
      known.marker.setLatLng([item.lat, item.lon]).setStyle(caseStyle(item));
      return;
    }
    var marker = L.circleMarker([item.lat, item.lon], caseStyle(item)).addTo(caseLayer);
    marker.on("click", function () { showCase(item.id); });
    cases[item.id] = {item: item, marker: marker};
  }

  function putForce(item) {
    if (item.lon === null || item.lon === undefined) return;
    var known = forces[item.id];
    if (known && known.item.fixed_at && item.fixed_at && Date.parse(known.item.fixed_at) > Date.parse(item.fixed_at)) {
      return;  // an older fix than the one shown (a list read before the stream's newer item arrived)
    }
    var style = {radius: 5, color: "#ffffff", weight: 1.5, fillColor: FORCE_COLOURS[item.status] || "#555",
                 fillOpacity: 1, bubblingMouseEvents: false};
    if (known) {
      known.item = item;
      known.marker.setLatLng([item.lat, item.lon]).setStyle(style);
    } else {
      var marker = L.circleMarker([item.lat, item.lon], style).addTo(forceLayer);
      marker.bindTooltip(function () {
        var f = forces[item.id].item;
        return C.escapeHtml(f.code + " " + f.name + " · " + f.status);
      });
      forces[item.id] = {item: item, marker: marker};
    }
    applied[item.id] = Date.now();
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

  function loadCases() {
    var ticket = ++loading.cases, zoom = map.getZoom(), bbox = C.bboxOf(map);
    if (zoom >= CASE_ZOOM) {
      return C.getJson("/ogc/collections/cases/items?open=true&limit=" + LIMIT + "&bbox=" + bbox).then(function (fc) {
        if (ticket !== loading.cases) return;
        caseHexes.clearLayers();
        var keep = {};
        fc.features.forEach(function (f) { keep[f.id] = true; putCase(caseFromFeature(f)); });
        Object.keys(cases).forEach(function (id) {
          if (!keep[id]) { caseLayer.removeLayer(cases[id].marker); delete cases[id]; }
        });
        if (fc.numberMatched > fc.numberReturned) C.status("showing " + fc.numberReturned + " of " + fc.numberMatched + " cases — zoom in");
      });
    }
    return C.getJson("/api/v1/hexagons?layer=cases&resolution=" + C.resolutionFor(zoom) + "&bbox=" + bbox)
      .then(function (fc) {
        if (ticket !== loading.cases) return;
        caseLayer.clearLayers();
        Object.keys(cases).forEach(function (id) { delete cases[id]; });
        caseHexes.clearLayers().addData(fc);
      });
  }

  function loadForces() {
    if (!options.forces) return Promise.resolve();
    var ticket = ++loading.forces, zoom = map.getZoom(), bbox = C.bboxOf(map);
    if (zoom >= FORCE_ZOOM) {
      return C.getJson("/ogc/collections/forces/items?limit=" + LIMIT + "&bbox=" + bbox).then(function (fc) {
        if (ticket !== loading.forces) return;
        forceHexes.clearLayers();
        fc.features.forEach(function (f) { putForce(forceFromFeature(f)); });
      });
    }
    return C.getJson("/api/v1/hexagons?layer=forces&resolution=" + C.resolutionFor(zoom) + "&bbox=" + bbox)
      .then(function (fc) {
        if (ticket !== loading.forces) return;
        forceLayer.clearLayers();
        Object.keys(forces).forEach(function (id) { delete forces[id]; });
        forceHexes.clearLayers().addData(fc);
      });
  }

  function showKpi() {
    var open = 0, late = 0, supervised = 0, available = 0, busy = 0;
    if (map.getZoom() >= CASE_ZOOM) {
      Object.keys(cases).forEach(function (id) {
        var item = cases[id].item;
        open += 1; if (overdue(item)) late += 1; if (item.supervised) supervised += 1;
      });
    } else {
      caseHexes.eachLayer(function (l) { open += l.feature.properties.open; late += l.feature.properties.overdue; });
    }
    if (map.getZoom() >= FORCE_ZOOM) {
      Object.keys(forces).forEach(function (id) {
        if (forces[id].item.status === "available") available += 1; else busy += 1;
      });
    } else {
      forceHexes.eachLayer(function (l) { available += l.feature.properties.available; busy += l.feature.properties.busy; });
    }
    var rows = [["在办 open cases", open], ["超期 overdue", late]];
    if (map.getZoom() >= CASE_ZOOM) rows.push(["督办 supervised", supervised]);
    if (options.forces) rows.push(["可用力量 available", available], ["执行中 busy", busy]);
    kpi.innerHTML = "<b>视野内 in view</b>" + rows.map(function (r) {
      return "<div><span>" + r[0] + "</span><b class='cityops-kpi-value'>" + r[1] + "</b></div>";
    }).join("") + (kpi.dataset.unit || "");
  }

  function refresh() {
    Promise.all([loadCases(), loadForces()]).then(function () {
      showKpi();
      window.cityopsReady = true;
      if (!window.cityopsReadyAt) window.cityopsReadyAt = performance.now();
      evaluation();
    }).catch(function (error) { C.status(error.message); });
  }

  function soon() {  // hexagon counts are read again once the burst of changes has passed
    if (hexTimer) return;
    hexTimer = setTimeout(function () { hexTimer = null; refresh(); }, HEX_DELAY);
  }

  function inView(item) {
    return item.lon !== null && item.lon !== undefined && map.getBounds().contains([item.lat, item.lon]);
  }

  function applyChanges(batch) {
    var zoom = map.getZoom(), hexes = false;
    batch.cases.forEach(function (item) {
      if (zoom < CASE_ZOOM) { hexes = true; return; }
      if (cases[item.id] || inView(item)) putCase(item);
      if (openCase === item.id) showCase(item.id);
    });
    batch.forces.forEach(function (item) {
      if (zoom < FORCE_ZOOM) { hexes = true; return; }
      if (forces[item.id] || inView(item)) putForce(item);
    });
    if ((batch.assignments || []).some(function (a) { return a.case_id === openCase; })) showAssignments(openCase);
    if (hexes) soon();
    showKpi();
  }

  /* ---- the side panel: one case ---- */
  var openCase = null;
  var notes = {};  // case id → confirmations shown until the commander dismisses them (they outlive redraws)

  function row(label, value) {
    return "<tr><th>" + label + "</th><td>" + C.escapeHtml(value) + "</td></tr>";
  }

  function minutes(seconds) { return Math.max(1, Math.round(seconds / 60)) + " min"; }

  function showCase(id) {
    openCase = id;
    side.hidden = false;
    side.innerHTML = "<p>…</p>";
    var asks = [C.getJson("/api/v1/events/" + id), C.getJson("/api/v1/events/" + id + "/transitions")];
    if (options.forces) asks.push(C.getJson("/api/v1/events/" + id + "/candidates?k=5"));
    Promise.all(asks).then(function (answers) {
      if (openCase !== id) return;
      var detail = answers[0], chain = answers[1], card = answers[2];
      var html = "<button type='button' class='cityops-close'>×</button>" +
        "<h3>" + C.escapeHtml(detail.category.name) + " <small>#" + C.escapeHtml(detail.id) + "</small></h3>" +
        "<p><a href='/cases/" + encodeURIComponent(detail.id) + "' target='_blank' rel='noopener'>打开案件页 open the case page</a></p><table>" +
        row("状态 state", chain.state + (chain.deadline && Date.parse(chain.deadline) < Date.now() ? " · 超期 overdue" : "")) +
        row("等级 severity", detail.severity) + row("责任 responsible", detail.responsible.name + " " + detail.responsible.code) +
        row("部门 departments", (detail.responsible.departments || []).join("、")) +
        row("地址 address", detail.address || "") + row("期限 deadline", detail.deadline) +
        row("描述 description", detail.description || "") + "</table>" +
        "<div class='cityops-notes' aria-live='polite'></div><p class='cityops-side-message' role='alert'></p>";
      if (options.forces) html += "<h4>调派力量 assignments</h4><div class='cityops-assignments'>…</div>";
      var trace = detail.routing_trace || {};
      html += "<h4>派单依据 routing trace</h4><table class='cityops-trace'>" + Object.keys(trace).map(function (key) {
        var value = trace[key];
        return row(C.escapeHtml(key), typeof value === "object" ? JSON.stringify(value) : value);
      }).join("") + "</table>";
      html += "<h4>流转 timeline</h4><ol class='cityops-timeline'>" + chain.transitions.map(function (t) {
        return "<li><time>" + C.escapeHtml(t.at.slice(5, 16).replace("T", " ")) + "</time> " + C.escapeHtml(t.action) +
          " → " + C.escapeHtml(t.to_state) + " <i>" + C.escapeHtml(t.actor) + "</i></li>";
      }).join("") + "</ol>";
      if (card) {
        html += "<h4>推荐力量 recommended forces</h4><table class='cityops-candidates'>" +
          card.candidates.map(function (f) {
            var button = options.dispatch && f.status === "available" ?
              "<button type='button' class='cityops-dispatch' data-force='" + C.escapeHtml(f.id) + "'>派遣 dispatch</button>" : "";
            return "<tr><td>" + C.escapeHtml(f.code + " " + f.name) + "</td><td>" + Math.round(f.distance_m) + " m</td><td>" +
              minutes(f.eta_s) + "</td><td>" + button + "</td></tr>";
          }).join("") + "</table>" + (card.shortfall ? "<p>" + C.escapeHtml(card.shortfall.reason) + "</p>" : "");
      }
      side.innerHTML = html;
      side.querySelector(".cityops-close").addEventListener("click", function () { openCase = null; side.hidden = true; });
      showNotes(id);
      if (options.forces) showAssignments(id);
      Array.prototype.forEach.call(side.querySelectorAll(".cityops-dispatch"), function (button) {
        button.addEventListener("click", function () { dispatch(id, Number(button.dataset.force), button); });
      });
    }).catch(function (error) { side.innerHTML = "<p>" + C.escapeHtml(error.message) + "</p>"; });
  }

  function dispatch(caseId, forceId, button) {
    button.disabled = true;
    C.postJson("/api/v1/events/" + caseId + "/assignments", {force_ids: [forceId]}).then(function (answer) {
      (notes[caseId] = notes[caseId] || []).push("已派遣 dispatched: " + answer.assignments.map(function (a) {
        return button.closest("tr").cells[0].textContent + " · 接受期限 accept by " + BEIJING.format(new Date(a.accept_by));
      }).join(", "));
      showNotes(caseId);
      showAssignments(caseId);
      window.cityopsDispatched = answer;
    }).catch(function (error) {
      button.disabled = false;
      side.querySelector(".cityops-side-message").textContent = error.message;
    });
  }

  function showNotes(caseId) {
    var box = side.querySelector(".cityops-notes");
    if (!box || openCase !== caseId) return;
    box.innerHTML = (notes[caseId] || []).map(function (text, i) {
      return "<div class='cityops-note'><span>" + C.escapeHtml(text) + "</span><button type='button' data-note='" + i +
        "'>知道了 dismiss</button></div>";
    }).join("");
    Array.prototype.forEach.call(box.querySelectorAll("[data-note]"), function (button) {
      button.addEventListener("click", function () { notes[caseId].splice(Number(button.dataset.note), 1); showNotes(caseId); });
    });
  }

  function stepHtml(step) {
    var text = STEPS[step.step] || step.step;
    if (step.step === "reoffered") {
      text += " " + (step.next_force_code ? step.next_force_code + " " + (step.next_force_name || "") : "#" + step.next_force_id) +
        (WHY[step.note] ? "（" + WHY[step.note] + "）" : "");
    } else if (step.note) {
      text += "：" + (WHY[step.note] || step.note.replace(/^re-offer of assignment (\d+)$/, "改派自 re-offer of #$1"));
    }
    return "<li data-step='" + C.escapeHtml(step.step) + "'><time>" + C.escapeHtml(BEIJING.format(new Date(step.at))) +
      "</time> " + C.escapeHtml(text) + " <i>" + C.escapeHtml(step.actor) + "</i></li>";
  }

  /* the case's assignments, newest first, each with its story; redrawn alone when one changes */
  function showAssignments(caseId) {
    C.getJson("/api/v1/events/" + caseId + "/assignments").then(function (body) {
      var box = side.querySelector(".cityops-assignments");
      if (!box || openCase !== caseId) return;
      box.innerHTML = body.items.length ? body.items.map(function (a) {
        var wait = a.stage === "offered" ? " · 接受期限 accept by " + BEIJING.format(new Date(a.accept_by)) : "";
        return "<div class='cityops-assignment' data-assignment='" + C.escapeHtml(a.id) + "' data-stage='" +
          C.escapeHtml(a.stage) + "'><b>" + C.escapeHtml((a.force_code || "#" + a.force_id) + " " + (a.force_name || "")) +
          "</b> <span class='cityops-stage'>" + C.escapeHtml(STAGES[a.stage] + (a.release_reason ? "（" +
          (STEPS[a.release_reason] || WHY[a.release_reason] || a.release_reason) + "）" : "") + wait) + "</span>" +
          "<ol class='cityops-story'>" + a.steps.map(stepHtml).join("") + "</ol></div>";
      }).join("") : "<p>尚未调派 none yet</p>";
    }).catch(function (error) {
      var box = side.querySelector(".cityops-assignments");
      if (box) box.textContent = error.message;
    });
  }

  function evaluation() {  // the jurisdiction's month, for commanders who may read evaluations (after the map)
    if (!options.analytics || kpi.dataset.unit) return;
    kpi.dataset.unit = " ";
    C.getJson("/api/v1/evaluation?unit=" + encodeURIComponent(options.user.unit)).then(function (e) {
      var total = e.total || {};
      kpi.dataset.unit = "<b>" + C.escapeHtml(options.user.unit_name) + "</b>" +
        "<div><span>结案率 closure</span><b>" + C.escapeHtml(total.closure_rate) + "</b></div>" +
        "<div><span>按期结案率 on time</span><b>" + C.escapeHtml(total.on_time_closure_rate) + "</b></div>";
      showKpi();
    }).catch(function () { /* the view works without it */ });
  }

  /* a click beside the markers: which units answer for that spot (grid up to the city) */
  map.on("click", function (event) {
    if (!options.locate) return;
    C.getJson("/api/v1/locate?lon=" + event.latlng.lng.toFixed(6) + "&lat=" + event.latlng.lat.toFixed(6))
      .then(function (body) {
        var html = body.chain.map(function (u) {
          return "<div class='cityops-chain-row'><b>" + C.escapeHtml(u.tier) + "</b> " + C.escapeHtml(u.name) +
            (u.kind === "management" ? " (管理)" : "") + " <code>" + C.escapeHtml(u.code) + "</code></div>";
        }).join("");
        L.popup({maxWidth: 420}).setLatLng(event.latlng).setContent("<div class='cityops-popup'>" + html + "</div>")
          .openOn(map);
      }).catch(function (error) { C.status(error.message); });
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
  function firstLoad() { if (!loaded) { loaded = true; refresh(); } }
  C.liveStream({onReady: firstLoad, onChanges: applyChanges, onReset: refresh});
  setTimeout(firstLoad, READY_WAIT);
  C.tierLayers(map, options, control);
};
