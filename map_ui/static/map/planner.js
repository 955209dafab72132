/* The planner's view: case counts on H3 hexagons by category, state and filing window, coloured by
   classes fitted to what is in view (each class a distinct, non-empty range of counts), with a legend;
   the live stream has the counts read again after a burst of changes. Places are named, never shown
   as cell ids: a popup asks /api/v1/analytics/places for its cell's street and community when it
   opens (one small query a click, instead of naming hundreds of cells nobody looks at); categories
   read as their names (Open311's service list). "Find hot spots" runs Getis-Ord Gi* for the
   planner's unit with the same category and window (GET /api/v1/analytics/hotspots), optionally
   over time steps. "Propose root-cause tasks" stores the unit's recurrences as proposals; district
   and city command accept or dismiss each one here. The trend panel draws the unit's KPIs (or a
   chosen part's) day by day or week by week over the page's window (/api/v1/analytics/trends) as
   small inline SVG charts, dated in Beijing time. Every word comes from the catalogue (planner.*). */
"use strict";
(function () {
  var DAY_MS = 86400000, BEIJING_MS = 8 * 3600000;

  /* Class breaks for integer counts, as [low, high] ranges that are distinct and each hold at least one
     value: few distinct counts become a class each ("1", "2", "5"); otherwise each class takes about
     an equal share of what is left above the previous one (quantiles that step past ties), so a long
     tail of ones and twos still leaves room for the rare large counts. */
  function classes(values, most) {
    var sorted = values.filter(function (v) { return isFinite(v); }).map(Math.round)
      .sort(function (a, b) { return a - b; });
    var result = [], low = sorted.length ? sorted[0] : 0, rest = sorted;
    for (var left = most; left > 0 && rest.length; left -= 1) {
      var distinct = rest.filter(function (v, i) { return i === 0 || v !== rest[i - 1]; });
      if (distinct.length <= left) {  // as many classes left as values: one each
        distinct.forEach(function (v, i) { result.push([i === 0 ? low : v, v]); });
        break;
      }
      var high = Math.min(rest[Math.ceil(rest.length / left) - 1], distinct[distinct.length - left]);
      result.push([low, high]);
      rest = rest.filter(function (v) { return v > high; });
      low = high + 1;
    }
    return result;
  }

  /* the start of the Beijing day ``days`` - 1 days before today: a window of whole local days */
  function beijingDaysBack(days) {
    var today = Math.floor((Date.now() + BEIJING_MS) / DAY_MS) * DAY_MS - BEIJING_MS;
    return new Date(today - (days - 1) * DAY_MS);
  }

  window.cityopsClasses = classes;
  window.cityopsPlanner = function (map, options) {
    var C = window.cityops;
    var RAMP = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"];
    var WINDOWS = ["", "1", "7", "30", "365"];
    var HOT = ["#fcae91", "#fb6a4a", "#cb181d"], COLD = ["#bdd7e7", "#6baed6", "#2171b5"];  // by 90/95/99 % confidence
    // catalogue keys completed by a code: planner.pattern.new, planner.spot.hot, planner.series.filed …
    var WORDS = {pattern: "planner.pattern.", spot: "planner.spot.", series: "planner.series.", note: "planner.trend_note."};
    var SERIES = [["filed", "count"], ["closed", "count"], ["on_time_closure_rate", "rate"], ["overdue", "count"]];
    var stylesheet = document.createElement("link");
    stylesheet.rel = "stylesheet"; stylesheet.href = "/static/map/planner.css";
    document.head.appendChild(stylesheet);
    C.fit(map, options);
    // the layer list folds into its button: the trend panel takes the right-hand side beneath it
    var control = L.control.layers(null, null, {collapsed: true}).addTo(map);
    C.tierLayers(map, options, control);
    var ranges = [], categories = {}, places = {};
    var hexes = L.geoJSON(null, {style: style, onEachFeature: describe}).addTo(map);
    control.addOverlay(hexes, C.t("planner.layer_hexagons"));
    var spots = L.geoJSON(null, {style: spotStyle, onEachFeature: describeSpot}).addTo(map);
    control.addOverlay(spots, C.t("planner.layer_hotspots"));
    var proposals = L.layerGroup().addTo(map);
    control.addOverlay(proposals, C.t("planner.layer_proposals"));
    var filters = C.panel("cityops-filters", "cityops-filters"), legend = C.panel("cityops-legend", "cityops-legend");
    // one left-hand column holds both: a long hot-spot list scrolls inside the filters instead of running under the legend
    var column = C.panel("cityops-planner-left", "cityops-column");
    column.appendChild(filters);
    column.appendChild(legend);
    var trendPanel = C.panel("cityops-trends", "cityops-trends");
    var ticket = 0, trendTicket = 0, timer = null;
    window.cityopsMap = map; window.cityopsHexes = hexes; window.cityopsSpots = spots; window.cityopsProposals = proposals;
    window.cityopsReady = false; window.cityopsTrendsReady = false;

    function option(value, text) {
      return "<option value='" + C.escapeHtml(value) + "'>" + C.escapeHtml(text) + "</option>";
    }
    function field(name, text, choices) {
      return "<label>" + C.escapeHtml(text) + " <select name='" + name + "'>" + choices + "</select></label>";
    }

    filters.innerHTML = "<form>" +
      field("category", C.t("planner.category"), option("", C.t("planner.all"))) +
      field("days", C.t("planner.window"), WINDOWS.map(function (w) {
        return option(w, w ? C.t("planner.window_days", {n: C.number(Number(w))}) : C.t("planner.window_all"));
      }).join("")) +
      field("state", C.t("planner.state"), option("all", C.t("planner.all")) + option("open", C.t("planner.state_open")) +
        option("closed", C.t("planner.state_closed"))) +
      field("resolution", C.t("planner.resolution"), option("", C.t("planner.resolution_auto")) +
        [5, 6, 7, 8, 9].map(function (r) { return option(String(r), C.t("planner.resolution_n", {n: r})); }).join("")) +
      field("steps", C.t("planner.steps"), option("1", C.t("planner.steps_whole")) +
        [4, 8, 12].map(function (n) { return option(String(n), C.t("planner.steps_n", {n: n})); }).join("")) +
      "<button type='button' name='hotspots'>" + C.escapeHtml(C.t("planner.find_hotspots")) + "</button>" +
      "<button type='button' name='recurrences'>" + C.escapeHtml(C.t("planner.propose")) + "</button></form>" +
      "<div class='cityops-spots' aria-live='polite'></div><div class='cityops-proposals' aria-live='polite'></div>";
    var form = filters.querySelector("form");
    L.DomEvent.disableClickPropagation(filters);
    L.DomEvent.disableScrollPropagation(filters);  // the wheel scrolls the hot-spot list, not the map

    trendPanel.innerHTML = "<h2>" + C.escapeHtml(C.t("planner.trends")) + "</h2><form class='cityops-trend-units'>" +
      "<label><span>" + C.escapeHtml(C.label("tier", "district")) + "</span> <select name='part'></select></label>" +
      "<label hidden><span>" + C.escapeHtml(C.label("tier", "street")) + "</span> <select name='sub'>" +
      "</select></label></form><p class='cityops-trend-note'></p><div class='cityops-charts' aria-live='polite'></div>";
    var unitForm = trendPanel.querySelector("form");
    L.DomEvent.disableClickPropagation(trendPanel);
    L.DomEvent.disableScrollPropagation(trendPanel);

    // category names in the page's language when the page carries them (options.categories), else Open311's
    var categoriesLoaded = C.getJson("/open311/v2/services.json").then(function (services) {
      var groups = {};
      services.forEach(function (s) {
        groups[s.service_code.slice(0, 4)] = s.group;
        categories[s.service_code] = (options.categories || {})[s.service_code] || s.service_name;
      });
      Object.keys(groups).sort().forEach(function (prefix) {  // a whole class first, then its categories
        form.elements.category.insertAdjacentHTML("beforeend", option(prefix, groups[prefix]));
      });
      services.forEach(function (s) {
        form.elements.category.insertAdjacentHTML("beforeend", option(s.service_code, "· " + categories[s.service_code]));
      });
    }).catch(fail);

    /* a refused or failed request in words (the network's failure in the page's language where cityops says it) */
    function fail(error) { C.status(C.errorText ? C.errorText(error) : error.message); }

    function categoryName(code) {
      return code ? categories[code] || C.t("planner.category_other") : C.t("planner.none");
    }

    /* the cell's street and community, asked once per cell; ``cells`` at most 200 (the API's batch) */
    function nameCells(cells) {
      var wanted = cells.filter(function (c) { return !(c in places); });
      if (!wanted.length) return Promise.resolve(places);
      return C.getJson("/api/v1/analytics/places?cells=" + wanted.slice(0, 200).join(",")).then(function (answer) {
        wanted.forEach(function (c) {
          places[c] = answer.places[c] ? answer.places[c].place : C.t("planner.place_unnamed");
        });
        return places;
      });
    }

    function placeOf(cell) {
      return cell in places ? places[cell] : C.t("planner.place_loading");
    }

    /* a popup whose heading is its cell's place, named when the popup opens */
    function namedPopup(shape, cell, body) {
      shape.bindPopup(function () {
        return "<div class='cityops-popup'><b class='cityops-place'>" + C.escapeHtml(placeOf(cell)) + "</b><br>" +
          body() + "</div>";
      });
      shape.on("popupopen", function () {
        if (cell in places) return;
        nameCells([cell]).then(function () { if (shape.isPopupOpen()) shape.getPopup().update(); })  // the content again
          .catch(fail);
      });
    }

    function colour(n) {
      for (var i = 0; i < ranges.length; i += 1) {
        if (n <= ranges[i][1]) return RAMP[shade(i)];
      }
      return RAMP[RAMP.length - 1];
    }
    function shade(i) {  // fewer classes than colours: spread them over the whole ramp
      return ranges.length <= 1 ? RAMP.length - 1 : Math.round(i * (RAMP.length - 1) / (ranges.length - 1));
    }

    function style(feature) {
      return {color: "#7f3b08", weight: 0.4, fillColor: colour(feature.properties.count), fillOpacity: 0.75};
    }

    function describe(feature, shape) {
      var p = feature.properties;
      namedPopup(shape, p.h3, function () {
        return C.escapeHtml(C.t("planner.hex_counts", {n: C.number(p.count), open: C.number(p.open),
                                                       overdue: C.number(p.overdue)})) + "<br>" +
          C.escapeHtml(C.t("planner.hex_category", {category: categoryName(p.top_category)})) + "<br>" +
          C.escapeHtml(C.t("planner.hex_severity", {severity: p.severity ? C.label("severity", p.severity) : C.t("planner.none")}));
      });
    }

    function confidence(p) { return p <= 0.01 ? 2 : p <= 0.05 ? 1 : 0; }

    function spotStyle(feature) {
      var p = feature.properties, ramp = p["class"] === "hot" ? HOT : p["class"] === "cold" ? COLD : null;
      return {color: p.pattern ? "#3f007d" : "#555", weight: p.pattern ? 2 : 0.5, dashArray: p.pattern === "new" ? "4 3" : null,
        fillColor: ramp ? ramp[confidence(p.p)] : "#ffffff", fillOpacity: ramp ? 0.8 : 0.1};
    }

    function pattern(p) { return p ? C.t(WORDS.pattern + p) : ""; }

    function describeSpot(feature, shape) {
      var p = feature.properties;
      if (p.place) places[p.h3] = p.place;
      namedPopup(shape, p.h3, function () {
        return C.escapeHtml(C.t(WORDS.spot + (p["class"] === "hot" || p["class"] === "cold" ? p["class"] : "none"))) +
          "<br>" + C.escapeHtml(C.t("planner.spot_figures", {n: C.number(p.count), z: C.number(p.z, 2),
                                                            p: C.number(p.p, 3)})) +
          (p.pattern ? "<br>" + C.escapeHtml(C.t("planner.spot_pattern", {pattern: pattern(p.pattern)})) : "") +
          (p.counts ? "<br>" + C.escapeHtml(C.t("planner.spot_steps", {counts: p.counts.map(function (n) {
            return C.number(n);
          }).join(" · ")})) : "");
      });
    }

    function windowStart(days) { return new Date(Date.now() - days * DAY_MS).toISOString(); }

    function hotspotQuery() {
      var f = form.elements, days = f.days.value || "365", parts = [
        "res=" + Math.min(Math.max(Number(f.resolution.value) || 8, 6), 9), "steps=" + f.steps.value,
        "from=" + encodeURIComponent(windowStart(days))];
      if (f.category.value) parts.push("category=" + encodeURIComponent(f.category.value));
      return "/api/v1/analytics/hotspots?" + parts.join("&");
    }

    function findHotspots() {
      var box = filters.querySelector(".cityops-spots"), button = form.elements.hotspots;
      button.disabled = true; box.textContent = C.t("planner.computing");
      C.getJson(hotspotQuery()).then(function (fc) {
        spots.clearLayers().addData(fc);
        var s = fc.summary, top = s.top;
        return nameCells(top.filter(function (t) { return !t.place; }).map(function (t) { return t.h3; })).then(function () {
          box.innerHTML = "<b>" + C.escapeHtml(C.t("planner.spots_summary", {hot: C.number(s.hot), cold: C.number(s.cold),
            cells: C.number(s.cells), cases: C.number(s.cases), alpha: C.percent(s.alpha)})) + "</b>" +
            (top.length ? "<ol>" + top.map(function (t) {
              return "<li><button type='button' class='cityops-link' data-cell='" + C.escapeHtml(t.h3) + "'>" +
                C.escapeHtml(C.t("planner.spot_item", {place: t.place || placeOf(t.h3), n: C.number(t.count),
                z: C.number(t.z, 2)})) + (t.pattern ? " · " + C.escapeHtml(pattern(t.pattern)) : "") + "</button></li>";
            }).join("") + "</ol>" : "<div>" + C.escapeHtml(C.t("planner.spots_none")) + "</div>");
          box.querySelectorAll("button[data-cell]").forEach(function (button) {
            button.addEventListener("click", function () { showSpot(button.dataset.cell); });
          });
          box.dataset.done = "true";
        });
      }).catch(function (error) { box.textContent = ""; fail(error); })
        .then(function () { button.disabled = false; });
    }

    /* a listed hot spot on the map: its hexagon in view, its popup open (the list is the keyboard's way in) */
    function showSpot(cell) {
      spots.eachLayer(function (shape) {
        if (shape.feature.properties.h3 !== cell) return;
        map.fitBounds(shape.getBounds(), {maxZoom: Math.max(map.getZoom(), 13), animate: false});
        shape.openPopup();
      });
    }

    function showProposals(list) {
      var box = filters.querySelector(".cityops-proposals");
      proposals.clearLayers();
      box.innerHTML = "<b>" + C.escapeHtml(C.t("planner.proposals", {n: C.number(list.length)})) + "</b> " +
        C.escapeHtml(C.t("planner.proposals_rule")) + "<ol>" + list.map(function (p, i) {
          var name = p.category || categoryName(p.category_code);
          L.circleMarker([p.lat, p.lon], {radius: 8, color: "#3f007d", fillColor: "#807dba", fillOpacity: 0.8})
            .bindPopup("<div class='cityops-popup'><b>" + C.escapeHtml(name) + "</b><br>" +
              C.escapeHtml(C.t("planner.proposal_span", {n: C.number(p.n), first: C.beijing(p.first_at, "date"),
                                                         last: C.beijing(p.last_at, "date")})) + "</div>").addTo(proposals);
          var actions = options.decide ? " <button type='button' data-i='" + i + "' data-d='accepted'>" +
            C.escapeHtml(C.t("planner.accept")) + "</button><button type='button' data-i='" + i + "' data-d='dismissed'>" +
            C.escapeHtml(C.t("planner.dismiss")) + "</button>" : "";
          return "<li>" + C.escapeHtml(C.t("planner.proposal_item", {category: name, n: C.number(p.n)})) + actions + "</li>";
        }).join("") + "</ol>";
      box.dataset.done = "true";
      box.querySelectorAll("button[data-d]").forEach(function (button) {
        button.addEventListener("click", function () {
          var chosen = list[Number(button.dataset.i)];
          C.postJson("/api/v1/analytics/proposals/" + chosen.proposal_id + "/decision", {decision: button.dataset.d})
            .then(function () { list.splice(Number(button.dataset.i), 1); showProposals(list); })
            .catch(fail);
        });
      });
    }

    function propose() {
      var button = form.elements.recurrences;
      button.disabled = true;
      C.postJson("/api/v1/analytics/proposals", {times: 3, days: 30}).then(function (answer) {
        return categoriesLoaded.then(function () { showProposals(answer.proposals); });
      }).catch(fail).then(function () { button.disabled = false; });
    }

    function query() {
      var f = form.elements, parts = ["layer=cases", "state=" + f.state.value, "bbox=" + C.bboxOf(map),
        "resolution=" + (f.resolution.value || C.resolutionFor(map.getZoom()))];
      if (f.category.value) parts.push("category=" + encodeURIComponent(f.category.value));
      if (f.days.value) parts.push("since=" + encodeURIComponent(windowStart(f.days.value)));
      return "/api/v1/hexagons?" + parts.join("&");
    }

    function rangeText(range) {
      return range[0] === range[1] ? C.number(range[0]) : C.t("planner.range", {low: C.number(range[0]), high: C.number(range[1])});
    }

    function drawLegend(fc) {
      var total = fc.features.reduce(function (sum, f) { return sum + f.properties.count; }, 0);
      legend.innerHTML = "<b>" + C.escapeHtml(C.t("planner.legend_title")) + "</b>" + (ranges.length ? ranges.map(function (r, i) {
        return "<div class='cityops-class'><span><i style='background:" + RAMP[shade(i)] + "'></i>" +
          C.escapeHtml(rangeText(r)) + "</span></div>";
      }).join("") : "<div>" + C.escapeHtml(C.t("planner.legend_empty")) + "</div>") +
        "<div class='cityops-legend-total'>" + C.escapeHtml(C.t("planner.legend_total", {n: C.number(total),
          hexagons: C.number(fc.numberReturned), resolution: fc.resolution})) + "</div>";
    }

    function refresh() {
      var mine = ++ticket;
      Promise.all([C.getJson(query()), categoriesLoaded]).then(function (answers) {
        var fc = answers[0];
        if (mine !== ticket) return;
        ranges = classes(fc.features.map(function (f) { return f.properties.count; }), RAMP.length);
        hexes.clearLayers().addData(fc);
        drawLegend(fc);
        window.cityopsReady = true;
      }).catch(fail);
    }

    /* ---- trends: the unit's KPIs (or a chosen part's) over the page's window ---- */
    function trendUnit() {
      var e = unitForm.elements;
      return e.sub.value || e.part.value || options.user.unit;
    }

    function fillChoice(select, unit, parts) {
      var label = select.closest("label");
      label.hidden = !parts.length;
      if (!parts.length) return;
      label.querySelector("span").textContent = C.label("tier", parts[0].tier);
      select.innerHTML = option("", C.t("planner.whole", {name: unit.name})) + parts.map(function (p) {
        return option(p.code, p.name);
      }).join("");
    }

    function chart(points, key, kind) {
      var W = 300, H = 74, TOP = 6, BOTTOM = 56, LEFT = 4, n = points.length;
      var values = points.map(function (p) { return p[key]; });
      var known = values.filter(function (v) { return v !== null && v !== undefined; });
      var peak = kind === "rate" ? 1 : Math.max.apply(null, known.concat([0])), scale = Math.max(peak, 1);
      var slot = (W - 2 * LEFT) / Math.max(n, 1);
      function y(v) { return BOTTOM - (BOTTOM - TOP) * v / scale; }
      function shown(v) { return v === null || v === undefined ? C.t("planner.no_value") : kind === "rate" ? C.percent(v) : C.number(v); }
      var marks = points.map(function (p, i) {
        var v = values[i], x = LEFT + i * slot, tip = "<title>" + C.escapeHtml(C.beijing(p.date + "T00:00:00+08:00", "date") +
          " " + shown(v)) + "</title>";
        if (kind === "rate") {
          return v === null || v === undefined ? "" : "<circle cx='" + (x + slot / 2).toFixed(1) + "' cy='" + y(v).toFixed(1) +
            "' r='2.5'>" + tip + "</circle>";
        }
        return "<rect x='" + (x + slot * 0.1).toFixed(1) + "' y='" + y(v).toFixed(1) + "' width='" + (slot * 0.8).toFixed(1) +
          "' height='" + (BOTTOM - y(v)).toFixed(1) + "'>" + tip + "</rect>";
      }).join("");
      var line = kind === "rate" ? "<polyline points='" + points.map(function (p, i) {
        return values[i] === null || values[i] === undefined ? "" : (LEFT + (i + 0.5) * slot).toFixed(1) + "," + y(values[i]).toFixed(1);
      }).join(" ") + "'/>" : "";
      var first = C.beijing(points[0].date + "T00:00:00+08:00", "date"), last = C.beijing(points[n - 1].date + "T00:00:00+08:00", "date");
      var latest = known.length ? shown(known[known.length - 1]) : C.t("planner.no_value");
      var title = C.t(WORDS.series + key);
      return "<figure class='cityops-chart' data-series='" + key + "'><figcaption>" + C.escapeHtml(title) +
        " <span>" + C.escapeHtml(C.t("planner.chart_top", {top: kind === "rate" ? C.percent(1) : C.number(peak)})) + "</span></figcaption>" +
        "<svg viewBox='0 0 " + W + " " + H + "' role='img' aria-label='" + C.escapeHtml(C.t("planner.chart_label",
          {series: title, first: first, last: last, latest: latest})) + "' class='cityops-" + kind + "'>" +
        "<line x1='0' x2='" + W + "' y1='" + BOTTOM + "' y2='" + BOTTOM + "'/>" + line + marks +
        "<text x='" + LEFT + "' y='" + (H - 4) + "' class='cityops-date'>" + C.escapeHtml(first) + "</text>" +
        (n > 1 ? "<text x='" + (W - LEFT) + "' y='" + (H - 4) + "' text-anchor='end' class='cityops-date'>" +
          C.escapeHtml(last) + "</text>" : "") + "</svg></figure>";
    }

    function drawTrends(answer) {
      var box = trendPanel.querySelector(".cityops-charts"), points = answer.points;
      trendPanel.querySelector(".cityops-trend-note").textContent = C.t(WORDS.note + answer.step, {
        name: answer.unit.name, from: C.beijing(answer.from, "date"), to: C.beijing(answer.to, "date")});
      box.innerHTML = points.length ? SERIES.map(function (s) { return chart(points, s[0], s[1]); }).join("") :
        "<p>" + C.escapeHtml(C.t("planner.legend_empty")) + "</p>";
    }

    function refreshTrends(choosing) {
      var mine = ++trendTicket, days = Number(form.elements.days.value) || 365;
      var url = "/api/v1/analytics/trends?unit=" + encodeURIComponent(trendUnit()) +
        "&from=" + encodeURIComponent(beijingDaysBack(days).toISOString()) + "&to=" + encodeURIComponent(new Date().toISOString());
      window.cityopsTrendsReady = false;
      C.getJson(url).then(function (answer) {
        if (mine !== trendTicket) return;
        if (choosing === "start") fillChoice(unitForm.elements.part, answer.unit, answer.parts);
        if (choosing === "part") fillChoice(unitForm.elements.sub, answer.unit, unitForm.elements.part.value ? answer.parts : []);
        drawTrends(answer);
        window.cityopsTrendsReady = true;
      }).catch(fail);
    }

    form.addEventListener("change", function (event) {
      if (event.target.name === "days") refreshTrends();
      if (event.target.name !== "steps") refresh();
    });
    unitForm.elements.part.addEventListener("change", function () { unitForm.elements.sub.value = ""; refreshTrends("part"); });
    unitForm.elements.sub.addEventListener("change", function () { refreshTrends(); });
    form.elements.hotspots.addEventListener("click", findHotspots);
    form.elements.recurrences.addEventListener("click", propose);
    map.on("moveend", refresh);
    C.liveStream({
      onChanges: function () { if (!timer) timer = setTimeout(function () { timer = null; refresh(); }, 2000); },
      onReset: refresh
    });
    refresh();
    refreshTrends("start");
  };
})();
