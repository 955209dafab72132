/* cityops map behaviour: hierarchy layers loaded by view, click-to-locate popups, sign-in.
   Plain Leaflet, no other dependency; everything comes from this platform's origin.
   The boundaries are public; locating (and everything about cases) needs a signed-in user: the
   first request the platform refuses with 401 opens the sign-in form, then runs again. The
   access token lives in this tab's sessionStorage only, and expires with the token. */
"use strict";
window.cityops = (function () {
  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function status(text) {
    var box = document.getElementById("cityops-status");
    if (box) box.textContent = text;
  }

  var TOKEN = "cityops.access";

  function credentials() {
    var token = sessionStorage.getItem(TOKEN);
    return token ? {"Authorization": "Bearer " + token} : {};
  }

  function signInForm() {
    var form = document.getElementById("cityops-signin");
    if (form) return form;
    form = document.createElement("form");
    form.id = "cityops-signin";
    form.className = "cityops-signin";
    [["username", "text", "用户名 user", "username"], ["password", "password", "密码 password", "current-password"]]
      .forEach(function (f) {
        var input = document.createElement("input");
        input.name = f[0]; input.type = f[1]; input.placeholder = f[2]; input.autocomplete = f[3]; input.required = true;
        form.appendChild(input);
      });
    var button = document.createElement("button");
    button.type = "submit"; button.textContent = "登录 sign in";
    var error = document.createElement("div");
    error.className = "cityops-signin-error";
    form.appendChild(button); form.appendChild(error);
    document.body.appendChild(form);
    return form;
  }

  function signIn(api) {
    var form = signInForm();
    form.hidden = false;
    form.elements.username.focus();
    return new Promise(function (resolve) {
      form.onsubmit = function (event) {
        event.preventDefault();
        fetch(api + "/auth/token", {method: "POST", body: new URLSearchParams(new FormData(form))})
          .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
          .then(function (answer) {
            if (!answer.ok) { form.querySelector(".cityops-signin-error").textContent = answer.body.detail; return; }
            sessionStorage.setItem(TOKEN, answer.body.access_token);
            form.elements.password.value = "";
            form.hidden = true;
            resolve();
          });
      };
    });
  }

  function getJson(api, url) {
    return fetch(url, {headers: credentials()}).then(function (r) {
      if (r.status !== 401) return r.json();
      sessionStorage.removeItem(TOKEN);
      return signIn(api).then(function () { return getJson(api, url); });
    });
  }

  function chainHtml(chain) {
    return chain.map(function (u) {
      var tag = u.kind === "management" ? " (管理)" : "";
      return "<div class='cityops-chain-row'><b>" + escapeHtml(u.tier) + "</b> " +
        escapeHtml(u.name) + tag + " <code>" + escapeHtml(u.code) + "</code></div>";
    }).join("");
  }

  function tierLayers(map, options) {
    var control = L.control.layers(null, null, {collapsed: false}).addTo(map);
    var layers = options.tiers.map(function (tier) {
      var layer = L.geoJSON(null, {
        style: tier.style,
        interactive: true,
        onEachFeature: function (feature, shape) {
          var p = feature.properties;
          shape.bindTooltip(escapeHtml(p.name) + " · " + escapeHtml(p.code), {sticky: true});
        }
      });
      var entry = {tier: tier, layer: layer, request: 0, loaded: 0};
      if (tier.visible) layer.addTo(map);
      control.addOverlay(layer, tier.label);
      return entry;
    });
    window.cityopsLayers = layers;
    window.cityopsMap = map;

    function refresh() {
      var zoom = map.getZoom();
      var b = map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) {
        return v.toFixed(5);
      }).join(",");
      var hidden = [];
      layers.forEach(function (entry) {
        if (!map.hasLayer(entry.layer)) return;
        if (zoom < entry.tier.min_zoom) {
          entry.layer.clearLayers();
          hidden.push(entry.tier.label + " ≥ z" + entry.tier.min_zoom);
          return;
        }
        var ticket = ++entry.request;
        var simplify = (360 / Math.pow(2, zoom + 8)).toFixed(6);
        var url = options.api + "/units?tier=" + entry.tier.tier + "&bbox=" + bbox +
          "&limit=" + entry.tier.limit + "&simplify=" + simplify;
        getJson(options.api, url).then(function (fc) {
          if (ticket !== entry.request) return;  // a newer view superseded this one
          entry.layer.clearLayers();
          entry.layer.addData(fc);
          entry.loaded = fc.numberReturned;
          if (fc.numberMatched > fc.numberReturned) {
            status(entry.tier.label + ": showing " + fc.numberReturned + " of " +
              fc.numberMatched + " — zoom in");
          }
        });
      });
      status(hidden.length ? "zoom in for: " + hidden.join(", ") : "");
    }

    map.on("moveend overlayadd", refresh);
    map.on("click", function (event) {
      var url = options.api + "/locate?lon=" + event.latlng.lng.toFixed(6) +
        "&lat=" + event.latlng.lat.toFixed(6);
      getJson(options.api, url).then(function (body) {
        var html = body.chain ? chainHtml(body.chain) : escapeHtml(body.detail);
        L.popup({maxWidth: 420}).setLatLng(event.latlng)
          .setContent("<div class='cityops-popup'>" + html + "</div>").openOn(map);
      });
    });
    refresh();
  }

  return {tierLayers: tierLayers};
})();
