/* The basemap of every map page: the package imported with `cityops basemap import` (served by this
   platform at /basemap/…, so it works with no network) or the tile server of CITYOPS_BASEMAP_URL
   (folium has already put it on the map), chosen in a small 底图 control; the package wins when both
   exist, and the choice is remembered on the device. Raster packages are plain tile layers; vector
   packages are drawn by Leaflet.VectorGrid with a sober style keyed by the usual OpenMapTiles and
   Protomaps layer names, place names written on the tile's canvas. Everything stays in the tile pane,
   under the hierarchy, the aggregates and the cases. */
"use strict";
(function () {
  var C = window.cityops;
  var KEPT = "cityops.basemap";
  var FONT = "12px system-ui, \"Noto Sans CJK SC\", sans-serif";
  var FILLS = {
    earth: {fill: true, fillColor: "#f2efe9", fillOpacity: 1, stroke: false},
    water: {fill: true, fillColor: "#c9d9e6", fillOpacity: 1, stroke: false},
    park: {fill: true, fillColor: "#dfe8d2", fillOpacity: 0.8, stroke: false},
    landuse: {fill: true, fillColor: "#ebe6dc", fillOpacity: 0.7, stroke: false},
    building: {fill: true, fillColor: "#e0dad0", fillOpacity: 0.9, color: "#cfc7ba", weight: 0.5}
  };
  var LINES = {
    waterway: {color: "#a9c3d8", weight: 1, fill: false},
    road: {color: "#d6cfc2", weight: 1.2, fill: false},
    boundary: {color: "#9b9184", weight: 1, dashArray: "4 3", fill: false}
  };
  // the layer names of OpenMapTiles and Protomaps basemaps, each to one of the styles above
  var STYLE_OF = {
    earth: FILLS.earth, water: FILLS.water, ocean: FILLS.water, park: FILLS.park, landcover: FILLS.park,
    natural: FILLS.park, landuse: FILLS.landuse, building: FILLS.building, buildings: FILLS.building,
    waterway: LINES.waterway, physical_line: LINES.waterway, transportation: LINES.road, roads: LINES.road,
    transit: LINES.road, boundary: LINES.boundary, boundaries: LINES.boundary
  };
  var PLACES = {place: true, places: true};

  function nameOf(properties) {
    var english = C.lang === "en";
    return (english ? properties["name:en"] || properties.name_en : properties["name:zh"] || properties.name_zh) ||
      properties.name || "";
  }

  /* a style for any layer the package holds: known names drawn soberly, places as labels, the rest not at all */
  function styleFor(layerName) {
    if (PLACES[layerName]) {
      return function (properties) {
        var name = nameOf(properties);
        return name ? {label: name, radius: 1, stroke: false, fill: false} : [];
      };
    }
    return STYLE_OF[layerName] || [];
  }

  /* VectorGrid's canvas tile, which also writes a point's label (VectorGrid itself draws no text);
     made when first needed: this script loads before Leaflet does */
  var LabelledTile = null;
  function labelledTile(coords, size, options) {
    LabelledTile = LabelledTile || L.Canvas.Tile.extend({
      _updateCircle: function (layer) {
        if (!layer.options.label) return L.Canvas.Tile.prototype._updateCircle.call(this, layer);
        var ctx = this._ctx, at = layer._point;
        ctx.font = FONT; ctx.textAlign = "center"; ctx.textBaseline = "middle";
        ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255, 255, 255, 0.9)"; ctx.fillStyle = "#4a4036";
        ctx.strokeText(layer.options.label, at.x, at.y);
        ctx.fillText(layer.options.label, at.x, at.y);
      }
    });
    return new LabelledTile(coords, size, options);
  }

  /* beyond the package's last zoom a vector tile is cut from its ancestor at that zoom (its geometry scaled
     and shifted), so lines stay sharp and labels keep their size where a scaled-up canvas would blur both */
  var Overzoomed = null;
  function vectorLayer(url, options) {
    var Protobuf = L.VectorGrid.Protobuf;
    Overzoomed = Overzoomed || Protobuf.extend({
      _getVectorTilePromise: function (coords) {
        var last = this.options.lastZoom;
        if (coords.z <= last) return Protobuf.prototype._getVectorTilePromise.call(this, coords);
        var f = Math.pow(2, coords.z - last);
        var parent = {x: Math.floor(coords.x / f), y: Math.floor(coords.y / f), z: last};
        var dx = coords.x - parent.x * f, dy = coords.y - parent.y * f;
        return Protobuf.prototype._getVectorTilePromise.call(this, parent).then(function (tile) {
          Object.keys(tile.layers).forEach(function (name) {
            var extent = tile.layers[name].extent;
            tile.layers[name].features.forEach(function (feature) {
              feature.geometry.forEach(function (part) {
                part.forEach(function (point) {
                  point.x = point.x * f - dx * extent;
                  point.y = point.y * f - dy * extent;
                });
              });
            });
          });
          return tile;
        });
      }
    });
    return new Overzoomed(url, options);
  }

  function packageLayer(info) {
    var p = info.package, b = p.bounds;
    var options = {
      bounds: L.latLngBounds([b[1], b[0]], [b[3], b[2]]), minNativeZoom: p.min_zoom,
      attribution: C.escapeHtml(p.attribution), pane: "tilePane"
    };
    if (p.kind === "raster") return L.tileLayer(p.url, L.extend(options, {maxNativeZoom: p.max_zoom}));
    var styles = {};
    p.layers.forEach(function (name) { styles[name] = styleFor(name); });
    return vectorLayer(p.url, L.extend(options, {
      interactive: false, lastZoom: p.max_zoom,
      // a layer the metadata did not list is looked up by name when a tile brings it
      vectorTileLayerStyles: window.Proxy ? new Proxy(styles, {get: function (known, name) {
        return name in known ? known[name] : styleFor(name);
      }}) : styles,
      rendererFactory: labelledTile
    }));
  }

  C.extend(function (map) {
    var configured = null;
    map.eachLayer(function (layer) { if (layer instanceof L.TileLayer) configured = layer; });
    if (configured) map.removeLayer(configured);  // until it is known which basemap wins: no tiles asked meanwhile
    C.getJson("/basemap/info").then(function (info) {
      if (!info.package && !configured) return;
      var choices = {}, byKey = {};
      if (info.package) {
        byKey.package = packageLayer(info);
        choices[C.t("basemap.package", {name: info.package.name || C.t("basemap.unnamed")})] = byKey.package;
      }
      if (configured) {
        byKey.configured = configured;
        choices[C.t("basemap.configured")] = configured;
      }
      byKey.none = L.layerGroup();
      choices[C.t("basemap.none")] = byKey.none;
      var kept = window.localStorage ? window.localStorage.getItem(KEPT) : null;
      var first = byKey[kept] ? kept : info.package ? "package" : "configured";
      Object.keys(byKey).forEach(function (key) {
        if (key === first) byKey[key].addTo(map); else map.removeLayer(byKey[key]);
      });
      var control = L.control.layers(choices, null, {collapsed: false, position: "bottomright"}).addTo(map);
      var box = control.getContainer();
      box.classList.add("cityops-basemap");
      box.setAttribute("role", "group");
      box.setAttribute("aria-label", C.t("basemap.title"));
      var heading = document.createElement("div");
      heading.className = "cityops-basemap-title";
      heading.style.fontWeight = "bold";
      heading.textContent = C.t("basemap.title");
      box.insertBefore(heading, box.firstChild);
      map.on("baselayerchange", function (event) {
        Object.keys(byKey).forEach(function (key) {
          if (byKey[key] === event.layer && window.localStorage) window.localStorage.setItem(KEPT, key);
        });
      });
      window.cityopsBasemap = {active: first, kind: info.package ? info.package.kind : null, layers: byKey};
    }).catch(function (error) {
      if (configured) configured.addTo(map);  // the configured server, as without this part
      C.status(C.t("basemap.unavailable", {error: error.message}));
    });
  });
})();
