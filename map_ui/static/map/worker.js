/* The grid worker's view, made for a phone: their grid outlined, tap the map (or use the device's
   position) to tag an incident, and their task list, each task opening its case page to act on.
   A report is sent with an Idempotency-Key made when the form is filled: a retry after a dropped
   connection files the same report once, never twice. A photo goes with it as multipart. */
"use strict";
window.cityopsWorker = function (map, options) {
  var C = window.cityops;
  C.fit(map, options);
  var control = L.control.layers(null, null, {collapsed: true}).addTo(map);
  C.tierLayers(map, options, control);
  var pin = null, key = null;
  var sheet = C.panel("cityops-sheet", "cityops-sheet");
  window.cityopsMap = map; window.cityopsReady = false; window.cityopsReports = [];

  C.getJson("/api/v1/units/" + encodeURIComponent(options.user.unit)).then(function (unit) {
    var outline = L.geoJSON(unit.feature || unit, {style: {color: "#c0392b", weight: 3, fill: false}}).addTo(map);
    map.fitBounds(outline.getBounds(), {maxZoom: 17, animate: false});
  }).catch(function (error) { C.status(error.message); });

  sheet.innerHTML =
    "<form id='cityops-report' class='cityops-report'>" +
    "<div class='cityops-where'>点击地图标记位置 tap the map to place the incident</div>" +
    "<button type='button' class='cityops-locate'>📍 我的位置 my location</button>" +
    "<select name='category' required><option value=''>类别 category…</option></select>" +
    "<textarea name='description' required maxlength='4000' placeholder='描述 what is wrong'></textarea>" +
    "<input name='photo' type='file' accept='image/*' capture='environment'>" +
    "<button type='submit'>上报 report</button><div class='cityops-report-message'></div></form>" +
    "<h3>我的任务 my tasks</h3><ul id='cityops-tasks' class='cityops-tasks'></ul>";
  var form = document.getElementById("cityops-report");
  var message = form.querySelector(".cityops-report-message");

  C.getJson("/open311/v2/services.json").then(function (services) {
    var select = form.elements.category;
    services.forEach(function (s) {
      var option = document.createElement("option");
      option.value = s.service_code;
      option.textContent = s.service_name + " (" + s.group + ")";
      select.appendChild(option);
    });
    window.cityopsReady = true;
  });

  function place(latlng) {
    if (pin) pin.setLatLng(latlng); else pin = L.marker(latlng, {draggable: true}).addTo(map);
    form.querySelector(".cityops-where").textContent = latlng.lat.toFixed(6) + ", " + latlng.lng.toFixed(6);
    key = null;  // a new report: a new idempotency key when it is sent
  }

  map.on("click", function (event) { place(event.latlng); });
  form.querySelector(".cityops-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { message.textContent = "no location on this device"; return; }
    navigator.geolocation.getCurrentPosition(function (position) {
      var here = L.latLng(position.coords.latitude, position.coords.longitude);
      place(here); map.setView(here, Math.max(map.getZoom(), 17));
    }, function (error) { message.textContent = error.message; }, {enableHighAccuracy: true, timeout: 10000});
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!pin) { message.textContent = "先点击地图标记位置 tap the map first"; return; }
    var at = pin.getLatLng();
    var report = {lon: Number(at.lng.toFixed(7)), lat: Number(at.lat.toFixed(7)), category: form.elements.category.value,
                  source: "grid_worker", description: form.elements.description.value};
    key = key || crypto.randomUUID();
    var photo = form.elements.photo.files[0], sent;
    if (photo) {
      var body = new FormData();
      body.append("report", JSON.stringify(report));
      body.append("media", photo, photo.name);
      sent = C.postForm("/api/v1/reports", body, {"Idempotency-Key": key});
    } else {
      sent = C.postJson("/api/v1/reports", report, {"Idempotency-Key": key});
    }
    message.textContent = "…";
    sent.then(function (answer) {
      window.cityopsReports.push(answer);
      message.textContent = "已上报 reported: #" + answer.case_id + " → " + answer.responsible.name;
      form.reset(); key = null;
      if (pin) { map.removeLayer(pin); pin = null; }
      loadTasks();
    }).catch(function (error) { message.textContent = error.message; });  // the key stays: a retry is the same report
  });

  /* ---- tasks: the open cases of the worker's grid; each opens its case page, whose forms take the
     next step with labelled actions and photos uploaded to the case (one implementation of the loop's screens) */
  var tasks = document.getElementById("cityops-tasks"), tasksTimer = null;

  function loadTasks() {
    C.getJson("/api/v1/events?limit=50").then(function (body) {
      var open = body.items.filter(function (c) { return c.state !== "closed" && c.state !== "void"; });
      tasks.innerHTML = open.map(function (c) {
        return "<li data-case='" + C.escapeHtml(c.id) + "'><a href='/cases/" + encodeURIComponent(c.id) + "'><b>#" +
          C.escapeHtml(c.id) + "</b> " + C.escapeHtml(c.category) + " · <span class='cityops-task-state'>" +
          C.escapeHtml(c.state) + "</span></a></li>";
      }).join("") || "<li>无待办 nothing open</li>";
    }).catch(function (error) { tasks.innerHTML = "<li>" + C.escapeHtml(error.message) + "</li>"; });
  }

  C.liveStream({  // the task list is read once the stream is subscribed, and again after changes
    onReady: loadTasks,
    onChanges: function () { if (!tasksTimer) tasksTimer = setTimeout(function () { tasksTimer = null; loadTasks(); }, 1000); },
    onReset: loadTasks
  });
};
