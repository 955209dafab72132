// The wall display (大屏): the user's unit on the centre's big screen, for days, without a hand on it.
// Three questions to the API (figures, the ticker's words, the map's first picture), then the live stream.
// Everything it draws is bounded: a fixed number of markers, ticker lines, table rows and chart points,
// each element made once and reused, so a week on the wall holds the same memory as its first minute.
// Words from the page's catalogue (window.cityops.t), numbers by Intl, every time in Beijing time.

const C = window.cityops;
const OPTIONS = JSON.parse(document.getElementById("screen-options").textContent);
const MAX_CASES = 3000;         // live case markers kept (the newest); the district counts carry the rest
const MAX_FORCES = 3000;        // force markers kept
const TICKER_LINES = 12;        // lines the ticker shows; older ones are reused for newer
const FIGURES_EVERY_MS = 30000; // the table, trends and categories
const TICKER_WAIT_MS = 250;     // announced cases gathered into one ticker question
const LOG_SIZE = 4096;          // the draw log the benchmark reads (a ring: old entries are overwritten)
const FINAL = new Set(["closed", "void"]);
const BUSY = new Set(["assigned", "en_route", "on_scene"]);
const GONE = new Set(["off_duty", "out_of_service"]);
// Okabe–Ito: distinguishable with any colour vision, ≥ 3:1 against the dark ground
const COLOURS = {case: "#E69F00", overdue: "#D55E00", escalated: "#F0E442", force: "#56B4E9", busy: "#0072B2",
                 ring: "#0b1526"};

window.cityopsScreenReady = false;

// ---- the draw log: when each live item was drawn (the benchmark's latency), in a fixed ring -------------
const log = {kind: new Array(LOG_SIZE), id: new Array(LOG_SIZE), version: new Float64Array(LOG_SIZE),
             at: new Float64Array(LOG_SIZE), next: 0, read: 0};
function logged(kind, id, version) {
  const slot = log.next % LOG_SIZE;
  log.kind[slot] = kind; log.id[slot] = id; log.version[slot] = version; log.at[slot] = Date.now();
  log.next += 1;
}
/** The entries drawn since the last call ([kind, id, version, ms since the epoch]); older ones are lost. */
window.cityopsScreenDrain = function () {
  const out = [];
  for (let i = Math.max(log.read, log.next - LOG_SIZE); i < log.next; i += 1) {
    const slot = i % LOG_SIZE;
    out.push([log.kind[slot], log.id[slot], log.version[slot], log.at[slot]]);
  }
  log.read = log.next;
  return out;
};

// ---- the clock and the live status ------------------------------------------------------------------------
const clock = document.getElementById("screen-clock");
const live = document.getElementById("screen-live");
const liveText = document.getElementById("screen-live-text");
function tick() {
  const now = new Date();
  clock.textContent = `${C.beijing(now, "date")} ${C.beijing(now, "time")}`;
  clock.setAttribute("datetime", now.toISOString());
}
function showLive(state) {
  if (live.dataset.state === state) return;
  live.dataset.state = state;
  liveText.textContent = C.t(`screen.live.${state}`);
}

// ---- the map: the unit's outlines, district counts, cases above forces --------------------------------------
const map = L.map("screen-map", {zoomControl: false, attributionControl: false, dragging: false, keyboard: false,
                                 scrollWheelZoom: false, doubleClickZoom: false, boxZoom: false, touchZoom: false,
                                 zoomSnap: 0.25, fadeAnimation: false, zoomAnimation: false});
map.fitBounds(OPTIONS.bounds, {animate: false, padding: [8, 8]});
for (const [name, z] of [["screen-outlines", 300], ["screen-forces", 420], ["screen-cases", 440], ["screen-counts", 600]]) {
  map.createPane(name).style.zIndex = z;
}
const forceRenderer = L.canvas({pane: "screen-forces", padding: 0.1});
const caseRenderer = L.canvas({pane: "screen-cases", padding: 0.1});
const OUTLINE = {
  city: {color: "#e8eef7", weight: 3, fill: false},
  district: {color: "#9fb3c8", weight: 2, fill: true, fillColor: "#16263d", fillOpacity: 0.6},
  street: {color: "#3d5573", weight: 0.8, fill: false},
};
const outlines = L.vectorGrid.protobuf("/tiles/units/{z}/{x}/{y}.pbf", {
  pane: "screen-outlines", rendererFactory: L.canvas.tile, interactive: false, maxNativeZoom: 18,
  vectorTileLayerStyles: {city: OUTLINE.city, district: OUTLINE.district, street: OUTLINE.street,
                          community: [], grid: [], building: []},
});
const outlinesIn = new Promise((resolve) => outlines.once("load", resolve));
outlines.addTo(map);

/** A force: a square, so it differs from a case by shape as well as colour. */
const Square = L.CircleMarker.extend({
  _updatePath() {
    const renderer = this._renderer;
    if (!renderer._drawing || this._empty()) return;
    const p = this._point, r = this._radius, ctx = renderer._ctx;
    ctx.beginPath();
    ctx.rect(p.x - r, p.y - r, 2 * r, 2 * r);
    renderer._fillStroke(ctx, this);
  },
});

const cases = new Map();   // id → {marker, version, escalations}; insertion order = age (oldest evicted first)
const forces = new Map();  // id → marker
const px = () => parseFloat(getComputedStyle(document.documentElement).fontSize) / 16;  // 1 at 1920, 2 at 3840

function overdue(item) {
  return Boolean(item.deadline) && Date.parse(item.deadline) < Date.now();
}
function caseStyle(item) {
  const late = overdue(item);
  return {renderer: caseRenderer, radius: (late ? 5 : 4) * px(), weight: (item.escalations > 0 ? 2.5 : 1) * px(),
          color: item.escalations > 0 ? COLOURS.escalated : COLOURS.ring, fillOpacity: 0.95,
          fillColor: late ? COLOURS.overdue : COLOURS.case, interactive: false};
}
function forceStyle(item) {
  return {renderer: forceRenderer, radius: 2.5 * px(), weight: 0.8 * px(), color: COLOURS.ring, fillOpacity: 0.9,
          fillColor: BUSY.has(item.status) ? COLOURS.busy : COLOURS.force, interactive: false};
}

/** One case as the stream or the first picture tells it; what the ticker should tell of it (or null). */
function applyCase(item) {
  const known = cases.get(item.id);
  if (known && known.version > item.version) return null;  // an older state after a newer: keep the newer
  if (FINAL.has(item.state) || item.merged_into) {
    if (known) { known.marker.remove(); cases.delete(item.id); }
    return null;
  }
  const escalated = item.escalations > (known ? known.escalations : 0);
  const fresh = !known && item.state === "reported" && item.escalations === 0;
  if (known) {
    known.marker.setLatLng([item.lat, item.lon]).setStyle(caseStyle(item));
    known.version = item.version; known.escalations = item.escalations; known.deadline = item.deadline;
  } else {
    if (cases.size >= MAX_CASES) {  // the oldest marker gives way
      const [oldest, entry] = cases.entries().next().value;
      entry.marker.remove(); cases.delete(oldest);
    }
    cases.set(item.id, {marker: L.circleMarker([item.lat, item.lon], caseStyle(item)).addTo(map),
                        version: item.version, escalations: item.escalations, deadline: item.deadline});
  }
  return fresh || escalated ? item.id : null;
}

function applyForce(item) {
  const known = forces.get(item.id);
  if (GONE.has(item.status) || item.lon === null || item.lat === null) {
    if (known) { known.remove(); forces.delete(item.id); }
    return;
  }
  if (known) { known.setLatLng([item.lat, item.lon]).setStyle(forceStyle(item)); return; }
  if (forces.size >= MAX_FORCES) {
    const [oldest, marker] = forces.entries().next().value;
    marker.remove(); forces.delete(oldest);
  }
  forces.set(item.id, new Square([item.lat, item.lon], forceStyle(item)).addTo(map));
}

/** Overdue is a matter of time as well as of changes: restyle the markers whose deadline passed. */
function restyleOverdue() {
  const now = Date.now();
  for (const entry of cases.values()) {
    if (entry.deadline && !entry.late && Date.parse(entry.deadline) < now) {
      entry.late = true;
      entry.marker.setStyle(caseStyle({deadline: entry.deadline, escalations: entry.escalations}));
    }
  }
}

function clearMap() {
  for (const entry of cases.values()) entry.marker.remove();
  for (const marker of forces.values()) marker.remove();
  cases.clear(); forces.clear();
}

// ---- major incidents: their areas in the level's warning colour (红橙黄蓝), each named by its title --------
// (the title, not the INC- number: read across the room, the words say what and where; the colour says how grave)
const LEVEL_COLOUR = {I: "#ff5a4e", II: "#ff8a1f", III: "#ffd21f", IV: "#4ea3ff"};
map.createPane("screen-incidents").style.zIndex = 430;
const incidentLayer = L.geoJSON(null, {
  pane: "screen-incidents",
  interactive: false,
  style: (feature) => ({color: LEVEL_COLOUR[feature.properties.level] || LEVEL_COLOUR.I, weight: 3, fillOpacity: 0.12}),
  onEachFeature: (feature, layer) => layer.bindTooltip(C.escapeHtml(feature.properties.title),
                                                       {permanent: true, direction: "center", className: "screen-incident"}),
}).addTo(map);
async function loadIncidents() {
  const areas = await C.getJson("/api/v1/incidents/map");
  incidentLayer.clearLayers();
  incidentLayer.addData(areas);
  window.cityopsScreenIncidents = areas.features.length;
}

// ---- sensors in alarm: a red triangle each (cases are circles, forces squares), read again every SENSORS_EVERY_MS ----
// (bounded: at most MAX_SENSOR_ALARMS; the legend counts them; an alarm that filed a case is on the map as that case too)
const SENSORS_EVERY_MS = 15000;
const MAX_SENSOR_ALARMS = 1000;
map.createPane("screen-sensors").style.zIndex = 435;
const sensorLayer = L.layerGroup().addTo(map);
async function loadSensorAlarms() {
  if (!OPTIONS.sensors) return;
  const found = await C.getJson(`/api/v1/sensors?condition=alarm&limit=${MAX_SENSOR_ALARMS}`);
  sensorLayer.clearLayers();
  for (const feature of found.features) {
    const [lon, lat] = feature.geometry.coordinates;
    L.marker([lat, lon], {pane: "screen-sensors", interactive: false, keyboard: false,
      icon: L.divIcon({className: "screen-sensor", iconSize: null})}).addTo(sensorLayer);
  }
  document.getElementById("screen-sensor-alarms").textContent = C.number(found.features.length);
  window.cityopsScreenSensorAlarms = found.features.length;
}

async function loadMap() {
  const picture = await C.getJson(`/api/v1/screen/map?cases=${MAX_CASES}&forces=${OPTIONS.forces ? MAX_FORCES : 0}`);
  loadIncidents().catch(failed);
  clearMap();
  // the oldest first, so the newest are the last to be evicted
  for (let i = picture.forces.length - 1; i >= 0; i -= 1) applyForce(picture.forces[i]);
  for (let i = picture.cases.length - 1; i >= 0; i -= 1) applyCase(picture.cases[i]);
}

// ---- district counts on the map (one label per district, made once, updated in place) -------------------
const bubbles = new Map();  // district code → marker
function drawBubbles(districts) {
  for (const d of districts) {
    let marker = bubbles.get(d.code);
    if (!marker) {
      marker = L.marker([d.lat, d.lon], {pane: "screen-counts", interactive: false, keyboard: false,
        icon: L.divIcon({className: "screen-bubble", html: "<b></b><span></span>", iconSize: null})}).addTo(map);
      bubbles.set(d.code, marker);
      marker.getElement().querySelector("span").textContent = d.name;
    }
    const box = marker.getElement();
    box.querySelector("b").textContent = C.number(d.open);
    box.classList.toggle("late", d.overdue > 0);
  }
}

// ---- the district table ----------------------------------------------------------------------------------
const table = document.getElementById("screen-table");
const rows = new Map();  // district code → its cells
function rate(value) { return value === null || value === undefined ? C.t("screen.none") : C.percent(value, 1); }
function cellsOf(row) {
  return [C.number(row.received_today), C.number(row.open), C.number(row.overdue), rate(row.closure_rate),
          rate(row.on_time_rate), C.number(row.forces_available)];
}
function tableRow(parent, heading) {
  const tr = document.createElement("tr");
  const th = document.createElement("th");
  th.scope = "row"; th.textContent = heading;
  tr.append(th);
  const cells = [];
  for (let i = 0; i < 6; i += 1) { const td = document.createElement("td"); tr.append(td); cells.push(td); }
  parent.append(tr);
  return {tr, cells};
}
let totalRow = null;
function fill(cells, row) {
  cellsOf(row).forEach((text, i) => { if (cells[i].textContent !== text) cells[i].textContent = text; });
  cells[2].classList.toggle("late", row.overdue > 0);
}
function drawTable(figures) {
  const body = table.tBodies[0];
  const wanted = new Set(figures.districts.map((d) => d.code));
  for (const [code, row] of rows) if (!wanted.has(code)) { row.tr.remove(); rows.delete(code); }
  for (const d of figures.districts) {
    if (!rows.has(d.code)) rows.set(d.code, tableRow(body, d.name));
    fill(rows.get(d.code).cells, d);
  }
  if (figures.districts.length > 1) {
    if (!totalRow) totalRow = tableRow(table.tFoot, C.t("screen.total"));
    fill(totalRow.cells, figures.totals);
  }
}

// ---- the trend: daily intake and closures as two lines in one inline SVG (elements made once) -----------
const SVG = "http://www.w3.org/2000/svg";
const chart = document.getElementById("screen-chart");
const W = 600, H = 220, PAD = {left: 46, right: 10, top: 12, bottom: 30};
function svg(name, attributes, parent) {
  const element = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) element.setAttribute(k, v);
  (parent || chart).append(element);
  return element;
}
const chartParts = {
  grid: [0, 1, 2].map(() => svg("line", {class: "grid", x1: PAD.left, x2: W - PAD.right})),
  ticks: [0, 1, 2].map(() => svg("text", {class: "tick", x: PAD.left - 6, "text-anchor": "end"})),
  received: svg("polyline", {class: "received", fill: "none"}),
  closed: svg("polyline", {class: "closed", fill: "none"}),
  first: svg("text", {class: "tick", x: PAD.left, y: H - 8, "text-anchor": "start"}),
  last: svg("text", {class: "tick", x: W - PAD.right, y: H - 8, "text-anchor": "end"}),
};
const title = svg("title", {});
const dayFormat = new Intl.DateTimeFormat(C.lang, {month: "numeric", day: "numeric", timeZone: "UTC"});
function drawTrend(figures) {
  const days = figures.trend;
  const top = Math.max(1, ...days.map((d) => Math.max(d.received, d.closed)));
  const x = (i) => PAD.left + (i * (W - PAD.left - PAD.right)) / Math.max(1, days.length - 1);
  const y = (n) => H - PAD.bottom - (n * (H - PAD.top - PAD.bottom)) / top;
  chartParts.received.setAttribute("points", days.map((d, i) => `${x(i).toFixed(1)},${y(d.received).toFixed(1)}`).join(" "));
  chartParts.closed.setAttribute("points", days.map((d, i) => `${x(i).toFixed(1)},${y(d.closed).toFixed(1)}`).join(" "));
  [0, 0.5, 1].forEach((share, i) => {
    const level = y(top * share).toFixed(1);
    chartParts.grid[i].setAttribute("y1", level); chartParts.grid[i].setAttribute("y2", level);
    chartParts.ticks[i].setAttribute("y", (Number(level) + 5).toFixed(1));
    chartParts.ticks[i].textContent = C.number(Math.round(top * share));
  });
  chartParts.first.textContent = dayFormat.format(new Date(`${days[0].date}T00:00:00Z`));
  chartParts.last.textContent = dayFormat.format(new Date(`${days[days.length - 1].date}T00:00:00Z`));
  const label = C.t("screen.trend.chart", {days: figures.days, max: C.number(top)});
  title.textContent = label;
  chart.setAttribute("aria-label", label);
}

// ---- top categories: a fixed list of bars, by name ---------------------------------------------------------
const categoryList = document.getElementById("screen-categories");
function drawCategories(figures) {
  const top = Math.max(1, ...figures.categories.map((c) => c.received));
  while (categoryList.children.length > figures.categories.length) categoryList.lastElementChild.remove();
  figures.categories.forEach((category, i) => {
    let li = categoryList.children[i];
    if (!li) {
      li = document.createElement("li");
      li.innerHTML = "<span class=\"name\"></span><span class=\"bar\"><i></i></span><span class=\"n\"></span>";
      categoryList.append(li);
    }
    li.querySelector(".name").textContent = category.name;
    li.querySelector(".n").textContent = C.number(category.received);
    li.querySelector("i").style.width = `${((100 * category.received) / top).toFixed(1)}%`;
  });
}

async function loadFigures() {
  const figures = await C.getJson(`/api/v1/screen/figures?days=${OPTIONS.days}&lang=${encodeURIComponent(C.lang)}`);
  drawTable(figures);
  drawTrend(figures);
  drawCategories(figures);
  drawBubbles(figures.districts);
  table.dataset.asOf = figures.as_of;
  table.title = C.t("screen.updated", {time: C.beijing(figures.as_of, "time")});
  return figures;
}

// ---- the ticker: new and escalated cases in words, at most TICKER_LINES lines, reused -----------------------
const ticker = document.getElementById("screen-ticker");
const told = new Set();     // "id:escalations" of the lines shown (as many as the lines)
const waiting = new Set();  // case ids the stream announced, asked about together
let tickerTimer = null;
function tickerLine(item) {
  const key = `${item.id}:${item.escalations}`;
  if (told.has(key)) return;
  let li;
  if (ticker.children.length >= TICKER_LINES) {
    li = ticker.lastElementChild;
    told.delete(li.dataset.key);
  } else {
    li = document.createElement("li");
    li.innerHTML = "<time></time><span class=\"kind\"></span><span class=\"what\"></span><span class=\"where\"></span>";
  }
  li.dataset.key = key;
  li.className = item.kind;
  const when = li.querySelector("time");
  when.dateTime = item.at;
  when.textContent = C.beijing(item.at, sameDay(item.at) ? "time" : "short");
  li.querySelector(".kind").textContent = C.t(`screen.ticker.${item.kind}`);
  li.querySelector(".what").textContent = item.category;
  li.querySelector(".where").textContent = item.place;
  ticker.prepend(li);
  told.add(key);
  logged("t", item.id, item.version);
}
function sameDay(iso) { return C.beijing(iso, "date") === C.beijing(new Date(), "date"); }
function tell(items) {
  for (let i = items.length - 1; i >= 0; i -= 1) tickerLine(items[i]);  // the newest ends on top
}
function announce(ids) {
  for (const id of ids) {
    waiting.add(id);
    if (waiting.size > TICKER_LINES) waiting.delete(waiting.values().next().value);  // only the newest can show
  }
  if (!tickerTimer && waiting.size) tickerTimer = setTimeout(askTicker, TICKER_WAIT_MS);
}
async function askTicker() {
  const ids = Array.from(waiting).join(",");
  waiting.clear();
  try {
    const answer = await C.getJson(`/api/v1/screen/ticker?ids=${ids}&lang=${encodeURIComponent(C.lang)}`);
    tell(answer.items);
  } catch (error) {
    failed(error);
  } finally {
    tickerTimer = null;
    if (waiting.size) tickerTimer = setTimeout(askTicker, TICKER_WAIT_MS);
  }
}
async function loadTicker() {
  const answer = await C.getJson(`/api/v1/screen/ticker?lang=${encodeURIComponent(C.lang)}`);
  tell(answer.items.slice(0, TICKER_LINES));
}

// ---- the live stream -----------------------------------------------------------------------------------------
function onChanges(batch) {
  const announced = [];
  for (const item of batch.cases) {
    const id = applyCase(item);
    if (id) announced.push(id);
  }
  for (const item of batch.forces) applyForce(item);
  if ((batch.incidents || []).length) loadIncidents().catch(failed);
  if (announced.length) announce(announced);
  showLive("on");
  requestAnimationFrame(() => {  // drawn: the canvases repaint in this frame
    for (const item of batch.cases) logged("c", item.id, item.version);
    for (const item of batch.forces) logged("f", item.id, item.fixed_at ? Date.parse(item.fixed_at) : 0);
  });
}
let reloading = null;
function reload() {  // the stream could not replay the gap: read the picture again
  if (!reloading) reloading = Promise.all([loadMap(), loadFigures()]).finally(() => { reloading = null; });
  return reloading;
}

/** The figures again every FIGURES_EVERY_MS; a failed refresh keeps the last figures and says so. */
function every(ms, work) {
  setInterval(() => { work().catch(failed); }, ms);
}
/** A question the wall could not get answered: it keeps what it shows, says it is not live, and asks again later. */
function failed(error) {
  showLive("off");
  console.warn("wall display:", error);
}

/** The stream's status: live while events arrive or the connection is open; it reconnects by itself. */
function watchStream() {
  C.liveStream({onReady: () => showLive("on"), onChanges, onReset: () => { reload(); }});
  setInterval(() => { if (document.getElementById("cityops-status").textContent) showLive("off"); }, 2000);
}

/** The first picture; until the platform answers, the wall asks again every few seconds. */
async function firstPicture() {
  for (;;) {
    try {
      await Promise.all([loadFigures(), loadMap(), loadTicker(), loadSensorAlarms()]);
      return;
    } catch (error) {
      failed(error);
      await new Promise((resolve) => { setTimeout(resolve, 5000); });
    }
  }
}

async function start() {
  tick();
  setInterval(tick, 1000);
  setInterval(restyleOverdue, 60000);
  every(SENSORS_EVERY_MS, loadSensorAlarms);
  watchStream();
  await Promise.all([firstPicture(), outlinesIn]);
  requestAnimationFrame(() => {
    performance.mark("cityops-screen-ready");
    window.cityopsScreenReady = true;
  });
  every(FIGURES_EVERY_MS, loadFigures);
}

/** What a test or the benchmark reads of the wall's state: sizes, and whether a case is on the map. */
window.cityopsScreenStats = () => ({cases: cases.size, forces: forces.size, ticker: ticker.children.length,
                                    rows: rows.size, bubbles: bubbles.size});
window.cityopsScreenShows = (id) => cases.has(String(id));

start().catch(failed);
