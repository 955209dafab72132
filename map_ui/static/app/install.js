/* The field app installs itself: the service worker (/sw.js, whose scope is the whole site) keeps the
   app's shell so /map/worker and /field open without a network. Once the page has loaded, the
   worker is asked to keep this page and the public data it read before the worker controlled it
   (window.cityopsKeep: the unit outline, the category list), so the very first visit is enough.
   window.cityopsOffline turns true when that is done. Signing out tells the worker to forget the
   copies of the pages, which carry the user's name. */
"use strict";
(function () {
  if (!("serviceWorker" in navigator)) return;
  var registered = navigator.serviceWorker.register("/sw.js", {scope: "/"});
  window.addEventListener("load", function () {
    registered.then(function () { return navigator.serviceWorker.ready; }).then(function (registration) {
      var channel = new MessageChannel();
      channel.port1.onmessage = function () { window.cityopsOffline = true; };
      registration.active.postMessage({keep: [window.location.pathname].concat(window.cityopsKeep || [])},
                                      [channel.port2]);
    });
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-sign-out]") && navigator.serviceWorker.controller) {
      navigator.serviceWorker.controller.postMessage("signed-out");
    }
  }, true);
})();
