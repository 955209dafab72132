// Shared behaviour of the work pages: the Beijing clock, deadline countdowns, messages that stay
// until read, and refusals in words. Strings come from the page's catalogue (#cityops-messages).
const messages = JSON.parse(document.getElementById("cityops-messages").textContent);
const word = (group, key, values = {}) =>
  (messages[`${group}.${key}`] || key).replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

const beijing = new Intl.DateTimeFormat("zh-CN", {
  timeZone: "Asia/Shanghai", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

/** "2天3小时" / "3h 20min": the largest two units of a span of milliseconds (seconds in its last minute). */
export function span(ms) {
  if (Math.abs(ms) < 60000) return `${Math.floor(Math.abs(ms) / 1000)}${word("time", "second")}`;
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), rest = minutes % 60;
  const parts = [[days, "day"], [hours, "hour"], [rest, "minute"]].filter(([n]) => n > 0).slice(0, 2);
  const [a, b] = (parts.length ? parts : [[0, "minute"]]).map(([n, unit]) => `${n}${word("time", unit)}`);
  return b === undefined ? a : word("time", "pair", { a, b });
}

/** Every [data-due] element shows the time left (or over), and is marked overdue when it is. */
export function tick(root = document) {
  const clock = document.getElementById("clock");
  if (clock) clock.textContent = beijing.format(new Date());
  for (const element of root.querySelectorAll("[data-due]")) {
    const left = Date.parse(element.dataset.due) - Date.now();
    element.textContent = word("time", left >= 0 ? "left" : "over", { t: span(left) });
    element.classList.toggle("overdue", left < 0);
  }
}

/** A message on top of the page (role=alert for refusals, which stay until dismissed). */
export function toast(text, kind = "info") {
  const box = document.createElement("div");
  box.className = `toast ${kind}`;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  const body = document.createElement("span");
  body.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = messages["toast.dismiss"];
  close.addEventListener("click", () => box.remove());
  box.append(body, close);
  const shelf = document.getElementById("toasts");
  // a confirmation replaces the one before (on a phone they stacked above the page's title); refusals stay
  if (kind === "ok") shelf.querySelectorAll(".toast.ok").forEach((earlier) => earlier.remove());
  shelf.append(box);
  // a refusal stays until read; a confirmation fades (the case card keeps its own line saying what was done)
  if (kind === "ok") setTimeout(() => box.remove(), 8000);
}

document.addEventListener("htmx:sendError", () => toast(word("error", "network"), "error"));
document.addEventListener("htmx:afterSwap", (event) => tick(event.target));
document.addEventListener("cityops:toast", (event) => toast(event.detail.text, event.detail.kind));
document.body.addEventListener("htmx:configRequest", (event) => {
  // a disabled button cannot be pressed twice while its form is on its way
  event.detail.elt.querySelectorAll?.("button[type=submit]").forEach((b) => { b.disabled = true; });
});
document.addEventListener("htmx:afterRequest", (event) => {
  event.detail.elt.querySelectorAll?.("button[type=submit]").forEach((b) => { b.disabled = false; });
});
document.addEventListener("click", (event) => {
  const close = event.target.closest?.("[data-close-form]");
  if (close) close.closest("form").remove();
  if (event.target.closest?.("[data-sign-out]")) {
    fetch("/api/v1/auth/session/end", { method: "POST", headers: { "X-Requested-With": "cityops" } })
      .then(() => window.location.assign("/login"));
  }
});
let leaving = false;
for (const leave of ["beforeunload", "pagehide"]) window.addEventListener(leave, () => { leaving = true; });

/** The live stream with ``handlers`` (event name → function); a session about to lapse is renewed and the stream
 * reopened. Only a refused stream (closed) is renewed: a dropped one reconnects by itself, and leaving the page ends
 * it too — a renewal sent then loses its answer, and the used-up cookie presented again would end the login. */
export function liveStream(handlers) {
  const source = new EventSource("/api/v1/stream");
  for (const [name, handler] of Object.entries(handlers)) source.addEventListener(name, handler);
  source.addEventListener("error", () => {
    if (source.readyState !== EventSource.CLOSED || leaving) return;
    fetch("/api/v1/auth/session/refresh", { method: "POST", headers: { "X-Requested-With": "cityops" } })
      .then((r) => { if (r.ok) liveStream(handlers); });
  });
  return source;
}

/** Pages marked data-live: each burst of changes becomes one cityops:changed event (htmx re-reads what depends
 * on it). */
function listen() {
  let timer = null;
  liveStream({
    changes: () => {
      clearTimeout(timer);
      timer = setTimeout(() => document.body.dispatchEvent(new CustomEvent("cityops:changed")), 1000);
    },
  });
}
if (document.body.dataset.live !== undefined) listen();
tick();
setInterval(tick, 1000);
// a phone's page names scroll sideways in one row: the current one in sight, not past the edge (the row
// alone scrolls: a page restored half-way down stays where it was)
const pages = document.querySelector(".topbar nav");
const here = pages?.querySelector('[aria-current="page"]');
if (here) pages.scrollLeft += Math.max(0, here.getBoundingClientRect().right - pages.getBoundingClientRect().right);
window.cityopsToast = toast;
// a map page's own script says when its layers are in (it set cityopsReady = false before this module ran)
if (window.cityopsReady === undefined) window.cityopsReady = true;
