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
// Images: pick, drop, paste, or one click on a shipped painting. Each file is checked from its
// header first (filecheck.js): a text file or a giant PNG never reaches an <img>.

function limits() {
  return state.schema ? state.schema.limits : {};
}

async function acceptFiles(files) {
  const ok = [];
  for (const file of files) {
    const check = await checkImageFile(file, limits().max_pixels, limits().max_upload_bytes);
    if (!check.ok) { showMessage(check.why + "."); continue; }
    ok.push({ file, check });
  }
  return ok;
}

function setupDrop(zone, input, onFiles) {
  input.addEventListener("change", () => { onFiles([...input.files]); input.value = ""; });
  zone.addEventListener("click", (e) => { if (e.target !== input) input.click(); });
  zone.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  for (const t of ["dragenter", "dragover"]) zone.addEventListener(t, (e) => { e.preventDefault(); zone.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) zone.addEventListener(t, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); e.stopPropagation(); onFiles([...e.dataTransfer.files]); });
}

async function setContent(files) {
  if (!files.length) return;
  hideMessage();
  const [picked] = await acceptFiles(files.slice(0, 1));
  if (!picked) return $("content-drop").classList.add("invalid");
  const { file, check } = picked;
  state.content = file;
  const img = $("content-thumb");
  if (state.contentUrl) URL.revokeObjectURL(state.contentUrl);
  state.contentUrl = URL.createObjectURL(file);
  $("content-drop").classList.add("filled");
  $("content-info").hidden = false;
  $("content-info").textContent = `${file.name || "pasted image"} \u00b7 ${check.format}` +
    (check.width ? ` \u00b7 ${check.width}\u00d7${check.height} px` : "") + (check.shows ? "" : " \u00b7 no preview in the browser");
  state.contentSize = check.width ? [check.width, check.height] : null;
  if (check.shows) {
    img.src = state.contentUrl;
    img.hidden = false;
    $("before").src = state.contentUrl;
    if (!state.job || state.job.state === undefined || isFinished(state.job)) showInStage(state.contentUrl, state.contentSize, "photo");
  } else {
    img.hidden = true;
  }
  if (state.contentSize) maskSetPhoto(state.contentUrl, ...state.contentSize);
  updateMaskPanel();
}

async function addStyles(files, extra = {}) {
  const max = limits().max_styles || 4;
  hideMessage();
  for (const { file, check } of await acceptFiles(files)) {
    if (state.styles.length >= max) { showMessage(`At most ${max} style images.`); break; }
    state.styles.push({ file, url: URL.createObjectURL(file), weight: 1, shows: check.shows, ...extra });
  }
  renderStyles();
}

function renderStyles(removed) {
  const list = $("style-list");
  list.replaceChildren();
  state.styles.forEach((s, i) => {
    const card = document.createElement("div");
    card.className = "style-card";
    const img = document.createElement("img");
    if (s.shows) img.src = s.url;
    img.alt = `style ${i + 1}`;
    const body = document.createElement("div");
    body.className = "style-body";
    const name = document.createElement("span");
    name.className = "style-name";
    name.textContent = s.title || s.file.name || "style";
    const index = document.createElement("span");
    index.className = "style-index";
    index.textContent = String(i + 1);  // the number the mask painter calls this style by
    index.style.background = MASK_COLOURS[i];
    const range = document.createElement("input");
    range.type = "range"; range.min = "0"; range.max = "2"; range.step = "0.05";
    range.value = String(s.weight);
    range.setAttribute("aria-label", `blend weight of style ${i + 1}`);
    const out = document.createElement("output");
    out.textContent = `weight ${fmt(s.weight)}`;
    range.addEventListener("input", () => { s.weight = parseFloat(range.value); out.textContent = `weight ${fmt(s.weight)}`; });
    const remove = document.createElement("button");
    remove.type = "button"; remove.className = "remove"; remove.textContent = "\u00d7";
    remove.setAttribute("aria-label", `remove style ${i + 1}`);
    remove.addEventListener("click", () => {
      URL.revokeObjectURL(s.url);
      state.styles.splice(i, 1);
      renderStyles(i);
    });
    body.append(name, range, out);
    card.append(index, img, body, remove);
    list.append(card);
  });
  list.classList.toggle("single", state.styles.length <= 1);
  maskSyncStyles(state.styles.length, removed);
  updateMaskPanel();
}

function updateMaskPanel() {
  $("mask-panel").hidden = !(state.contentSize && state.styles.length);
}

async function showPaintings() {
  const list = await fetch("/api/paintings").then((r) => (r.ok ? r.json() : [])).catch(() => []);
  const box = $("paintings");
  box.replaceChildren();
  if (!list.length) return;
  const title = document.createElement("span");
  title.className = "muted small-text";
  title.textContent = "or one click:";
  box.append(title);
  for (const p of list) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "painting";
    b.title = `${p.title}, ${p.artist} (${p.year})${p.fast ? "; instant first look" : ""}`;
    b.setAttribute("aria-label", `use ${p.title} by ${p.artist} as a style`);
    const img = document.createElement("img");
    img.src = p.url; img.alt = "";
    b.append(img);
    b.addEventListener("click", async () => {
      const blob = await (await fetch(p.url)).blob();
      await addStyles([new File([blob], p.file, { type: blob.type })], { title: p.title, fast: p.fast });
    });
    box.append(b);
  }
}

function onPaste(e) {
  const files = [...(e.clipboardData ? e.clipboardData.files : [])].filter((f) => f.type.startsWith("image/"));
  if (!files.length) return;
  e.preventDefault();
  // Into the box that has the focus; otherwise the photo first, then styles.
  const target = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".drop") : null;
  if (target === $("style-drop") || (!target && state.content)) addStyles(files);
  else setContent(files);
}

// ---------------------------------------------------------------------------------------------
// Jobs. A job belongs to this browser, not to the tab: its id is in the URL (?job=...) and in
// localStorage, so a reload or a reopened tab finds it again (the server keeps finished results
// for results_ttl seconds and cancels a running job nobody watches for idle_timeout seconds).

const STORE = "painterly.jobs";
const FINISHED = ["done", "cancelled", "failed"];

function isFinished(job) {
  return FINISHED.includes(job.state);
}

function storedJobs() {
  try { return JSON.parse(localStorage.getItem(STORE) || "[]").filter((id) => /^[0-9a-f]{32}$/.test(id)); } catch { return []; }
}

function storeJob(id, keep = true) {
  const ids = storedJobs().filter((x) => x !== id);
  if (keep) ids.unshift(id);
  try { localStorage.setItem(STORE, JSON.stringify(ids.slice(0, 50))); } catch { /* private mode: the URL still works */ }
}

function setJobInUrl(id) {
  const url = new URL(location.href);
  if (id) url.searchParams.set("job", id); else url.searchParams.delete("job");
  history.replaceState(null, "", url);
}

function labelOf(name) {
  const c = state.controls.get(name);
  if (c) return c.field.label;
  return { content: "Photo", style: "Style", mask: "Mask", style_weights: "Blend weights", params: "Settings", fast: "First look" }[name] || name;
}

// A server message starts with the API field ("iterations: ..."): say it with the form's label.
function inFormWords(detail) {
  return String(detail || "").replace(/^([a-z_]+)(?=:)/, (m) => labelOf(m))
    .replace(/^(content|style|mask) image( \d+)?/, (m, what, n) => `${labelOf(what)}${n || ""}`);
}

function resetStatus() {
  $("bar").style.width = "0%";
  document.querySelector(".progress").setAttribute("aria-valuenow", "0");
  $("progress-text").textContent = "";
  state.history = [];
  state.total = 0;
  drawPlot();
}

async function start(e) {
  e.preventDefault();
  hideMessage();
  document.querySelectorAll(".field.invalid").forEach((r) => r.classList.remove("invalid"));
  if (!state.content) return showMessage("Choose a photo first.", "content");
  if (!state.styles.length) return showMessage("Add at least one style image.", "style");
  const body = new FormData();
  body.append("content", state.content, state.content.name || "content.png");
  for (const s of state.styles) body.append("style", s.file, s.file.name || "style.png");
  body.append("params", JSON.stringify(collectParams()));
  const maskFiles = await maskBlobs();
  if (maskFiles) maskFiles.forEach((m, i) => body.append("mask", m, `mask${i + 1}.png`));
  // One shipped painting with a fast style: its picture is the first look while the real run works.
  if (state.styles.length === 1 && state.styles[0].fast && !maskFiles) body.append("fast", state.styles[0].fast);
  setRunning(true);
  resetStatus();
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
    $("canvas").dataset.state = "";
    const why = { 413: "Too large", 415: "Not an image", 422: "Check the settings", 429: "Busy" }[res.status] || `Error ${res.status}`;
    return showMessage(`${why}: ${inFormWords(data.detail || res.statusText)}`, data.field);
  }
  storeJob(data.id);
  setJobInUrl(data.id);
  attach({ ...data, fromThisPage: true });
  // On a phone the picture is below the settings: go there, where the painting happens.
  if (window.matchMedia("(max-width: 820px)").matches) $("stage").scrollIntoView({ behavior: "smooth", block: "start" });
}

function attach(job) {
  state.job = job;
  state.history = [];
  state.levels = 1;
  state.level = 0;
  state.levelStarts = [];
  state.shownPreview = 0;
  state.total = 0;
  state.stopping = false;
  state.result = null;
  $("dl-png").hidden = $("dl-jpeg").hidden = true;
  showCompare(false);
  setRunning(!isFinished(job));
  finalSize(job);
  updateProgress(job);
  // A finished job needs no stream; a running one gets its snapshot (and state) from the stream.
  if (isFinished(job)) { onState(job); loadHistory(job); } else { onState(job); listen(job); }
}

async function loadHistory(job) {
  const s = await fetch(`${job.urls.status}?history=1`).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (!s || state.job !== job) return;
  state.history = (s.history || []).filter((v) => v !== null);
  state.total = s.total;
  state.levels = s.levels || 1;
  updateProgress(s);
  $("progress-text").textContent = `${s.state === "done" ? "done" : "stopped"}: ${inFormWords(s.message)}`;
  drawPlot();
}

// The picture's size when done: the photo scaled to the size setting (never enlarged on screen).
function finalSize(job) {
  if (job.result_size) return (state.finalSize = job.result_size);
  const src = job.size ? [job.size[1], job.size[0]] : state.contentSize;
  const long = job.params ? job.params.size : null;
  if (!src || !long) return (state.finalSize = null);
  const s = long / Math.max(...src);
  state.finalSize = [Math.round(src[0] * s), Math.round(src[1] * s)];
  return state.finalSize;
}

function listen(job) {
  if (state.source) state.source.close();
  const es = new EventSource(job.urls.events);
  state.source = es;
  es.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    state.history = (s.history || []).filter((v) => v !== null);
    state.total = s.total;
    state.level = s.level || 0;  // level starts before a reload are not known: no line for them
    Object.assign(state.job, { params: s.params, result_size: s.result_size, expires: s.expires });
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
  // Where each pyramid level starts, as seen (levels need not have the same number of steps).
  if (incremental && p.level !== undefined && p.level !== state.level) {
    if (p.level > 0 && p.step) state.levelStarts.push(p.step - 1);
    state.level = p.level;
  }
  if (p.preview && p.preview > state.shownPreview) loadPreview(p.preview);
  updateProgress(p);
  drawPlot();
}

function onState(s) {
  const job = state.job;
  if (!job || s.state === undefined) return;
  job.state = s.state;
  refreshServerState();
  $("canvas").dataset.state = s.state;
  const badge = $("badge");
  badge.hidden = s.state !== "queued";
  if (s.state === "queued") {
    const where = s.position ? ` (position ${s.position})` : "";
    $("progress-text").textContent = `waiting in the queue${where}`;
    badge.textContent = `Waiting in the queue${where}: this is the photo (or a first look), not the result yet.`;
  } else if (s.state === "running" && !state.history.length && !job.step) {
    $("progress-text").textContent = "loading the network\u2026";
  }
  if (!isFinished(s)) return;
  if (state.source) { state.source.close(); state.source = null; }
  setRunning(false);
  const note = s.state === "done" ? "done" : s.state === "cancelled" ? "stopped" : "failed";
  $("progress-text").textContent = s.message ? `${note}: ${inFormWords(s.message)}` : note;
  if (s.state === "failed") showMessage(inFormWords(s.message) || "The job failed.");
  if (s.has_result) finish(job);
}

async function finish(job) {
  const status = await fetch(job.urls.status).then((r) => (r.ok ? r.json() : null)).catch(() => null);
  if (status) Object.assign(job, { result_size: status.result_size, expires: status.expires });
  const res = await fetch(job.urls.png);
  if (!res.ok || state.job !== job) return;
  const url = URL.createObjectURL(await res.blob());
  const name = `painterly-${job.id.slice(0, 8)}`;
  state.result = url;
  state.finalSize = job.result_size;
  showInStage(url, job.result_size, "result");
  const png = $("dl-png"), jpeg = $("dl-jpeg");
  png.href = url; png.download = name + ".png"; png.hidden = false;
  jpeg.href = job.urls.jpeg; jpeg.download = name + ".jpg"; jpeg.hidden = false;
  showCompare(!!state.contentUrl && !!job.fromThisPage);
  state.expires.set(job.id, job.expires);
  addToGallery(job, url, url);
}

function loadPreview(version) {
  state.shownPreview = version;
  const job = state.job;
  const img = new Image();
  img.onload = () => {
    if (state.job !== job || version < state.shownPreview || state.result) return;
    showInStage(img.src, state.finalSize || [img.naturalWidth, img.naturalHeight], "preview");
    $("preview").dataset.version = String(version);
  };
  img.src = `${job.urls.preview}?v=${version}`;
}

// ---------------------------------------------------------------------------------------------
// The stage: the picture at its own size (never blown up), 1:1 zoom, before/after comparison.

function showInStage(src, size, what) {
  const img = $("preview");
  img.src = src;
  img.hidden = false;
  img.dataset.what = what;
  $("placeholder").hidden = true;
  $("canvas").classList.remove("empty");
  state.shown = size || null;
  $("picture-info").textContent = size
    ? `${what === "photo" ? "photo" : what === "result" ? "result" : "painting, will be"} ${size[0]}\u00d7${size[1]} px`
    : "";
  $("zoom").hidden = !size;
  layoutFrame();
}

function layoutFrame() {
  const frame = $("frame"), canvas = $("canvas");
  const size = state.shown;
  if (!size) { frame.style.width = frame.style.height = ""; return; }
  const zoomed = $("zoom").getAttribute("aria-pressed") === "true";
  canvas.classList.toggle("zoomed", zoomed);
  const ratio = window.devicePixelRatio || 1;
  const boxW = canvas.clientWidth - 20, boxH = canvas.clientHeight - 20;
  // 1:1 is one image pixel per screen pixel; otherwise fit the box but never enlarge past 1:1 CSS px.
  const scale = zoomed ? 1 / ratio : Math.min(1, boxW / size[0], boxH / size[1]);
  frame.style.width = `${Math.max(1, Math.round(size[0] * scale))}px`;
  frame.style.height = `${Math.max(1, Math.round(size[1] * scale))}px`;
}

function showCompare(on) {
  $("compare").hidden = $("compare-label").hidden = !on;
  $("before").hidden = !on;
  if (on) applyCompare();
}

function applyCompare() {
  // The photo covers the left part of the result, up to the slider.
  $("before").style.clipPath = `inset(0 ${100 - +$("compare").value}% 0 0)`;
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
}

function clock(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return m >= 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m}:${String(s).padStart(2, "0")}`;
}

function updateProgress(p) {
  const total = p.total || state.total;
  const step = p.step || 0;
  // The bar follows the work done (a step of the last, largest level is worth more than one of the first).
  const fraction = p.progress !== undefined && p.progress !== null ? p.progress : total ? step / total : 0;
  $("bar").style.width = `${(100 * fraction).toFixed(1)}%`;
  document.querySelector(".progress").setAttribute("aria-valuenow", String(Math.round(100 * fraction)));
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
  // The caption always describes what is drawn now, never an earlier job.
  const last = state.history[state.history.length - 1];
  $("plot-caption").textContent = ys.length >= 2 ? `Loss per step (log scale): ${fmt(last)}`
    : state.history.length >= 2 ? `Loss per step: ${fmt(last)} (nothing to plot on a log scale)`
      : "Loss per step (log scale)";
  if (ys.length < 2) return;
  const lo = Math.log10(Math.min(...ys)), hi = Math.log10(Math.max(...ys));
  const span = Math.max(hi - lo, 1e-6);
  const total = Math.max(state.total, state.history.length);
  const x = (i) => pad.l + ((w - pad.l - pad.r) * i) / Math.max(total - 1, 1);
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - (Math.log10(v) - lo) / span);
  ctx.setLineDash([3, 3]);
  ctx.strokeStyle = "#b9b1a2";
  for (const start of state.levelStarts || []) {
    const s = start - 0.5;
    ctx.beginPath(); ctx.moveTo(x(s), pad.t); ctx.lineTo(x(s), h - pad.b); ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.strokeStyle = "#2f5dab";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  state.history.forEach((v, i) => { if (v > 0) (i ? ctx.lineTo(x(i), y(v)) : ctx.moveTo(x(i), y(v))); });
  ctx.stroke();
  ctx.fillStyle = "#5f594f";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.fillText(fmt(Math.pow(10, hi)), pad.l - 4, pad.t + 9);
  ctx.fillText(fmt(Math.pow(10, lo)), pad.l - 4, h - pad.b);
  ctx.textAlign = "left";
  ctx.fillText(`step ${state.history.length}`, pad.l + 4, h - 4);
}

// ---------------------------------------------------------------------------------------------
// Results of this browser: restored from the server after a reload, until the server deletes them

function addToGallery(job, url, pngUrl) {
  const gallery = $("gallery");
  gallery.querySelector(".muted")?.remove();
  gallery.querySelector(`[data-job="${job.id}"]`)?.remove();
  const name = `painterly-${job.id.slice(0, 8)}`;
  const item = document.createElement("div");
  item.className = "thumb";
  item.dataset.job = job.id;
  const view = document.createElement("button");
  view.type = "button";
  view.className = "thumb-view";
  const how = job.state === "done" ? "finished" : "stopped early";
  view.setAttribute("aria-label", `show ${name} (${how})`);
  const img = document.createElement("img");
  img.src = url;
  img.alt = "";
  view.append(img);
  view.addEventListener("click", () => {
    setJobInUrl(job.id);
    state.job = job;
    state.result = url;
    showInStage(url, job.result_size, "result");
    showCompare(false);
  });
  const save = document.createElement("a");
  save.className = "save";
  save.href = pngUrl;
  save.download = name + ".png";
  save.textContent = "\u2193";
  save.setAttribute("aria-label", `download ${name}.png`);
  item.append(view, save);
  gallery.prepend(item);
  noteExpiry();
}

function noteExpiry() {
  const ttl = limits().results_ttl;
  const times = [...document.querySelectorAll("#gallery .thumb")].map((t) => state.expires.get(t.dataset.job)).filter(Boolean);
  if (!ttl) return;
  const hours = ttl >= 3600 ? `${+(ttl / 3600).toFixed(1)} h` : `${Math.round(ttl / 60)} min`;
  let text = `The server deletes a result ${hours} after it is finished (sooner if its disk cap is reached).`;
  if (times.length) {
    const when = new Date(Math.min(...times) * 1000).toLocaleString([], { weekday: "short", hour: "2-digit", minute: "2-digit" });
    text += ` The next to go: ${when}.`;
  }
  $("gallery-note").textContent = text;
}

async function restoreJobs() {
  // This browser's jobs, newest first: finished ones back into the strip, a running one reattached.
  const wanted = new URLSearchParams(location.search).get("job");
  const ids = storedJobs();
  if (wanted && !ids.includes(wanted)) ids.unshift(wanted);
  const found = await Promise.all(ids.map((id) => fetch(`/api/jobs/${id}`).then((r) => (r.ok ? r.json() : null)).catch(() => null)));
  const alive = found.filter((s) => s && !s.result_removed);
  for (const id of ids) if (!alive.some((s) => s.id === id)) storeJob(id, false);
  for (const s of alive.slice().reverse()) {
    if (s.has_result) {
      state.expires.set(s.id, s.expires);
      addToGallery(s, s.urls.jpeg, s.urls.png);
    }
  }
  const current = alive.find((s) => s.id === wanted) || alive.find((s) => !isFinished(s));
  if (current) {
    attach(current);
    if (!current.has_result) showInStage(`${current.urls.preview}?v=${current.preview}`, finalSize(current), "preview");
  } else if (wanted) {
    setJobInUrl(null);
  }
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
      // Centred, so the sticky Start bar at the bottom of the column never hides it.
      row.scrollIntoView({ block: "center" });
      row.querySelector("input, select")?.focus({ preventScroll: true });
    } else if (["content", "style", "mask"].includes(field)) {
      const box = field === "mask" ? $("mask-panel") : $(field + "-drop");
      box.classList.add("invalid");
      box.scrollIntoView({ block: "center" });
    }
  }
}

function hideMessage() {
  $("message").hidden = true;
  document.querySelectorAll(".drop.invalid, #mask-panel.invalid").forEach((d) => d.classList.remove("invalid"));
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
  state.expires = new Map();
  buildForm(state.schema);
  setupDrop($("content-drop"), $("content-input"), setContent);
  setupDrop($("style-drop"), $("style-input"), addStyles);
  setupMasks();
  maskSyncStyles(0);
  // A file dropped anywhere else must not make the browser open it and leave the page.
  for (const t of ["dragover", "drop"]) window.addEventListener(t, (e) => e.preventDefault());
  document.addEventListener("paste", onPaste);
  $("controls").addEventListener("submit", start);
  $("stop").addEventListener("click", stop);
  $("reset").addEventListener("click", () => { for (const c of state.controls.values()) c.set(c.field.default); });
  $("zoom").addEventListener("click", () => {
    const on = $("zoom").getAttribute("aria-pressed") !== "true";
    $("zoom").setAttribute("aria-pressed", String(on));
    layoutFrame();
  });
  $("compare").addEventListener("input", applyCompare);
  window.addEventListener("resize", () => { drawPlot(); layoutFrame(); });
  drawPlot();
  noteExpiry();
  refreshServerState();
  setInterval(refreshServerState, 5000);
  await Promise.all([styleFromLibrary(), showPaintings(), restoreJobs()]);
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
  await addStyles([new File([blob], key.split("/").pop(), { type: blob.type })]);
}

init().catch((err) => showMessage("Could not load the settings from the server: " + err.message));
