/* The field app's service worker, served as /sw.js (scope: the whole site) with two lines in front
   of it: self.VERSION (a hash of the shell's files: a new release is a new cache, the old one is
   deleted when this one takes over) and self.SHELL (the app's own scripts, styles, icons and the
   vendored Leaflet and htmx, fetched at install).

   What it keeps, and why no more:
   - the shell: cache first (the files only change with VERSION); any other asset of the site's
     /static/ the pages load (a part added later): the network first, a copy beside the shell;
   - the two app pages, /map/worker and /field, when opened as pages: the last good copy, used only
     when the network fails (a redirect to /login drops the copy; so does signing out);
   - the public data the grid check and the map need offline: the user's unit outline
     (/api/v1/units/…), the category list (/field/categories), the hierarchy tiles (/tiles/units/…):
     the network first, the copy when it fails;
   - nothing else: cases, tasks, reporters and every write go to the network as they are. */
"use strict";
var SHELL_CACHE = "cityops-shell-" + self.VERSION;
var PAGES_CACHE = "cityops-pages";
var TILES_CACHE = "cityops-tiles";
var MOST_TILES = 2000;  // the latest tiles seen (a few MB): where the worker works, not the whole city
var PAGES = ["/map/worker", "/field"];
var TILES = /^\/tiles\/units\/\d+\/\d+\/\d+\.pbf$/;
var PUBLIC_DATA = [/^\/api\/v1\/units\/[^/]+$/, /^\/field\/categories$/, TILES];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) { return cache.addAll(self.SHELL); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("cityops-shell-") === 0 && name !== SHELL_CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

/* "signed-out": forget the pages; {keep: [paths]}: keep a copy of the page and the public data it
   read before this worker controlled it (its first visit), then answer on the given port */
self.addEventListener("message", function (event) {
  if (event.data === "signed-out") {
    event.waitUntil(caches.delete(PAGES_CACHE));
    return;
  }
  var paths = (event.data && event.data.keep || []).filter(function (path) {
    return PAGES.indexOf(path) >= 0 || PUBLIC_DATA.some(function (pattern) { return pattern.test(path); });
  });
  var written = [];
  event.waitUntil(Promise.all(paths.map(function (path) {
    return networkFirst(new Request(path, {credentials: "same-origin"}), path, function (w) { written.push(w); })
      .catch(function () { return null; });
  })).then(function () { return Promise.all(written); }).then(function () {
    if (event.ports[0]) event.ports[0].postMessage("kept");
  }));
});

/* the oldest tiles out once there are more than MOST_TILES (a cache lists its entries oldest first) */
function trim(cache) {
  return cache.keys().then(function (keys) {
    return Promise.all(keys.slice(0, Math.max(0, keys.length - MOST_TILES)).map(function (k) { return cache.delete(k); }));
  });
}

/* keep a good answer under ``key`` (a tile: among the latest MOST_TILES); forget the copy when the
   answer says the session is gone */
function store(cache, key, response) {
  if (response.ok && !response.redirected) {
    var copy = response.clone();
    return cache.delete(key).then(function () { return cache.put(key, copy); })
      .then(function () { return TILES.test(key) ? trim(cache) : null; });
  }
  if (response.type === "opaqueredirect" || response.redirected || response.status === 401) return cache.delete(key);
  return Promise.resolve();
}

/* the network, keeping a copy of a good answer (``storing(promise)`` hears when it is written); the
   copy when the network fails */
function networkFirst(request, key, storing, cacheName) {
  return caches.open(cacheName || (TILES.test(key) ? TILES_CACHE : PAGES_CACHE)).then(function (cache) {
    return fetch(request).then(function (response) {
      storing(store(cache, key, response));
      return response;
    }, function (failure) {
      return cache.match(key).then(function (copy) {
        if (copy) return copy;
        throw failure;
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request, url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && PAGES.indexOf(url.pathname) >= 0) {
    event.respondWith(networkFirst(request, url.pathname, function (w) { event.waitUntil(w); }));
  } else if (request.mode !== "navigate" && PUBLIC_DATA.some(function (pattern) { return pattern.test(url.pathname); })) {
    event.respondWith(networkFirst(request, url.pathname, function (w) { event.waitUntil(w); }));
  } else if (self.SHELL.indexOf(url.pathname) >= 0) {
    event.respondWith(caches.match(url.pathname, {cacheName: SHELL_CACHE}).then(function (copy) {
      return copy || fetch(request);
    }));
  } else if (url.pathname.indexOf("/static/") === 0) {  // an asset another part added to the pages
    event.respondWith(networkFirst(request, url.pathname, function (w) { event.waitUntil(w); }, SHELL_CACHE));
  }
});
