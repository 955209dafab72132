/* The search box of every map page (top right): a case number, a place's name or its pinyin initials (xwq → 玄武区),
   a building code or words of an address → a list of what matches (GET /api/v1/search, the caller's
   scope) → the chosen one flown to and outlined for a while. An ARIA combobox: the input owns a listbox,
   arrows move through it, Enter goes there, Escape closes it (and clears the box when already closed).
   No match reads 未找到 in a live region: never an error. */
"use strict";
(function () {
  var C = window.cityops;
  var WAIT_MS = 200;         // typing pauses this long before a search is sent
  var OUTLINE_MS = 8000;     // how long the found place stays outlined
  var LIMIT = 10;
  var OUTLINE = {color: "#d81b60", weight: 4, opacity: 1, fill: false, dashArray: "8 5", interactive: false};
  var stylesheet = (document.currentScript && document.currentScript.src || "").replace(/search\.js.*$/, "search.css");

  function addStylesheet() {
    if (!stylesheet || document.querySelector("link[data-cityops-search]")) return;
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = stylesheet;
    link.setAttribute("data-cityops-search", "");
    document.head.appendChild(link);
  }

  function element(tag, className, parent) {
    return L.DomUtil.create(tag, className, parent);
  }

  /* what an option says: the tier (or 案件 N) and name on the first line, where it is on the second */
  function describe(hit) {
    if (hit.kind === "case") {
      return {title: C.t("search.case", {id: hit.id}) + " · " + C.label("state", hit.state) + " · " + (hit.category_name || ""),
              place: hit.address || ""};
    }
    return {title: C.label("tier", hit.tier) + " · " + hit.name, place: hit.label || ""};
  }

  function searchBox(map) {
    addStylesheet();
    if (!map.getPane("cityopsSearch")) {
      map.createPane("cityopsSearch").style.zIndex = 690;  // above cases and forces (markers: 600), below popups
    }
    var state = {hits: [], active: -1, asked: 0, outline: null, timer: null, fading: null};
    var Box = L.Control.extend({
      options: {position: "topright"},  // the top left holds the zoom buttons and the page's legend
      onAdd: function () {
        var box = element("div", "cityops-search leaflet-bar");
        var label = element("label", "cityops-search-label", box);
        label.htmlFor = "cityops-search-input";
        label.textContent = C.t("search.label");
        var input = element("input", "cityops-search-input", box);
        input.id = "cityops-search-input";
        input.type = "search";
        input.autocomplete = "off";
        input.placeholder = C.t("search.placeholder");
        input.setAttribute("role", "combobox");
        input.setAttribute("aria-autocomplete", "list");
        input.setAttribute("aria-expanded", "false");
        input.setAttribute("aria-controls", "cityops-search-list");
        var list = element("ul", "cityops-search-list", box);
        list.id = "cityops-search-list";
        list.setAttribute("role", "listbox");
        list.setAttribute("aria-label", C.t("search.label"));
        list.hidden = true;
        var status = element("div", "cityops-search-status", box);
        status.id = "cityops-search-status";
        status.setAttribute("role", "status");
        status.setAttribute("aria-live", "polite");
        input.setAttribute("aria-describedby", status.id);
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.disableScrollPropagation(box);
        state.input = input; state.list = list; state.status = status;
        input.addEventListener("input", function () {
          clearTimeout(state.timer);
          state.timer = setTimeout(find, WAIT_MS);
        });
        input.addEventListener("keydown", keyed);
        input.addEventListener("blur", function () { setTimeout(close, 150); });
        return box;
      }
    });
    var control = new Box().addTo(map);
    var corner = control.getContainer().parentNode;
    corner.insertBefore(control.getContainer(), corner.firstChild);  // first in its corner: above the layer list

    function close() {
      state.list.hidden = true;
      state.input.setAttribute("aria-expanded", "false");
      state.input.removeAttribute("aria-activedescendant");
    }

    function activate(index) {
      var options = state.list.querySelectorAll("[role=option]");
      if (!options.length) return;
      state.active = (index + options.length) % options.length;
      options.forEach(function (option, i) { option.setAttribute("aria-selected", i === state.active ? "true" : "false"); });
      state.input.setAttribute("aria-activedescendant", options[state.active].id);
      options[state.active].scrollIntoView({block: "nearest"});
    }

    function keyed(event) {
      var open = !state.list.hidden;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!open && state.hits.length) { state.list.hidden = false; state.input.setAttribute("aria-expanded", "true"); }
        activate(state.active + (event.key === "ArrowDown" ? 1 : -1));
      } else if (event.key === "Enter") {
        event.preventDefault();
        clearTimeout(state.timer);
        if (open && state.hits.length) choose(state.hits[Math.max(state.active, 0)]);
        else find();
      } else if (event.key === "Escape") {
        if (open) close(); else state.input.value = "";
      }
    }

    function show(hits) {
      state.hits = hits;
      state.active = -1;
      state.list.textContent = "";
      hits.forEach(function (hit, i) {
        var words = describe(hit);
        var option = element("li", "cityops-search-option", state.list);
        option.id = "cityops-search-option-" + i;
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        element("span", "cityops-search-title", option).textContent = words.title;
        element("span", "cityops-search-place", option).textContent = words.place;
        option.addEventListener("mousedown", function (event) { event.preventDefault(); choose(hit); });
      });
      state.list.hidden = !hits.length;
      state.input.setAttribute("aria-expanded", hits.length ? "true" : "false");
      state.status.textContent = hits.length ? C.t("search.results", {n: C.number(hits.length)}) : C.t("search.none");
      window.cityopsSearch = {hits: hits, chosen: null, flown: false};
    }

    function find() {
      var q = state.input.value.trim();
      if (!q) { close(); state.status.textContent = ""; return; }
      var asked = ++state.asked;
      C.getJson("/api/v1/search?limit=" + LIMIT + "&q=" + encodeURIComponent(q)).then(function (body) {
        if (asked === state.asked) show(body.hits);  // a slower answer to an older query is dropped
      }).catch(function (error) {
        if (asked === state.asked) { close(); state.status.textContent = C.t("search.failed", {message: error.message}); }
      });
    }

    function choose(hit) {
      close();
      var words = describe(hit);
      state.input.value = hit.kind === "case" ? hit.id : hit.name;
      if (state.outline) map.removeLayer(state.outline);
      clearTimeout(state.fading);
      state.outline = hit.kind === "case"
        ? L.circleMarker([hit.point[1], hit.point[0]], Object.assign({radius: 18, pane: "cityopsSearch"}, OUTLINE))
        : L.geoJSON(hit.geometry, {style: OUTLINE, pane: "cityopsSearch", interactive: false});
      state.outline.addTo(map);
      state.fading = setTimeout(function () { map.removeLayer(state.outline); state.outline = null; }, OUTLINE_MS);
      var found = window.cityopsSearch = {hits: state.hits, chosen: hit, flown: false, outline: state.outline};
      map.once("moveend", function () { found.flown = true; });
      if (hit.kind === "case") map.flyTo([hit.point[1], hit.point[0]], Math.max(map.getZoom(), 17), {duration: 0.8});
      else map.flyToBounds([[hit.bbox[1], hit.bbox[0]], [hit.bbox[3], hit.bbox[2]]], {maxZoom: 18, duration: 0.8});
      state.status.textContent = C.t("search.flown", {name: words.title});
    }
  }

  C.extend(searchBox);
})();
