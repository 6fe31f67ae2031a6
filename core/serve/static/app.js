// ge2 serve: the page calls /api/search and renders the rows ge2 search --json prints.
"use strict";
const $ = (id) => document.getElementById(id);
const form = $("search"), drop = $("drop"), fileInput = $("file");
let dropped = null;

function fmtTime(s) {
  s = Math.round(s || 0);
  const m = Math.floor(s / 60), r = String(s % 60).padStart(2, "0");
  return `${m}:${r}`;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c) node.append(c);
  return node;
}

function media(row) {
  const box = el("div", { class: "media" });
  const url = row.file_url, start = row.start_s || 0, end = row.end_s;
  if (row.modality === "image" || row.modality === "pdf") {
    box.append(el("img", { src: row.thumb_url, alt: `${row.modality}: ${row.name || row.path}`, loading: "lazy" }));
  } else if (row.modality === "video") {
    box.append(el("video", { src: `${url}#t=${start}`, poster: row.thumb_url, controls: "", preload: "none",
      "aria-label": `video from ${fmtTime(start)}` }));
  } else if (row.modality === "audio") {
    const frag = end ? `#t=${start},${end}` : `#t=${start}`;
    box.append(el("audio", { src: `${url}${frag}`, controls: "", preload: "none", "aria-label": `audio from ${fmtTime(start)}` }));
  } else {
    return el("p", { class: "snippet", text: row.snippet || "" });
  }
  return box;
}

function card(row) {
  const where = row.where ? ` · ${row.where}` : "";
  const score = typeof row.score === "number" ? row.score.toFixed(3) : row.score;
  return el("li", { class: "card", "data-path": row.path, "data-modality": row.modality },
    media(row),
    el("div", { class: "meta" },
      el("span", {}, el("span", { class: "badge", text: row.modality }), document.createTextNode(`${score}${where}`)),
      el("a", { href: row.file_url, target: "_blank", rel: "noopener", text: row.name || row.path, title: row.path })));
}

async function stats() {
  try {
    const r = await fetch("/api/stats");
    const s = await r.json();
    if (!r.ok) throw new Error(s.error);
    const kinds = Object.entries(s.modalities).map(([k, v]) => `${v} ${k}`).join(", ");
    $("stats").textContent = `${s.files} files, ${s.pieces} pieces (${kinds}) · ${s.model}, ${s.dimensions} dims${s.offline ? " · offline emulator" : ""}`;
    $("hybrid").disabled = !s.text_index;
  } catch (e) { $("stats").textContent = `cannot read the store: ${e.message}`; }
}

async function run(event) {
  if (event) event.preventDefault();
  const body = new FormData(form);
  body.delete("file");
  const file = dropped || fileInput.files[0];
  if (file) body.set("file", file);
  for (const box of ["hybrid", "exact"]) body.set(box, $(box).checked ? "1" : "");
  if (!body.get("q") && !file) { $("status").textContent = "Type something or choose a file."; return; }
  $("status").textContent = "Searching…";
  const r = await fetch("/api/search", { method: "POST", body });
  const data = await r.json();
  const list = $("results");
  list.replaceChildren();
  if (!r.ok) { $("status").textContent = data.error || `error ${r.status}`; return; }
  $("status").textContent = `${data.results.length} result${data.results.length === 1 ? "" : "s"}`;
  for (const row of data.results) list.append(card(row));
}

function setFile(file) {
  dropped = file;
  $("drop-label").textContent = file ? `Searching by: ${file.name}` : "Drop an image, clip or PDF here, or press Enter to choose one";
  $("clear-file").hidden = !file;
}

form.addEventListener("submit", run);
drop.addEventListener("click", (e) => { if (e.target === drop || e.target.id === "drop-label") fileInput.click(); });
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); } });
fileInput.addEventListener("change", () => setFile(fileInput.files[0] || null));
$("clear-file").addEventListener("click", () => { fileInput.value = ""; setFile(null); });
for (const ev of ["dragenter", "dragover"]) drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
for (const ev of ["dragleave", "drop"]) drop.addEventListener(ev, () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) setFile(e.dataTransfer.files[0]); });
stats();
