/* The planner's view: case counts on H3 hexagons by category, state and filing window, coloured on
   a scale fitted to what is in view, with a legend; the live stream has the counts read again after
   a burst of changes. "Find hot spots" runs Getis-Ord Gi* for the planner's unit with the same
   category and window (GET /api/v1/analytics/hotspots), optionally over time steps: hot and cold
   cells by confidence, emerging patterns outlined, the top places listed. "Propose root-cause tasks"
   stores the unit's recurrences (same cell and category 3 times in 30 days) as proposals and shows
   them; district and city command accept or dismiss each one here. */
"use strict";
window.cityopsPlanner = function (map, options) {
  var C = window.cityops;
  var RAMP = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"];
  var WINDOWS = [["", "全部 all time"], ["1", "24 小时 24 h"], ["7", "7 天 days"], ["30", "30 天 days"], ["365", "一年 year"]];
  var HOT = ["#fcae91", "#fb6a4a", "#cb181d"], COLD = ["#bdd7e7", "#6baed6", "#2171b5"];  // by 90/95/99 % confidence
  var PATTERNS = {"new": "新出现 new", intensifying: "加剧 intensifying", persistent: "持续 persistent",
    diminishing: "减弱 diminishing", sporadic: "零星 sporadic"};
  C.fit(map, options);
  var control = L.control.layers(null, null, {collapsed: false}).addTo(map);
  C.tierLayers(map, options, control);
  var breaks = [];
  var hexes = L.geoJSON(null, {style: style, onEachFeature: describe}).addTo(map);
  control.addOverlay(hexes, "事件六边形 case hexagons");
  var spots = L.geoJSON(null, {style: spotStyle, onEachFeature: describeSpot}).addTo(map);
  control.addOverlay(spots, "热点 hot spots (Gi*)");
  var proposals = L.layerGroup().addTo(map);
  control.addOverlay(proposals, "根源治理建议 root-cause proposals");
  var filters = C.panel("cityops-filters", "cityops-filters"), legend = C.panel("cityops-legend", "cityops-legend");
  var ticket = 0, timer = null;
  window.cityopsMap = map; window.cityopsHexes = hexes; window.cityopsSpots = spots; window.cityopsProposals = proposals;
  window.cityopsReady = false;

  filters.innerHTML = "<form><label>类别 category <select name='category'><option value=''>全部 all</option></select></label>" +
    "<label>时段 window <select name='days'>" + WINDOWS.map(function (w) {
      return "<option value='" + w[0] + "'>" + w[1] + "</option>";
    }).join("") + "</select></label>" +
    "<label>状态 state <select name='state'><option value='all'>全部 all</option><option value='open'>在办 open</option>" +
    "<option value='closed'>已结 closed</option></select></label>" +
    "<label>分辨率 resolution <select name='resolution'><option value=''>自动 auto</option>" +
    [5, 6, 7, 8, 9].map(function (r) { return "<option>" + r + "</option>"; }).join("") + "</select></label>" +
    "<label>时间步 steps <select name='steps'><option value='1'>整段 whole window</option><option>4</option>" +
    "<option>8</option><option>12</option></select></label>" +
    "<button type='button' name='hotspots'>分析热点 find hot spots</button>" +
    "<button type='button' name='recurrences'>根源治理建议 propose root-cause tasks</button></form>" +
    "<div class='cityops-spots'></div><div class='cityops-proposals'></div>";
  var form = filters.querySelector("form");
  L.DomEvent.disableClickPropagation(filters);

  C.getJson("/open311/v2/services.json").then(function (services) {
    var groups = {};
    services.forEach(function (s) { groups[s.service_code.slice(0, 4)] = s.group; });
    Object.keys(groups).sort().forEach(function (prefix) {  // a whole class first, then its categories
      var option = document.createElement("option");
      option.value = prefix; option.textContent = groups[prefix];
      form.elements.category.appendChild(option);
    });
    services.forEach(function (s) {
      var option = document.createElement("option");
      option.value = s.service_code; option.textContent = "· " + s.service_name;
      form.elements.category.appendChild(option);
    });
  });

  function colour(n) {
    var i = 0;
    while (i < breaks.length && n > breaks[i]) i += 1;
    return RAMP[Math.min(i, RAMP.length - 1)];
  }

  function style(feature) {
    return {color: "#7f3b08", weight: 0.4, fillColor: colour(feature.properties.count), fillOpacity: 0.75};
  }

  function describe(feature, shape) {
    var p = feature.properties;
    shape.bindPopup("<div class='cityops-popup'><b>" + C.escapeHtml(p.h3) + "</b><br>事件 cases " + p.count +
      "<br>在办 open " + p.open + " · 超期 overdue " + p.overdue + "<br>最常见 most frequent " +
      C.escapeHtml(p.top_category) + "<br>最高等级 worst severity " + C.escapeHtml(p.severity) + "</div>");
  }

  function confidence(p) { return p <= 0.01 ? 2 : p <= 0.05 ? 1 : 0; }

  function spotStyle(feature) {
    var p = feature.properties, ramp = p["class"] === "hot" ? HOT : p["class"] === "cold" ? COLD : null;
    return {color: p.pattern ? "#3f007d" : "#555", weight: p.pattern ? 2 : 0.5, dashArray: p.pattern === "new" ? "4 3" : null,
      fillColor: ramp ? ramp[confidence(p.p)] : "#ffffff", fillOpacity: ramp ? 0.8 : 0.1};
  }

  function describeSpot(feature, shape) {
    var p = feature.properties;
    shape.bindPopup("<div class='cityops-popup'><b>" + C.escapeHtml(p.place || p.h3) + "</b><br>" +
      ({hot: "热点 hot spot", cold: "冷点 cold spot"}[p["class"]] || "不显著 not significant") +
      "<br>事件 cases " + p.count + " · z " + p.z + " · p " + p.p +
      (p.pattern ? "<br>趋势 pattern: " + C.escapeHtml(PATTERNS[p.pattern] || p.pattern) : "") +
      (p.counts ? "<br>各步 per step: " + p.counts.join(" · ") : "") + "</div>");
  }

  function hotspotQuery() {
    var f = form.elements, days = f.days.value || "365", parts = [
      "res=" + Math.min(Math.max(Number(f.resolution.value) || 8, 6), 9), "steps=" + f.steps.value,
      "from=" + encodeURIComponent(new Date(Date.now() - days * 86400000).toISOString())];
    if (f.category.value) parts.push("category=" + encodeURIComponent(f.category.value));
    return "/api/v1/analytics/hotspots?" + parts.join("&");
  }

  function findHotspots() {
    var box = filters.querySelector(".cityops-spots"), button = form.elements.hotspots;
    button.disabled = true; box.textContent = "计算中 computing…";
    C.getJson(hotspotQuery()).then(function (fc) {
      spots.clearLayers().addData(fc);
      var s = fc.summary;
      box.innerHTML = "<b>热点 " + s.hot + " hot · 冷点 " + s.cold + " cold</b> of " + s.cells + " cells, " + s.cases +
        " cases (FDR " + s.alpha + ")" + (s.top.length ? "<ol>" + s.top.map(function (t) {
          return "<li>" + C.escapeHtml(t.place || t.h3) + ": " + t.count + " · z " + t.z +
            (t.pattern ? " · " + C.escapeHtml(PATTERNS[t.pattern] || t.pattern) : "") + "</li>";
        }).join("") + "</ol>" : "<div>无显著热点 no place stands out</div>");
    }).catch(function (error) { box.textContent = ""; C.status(error.message); })
      .then(function () { button.disabled = false; });
  }

  function showProposals(list) {
    var box = filters.querySelector(".cityops-proposals");
    proposals.clearLayers();
    box.innerHTML = "<b>根源治理建议 " + list.length + " proposals</b> (3 次 / 30 天 · same place and category)" +
      "<ol>" + list.map(function (p, i) {
        L.circleMarker([p.lat, p.lon], {radius: 8, color: "#3f007d", fillColor: "#807dba", fillOpacity: 0.8})
          .bindPopup("<div class='cityops-popup'><b>" + C.escapeHtml(p.category || p.category_code) + "</b><br>" +
            p.n + " 件 cases, " + C.escapeHtml(String(p.first_at).slice(0, 10)) + " – " +
            C.escapeHtml(String(p.last_at).slice(0, 10)) + "</div>").addTo(proposals);
        var actions = options.decide ? " <button type='button' data-i='" + i + "' data-d='accepted'>采纳 accept</button>" +
          "<button type='button' data-i='" + i + "' data-d='dismissed'>驳回 dismiss</button>" : "";
        return "<li>" + C.escapeHtml(p.category || p.category_code) + ": " + p.n + " cases" + actions + "</li>";
      }).join("") + "</ol>";
    box.querySelectorAll("button[data-d]").forEach(function (button) {
      button.addEventListener("click", function () {
        var chosen = list[Number(button.dataset.i)];
        C.postJson("/api/v1/analytics/proposals/" + chosen.proposal_id + "/decision", {decision: button.dataset.d})
          .then(function () { list.splice(Number(button.dataset.i), 1); showProposals(list); })
          .catch(function (error) { C.status(error.message); });
      });
    });
  }

  function propose() {
    var button = form.elements.recurrences;
    button.disabled = true;
    C.postJson("/api/v1/analytics/proposals", {times: 3, days: 30}).then(function (answer) {
      showProposals(answer.proposals);
    }).catch(function (error) { C.status(error.message); }).then(function () { button.disabled = false; });
  }

  function query() {
    var f = form.elements, parts = ["layer=cases", "state=" + f.state.value, "bbox=" + C.bboxOf(map),
      "resolution=" + (f.resolution.value || C.resolutionFor(map.getZoom()))];
    if (f.category.value) parts.push("category=" + encodeURIComponent(f.category.value));
    if (f.days.value) parts.push("since=" + encodeURIComponent(new Date(Date.now() - f.days.value * 86400000).toISOString()));
    return "/api/v1/hexagons?" + parts.join("&");
  }

  function quantiles(values) {  // class breaks at the 20/40/60/80/95th percentiles of what is in view
    var sorted = values.slice().sort(function (a, b) { return a - b; });
    return [0.2, 0.4, 0.6, 0.8, 0.95].map(function (q) { return sorted[Math.floor(q * (sorted.length - 1))] || 0; });
  }

  function refresh() {
    var mine = ++ticket;
    C.getJson(query()).then(function (fc) {
      if (mine !== ticket) return;
      breaks = quantiles(fc.features.map(function (f) { return f.properties.count; }));
      hexes.clearLayers().addData(fc);
      var total = fc.features.reduce(function (sum, f) { return sum + f.properties.count; }, 0);
      legend.innerHTML = "<b>事件数 cases per hexagon</b> (H3 r" + fc.resolution + ")" + RAMP.map(function (c, i) {
        var low = i === 0 ? 0 : breaks[i - 1] + 1, high = i < breaks.length ? breaks[i] : "+";
        if (high !== "+" && low > high) return "";  // few cases: quantiles coincide, the class is empty
        return "<div><i style='background:" + c + "'></i>" + low + (high === "+" ? "+" : "–" + high) + "</div>";
      }).join("") + "<div>合计 total " + total + " · " + fc.numberReturned + " hexagons</div>";
      window.cityopsReady = true;
    }).catch(function (error) { C.status(error.message); });
  }

  form.addEventListener("change", function (event) { if (event.target.name !== "steps") refresh(); });
  form.elements.hotspots.addEventListener("click", findHotspots);
  form.elements.recurrences.addEventListener("click", propose);
  map.on("moveend", refresh);
  C.liveStream({
    onChanges: function () { if (!timer) timer = setTimeout(function () { timer = null; refresh(); }, 2000); },
    onReset: refresh
  });
  refresh();
};
