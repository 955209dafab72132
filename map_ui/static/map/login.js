/* Sign in, then back to the page that asked (a path on this site only: never an open redirect).
   The session's tokens come back as HttpOnly cookies; this script never holds them. */
"use strict";
(function () {
  var form = document.getElementById("cityops-signin");
  var words = JSON.parse(document.getElementById("cityops-messages").textContent);
  var error = form.querySelector(".cityops-signin-error");
  var asked = new URLSearchParams(window.location.search).get("next") || "/map";
  var next = /^\/(?![\/\\])/.test(asked) ? asked : "/map";

  fetch("/api/v1/auth/session/refresh", {method: "POST", credentials: "same-origin",
                                         headers: {"X-Requested-With": "cityops"}})
    .then(function (r) { if (r.ok) window.location.replace(next); });  // a live session needs no password

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    error.textContent = "";
    fetch("/api/v1/auth/session", {method: "POST", credentials: "same-origin", body: new URLSearchParams(new FormData(form)),
                                   headers: {"X-Requested-With": "cityops"}})
      .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
      .then(function (answer) {
        if (!answer.ok) { error.textContent = answer.body.message || answer.body.detail; form.elements.password.value = ""; return; }
        window.location.replace(next);
      })
      .catch(function () { error.textContent = words["login.unreachable"]; });
  });
  form.elements.username.focus();
})();
