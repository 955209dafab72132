/* The field app's outbox: what a worker sends from a phone (reports with their photos, answers to
   assignments) is written to IndexedDB first and sent from there, oldest first, so a dropped
   network loses nothing. Each item carries the Idempotency-Key made when the worker pressed send:
   a replay after an answer that never arrived files the same thing once, never twice.

   Sending: now, on the browser's "online" event, on page load, and again with a growing pause
   (2 s … 2 min) while the network or the server is away. A refusal (4xx) is not retried: the item
   stays, with the server's words, until the worker dismisses it. Items belong to the user who made
   them: another user signed in on the same phone neither sees nor sends them.

   The outbox shows itself in a box the page gives it: 「待发送 N」 and each refusal with a button to
   dismiss it; every message stays until read. Words come from the page's catalogue (worker.outbox.*). */
"use strict";
window.cityopsOutbox = (function () {
  var DB = "cityops-outbox", STORE = "items", FIRST_PAUSE_MS = 2000, LONGEST_PAUSE_MS = 120000;
  var t = function (key, values) { return window.cityops.t(key, values); };
  var database = null;

  function open() {
    if (!database) {
      database = new Promise(function (resolve, reject) {
        var request = indexedDB.open(DB, 1);
        request.onupgradeneeded = function () {
          request.result.createObjectStore(STORE, {keyPath: "id", autoIncrement: true}).createIndex("user", "user");
        };
        request.onsuccess = function () { resolve(request.result); };
        request.onerror = function () { reject(request.error); };
      });
    }
    return database;
  }

  /* one transaction on the store: work(store) makes the request whose result is the answer */
  function stored(mode, work) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode), request = work(tx.objectStore(STORE));
        tx.oncomplete = function () { resolve(request.result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  function itemsOf(user) {
    return stored("readonly", function (store) { return store.index("user").getAll(user); })
      .then(function (items) { return items.sort(function (a, b) { return a.id - b.id; }); });
  }

  /* a key for one press of "send": random, made on the phone, kept with the item for every retry */
  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40; bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  /* the request an item stands for: JSON, a multipart report with its photo (a Blob), or an htmx form */
  function requestOf(item) {
    var headers = {"X-Requested-With": "cityops", "Idempotency-Key": item.key}, body = item.body, payload;
    if (body.type === "json") {
      headers["Content-Type"] = "application/json";
      payload = body.text;
    } else if (body.type === "multipart") {
      payload = new FormData();
      payload.append("report", body.report);
      payload.append("media", body.media, body.filename);
    } else {
      headers["Content-Type"] = "application/x-www-form-urlencoded";
      headers["HX-Request"] = "true";
      payload = body.text;
    }
    return {method: "POST", credentials: "same-origin", headers: headers, body: payload};
  }

  /* the server's own words for a refusal: the API's message in the page's language (its English
     detail when there is none), or the page fragment's refusal line */
  function wordsOf(response) {
    return response.text().then(function (text) {
      try {
        var body = JSON.parse(text), detail = body.detail;
        if (typeof body.message === "string") return body.message;
        if (typeof detail === "string") return detail;
        if (Array.isArray(detail)) return detail.map(function (d) { return d.msg; }).join("; ");
      } catch (notJson) {
        var refusal = new DOMParser().parseFromString(text, "text/html").querySelector(".refusal");
        if (refusal) return refusal.textContent.trim();
      }
      return t("worker.outbox.refused_status", {status: response.status});
    });
  }

  function refreshSession() {
    return fetch("/api/v1/auth/session/refresh", {method: "POST", credentials: "same-origin",
                                                   headers: {"X-Requested-With": "cityops"}})
      .then(function (r) { return r.ok; }, function () { return false; });
  }

  /* send one item once: {outcome: "sent" | "refused" | "later" | "signin", answer | words} */
  function send(item, renewed) {
    return fetch(item.url, requestOf(item)).then(function (response) {
      if (response.ok) {
        var type = response.headers.get("content-type") || "";
        return (type.indexOf("json") >= 0 ? response.json() : response.text())
          .then(function (answer) { return {outcome: "sent", answer: answer}; });
      }
      if (response.status === 401 && !renewed) {
        return refreshSession().then(function (ok) { return ok ? send(item, true) : {outcome: "signin"}; });
      }
      if (response.status === 401) return {outcome: "signin"};
      if (response.status === 408 || response.status === 429 || response.status >= 500) return {outcome: "later"};
      return wordsOf(response).then(function (words) { return {outcome: "refused", words: words}; });
    }, function () { return {outcome: "later"}; });  // the network: nothing arrived, or no answer came back
  }

  /* An outbox for the signed-in ``user``, drawn into ``box``; ``onSent(item, answer)`` hears each
     item the server took. */
  function start(user, box, onSent) {
    var flushing = null, again = false, pause = FIRST_PAUSE_MS, timer = null, signIn = false;
    box.classList.add("cityops-outbox");
    box.innerHTML = "<p class='cityops-outbox-count' role='status' aria-live='polite'></p>" +
      "<ul class='cityops-outbox-refused' aria-live='assertive'></ul>";
    var count = box.querySelector(".cityops-outbox-count"), refused = box.querySelector(".cityops-outbox-refused");

    function draw() {
      return itemsOf(user).then(function (items) {
        var waiting = items.filter(function (item) { return !item.refused; });
        count.textContent = !waiting.length ? "" : t(signIn ? "worker.outbox.signin" : "worker.outbox.waiting",
                                                     {n: waiting.length});
        count.hidden = !waiting.length;
        refused.innerHTML = items.filter(function (item) { return item.refused; }).map(function (item) {
          return "<li role='alert'><span><b>" + window.cityops.escapeHtml(item.title) + "</b> " +
            window.cityops.escapeHtml(t("worker.outbox.refused", {words: item.refused})) + "</span>" +
            "<button type='button' data-dismiss='" + item.id + "'>" + window.cityops.escapeHtml(t("worker.outbox.dismiss")) +
            "</button></li>";
        }).join("");
        box.hidden = !items.length;
        box.dataset.waiting = String(waiting.length);
        return items;
      });
    }

    function later() {
      clearTimeout(timer);
      timer = setTimeout(flush, pause);
      pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
    }

    /* the user's waiting items, oldest first, until one cannot go now */
    function flush() {
      if (flushing) { again = true; return flushing; }  // an item added meanwhile: another round after this one
      again = false;
      clearTimeout(timer);
      flushing = itemsOf(user).then(function (items) {
        var waiting = items.filter(function (item) { return !item.refused; });
        function next(i) {
          if (i >= waiting.length) { pause = FIRST_PAUSE_MS; return null; }
          var item = waiting[i];
          return send(item).then(function (result) {
            signIn = result.outcome === "signin";
            if (result.outcome === "sent") {
              return stored("readwrite", function (store) { return store.delete(item.id); }).then(function () {
                if (onSent) onSent(item, result.answer);
                return draw().then(function () { return next(i + 1); });
              });
            }
            if (result.outcome === "refused") {
              item.refused = result.words;
              return stored("readwrite", function (store) { return store.put(item); }).then(function () {
                return next(i + 1);
              });
            }
            if (!signIn) later();
            return null;
          });
        }
        return next(0);
      }).then(draw).then(function (items) {
        flushing = null;
        if (again) flush();
        return items;
      }, function (error) { flushing = null; throw error; });
      return flushing;
    }

    /* keep ``item`` (url, body, title) for this user with a fresh key, then try to send it */
    function add(item) {
      item.user = user;
      item.key = item.key || newKey();
      item.made = new Date().toISOString();
      return stored("readwrite", function (store) { return store.add(item); }).then(function (id) {
        item.id = id;
        return draw();
      }).then(function () { flush(); return item; });
    }

    refused.addEventListener("click", function (event) {
      var button = event.target.closest("[data-dismiss]");
      if (!button) return;
      stored("readwrite", function (store) { return store.delete(Number(button.dataset.dismiss)); }).then(draw);
    });
    window.addEventListener("online", function () { pause = FIRST_PAUSE_MS; flush(); });
    draw().then(flush);
    return {add: add, flush: flush, items: function () { return itemsOf(user); }, send: send, key: newKey};
  }

  return {start: start};
})();
