// painterly serve: the page. Plain JS, no build step, no network resources beyond this server.
// The form is generated from GET /api/params, which describes painterly's StyleParams dataclass,
// so a parameter added there shows up here without a change to this file.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  schema: null,
  controls: new Map(), // field name -> {field, get(), set(value), row}
  content: null, // File
  styles: [], // {file, url, weight}
  job: null, // {id, urls, ...}
  source: null, // EventSource
  history: [], // loss per step
  levels: 1, // pyramid levels; each has the same number of steps
  shownPreview: 0,
  total: 0,
  stopping: false,
};

// ---------------------------------------------------------------------------------------------
// Form built from the parameter description

function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 0.01 || a >= 1e4) ? v.toExponential(1) : String(+v.toPrecision(3));
}

function makeControl(f) {
  const row = document.createElement("div");
  row.className = "field";
  row.dataset.name = f.name;
  const label = document.createElement("label");
  label.htmlFor = "f-" + f.name;
  label.textContent = f.label;
  label.title = f.help;
  const help = document.createElement("small");
  help.className = "help";
  help.textContent = f.help;
  const out = document.createElement("output");
  let input, get, set;

  if (f.widget === "select") {
    input = document.createElement("select");
    for (const c of f.choices) {
      const o = document.createElement("option");
      o.value = String(c);
      o.textContent = String(c);
      if (f.name === "model") {
        const b = state.schema.backbones.find((x) => x.name === c);
        if (b && !b.weights_available) o.textContent += " (downloads ~550 MB on first use)";
        if (b) o.title = b.description;
      }
      input.append(o);
    }
    get = () => (f.type === "int" ? parseInt(input.value, 10) : f.type === "float" ? parseFloat(input.value) : input.value);
    set = (v) => { input.value = String(v); };
  } else if (f.widget === "checkbox") {
    input = document.createElement("input");
    input.type = "checkbox";
    get = () => input.checked;
    set = (v) => { input.checked = !!v; };
  } else if (f.widget === "slider" || f.widget === "log-slider") {
    input = document.createElement("input");
    input.type = "range";
    if (f.widget === "log-slider") {
      const lo = Math.log10(f.slider_min), hi = Math.log10(f.slider_max);
      input.min = "0"; input.max = "1000"; input.step = "1";
      get = () => +Math.pow(10, lo + (hi - lo) * (+input.value / 1000)).toPrecision(3);
      set = (v) => { input.value = String(Math.round(1000 * (Math.log10(Math.max(v, f.slider_min)) - lo) / (hi - lo))); };
    } else {
      input.min = String(f.minimum);
      input.max = String(f.maximum);
      input.step = String(f.step || (f.type === "int" ? 1 : (f.maximum - f.minimum) / 100));
      get = () => (f.type === "int" ? parseInt(input.value, 10) : parseFloat(input.value));
      set = (v) => { input.value = String(v); };
    }
    row.classList.add("has-output");
  } else {
    input = document.createElement("input");
    const numeric = f.type === "int" || f.type === "float";
    input.type = numeric ? "number" : "text";
    if (numeric) {
      input.step = f.type === "int" ? "1" : "any";
      if (f.minimum !== undefined) input.min = String(f.minimum);
      if (f.maximum !== undefined) input.max = String(f.maximum);
    }
    if (f.nullable) input.placeholder = "default";
    get = () => {
      const s = input.value.trim();
      if (s === "") return f.nullable ? null : f.default;
      if (f.widget === "list") return s.split(/[\s,]+/).filter(Boolean).map(Number);
      return numeric ? Number(s) : s;
    };
    set = (v) => { input.value = v === null || v === undefined ? "" : Array.isArray(v) ? v.join(", ") : String(v); };
  }
  input.id = "f-" + f.name;
  input.name = f.name;
  const show = () => { out.textContent = fmt(get()); row.classList.remove("invalid"); };
  input.addEventListener("input", show);
  input.addEventListener("change", show);
  const setAndShow = (v) => { set(v); show(); };
  setAndShow(f.default);

  if (f.widget === "checkbox") {
    label.prepend(input);
    row.append(label, help);
  } else {
    const head = document.createElement("div");
    head.className = "field-head";
    head.append(label, out);
    row.append(head, input, help);
  }
  return { field: f, get, set: setAndShow, row };
}

function buildForm(schema) {
  for (const f of schema.fields) {
    if (f.group === "hidden" || f.group === "styles") continue;
    const c = makeControl(f);
    state.controls.set(f.name, c);
    (f.group === "main" ? $("main-fields") : $("advanced-fields")).append(c.row);
  }
  // Tiny-job presets for trying things out quickly: ?size=64&iterations=5 prefills the form.
  const query = new URLSearchParams(location.search);
  for (const [name, value] of query) {
    const c = state.controls.get(name);
    if (c) c.set(c.field.type === "int" || c.field.type === "float" ? Number(value) : value);
  }
}

function collectParams() {
  const params = {};
  for (const [name, c] of state.controls) {
    const v = c.get();
    if (JSON.stringify(v) !== JSON.stringify(c.field.default)) params[name] = v;
  }
  if (state.styles.length > 1 || state.styles.some((s) => s.weight !== 1)) {
    params.style_weights = state.styles.map((s) => s.weight);
  }
  return params;
}

// ---------------------------------------------------------------------------------------------
// Images: pick or drop

function setupDrop(zone, input, onFiles) {
  input.addEventListener("change", () => { onFiles([...input.files]); input.value = ""; });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  for (const t of ["dragenter", "dragover"]) zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) zone.addEventListener(t, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); onFiles([...e.dataTransfer.files]); });
}

function setContent(files) {
  if (!files.length) return;
  state.content = files[0];
  const img = $("content-thumb");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(files[0]);
  img.hidden = false;
  $("content-drop").classList.add("filled");
  if (!state.job || !$("preview").src) showInStage(img.src);
  hideMessage();
}

function addStyles(files) {
  const max = state.schema ? state.schema.limits.max_styles : 4;
  for (const file of files) {
    if (state.styles.length >= max) { showMessage(`At most ${max} style images.`); break; }
    state.styles.push({ file, url: URL.createObjectURL(file), weight: 1 });
  }
  renderStyles();
}

function renderStyles() {
  const list = $("style-list");
  list.replaceChildren();
  state.styles.forEach((s, i) => {
    const card = document.createElement("div");
    card.className = "style-card";
    const img = document.createElement("img");
    img.src = s.url;
    img.alt = `style ${i + 1}`;
    const body = document.createElement("div");
    body.className = "style-body";
    const name = document.createElement("span");
    name.className = "style-name";
    name.textContent = s.file.name || `style ${i + 1}`;
    const range = document.createElement("input");
    range.type = "range"; range.min = "0"; range.max = "2"; range.step = "0.05";
    range.value = String(s.weight);
    range.title = "blend weight";
    range.setAttribute("aria-label", `blend weight of style ${i + 1}`);
    const out = document.createElement("output");
    out.textContent = `weight ${fmt(s.weight)}`;
    range.addEventListener("input", () => { s.weight = parseFloat(range.value); out.textContent = `weight ${fmt(s.weight)}`; });
    const remove = document.createElement("button");
    remove.type = "button"; remove.className = "remove"; remove.textContent = "\u00d7";
    remove.title = "remove this style";
    remove.addEventListener("click", () => { URL.revokeObjectURL(s.url); state.styles.splice(i, 1); renderStyles(); });
    body.append(name, range, out);
    card.append(img, body, remove);
    list.append(card);
  });
  list.classList.toggle("single", state.styles.length <= 1);
}

// ---------------------------------------------------------------------------------------------
// Jobs

async function start(e) {
  e.preventDefault();
  hideMessage();
  document.querySelectorAll(".field.invalid").forEach((r) => r.classList.remove("invalid"));
  if (!state.content) return showMessage("Choose a photo first.", "content");
  if (!state.styles.length) return showMessage("Add at least one style image.", "style");
  const body = new FormData();
  body.append("content", state.content, state.content.name || "content");
  for (const s of state.styles) body.append("style", s.file, s.file.name || "style");
  body.append("params", JSON.stringify(collectParams()));
  setRunning(true);
  let res, data;
  try {
    res = await fetch("/api/jobs", { method: "POST", body });
    data = await res.json().catch(() => ({}));
  } catch (err) {
    setRunning(false);
    return showMessage("Could not reach the server: " + err.message);
  }
  if (res.status !== 202) {
    setRunning(false);
    const why = { 413: "Too large", 415: "Not an image", 422: "Check the settings", 429: "Busy" }[res.status] || `Error ${res.status}`;
    return showMessage(`${why}: ${data.detail || res.statusText}`, data.field);
  }
  state.job = data;
  state.history = [];
  state.levels = 1;
  state.shownPreview = 0;
  state.total = 0;
  state.stopping = false;
  $("dl-png").hidden = $("dl-jpeg").hidden = true;
  updateProgress(data);
  listen(data);
}

function listen(job) {
  if (state.source) state.source.close();
  const es = new EventSource(job.urls.events);
  state.source = es;
  es.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    state.history = (s.history || []).filter((v) => v !== null);
    state.total = s.total;
    onProgress(s);
    onState(s);
  });
  es.addEventListener("progress", (e) => onProgress(JSON.parse(e.data), true));
  es.addEventListener("state", (e) => onState(JSON.parse(e.data)));
  es.onerror = () => {
    // EventSource reconnects by itself (sending Last-Event-ID); say so while it does.
    if (es.readyState === EventSource.CONNECTING) $("progress-text").textContent = "connection lost, reconnecting\u2026";
  };
}

function onProgress(p, incremental) {
  if (incremental && p.step !== undefined && p.step > state.history.length && p.loss !== null && p.loss !== undefined) {
    state.history.push(p.loss);
  }
  if (p.total) state.total = p.total;
  if (p.levels) state.levels = p.levels;
  if (p.preview && p.preview > state.shownPreview) loadPreview(p.preview);
  updateProgress(p);
  drawPlot();
}

function onState(s) {
  const job = state.job;
  if (!job) return;
  job.state = s.state;
  refreshServerState();
  if (s.state === "queued") {
    $("progress-text").textContent = s.position ? `waiting in the queue (position ${s.position})` : "waiting in the queue";
  } else if (s.state === "running" && !state.history.length) {
    $("progress-text").textContent = "loading the network\u2026";
  }
  if (!["done", "cancelled", "failed"].includes(s.state)) return;
  if (state.source) { state.source.close(); state.source = null; }
  setRunning(false);
  const note = s.state === "done" ? "done" : s.state === "cancelled" ? "stopped" : "failed";
  $("progress-text").textContent = s.message ? `${note}: ${s.message}` : note;
  $("canvas").dataset.state = s.state;
  if (s.state === "failed") showMessage(s.message || "The job failed.");
  if (s.has_result) finish(job);
}

async function finish(job) {
  // Keep the PNG in this tab: the strip below works even after the server drops old results.
  const res = await fetch(job.urls.png);
  if (!res.ok) return;
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const name = `painterly-${job.id.slice(0, 8)}`;
  showInStage(url);
  const png = $("dl-png"), jpeg = $("dl-jpeg");
  png.href = url; png.download = name + ".png"; png.hidden = false;
  jpeg.href = job.urls.jpeg; jpeg.download = name + ".jpg"; jpeg.hidden = false;
  addToGallery(url, name, job.state);
}

function loadPreview(version) {
  state.shownPreview = version;
  const job = state.job;
  const img = new Image();
  img.onload = () => {
    if (state.job !== job || version < state.shownPreview) return;
    showInStage(img.src);
    $("preview").dataset.version = String(version);
  };
  img.src = `${job.urls.preview}?v=${version}`;
}

function showInStage(src) {
  const img = $("preview");
  img.src = src;
  img.hidden = false;
  $("placeholder").hidden = true;
  $("canvas").classList.remove("empty");
}

async function stop() {
  if (!state.job || state.stopping) return;
  state.stopping = true;
  $("stop").disabled = true;
  $("stop").textContent = "Stopping\u2026";
  await fetch(state.job.urls.cancel, { method: "POST" }).catch(() => {});
}

function setRunning(running) {
  $("start").hidden = running;
  $("stop").hidden = !running;
  $("stop").disabled = false;
  $("stop").textContent = "Stop";
  $("controls").classList.toggle("running", running);
  if (running) $("canvas").dataset.state = "running";
}

function clock(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m}:${String(s).padStart(2, "0")}`;
}

function updateProgress(p) {
  const total = p.total || state.total;
  const step = p.step || 0;
  $("bar").style.width = total ? `${(100 * step) / total}%` : "0%";
  if (!total || !step) return;
  const parts = [`step ${step} / ${total}`];
  if (p.levels > 1) parts.push(`level ${p.level + 1} / ${p.levels}${p.size ? ` (${p.size[1]}\u00d7${p.size[0]})` : ""}`);
  if (p.elapsed !== undefined) parts.push(clock(p.elapsed) + " elapsed");
  if (p.eta !== null && p.eta !== undefined && step < total) parts.push(`about ${clock(p.eta)} left`);
  if (state.stopping) parts.push("stopping at the next step");
  $("progress-text").textContent = parts.join(" \u00b7 ");
}

// ---------------------------------------------------------------------------------------------
// Loss plot (log scale), drawn on a canvas

function drawPlot() {
  const canvas = $("plot");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const ys = state.history.filter((v) => v > 0);
  const pad = { l: 44, r: 8, t: 8, b: 18 };
  ctx.strokeStyle = "#d9d3c7";
  ctx.strokeRect(pad.l + 0.5, pad.t + 0.5, w - pad.l - pad.r, h - pad.t - pad.b);
  if (ys.length < 2) return;
  const lo = Math.log10(Math.min(...ys)), hi = Math.log10(Math.max(...ys));
  const span = Math.max(hi - lo, 1e-6);
  const total = Math.max(state.total, state.history.length);
  const x = (i) => pad.l + ((w - pad.l - pad.r) * i) / Math.max(total - 1, 1);
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - (Math.log10(v) - lo) / span);
  ctx.setLineDash([3, 3]);
  ctx.strokeStyle = "#b9b1a2";
  for (let k = 1; k < state.levels; k++) {
    const s = (k * total) / state.levels - 0.5;
    ctx.beginPath(); ctx.moveTo(x(s), pad.t); ctx.lineTo(x(s), h - pad.b); ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.strokeStyle = "#2f5dab";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  state.history.forEach((v, i) => { if (v > 0) (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))); });
  ctx.stroke();
  ctx.fillStyle = "#6b645a";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.fillText(fmt(Math.pow(10, hi)), pad.l - 4, pad.t + 9);
  ctx.fillText(fmt(Math.pow(10, lo)), pad.l - 4, h - pad.b);
  ctx.textAlign = "left";
  ctx.fillText(`step ${state.history.length}`, pad.l + 4, h - 4);
  $("plot-caption").textContent = `Loss per step (log scale): ${fmt(state.history[state.history.length - 1])}`;
}

// ---------------------------------------------------------------------------------------------
// Results made in this tab

function addToGallery(url, name, how) {
  const gallery = $("gallery");
  gallery.querySelector(".muted")?.remove();
  const a = document.createElement("a");
  a.className = "thumb";
  a.href = url;
  a.download = name + ".png";
  a.title = `${name} (${how === "done" ? "finished" : "stopped early"}); click to view, the arrow downloads`;
  const img = document.createElement("img");
  img.src = url;
  img.alt = name;
  const save = document.createElement("span");
  save.className = "save";
  save.textContent = "\u2193";
  a.append(img, save);
  a.addEventListener("click", (e) => {
    if (e.target === save) return; // let the link download
    e.preventDefault();
    showInStage(url);
  });
  gallery.prepend(a);
}

// ---------------------------------------------------------------------------------------------
// Messages and start-up

function showMessage(text, field) {
  const m = $("message");
  m.textContent = text;
  m.hidden = false;
  if (field) {
    const row = document.querySelector(`.field[data-name="${CSS.escape(field)}"]`);
    if (row) {
      row.classList.add("invalid");
      if (row.closest("details")) row.closest("details").open = true;
      row.scrollIntoView({ block: "nearest" });
    } else if (field === "content" || field === "style") {
      $(field + "-drop").classList.add("invalid");
    }
  }
}

function hideMessage() {
  $("message").hidden = true;
  document.querySelectorAll(".drop.invalid").forEach((d) => d.classList.remove("invalid"));
}

async function refreshServerState() {
  try {
    const h = await (await fetch("/api/health")).json();
    const busy = h.busy_workers ? `${h.busy_workers}/${h.workers} busy` : `${h.workers} idle`;
    $("server-state").textContent = `${h.devices.join(", ")} \u00b7 ${busy}${h.queued ? ` \u00b7 ${h.queued} waiting` : ""}`;
  } catch {
    $("server-state").textContent = "server not reachable";
  }
}

async function init() {
  const res = await fetch("/api/params");
  state.schema = await res.json();
  buildForm(state.schema);
  setupDrop($("content-drop"), $("content-input"), setContent);
  setupDrop($("style-drop"), $("style-input"), addStyles);
  $("controls").addEventListener("submit", start);
  $("stop").addEventListener("click", stop);
  $("reset").addEventListener("click", () => { for (const c of state.controls.values()) c.set(c.field.default); });
  window.addEventListener("resize", drawPlot);
  // A job belongs to its tab: closing the tab stops it (the server also reaps unwatched jobs).
  window.addEventListener("pagehide", () => {
    if (state.job && !["done", "cancelled", "failed"].includes(state.job.state)) navigator.sendBeacon(state.job.urls.cancel);
  });
  drawPlot();
  refreshServerState();
  setInterval(refreshServerState, 5000);
  await styleFromLibrary();
  document.body.dataset.ready = "true";
}

// "Use as style" on the Library page links here with ?library=N&style=KEY: fetch that picture
// from the server's library and add it as a style, as if it had been dropped.
async function styleFromLibrary() {
  fetch("/api/library").then((r) => (r.ok ? r.json() : [])).then((libs) => {
    if (!libs.length) return;
    $("library-link").href = "/library";  // set here: the page's own links are all to /static
    $("library-link").hidden = false;
  }).catch(() => {});
  const q = new URLSearchParams(location.search);
  if (!q.has("library") || !q.has("style")) return;
  const key = q.get("style");
  const r = await fetch(`/api/library/${encodeURIComponent(q.get("library"))}/file?key=${encodeURIComponent(key)}`);
  if (!r.ok) return showMessage(`Could not load ${key} from the library.`);
  const blob = await r.blob();
  addStyles([new File([blob], key.split("/").pop(), { type: blob.type })]);
}

init().catch((err) => showMessage("Could not load the settings from the server: " + err.message));
