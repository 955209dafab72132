// The field page: the force's assignments arrive live (the stream carries them wherever the case
// lies) with a short beep and a vibration where the device allows; each card shows its place on a
// small offline map (the public unit tiles, no basemap). Answers are htmx forms (see _field_list.html).
const words = JSON.parse(document.getElementById("field-messages").textContent);
const announced = new Set(); // offered assignments already announced
let audio = null;
let pending = false; // a change arrived while the person was writing a reason

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

function refresh() {
  if (document.querySelector("details.field-unable[open] textarea")?.value) {
    pending = true; // do not wipe a reason being written; refreshed when the form closes or is sent
    return;
  }
  pending = false;
  document.body.dispatchEvent(new CustomEvent("cityops:field"));
}

function listen() {
  const source = new EventSource("/api/v1/stream");
  source.addEventListener("changes", (event) => {
    if (JSON.parse(event.data).assignments?.length) refresh();
  });
  source.addEventListener("reset", refresh);
  source.addEventListener("error", () => {
    fetch("/api/v1/auth/session/refresh", { method: "POST", headers: { "X-Requested-With": "cityops" } });
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
document.addEventListener("htmx:afterSettle", () => {
  drawMaps();
  announce(false);
});
drawMaps();
announce(true);
listen();
window.cityopsFieldReady = true;
