// painterly serve: the mask painter. One layer per style, painted with a soft brush on the photo
// (or loaded from a mask image); sent as the masks `painterly stylize --masks` takes: white where
// that style goes, black where not, grey blends. Where no mask is white the photo stays.
"use strict";

const MASK_LONG_SIDE = 512; // masks are scaled to the photo by the server; this keeps them light
const MASK_COLOURS = ["#c0392b", "#2f5dab", "#0e7c72", "#8a6200"]; // one per style (at most 4)
const masks = { width: 0, height: 0, layers: [], active: 0, undo: [], stroke: null };

function maskSetPhoto(url, width, height) {
  // A new photo: masks of the old one would not fit it.
  const s = Math.min(1, MASK_LONG_SIDE / Math.max(width, height));
  masks.width = Math.max(1, Math.round(width * s));
  masks.height = Math.max(1, Math.round(height * s));
  masks.layers.forEach((l) => { l.canvas.width = masks.width; l.canvas.height = masks.height; l.painted = false; });
  masks.undo = [];
  $("mask-photo").src = url;
  const view = $("mask-view");
  view.width = masks.width; view.height = masks.height;
  maskRender();
}

function maskSyncStyles(count, removed) {
  if (removed !== undefined) masks.layers.splice(removed, 1);
  while (masks.layers.length < count) {
    const canvas = document.createElement("canvas");
    canvas.width = masks.width; canvas.height = masks.height;
    masks.layers.push({ canvas, painted: false });
  }
  masks.layers.length = count;
  masks.undo = masks.undo.filter((u) => u.layer < count);
  masks.active = Math.min(masks.active, Math.max(0, count - 1));
  const pick = $("mask-styles");
  pick.replaceChildren();
  for (let i = 0; i < count; i++) {
    const label = document.createElement("label");
    label.className = "mask-pick";
    const radio = document.createElement("input");
    radio.type = "radio"; radio.name = "mask-style"; radio.value = String(i); radio.checked = i === masks.active;
    radio.addEventListener("change", () => { masks.active = i; });
    const swatch = document.createElement("span");
    swatch.className = "swatch"; swatch.style.background = MASK_COLOURS[i];
    label.append(radio, swatch, document.createTextNode(`style ${i + 1}`));
    pick.append(label);
  }
  maskRender();
}

function maskAnyPainted() {
  return masks.layers.some((l) => l.painted);
}

function maskRender() {
  const view = $("mask-view");
  const ctx = view.getContext("2d");
  ctx.clearRect(0, 0, view.width, view.height);
  const tint = document.createElement("canvas");
  tint.width = view.width; tint.height = view.height;
  const t = tint.getContext("2d");
  masks.layers.forEach((l, i) => {
    if (!l.painted) return;
    t.globalCompositeOperation = "source-over";
    t.clearRect(0, 0, tint.width, tint.height);
    t.fillStyle = MASK_COLOURS[i];
    t.fillRect(0, 0, tint.width, tint.height);
    t.globalCompositeOperation = "destination-in";
    t.drawImage(l.canvas, 0, 0);
    ctx.globalAlpha = 0.55;
    ctx.drawImage(tint, 0, 0);
  });
  ctx.globalAlpha = 1;
  $("mask-undo").disabled = !masks.undo.length;
  $("mask-note").textContent = maskAnyPainted()
    ? "Each style paints only where its colour is; elsewhere the photo stays as it is."
    : "Nothing painted: every style applies to the whole photo.";
}

function maskPushUndo(layer) {
  const l = masks.layers[layer];
  masks.undo.push({ layer, painted: l.painted, data: l.canvas.getContext("2d").getImageData(0, 0, masks.width, masks.height) });
  if (masks.undo.length > 30) masks.undo.shift();
}

function maskUndo() {
  const u = masks.undo.pop();
  if (!u || !masks.layers[u.layer]) return maskRender();
  masks.layers[u.layer].canvas.getContext("2d").putImageData(u.data, 0, 0);
  masks.layers[u.layer].painted = u.painted;
  maskRender();
}

function maskDab(ctx, x, y, radius, softness, erase) {
  ctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
  if (softness > 0.01) {
    // Opaque inside, fading to nothing over the outer `softness` of the radius.
    const g = ctx.createRadialGradient(x, y, radius * (1 - softness), x, y, radius);
    g.addColorStop(0, "rgba(255,255,255,1)");
    g.addColorStop(1, "rgba(255,255,255,0)");
    ctx.fillStyle = g;
  } else {
    ctx.fillStyle = "#fff"; // a hard edge (equal radii would make an empty gradient)
  }
  ctx.beginPath();
  ctx.arc(x, y, radius, 0, 2 * Math.PI);
  ctx.fill();
}

function maskPoint(e) {
  const view = $("mask-view");
  const r = view.getBoundingClientRect();
  return [(e.clientX - r.left) * (masks.width / r.width), (e.clientY - r.top) * (masks.height / r.height)];
}

function maskStrokeTo(p) {
  const layer = masks.layers[masks.active];
  if (!layer) return;
  const ctx = layer.canvas.getContext("2d");
  // The brush size is in photo-relative units: the same slider covers a phone's and a desktop's canvas.
  const radius = (+$("mask-size").value / 200) * Math.max(masks.width, masks.height) / 2;
  const softness = +$("mask-soft").value;
  const erase = $("mask-erase").checked;
  const [x0, y0] = masks.stroke || p;
  const steps = Math.max(1, Math.ceil(Math.hypot(p[0] - x0, p[1] - y0) / Math.max(1, radius / 4)));
  for (let k = 1; k <= steps; k++) maskDab(ctx, x0 + ((p[0] - x0) * k) / steps, y0 + ((p[1] - y0) * k) / steps, radius, softness, erase);
  if (!erase) layer.painted = true;
  masks.stroke = p;
  maskRender();
}

function maskLoadFile(file) {
  // An uploaded mask becomes the active style's layer: its brightness is how much of the style.
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    URL.revokeObjectURL(url);
    const aspect = img.naturalWidth / img.naturalHeight, photo = masks.width / masks.height;
    if (Math.abs(aspect - photo) > 0.02 * photo) {
      return showMessage(`Mask: ${img.naturalWidth}\u00d7${img.naturalHeight} px does not have the photo's shape.`);
    }
    const c = document.createElement("canvas");
    c.width = masks.width; c.height = masks.height;
    const ctx = c.getContext("2d");
    ctx.drawImage(img, 0, 0, c.width, c.height);
    const d = ctx.getImageData(0, 0, c.width, c.height);
    for (let i = 0; i < d.data.length; i += 4) {
      const v = (d.data[i] + d.data[i + 1] + d.data[i + 2]) / 3;
      d.data[i] = d.data[i + 1] = d.data[i + 2] = 255;
      d.data[i + 3] = v;
    }
    maskPushUndo(masks.active);
    masks.layers[masks.active].canvas.getContext("2d").putImageData(d, 0, 0);
    masks.layers[masks.active].painted = true;
    maskRender();
  };
  img.onerror = () => { URL.revokeObjectURL(url); showMessage("Mask: not an image this browser can read."); };
  img.src = url;
}

// The masks to send (PNG blobs, one per style), or null when nothing is painted.
async function maskBlobs() {
  if (!maskAnyPainted()) return null;
  return Promise.all(masks.layers.map((l) => {
    const c = document.createElement("canvas");
    c.width = masks.width; c.height = masks.height;
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(l.canvas, 0, 0);
    return new Promise((resolve) => c.toBlob(resolve, "image/png"));
  }));
}

function setupMasks() {
  const view = $("mask-view");
  view.addEventListener("pointerdown", (e) => {
    if (!masks.layers.length) return;
    e.preventDefault();
    view.setPointerCapture(e.pointerId);
    maskPushUndo(masks.active);
    masks.stroke = null;
    maskStrokeTo(maskPoint(e));
  });
  view.addEventListener("pointermove", (e) => { if (masks.stroke) maskStrokeTo(maskPoint(e)); });
  for (const t of ["pointerup", "pointercancel"]) view.addEventListener(t, () => { masks.stroke = null; });
  $("mask-undo").addEventListener("click", maskUndo);
  $("mask-clear").addEventListener("click", () => {
    const l = masks.layers[masks.active];
    if (!l) return;
    maskPushUndo(masks.active);
    l.canvas.getContext("2d").clearRect(0, 0, masks.width, masks.height);
    l.painted = false;
    maskRender();
  });
  $("mask-upload").addEventListener("click", () => $("mask-file").click());
  $("mask-file").addEventListener("change", () => {
    const f = $("mask-file").files[0];
    $("mask-file").value = "";
    if (f && masks.layers.length) maskLoadFile(f);
  });
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "z" && $("mask-panel").open && !e.target.matches("input[type=text], input[type=number]")) {
      e.preventDefault();
      maskUndo();
    }
  });
}
