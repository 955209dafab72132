// The field page: the force's assignments arrive live (the stream carries them wherever the case
// lies) with a short beep and a vibration where the device allows; each card shows its place on a
// small offline map (the public unit tiles, no basemap). Answers are htmx forms (see _field_list.html).
// An answer carries an Idempotency-Key made when it was pressed; offline (or when the network drops
// it) it waits in the outbox (static/app/outbox.js) under that key, the card says so and takes no
// second answer, and it is sent when the network is back; then the list is read again.
import { liveStream } from "/static/ui/ui.js";

const words = JSON.parse(document.getElementById("field-messages").textContent);
const announced = new Set(); // offered assignments already announced
let audio = null;
let pending = false; // a change arrived while the person was writing a reason
const keys = new WeakMap(); // an answer form → the key made when it was pressed
const outbox = window.cityopsOutbox.start(document.body.dataset.user, document.getElementById("cityops-outbox"), () => {
  refresh(); // the answer arrived: the list shows where the assignment stands now
});
window.cityopsFieldOutbox = outbox;

function beep() {
  navigator.vibrate?.([200, 100, 200]);
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return;
  audio ??= new Context();
  audio.resume?.().catch(() => {});
  const tone = audio.createOscillator();
  const gain = audio.createGain();
  tone.frequency.value = 880;
  gain.gain.value = 0.2;
  tone.connect(gain).connect(audio.destination);
  tone.start();
  tone.stop(audio.currentTime + 0.25);
}

function drawMaps(root = document) {
  if (!window.L) return;
  for (const box of root.querySelectorAll(".field-map:not([data-drawn])")) {
    box.dataset.drawn = "1";
    const point = [Number(box.dataset.lat), Number(box.dataset.lon)];
    const map = L.map(box, { attributionControl: false, zoomControl: true }).setView(point, 16);
    if (L.vectorGrid) {
      const outline = { weight: 1, color: "#0b5cad", fill: false };
      L.vectorGrid.protobuf("/tiles/units/{z}/{x}/{y}.pbf", {
        maxNativeZoom: 16,
        vectorTileLayerStyles: { city: outline, district: outline, street: outline, community: outline,
          grid: { ...outline, color: "#6b7a8c", dashArray: "3" }, building: { weight: 0.5, color: "#999", fill: false } },
      }).addTo(map);
    }
    L.circleMarker(point, { radius: 10, color: "#b3261e", weight: 3, fillOpacity: 0.6 }).addTo(map);
  }
}

/** Announce offered assignments not announced before (not those already there when the page opened). */
function announce(quietly) {
  for (const card of document.querySelectorAll('.field-card[data-stage="offered"]')) {
    if (announced.has(card.dataset.assignment)) continue;
    announced.add(card.dataset.assignment);
    if (quietly) continue;
    beep();
    const text = words["field.incoming"].replace("{category}", card.dataset.category).replace("{at}", card.dataset.deadline);
    window.cityopsToast?.(text);
  }
}

/** Keep an answer in the outbox; its card says it waits and takes no other answer meanwhile. */
function queue(form) {
  const card = form.closest(".field-card");
  const answer = form.elements.answer.value;
  const said = words[`field.answer.${answer}`] ?? "";
  outbox.add({
    kind: "answer", url: form.getAttribute("hx-post"), key: keys.get(form),
    title: words["field.queued_title"].replace("{answer}", said).replace("{category}", card.dataset.category),
    body: { type: "form", text: new URLSearchParams(new FormData(form)).toString() },
  });
  card.querySelectorAll("button, textarea").forEach((control) => { control.disabled = true; });
  const note = document.createElement("p");
  note.className = "field-queued";
  note.setAttribute("role", "status");
  note.textContent = words["field.queued"].replace("{answer}", said);
  card.querySelector(".field-answers").before(note);
}

function refresh() {
  if (document.querySelector("details.field-unable[open] textarea")?.value) {
    pending = true; // do not wipe a reason being written; refreshed when the form closes or is sent
    return;
  }
  pending = false;
  document.body.dispatchEvent(new CustomEvent("cityops:field"));
}

function listen() {
  liveStream({
    changes: (event) => {
      if (JSON.parse(event.data).assignments?.length) refresh();
    },
    reset: refresh,
  });
}

document.getElementById("field-sound")?.addEventListener("click", (event) => {
  beep(); // a tap lets the page make sounds later (browsers allow audio only after one)
  event.currentTarget.setAttribute("aria-pressed", "true");
  event.currentTarget.textContent = words["field.sound_on"];
});
document.addEventListener("toggle", (event) => {
  if (pending && event.target.matches?.("details.field-unable") && !event.target.open) refresh();
}, true);
document.body.addEventListener("htmx:configRequest", (event) => {
  const form = event.detail.elt;
  if (!form.matches?.(".field-answers form")) return;
  if (!keys.has(form)) keys.set(form, outbox.key()); // one key per press, kept for every retry of it
  event.detail.headers["Idempotency-Key"] = keys.get(form);
});
document.body.addEventListener("htmx:beforeRequest", (event) => {
  const form = event.detail.elt;
  if (navigator.onLine || !form.matches?.(".field-answers form")) return;
  event.preventDefault(); // no network: straight to the outbox
  queue(form);
});
document.body.addEventListener("htmx:sendError", (event) => {
  if (event.detail.elt.matches?.(".field-answers form")) queue(event.detail.elt); // sent, and lost on the way
});
document.addEventListener("htmx:afterSettle", () => {
  drawMaps();
  announce(false);
});
drawMaps();
announce(true);
listen();
window.cityopsFieldReady = true;
