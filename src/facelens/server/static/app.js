"use strict";
// facelens web page: talks to /api/v1 and draws what comes back. No build step, no dependencies.

const API = "/api/v1";
const EMOTIONS = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"];
const COLORS = {
  neutral: "#8a94a6", happy: "#f2b705", sad: "#3f7fd9", surprise: "#a45ee5",
  fear: "#2bb3a3", disgust: "#6f9c3d", anger: "#e0523f",
};
const VIDEO_NAME = /\.(mp4|mov|avi|mkv|webm|m4v|mpg|mpeg|wmv|flv)$/i;
const DEG = 180 / Math.PI;
const $ = (id) => document.getElementById(id);

// ---- API access ------------------------------------------------------------------------------
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("facelens-api-key") || "";
keyInput.addEventListener("change", () => localStorage.setItem("facelens-api-key", keyInput.value));

async function api(path, options = {}) {
  const headers = keyInput.value ? { "X-API-Key": keyInput.value } : {};
  const response = await fetch(API + path, { ...options, headers });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (e) { /* not JSON: keep the status text */ }
    throw new Error(`${detail} (HTTP ${response.status})`);
  }
  return response;
}

function upload(fields) {
  const form = new FormData();
  for (const [name, file] of Object.entries(fields)) form.append(name, file, file.name);
  return { method: "POST", body: form };
}

// ---- Small helpers ---------------------------------------------------------------------------
function setStatus(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function setProgress(fraction) {
  $("progress").hidden = fraction === null;
  $("progress-bar").style.width = `${Math.round((fraction || 0) * 100)}%`;
}

function fmt(value, digits = 2) {
  if (value === null || value === undefined) return "";
  return typeof value === "number" ? value.toFixed(digits) : String(value);
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser could not show this image"));
    img.src = src;
  });
}

function saveBlob(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function toCsv(columns, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return "";
    const s = Array.isArray(v) ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns.join(",")].concat(rows.map((r) => columns.map((c) => cell(r[c])).join(","))).join("\n") + "\n";
}

function stem(name) { return name.replace(/\.[^.]*$/, "") || "facelens"; }

// ---- Tabs ------------------------------------------------------------------------------------
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll(".tab")) {
      other.classList.toggle("active", other === tab);
      $(other.dataset.panel).hidden = other !== tab;
    }
  });
}

// ---- Faces table -----------------------------------------------------------------------------
// Each column: header, source columns it needs, and how to show a row.
const TABLE_COLUMNS = [
  { head: "Frame", needs: ["frame"], video: true, show: (r) => r.frame },
  { head: "Time (s)", needs: ["timestamp"], video: true, show: (r) => fmt(r.timestamp, 2) },
  { head: "Track", needs: ["track_id"], video: true, show: (r) => r.track_id },
  { head: "Face", needs: ["face_id"], image: true, show: (r) => `#${r.face_id}` },
  { head: "Score", needs: ["confidence"], show: (r) => fmt(r.confidence) },
  { head: "Box x, y, w, h", needs: ["face_x"], show: (r) => [r.face_x, r.face_y, r.face_w, r.face_h].map((v) => Math.round(v)).join(", ") },
  { head: "Yaw°", needs: ["pose_Ry"], show: (r) => fmt(r.pose_Ry * DEG, 1) },
  { head: "Pitch°", needs: ["pose_Rx"], show: (r) => fmt(r.pose_Rx * DEG, 1) },
  { head: "Roll°", needs: ["pose_Rz"], show: (r) => fmt(r.pose_Rz * DEG, 1) },
  { head: "Gaze x°", needs: ["gaze_angle_x"], show: (r) => r.gaze_angle_x === null ? "" : fmt(r.gaze_angle_x * DEG, 1) },
  { head: "Gaze y°", needs: ["gaze_angle_y"], show: (r) => r.gaze_angle_y === null ? "" : fmt(r.gaze_angle_y * DEG, 1) },
  { head: "Emotion", needs: ["emotion"], text: true, show: (r) => r.emotion ? `${r.emotion} ${fmt(r[`emotion_${r.emotion}`])}` : "" },
  { head: "Age", needs: ["age"], show: (r) => fmt(r.age, 0) },
  { head: "Gender", needs: ["gender"], text: true, show: (r) => r.gender ? `${r.gender} ${fmt(r.gender_prob)}` : "" },
  { head: "Quality", needs: ["quality"], show: (r) => fmt(r.quality) },
  { head: "Strongest AUs", needs: ["AU12_r"], text: true, show: topAus },
];

function topAus(row) {
  return Object.keys(row).filter((k) => /^AU\d+_r$/.test(k) && row[k] !== null)
    .sort((a, b) => row[b] - row[a]).slice(0, 3).filter((k) => row[k] >= 0.5)
    .map((k) => `${k.slice(0, -2)} ${fmt(row[k], 1)}`).join(", ");
}

function renderTable(columns, rows, video, onSelect) {
  const have = new Set(columns);
  const shown = TABLE_COLUMNS.filter((c) => c.needs.every((n) => have.has(n)) && !(video ? c.image : c.video));
  const table = $("faces");
  table.tHead.innerHTML = "<tr>" + shown.map((c) => `<th>${c.head}</th>`).join("") + "</tr>";
  const body = table.tBodies[0];
  body.innerHTML = "";
  rows.forEach((row, i) => {
    const tr = document.createElement("tr");
    for (const c of shown) {
      const td = document.createElement("td");
      td.textContent = c.show(row);
      if (c.text) td.className = "text";
      tr.appendChild(td);
    }
    if (onSelect) tr.addEventListener("click", () => {
      for (const other of body.rows) other.classList.toggle("selected", other === tr);
      onSelect(row, i);
    });
    body.appendChild(tr);
  });
  $("table-card").hidden = false;
}

function setDownloads(buttons) {
  const box = $("downloads");
  box.innerHTML = "";
  for (const [label, action] of buttons) {
    const b = document.createElement("button");
    b.className = "button";
    b.textContent = label;
    b.addEventListener("click", () => action().catch((e) => setStatus(e.message, true)));
    box.appendChild(b);
  }
}

// ---- Emotion bars: one row per emotion, one column per face ---------------------------------
function renderEmotions(rows) {
  const box = $("emotion-bars");
  if (!rows.length || !("emotion_happy" in rows[0])) {
    box.innerHTML = `<p class="hint">${rows.length ? "Emotion was not asked for." : "No face."}</p>`;
    return;
  }
  const head = rows.map((r) => `<th>#${r.face_id}</th>`).join("");
  const body = EMOTIONS.map((e) => "<tr><td class='text'>" + e + "</td>" + rows.map((r) => {
    const p = r[`emotion_${e}`] || 0;
    const top = r.emotion === e ? " top" : "";
    return `<td class="cell${top}" title="face #${r.face_id} ${e}: ${(p * 100).toFixed(1)}%">` +
      `<div class="track"><div class="fill" style="width:${(p * 100).toFixed(1)}%;background:${COLORS[e]}"></div></div>` +
      `<span>${(p * 100).toFixed(0)}</span></td>`;
  }).join("") + "</tr>").join("");
  box.innerHTML = `<table class="emotion-table"><thead><tr><th></th>${head}</tr></thead><tbody>${body}</tbody></table>` +
    `<p class="hint">Probability in %, the top emotion of each face in bold.</p>`;
}

// ---- Blendshape bars: the blendshapes any face shows, one column per face -------------------
const BLENDSHAPE_MIN = 0.1; // rows where every face scores below this are left out
const isBlendshape = (k) => /^(brow|cheek|eye|jaw|mouth|nose)[A-Z]/.test(k);

function renderBlendshapes(rows, columns) {
  const box = $("blendshape-bars");
  const names = columns.filter(isBlendshape);
  if (!rows.length || !names.length) {
    box.innerHTML = `<p class="hint">${rows.length ? "Blendshapes were not asked for." : "No face."}</p>`;
    return;
  }
  const peak = (k) => Math.max(...rows.map((r) => r[k] || 0));
  const shown = names.filter((k) => peak(k) >= BLENDSHAPE_MIN).sort((a, b) => peak(b) - peak(a));
  const head = rows.map((r) => `<th>#${r.face_id}</th>`).join("");
  const body = shown.map((k) => "<tr><td class='text'>" + k + "</td>" + rows.map((r) => {
    const p = r[k] || 0;
    return `<td class="cell" title="face #${r.face_id} ${k}: ${p.toFixed(2)}">` +
      `<div class="track"><div class="fill" style="width:${(p * 100).toFixed(1)}%;background:#2f6fed"></div></div>` +
      `<span>${p.toFixed(2)}</span></td>`;
  }).join("") + "</tr>").join("");
  box.innerHTML = `<table class="emotion-table"><thead><tr><th></th>${head}</tr></thead><tbody>${body}</tbody></table>` +
    `<p class="hint">MediaPipe blendshape scores (0-1) of at least ${BLENDSHAPE_MIN} on some face, strongest first.</p>`;
}

// ---- Image analysis --------------------------------------------------------------------------
let picture = null; // {img, scale, rows} of the shown overlay, for highlighting a face

function drawPicture(selected = -1) {
  const canvas = $("overlay");
  const ctx = canvas.getContext("2d");
  const { img, scale, rows } = picture;
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  ctx.drawImage(img, 0, 0);
  const size = Math.max(12, Math.round(canvas.width / 60));
  ctx.font = `600 ${size}px system-ui, sans-serif`;
  rows.forEach((r, i) => {
    const [x, y, w, h] = [r.face_x, r.face_y, r.face_w, r.face_h].map((v) => v * scale);
    if (i === selected) {
      ctx.lineWidth = Math.max(3, size / 4);
      ctx.strokeStyle = "#2f6fed";
      ctx.strokeRect(x - 4, y - 4, w + 8, h + 8);
    }
    const label = `#${r.face_id}`;
    const tw = ctx.measureText(label).width + 8;
    ctx.fillStyle = i === selected ? "#2f6fed" : "rgba(0,0,0,.65)";
    ctx.fillRect(x, y + h + 2, tw, size + 6);
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x + 4, y + h + size + 2);
  });
}

async function analyzeImage(file) {
  setStatus(`Analysing ${file.name}…`);
  const features = encodeURIComponent($("features").value);
  const data = await (await api(`/analyze?overlay=true&features=${features}`, upload({ file }))).json();
  const faces = data.rows.filter((r) => r.success === 1);
  const img = await loadImage(data.overlay);
  picture = { img, scale: img.naturalWidth / data.width, rows: faces };
  drawPicture();
  $("image-caption").textContent = `${data.file}: ${data.width}×${data.height} px`;
  $("image-result").hidden = false;
  renderEmotions(faces);
  renderBlendshapes(faces, data.columns);
  $("table-title").textContent = `${faces.length} face${faces.length === 1 ? "" : "s"}`;
  renderTable(data.columns, faces, false, (_, i) => drawPicture(i));
  setDownloads([
    ["CSV", async () => saveBlob(new Blob([toCsv(data.columns, data.rows)], { type: "text/csv" }), `${stem(data.file)}.csv`)],
    ["JSON", async () => saveBlob(new Blob([JSON.stringify({ columns: data.columns, rows: data.rows })], { type: "application/json" }), `${stem(data.file)}.json`)],
  ]);
  setStatus(`${faces.length} face${faces.length === 1 ? "" : "s"} found in ${data.seconds.toFixed(2)} s`);
}

// ---- Video analysis --------------------------------------------------------------------------
let timeline = null; // {rows, duration} of the main track, redrawn as the video plays

function mainTrack(rows) {
  const counts = new Map();
  for (const r of rows) counts.set(r.track_id, (counts.get(r.track_id) || 0) + 1);
  let best = null;
  for (const [id, n] of counts) if (best === null || n > counts.get(best)) best = id;
  return rows.filter((r) => r.track_id === best);
}

function lineChart(canvas, series, yMin, yMax, xMax, cursor, yTicks) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight || Number(canvas.getAttribute("height"));
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  const ctx = canvas.getContext("2d");
  ctx.scale(dpr, dpr);
  const pad = { left: 40, right: 10, top: 24, bottom: 22 };
  const w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
  const X = (t) => pad.left + (xMax > 0 ? t / xMax : 0) * w;
  const Y = (v) => pad.top + (1 - (v - yMin) / (yMax - yMin)) * h;
  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#e3e6eb";
  ctx.fillStyle = "#667085";
  ctx.lineWidth = 1;
  for (const v of yTicks) {
    ctx.beginPath(); ctx.moveTo(pad.left, Y(v)); ctx.lineTo(pad.left + w, Y(v)); ctx.stroke();
    ctx.fillText(String(v), 4, Y(v) + 4);
  }
  const step = xMax > 20 ? 5 : xMax > 8 ? 2 : 1;
  for (let t = 0; t <= xMax + 1e-9; t += step) ctx.fillText(`${t}s`, X(t) - 6, height - 6);
  let lx = pad.left;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 1.8;
    ctx.beginPath();
    let pen = false;
    for (const [t, v] of s.points) {
      if (v === null || v === undefined) { pen = false; continue; }
      const y = Y(Math.min(yMax, Math.max(yMin, v)));
      if (pen) ctx.lineTo(X(t), y); else ctx.moveTo(X(t), y);
      pen = true;
    }
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillRect(lx, 6, 10, 10);
    ctx.fillStyle = "#1d2330";
    ctx.fillText(s.name, lx + 13, 15);
    lx += ctx.measureText(s.name).width + 26;
  }
  if (cursor !== null) {
    ctx.strokeStyle = "#1d2330";
    ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(X(cursor), pad.top); ctx.lineTo(X(cursor), pad.top + h); ctx.stroke();
  }
  canvas.onclick = (ev) => {
    const t = ((ev.offsetX - pad.left) / w) * xMax;
    if (t >= 0 && t <= xMax) $("video").currentTime = t;
  };
}

function drawTimeline() {
  if (!timeline) return;
  const { rows, duration } = timeline;
  const cursor = $("video").currentTime || null;
  const emotions = "emotion_happy" in (rows[0] || {})
    ? EMOTIONS.map((e) => ({ name: e, color: COLORS[e], points: rows.map((r) => [r.timestamp, r[`emotion_${e}`]]) }))
    : [];
  lineChart($("timeline"), emotions, 0, 1, duration, cursor, [0, 0.5, 1]);
  const pose = "pose_Ry" in (rows[0] || {}) ? [
    { name: "yaw", color: "#e0523f", points: rows.map((r) => [r.timestamp, r.pose_Ry === null ? null : r.pose_Ry * DEG]) },
    { name: "pitch", color: "#1e9e5a", points: rows.map((r) => [r.timestamp, r.pose_Rx === null ? null : r.pose_Rx * DEG]) },
    { name: "roll", color: "#2f6fed", points: rows.map((r) => [r.timestamp, r.pose_Rz === null ? null : r.pose_Rz * DEG]) },
  ] : [];
  lineChart($("pose-chart"), pose, -60, 60, duration, cursor, [-45, 0, 45]);
  const aus = $("expression-kind").value === "aus";
  const keys = Object.keys(rows[0] || {}).filter((k) => aus ? /^AU\d+_r$/.test(k) : isBlendshape(k));
  lineChart($("expression-chart"), topVarying(rows, keys, EXPRESSION_SERIES).map((k, i) => ({
    name: aus ? k.slice(0, -2) : k, color: SERIES_COLORS[i], points: rows.map((r) => [r.timestamp, r[k]]),
  })), 0, aus ? 5 : 1, duration, cursor, aus ? [0, 2.5, 5] : [0, 0.5, 1]);
}

const EXPRESSION_SERIES = 6; // the AUs or blendshapes that vary most over the track are drawn
const SERIES_COLORS = ["#e0523f", "#1e9e5a", "#2f6fed", "#f2b705", "#8e44ad", "#16a085"];

function topVarying(rows, keys, n) {
  const spread = (k) => {
    const v = rows.map((r) => r[k]).filter((x) => x !== null && x !== undefined);
    if (!v.length) return 0;
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
  };
  return keys.map((k) => [k, spread(k)]).sort((a, b) => b[1] - a[1]).slice(0, n).map(([k]) => k);
}

$("video").addEventListener("timeupdate", drawTimeline);
$("expression-kind").addEventListener("change", drawTimeline);
window.addEventListener("resize", drawTimeline);

async function analyzeVideo(file) {
  const video = $("video");
  video.src = URL.createObjectURL(file);
  $("video-caption").textContent = file.name;
  $("video-result").hidden = false;
  timeline = null;
  const features = encodeURIComponent($("features").value);
  const every = Math.max(1, Number($("every").value) || 1);
  setStatus(`Uploading ${file.name}…`);
  setProgress(0);
  let job = await (await api(`/analyze/video?every=${every}&features=${features}`, upload({ file }))).json();
  while (job.status === "queued" || job.status === "running") {
    setStatus(job.status === "queued" ? "Waiting for a free analyzer…" : `Analysing frames: ${job.frames_done} / ${job.frames_total}`);
    setProgress(job.progress);
    await new Promise((r) => setTimeout(r, 400));
    job = await (await api(`/jobs/${job.id}`)).json();
  }
  setProgress(null);
  if (job.status === "failed") throw new Error(job.error);
  const { columns, rows } = job.result;
  const faces = rows.filter((r) => r.success === 1);
  const track = mainTrack(faces);
  const last = rows.length ? rows[rows.length - 1].timestamp : 0;
  timeline = { rows: track, duration: Math.max(video.duration || 0, last) };
  $("timeline-face").textContent = track.length ? `(track ${track[0].track_id}, ${track.length} frames)` : "(no face)";
  drawTimeline();
  const frames = new Set(rows.map((r) => r.frame)).size;
  $("table-title").textContent = `${faces.length} face rows in ${frames} frames`;
  renderTable(columns, faces, true, (row) => { video.currentTime = row.timestamp; });
  const download = (format) => async () => {
    const blob = await (await api(`/jobs/${job.id}/result?format=${format}`)).blob();
    saveBlob(blob, `${stem(job.file)}.${format}`);
  };
  setDownloads([["CSV", download("csv")], ["Parquet", download("parquet")], ["JSON", download("json")]]);
  setStatus(`Done: ${frames} frames, ${new Set(faces.map((r) => r.track_id)).size} track(s)`);
}

// ---- Picking a file --------------------------------------------------------------------------
async function analyzeFile(file) {
  for (const id of ["image-result", "video-result", "table-card"]) $(id).hidden = true;
  setProgress(null);
  try {
    if (file.type.startsWith("video/") || VIDEO_NAME.test(file.name)) await analyzeVideo(file);
    else await analyzeImage(file);
  } catch (e) {
    setProgress(null);
    setStatus(e.message, true);
  }
}

const drop = $("drop");
drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (ev) => {
  ev.preventDefault();
  drop.classList.remove("over");
  if (ev.dataTransfer.files.length) analyzeFile(ev.dataTransfer.files[0]);
});
$("file").addEventListener("change", (ev) => {
  if (ev.target.files.length) analyzeFile(ev.target.files[0]);
  ev.target.value = "";
});

// ---- Compare ---------------------------------------------------------------------------------
const chosen = { a: null, b: null };

async function showChoice(slot, box) {
  const canvas = $(`canvas-${slot}`);
  const url = URL.createObjectURL(chosen[slot]);
  try {
    const img = await loadImage(url);
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    if (box) {
      ctx.lineWidth = Math.max(3, canvas.width / 150);
      ctx.strokeStyle = "#2f6fed";
      ctx.strokeRect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
    }
  } finally {
    URL.revokeObjectURL(url);
  }
}

for (const slot of ["a", "b"]) {
  $(`compare-${slot}`).addEventListener("change", (ev) => {
    if (!ev.target.files.length) return;
    chosen[slot] = ev.target.files[0];
    $("compare-result").hidden = true;
    showChoice(slot, null).catch((e) => setVerdict("", e.message));
    $("compare-run").disabled = !(chosen.a && chosen.b);
  });
}

// The verdict is built from nodes; text (an error naming the file, say) is never parsed as HTML.
function setVerdict(kind, ...parts) {
  const box = $("compare-result");
  box.className = `card verdict ${kind}`;
  box.replaceChildren(...parts);
  box.hidden = false;
}

function element(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
}

$("compare-run").addEventListener("click", async () => {
  setVerdict("", "Comparing…");
  try {
    const r = await (await api("/verify", upload({ a: chosen.a, b: chosen.b }))).json();
    await showChoice("a", r.boxes[0]);
    await showChoice("b", r.boxes[1]);
    const fill = element("div", "fill");
    fill.style.width = `${Math.min(100, (r.distance / (2 * r.threshold)) * 100)}%`;
    fill.style.background = r.same ? "#1e9e5a" : "#d64545";
    const threshold = element("div", "threshold");
    threshold.style.left = "50%";
    const whole = r.whole_image.some((w) => w) ? " (no face detected: the whole photo was used)" : "";
    setVerdict(r.same ? "same" : "different",
      element("strong", "", r.same ? "Same person" : "Different people"),
      ` — distance ${r.distance.toFixed(3)} (same under ${r.threshold})`,
      element("div", "meter", fill, threshold),
      element("small", "", `Closest pair of faces; faces found: ${r.faces_found.join(" and ")}${whole}.`));
  } catch (e) {
    setVerdict("different", e.message);
  }
});
