/* cityops pages, shared parts: the API with the browser session, the live stream, the hierarchy layers.
   Plain Leaflet and Leaflet.VectorGrid, both served by this platform; nothing leaves its origin.
   The session lives in HttpOnly cookies the script never sees; writes carry X-Requested-With, which
   the API demands of cookie-authenticated writes (no other site can make a browser send it). A 401
   refreshes the session once, then sends the user to /login and back. */
"use strict";
window.cityops = (function () {
  var JSON_HEADERS = {"Content-Type": "application/json", "X-Requested-With": "cityops"};
  var LANG = document.documentElement.lang || "zh-CN";
  var ZONE = "Asia/Shanghai";  // every time a person reads is Beijing time, whatever the browser's zone
  /* the page's catalogue entries, read on first use: this script loads in the page's head, before the
     frame writes #cityops-messages at the head's end */
  var messages = null;
  function catalogue() {
    if (messages) return messages;
    var box = document.getElementById("cityops-messages");
    if (!box) return {};
    messages = JSON.parse(box.textContent);
    return messages;
  }

  /* the page's words (the frame puts the catalogue's entries for this page in #cityops-messages):
     t("map.cases", {n: 3}) fills {n}; a missing key reads as itself, never as "undefined" */
  function t(key, values) {
    var text = catalogue()[key];
    if (text === undefined) return key;
    return text.replace(/\{(\w+)\}/g, function (_, name) {
      var value = values ? values[name] : undefined;
      return value === undefined || value === null ? "" : String(value);
    });
  }

  /* a code in words: label("state", "closed") → 已结案; an unknown code reads as itself */
  function label(kind, code) {
    if (code === null || code === undefined) return t("time.none");
    var key = kind + "." + code;
    var text = catalogue()[key];
    return text === undefined ? String(code) : text;
  }

  var FORMATS = {
    datetime: {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false},
    short: {month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false},
    time: {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false},
    date: {year: "numeric", month: "2-digit", day: "2-digit"}
  };
  var formatters = {};
  /* an ISO time (any offset) as Beijing time in the page's language: "datetime", "short", "time" or "date" */
  function beijing(value, style) {
    if (value === null || value === undefined || value === "") return t("time.none");
    style = style || "datetime";
    if (!formatters[style]) formatters[style] = new Intl.DateTimeFormat(LANG, Object.assign({timeZone: ZONE}, FORMATS[style]));
    return formatters[style].format(value instanceof Date ? value : new Date(value));
  }

  /* a number in the page's language (1,234 / 1,234); percentages from a ratio 0…1 */
  function number(value, digits) {
    return new Intl.NumberFormat(LANG, {maximumFractionDigits: digits === undefined ? 0 : digits}).format(value);
  }
  function percent(ratio, digits) {
    return new Intl.NumberFormat(LANG, {style: "percent", maximumFractionDigits: digits === undefined ? 1 : digits})
      .format(ratio);
  }

  function escapeHtml(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function status(text) {
    var box = document.getElementById("cityops-status");
    if (box) box.textContent = text;
  }

  function toLogin() {
    window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
  }

  var leaving = false;
  ["beforeunload", "pagehide"].forEach(function (leave) { window.addEventListener(leave, function () { leaving = true; }); });

  var refreshing = null;
  function refreshSession() {  // one refresh at a time, however many requests found the token expired
    if (!refreshing) {
      refreshing = fetch("/api/v1/auth/session/refresh", {method: "POST", credentials: "same-origin",
                                                           headers: {"X-Requested-With": "cityops"}})
        .then(function (r) { refreshing = null; return r.ok || (r.status === 401 ? false : null); },
              function () { refreshing = null; return null; });  // null: no answer (offline, restarting), try later
    }
    return refreshing;
  }

  /* fetch through the session: JSON back (or the raw response with raw=true); a refused request
     rejects with the API's own message, which the pages show as it is */
  function request(url, options, retried) {
    options = options || {};
    return fetch(url, Object.assign({credentials: "same-origin"}, options)).catch(function (failure) {
      failure.network = true;  // the request never reached the platform (offline, server down): errorText says so
      throw failure;
    }).then(function (r) {
      if (r.status === 401 && !retried) {
        return refreshSession().then(function (ok) {
          if (ok === false) { toLogin(); throw new Error("signed out"); }
          if (!ok) throw new Error(t("error.network"));
          return request(url, options, true);
        });
      }
      if (options.raw) return r;
      if (r.status === 204) return null;
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.message || body.detail || ("HTTP " + r.status));
        return body;
      });
    });
  }

  function getJson(url) { return request(url); }

  /* a failed request as a sentence for a person: the network's failure in the page's words ("Failed
     to fetch" is the browser's, in English), otherwise the API's own message */
  function errorText(error) {
    if (error && error.network) return t("error.network");
    return error && error.message ? error.message : t("error.network");
  }

  function postJson(url, body, headers) {
    return request(url, {method: "POST", headers: Object.assign({}, JSON_HEADERS, headers || {}),
                         body: JSON.stringify(body)});
  }

  function postForm(url, form, headers) {
    return request(url, {method: "POST", headers: Object.assign({"X-Requested-With": "cityops"}, headers || {}),
                         body: form});
  }

  /* the live feed: onChanges(batch) for each batch of cases and forces, onReset() when the layers
     must be reloaded (the gap was too long to replay). The browser reconnects by itself with
     Last-Event-ID; when the server ends the stream (the token's lifetime) or refuses it, the
     session is refreshed and a new stream resumes from the last cursor seen. */
  function liveStream(handlers) {
    var last = null, source = null;
    function open() {
      var url = "/api/v1/stream" + (last ? "?last_event_id=" + encodeURIComponent(last) : "");
      source = new EventSource(url);
      source.addEventListener("ready", function (event) {
        if (!last) last = event.lastEventId;
        status("");
        if (handlers.onReady) handlers.onReady(JSON.parse(event.data));
      });
      source.addEventListener("changes", function (event) {
        last = event.lastEventId;
        handlers.onChanges(JSON.parse(event.data));
      });
      source.addEventListener("reset", function (event) {
        last = event.lastEventId;
        handlers.onReset();
      });
      source.onerror = function () {
        // refused or ended: renew the session, then resume — unless the page is being left, which ends the stream
        // too: the renewal's answer (the new cookie) would be lost and the used-up one later ends the login
        if (source.readyState === EventSource.CLOSED && !leaving) {
          source = null;
          status(t("map.reconnecting"));
          refreshSession().then(function (ok) { if (ok === false) toLogin(); else setTimeout(open, ok ? 500 : 5000); });
        }
      };
    }
    open();
    return {close: function () { if (source) source.close(); }};
  }

  /* the hierarchy as vector tiles: one tile holds every tier (a layer each, from its first useful
     zoom), so the map asks one tile where it would ask six; each tier is still an overlay of its
     own in the layer control, and toggling one redraws from the browser's cache */
  function tierLayers(map, options, control, pane) {
    var shown = {}, styles = {};
    var tiles = L.vectorGrid.protobuf("/tiles/units/{z}/{x}/{y}.pbf", {
      vectorTileLayerStyles: styles, rendererFactory: L.canvas.tile, interactive: false, maxNativeZoom: 18,
      pane: pane || "overlayPane"  // a page that draws cases puts the boundaries in a pane beneath them
    });
    var layers = options.tiers.map(function (tier) {
      var toggle = L.layerGroup();
      styles[tier.tier] = function () { return shown[tier.tier] ? tier.style : []; };
      shown[tier.tier] = tier.visible;
      if (tier.visible) toggle.addTo(map);
      control.addOverlay(toggle, tier.label);
      return {tier: tier, layer: toggle};
    });
    map.on("overlayadd overlayremove", function (event) {
      layers.forEach(function (entry) {
        if (entry.layer === event.layer) {
          shown[entry.tier.tier] = event.type === "overlayadd";
          tiles.redraw();
        }
      });
    });
    tiles.addTo(map);
    window.cityopsLayers = layers;
    return layers;
  }

  /* a Leaflet map's view as the query parameters of a bbox request */
  function bboxOf(map) {
    var b = map.getBounds();
    return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(",");
  }

  /* the H3 resolution whose hexagons are a few dozen pixels wide at this zoom */
  function resolutionFor(zoom) {
    return Math.max(5, Math.min(9, Math.round(zoom * 0.7 - 1.5)));
  }

  /* the first view: the user's unit (or the #zoom/lat/lon the address asks for), set at once; whether the
     address asked for it (a view asked for is the user's choice: nothing loaded later moves away from it) */
  function fit(map, options) {
    var asked = /^#(\d{1,2})\/(-?[\d.]+)\/(-?[\d.]+)$/.exec(window.location.hash);
    if (asked) map.setView([Number(asked[2]), Number(asked[3])], Number(asked[1]), {animate: false});
    else map.fitBounds(options.bounds, {animate: false});
    return Boolean(asked);
  }

  /* parts every map page carries (the search box, the local basemap …) register here from their own
     scripts (map_ui.page.EXTENSIONS) and are given each map once the page's own script has built it */
  var extensions = [];
  function extend(part) { extensions.push(part); }
  function mapped(map, options) {
    extensions.forEach(function (part) { part(map, options); });
    // the page's panels take their room beside the map after Leaflet measured it: measure again, and on any resize
    map.invalidateSize({animate: false, pan: false});
    if (window.ResizeObserver) {
      new ResizeObserver(function () { map.invalidateSize({animate: false, pan: false}); }).observe(map.getContainer());
    }
  }

  /* a panel over the map, inside the page's main area (below the frame's top bar) */
  function panel(id, className) {
    var box = document.getElementById(id);
    if (!box) {
      box = document.createElement("div");
      box.id = id;
      box.className = className;
      (document.getElementById("main") || document.body).appendChild(box);
    }
    return box;
  }

  return {
    escapeHtml: escapeHtml, status: status, errorText: errorText, getJson: getJson, postJson: postJson, postForm: postForm,
    liveStream: liveStream, tierLayers: tierLayers, bboxOf: bboxOf, resolutionFor: resolutionFor,
    panel: panel, fit: fit, extend: extend, mapped: mapped, t: t, label: label, beijing: beijing, number: number, percent: percent, lang: LANG
  };
})();
