/* The grid worker's view, made for a phone and for bad networks: their grid outlined, tap the map
   (or use the device's position) to tag an incident, and their task list, each task opening its case.

   The place is checked against the worker's own grid before anything is sent: a point outside
   says so at once, in words, and the send button waits until the point is moved inside (the
   server would refuse it after the fact). The place reads as words (the grid, how far and which
   way from its centre), not as raw coordinates.

   A report goes into the outbox (static/app/outbox.js) with the Idempotency-Key made when the
   worker pressed send, photo included (a Blob in IndexedDB): sent at once when the network is
   there, later when it is not; 「待发送 N」 says how many wait. Every message stays until read. */
"use strict";
window.cityopsWorker = function (map, options) {
  var C = window.cityops, t = C.t;
  // the grid's outline, when it arrives, frames the map: unless the address asked for a view, or the worker
  // moved the map meanwhile (on a slow network they may have zoomed to the place already)
  var viewChosen = C.fit(map, options);
  map.once("movestart", function () { viewChosen = true; });
  var control = L.control.layers(null, null, {collapsed: true}).addTo(map);
  C.tierLayers(map, options, control);
  var pin = null, grid = null, categories = {};
  var gridName = options.user.unit_name || options.user.unit;
  var sheet = C.panel("cityops-sheet", "cityops-sheet");
  var unitUrl = "/api/v1/units/" + encodeURIComponent(options.user.unit);
  window.cityopsMap = map; window.cityopsReady = false; window.cityopsReports = [];
  window.cityopsKeep = [unitUrl, "/field/categories"];  // what the service worker keeps for offline use

  sheet.innerHTML =
    "<div class='cityops-sheet-head'><div id='cityops-outbox'></div>" +
    "<div class='cityops-message' role='status' aria-live='polite' hidden><span></span>" +
    "<button type='button' class='cityops-message-close'>" + C.escapeHtml(t("worker.dismiss")) + "</button></div></div>" +
    "<form id='cityops-report' class='cityops-report'>" +
    "<p class='cityops-field-name' id='cityops-where-name'>" + C.escapeHtml(t("worker.where")) + "</p>" +
    "<output class='cityops-where' aria-labelledby='cityops-where-name'>" + C.escapeHtml(t("worker.tap_map")) + "</output>" +
    "<p class='cityops-outside' role='alert' hidden></p>" +
    "<button type='button' class='cityops-locate secondary'>" + C.escapeHtml(t("worker.locate")) + "</button>" +
    "<label for='cityops-category'>" + C.escapeHtml(t("worker.category")) + "</label>" +
    "<select id='cityops-category' name='category' required><option value=''>" +
    C.escapeHtml(t("worker.category_choose")) + "</option></select>" +
    "<label for='cityops-description'>" + C.escapeHtml(t("worker.description")) + "</label>" +
    "<textarea id='cityops-description' name='description' required maxlength='4000' rows='3' placeholder='" +
    C.escapeHtml(t("worker.description_hint")) + "'></textarea>" +
    "<label for='cityops-photo'>" + C.escapeHtml(t("worker.photo")) + "</label>" +
    "<input id='cityops-photo' name='photo' type='file' accept='image/*' capture='environment'>" +
    "<button type='submit' disabled>" + C.escapeHtml(t("worker.send")) + "</button></form>" +
    "<h2 class='cityops-tasks-title'>" + C.escapeHtml(t("worker.tasks")) + "</h2>" +
    "<ul id='cityops-tasks' class='cityops-tasks'></ul>";
  var form = document.getElementById("cityops-report");
  var where = form.querySelector(".cityops-where"), outside = form.querySelector(".cityops-outside");
  var send = form.querySelector("button[type=submit]");
  var message = sheet.querySelector(".cityops-message");

  /* one message at a time, kept until the worker closes it or a newer one takes its place */
  function say(text, kind) {
    message.querySelector("span").textContent = text;
    message.className = "cityops-message " + (kind || "info");
    message.setAttribute("role", kind === "error" ? "alert" : "status");
    message.hidden = false;
    sheet.scrollTop = 0;
  }
  message.querySelector("button").addEventListener("click", function () { message.hidden = true; });

  var outbox = window.cityopsOutbox.start(options.user.username, document.getElementById("cityops-outbox"),
    function (item, answer) {
      window.cityopsReports.push(answer);
      say(t("worker.sent", {title: item.title, id: answer.case_id, unit: answer.responsible ? answer.responsible.name : ""}), "ok");
      loadTasks();
    });
  window.cityopsWorkerOutbox = outbox;

  /* ---- the worker's grid: its outline on the map, and the test every point passes before sending */
  C.getJson(unitUrl).then(function (unit) {
    var feature = unit.feature || unit;
    var outline = L.geoJSON(feature, {style: {color: "#c0392b", weight: 3, fill: false}, interactive: false}).addTo(map);
    if (!viewChosen) map.fitBounds(outline.getBounds(), {maxZoom: 17, animate: false});
    grid = {geometry: feature.geometry, centre: outline.getBounds().getCenter()};
    window.cityopsGrid = true;
    gridName = (feature.properties && feature.properties.name) || gridName;
    if (pin) check(pin.getLatLng());
  }).catch(function () { say(t("worker.grid_unknown"), "error"); });

  function polygonsOf(geometry) {
    return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  }

  function inRing(ring, x, y) {  // even-odd rule on [lon, lat] vertices
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function insideGrid(latlng) {
    return polygonsOf(grid.geometry).some(function (rings) {
      return inRing(rings[0], latlng.lng, latlng.lat) &&
        !rings.slice(1).some(function (hole) { return inRing(hole, latlng.lng, latlng.lat); });
    });
  }

  /* metres from the point to the grid's nearest edge (flat earth: a grid is a few hundred metres wide) */
  function toEdge(latlng) {
    var kx = 111320 * Math.cos(latlng.lat * Math.PI / 180), ky = 110540, best = Infinity;
    polygonsOf(grid.geometry).forEach(function (rings) {
      rings.forEach(function (ring) {
        for (var i = 1; i < ring.length; i++) {
          var ax = (ring[i - 1][0] - latlng.lng) * kx, ay = (ring[i - 1][1] - latlng.lat) * ky;
          var bx = (ring[i][0] - latlng.lng) * kx, by = (ring[i][1] - latlng.lat) * ky;
          var dx = bx - ax, dy = by - ay, length = dx * dx + dy * dy;
          var s = length ? Math.max(0, Math.min(1, -(ax * dx + ay * dy) / length)) : 0;
          best = Math.min(best, Math.hypot(ax + s * dx, ay + s * dy));
        }
      });
    });
    return best;
  }

  var DIRECTIONS = ["worker.direction.n", "worker.direction.ne", "worker.direction.e", "worker.direction.se",
                    "worker.direction.s", "worker.direction.sw", "worker.direction.w", "worker.direction.nw"];
  /* the place in words: the grid, and how far and which way from its centre */
  function inWords(latlng) {
    var metres = grid.centre.distanceTo(latlng);
    if (metres < 30) return t("worker.where_centre", {grid: gridName});
    var bearing = Math.atan2((latlng.lng - grid.centre.lng) * Math.cos(latlng.lat * Math.PI / 180), latlng.lat - grid.centre.lat);
    var direction = DIRECTIONS[Math.round(((bearing * 180 / Math.PI) + 360) % 360 / 45) % 8];
    return t("worker.where_in", {grid: gridName, direction: t(direction), metres: C.number(metres)});
  }

  /* the send button opens only for a point inside the grid (or when the grid could not be read) */
  function check(latlng) {
    var out = grid && !insideGrid(latlng);
    outside.hidden = !out;
    if (out) outside.textContent = t("worker.outside", {grid: gridName, metres: C.number(toEdge(latlng))});
    where.textContent = !grid ? t("worker.where_unchecked") : out ? t("worker.where_outside") : inWords(latlng);
    send.disabled = !!out;
    form.classList.toggle("cityops-outside-grid", !!out);
  }

  function place(latlng) {
    if (pin) pin.setLatLng(latlng);
    else {
      pin = L.marker(latlng, {draggable: true, keyboard: true, title: t("worker.pin")}).addTo(map);
      pin.on("dragend", function () { check(pin.getLatLng()); });
    }
    check(latlng);
  }

  map.on("click", function (event) { place(event.latlng); });
  form.querySelector(".cityops-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { say(t("worker.locate_none"), "error"); return; }
    navigator.geolocation.getCurrentPosition(function (position) {
      var here = L.latLng(position.coords.latitude, position.coords.longitude);
      place(here); map.setView(here, Math.max(map.getZoom(), 17));
    }, function () { say(t("worker.locate_failed"), "error"); }, {enableHighAccuracy: true, timeout: 10000});
  });

  /* ---- categories by name, grouped (the list is kept by the service worker for offline use) */
  C.getJson("/field/categories").then(function (list) {
    var select = form.elements.category, groups = {};
    list.forEach(function (c) {
      categories[c.code] = c.name;
      if (!groups[c.group]) {
        groups[c.group] = document.createElement("optgroup");
        groups[c.group].label = c.group;
        select.appendChild(groups[c.group]);
      }
      var option = document.createElement("option");
      option.value = c.code;
      option.textContent = c.name;
      groups[c.group].appendChild(option);
    });
    window.cityopsReady = true;
  }).catch(function () { say(t("worker.categories_unknown"), "error"); });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!pin) { say(t("worker.tap_first"), "error"); return; }
    var at = pin.getLatLng();
    check(at);
    if (send.disabled) return;
    var category = form.elements.category.value;
    var report = JSON.stringify({lon: Number(at.lng.toFixed(7)), lat: Number(at.lat.toFixed(7)), category: category,
                                 source: "grid_worker", description: form.elements.description.value});
    var photo = form.elements.photo.files[0];
    var item = {
      kind: "report", url: "/api/v1/reports",
      title: t("worker.report_title", {category: categories[category] || "", at: C.beijing(new Date(), "short")}),
      body: photo ? {type: "multipart", report: report, media: photo, filename: photo.name || "photo.jpg"}
                  : {type: "json", text: report}
    };
    send.disabled = true;
    outbox.add(item).then(function () {
      say(t(navigator.onLine ? "worker.sending" : "worker.saved", {title: item.title}), "info");
      form.reset();
      map.removeLayer(pin); pin = null;
      outside.hidden = true;
      where.textContent = t("worker.tap_map");
    }).catch(function () { say(t("worker.not_saved"), "error"); send.disabled = false; });
  });

  /* ---- tasks: the open cases of the worker's grid; each opens its case page */
  var tasks = document.getElementById("cityops-tasks"), tasksTimer = null;

  function loadTasks() {
    C.getJson("/api/v1/cases?limit=50").then(function (body) {
      var open = body.items.filter(function (c) { return c.state !== "closed" && c.state !== "void"; });
      tasks.innerHTML = open.map(function (c) {
        var name = (C.lang === "en" ? c.category_name_en : c.category_name) || categories[c.category] || "";
        return "<li data-case='" + C.escapeHtml(c.id) + "'><a href='/cases/" + encodeURIComponent(c.id) + "'><b>#" +
          C.escapeHtml(c.id) + "</b> " + C.escapeHtml(name) + " · <span class='cityops-task-state'>" +
          C.escapeHtml(C.label("state", c.state)) + "</span> · <time datetime='" + C.escapeHtml(c.filed_at) + "'>" +
          C.escapeHtml(C.beijing(c.filed_at, "short")) + "</time></a></li>";
      }).join("") || "<li>" + C.escapeHtml(t("worker.no_tasks")) + "</li>";
    }).catch(function () { tasks.innerHTML = "<li>" + C.escapeHtml(t("worker.tasks_offline")) + "</li>"; });
  }

  C.liveStream({  // the task list is read once the stream is subscribed, and again after changes
    onReady: loadTasks,
    onChanges: function () { if (!tasksTimer) tasksTimer = setTimeout(function () { tasksTimer = null; loadTasks(); }, 1000); },
    onReset: loadTasks
  });
  loadTasks();
};
