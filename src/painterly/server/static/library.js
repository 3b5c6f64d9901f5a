"use strict";
// The Library page: browse the folders the server was started with, search them by an image or
// by words, show the style map, and hand a picture to the painting page as a style.

const $ = (id) => document.getElementById(id);
let libraryId = 0;

async function getJSON(url, options) {
  const r = await fetch(url, options);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.detail || `HTTP ${r.status}`);
  return body;
}

function showMessage(text) {
  const m = $("lib-message");
  m.textContent = text;
  m.hidden = !text;
}

function card(item, label) {
  const div = document.createElement("div");
  div.className = "lib-card";
  const img = document.createElement("img");
  img.src = item.thumbnail;
  img.alt = item.key;
  const name = document.createElement("p");
  name.className = "name";
  name.textContent = item.key;
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = label;
  const use = document.createElement("a");
  use.className = "button use-style";
  use.textContent = "Use as style";
  use.href = `/?library=${libraryId}&style=${encodeURIComponent(item.key)}`;
  div.append(img, name, meta, use);
  return div;
}

function show(title, items, label) {
  $("results-title").textContent = title;
  const grid = $("results");
  grid.replaceChildren(...items.map((it) => card(it, label(it))));
  if (!items.length) grid.textContent = "Nothing found.";
}

async function browse() {
  const items = await getJSON(`/api/library/${libraryId}/images`);
  show(`All images (${items.length})`, items,
       (it) => it.tags.map((t) => `${t.label} ${(100 * t.score).toFixed(0)}%`).join(", "));
}

async function searchImage(e) {
  e.preventDefault();
  const file = $("query-image").files[0];
  if (!file) return showMessage("Choose an image to search with.");
  const body = new FormData();
  body.append("image", file, file.name);
  body.append("by", $("query-by").value);
  try {
    const r = await getJSON(`/api/library/${libraryId}/search`, { method: "POST", body });
    showMessage("");
    show(`Like ${file.name}, by ${$("query-by").value}`, r.hits, (h) => `score ${h.score.toFixed(3)}`);
  } catch (err) { showMessage(err.message); }
}

async function searchWords(e) {
  e.preventDefault();
  const words = $("query-words").value.trim();
  if (!words) return showMessage("Type a word, e.g. lion.");
  const q = new URLSearchParams({ words, method: $("query-method").value });
  try {
    const r = await getJSON(`/api/library/${libraryId}/search?${q}`);
    showMessage("");
    show(`"${words}" (ImageNet classes: ${r.classes.join(", ")})`, r.hits, (h) => `score ${h.score.toFixed(3)}`);
  } catch (err) { showMessage(err.message); }
}

function showMap() {
  const img = $("map");
  img.src = `/api/library/${libraryId}/map?by=style`;
  img.hidden = false;
}

async function init() {
  const libraries = await getJSON("/api/library");
  if (!libraries.length) {
    return showMessage("No library here: start the server with `painterly serve --library DIR` to search a folder.");
  }
  const select = $("library-select");
  for (const lib of libraries) {
    const o = document.createElement("option");
    o.value = lib.id;
    o.textContent = `${lib.name} (${lib.images} images)`;
    select.append(o);
  }
  select.addEventListener("change", () => { libraryId = Number(select.value); $("map").hidden = true; browse(); });
  $("image-search").addEventListener("submit", searchImage);
  $("words-search").addEventListener("submit", searchWords);
  $("show-map").addEventListener("click", showMap);
  await browse();
}

init().catch((err) => showMessage(err.message));
