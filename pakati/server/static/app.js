// The page: wires the canvas view, the panel, the chat, jobs and their progress.

import { api, follow, url } from "./api.js";
import { CanvasView, ZOOMS } from "./canvas.js";
import { ChatPanel } from "./chat.js";
import { difference } from "./compare.js";
import { Panel } from "./panel.js";

const $ = (selector) => document.querySelector(selector);

// Everything the page knows; `window.pakati` exposes it to tests and the console.
const page = {
  state: null, // the server's CanvasState
  layout: null, // the draft layout the page edits
  selected: null,
  job: null, // the job the page follows
  steps: {}, // job id -> step events seen
  events: 0,
  references: {}, // region name -> uploaded reference
};
window.pakati = page;

function say(text, error = false) {
  const box = $("#message");
  box.textContent = text;
  box.className = error ? "error" : "";
}

// Rendering --------------------------------------------------------------------------------

function render() {
  const state = page.state;
  const locked = state ? state.locked : [];
  view.render(page.layout, locked, page.selected, state && state.image_url ? url(state.image_url) : null);
  panel.render(page.layout, locked, page.selected);
  $("#undo").disabled = !(state && state.can_undo);
  $("#redo").disabled = !(state && state.can_redo);
  $("#download").href = url("/api/download.png");
  const chosen = page.layout.regions.find((r) => r.name === page.selected);
  $("#control-name").textContent = chosen && chosen.control ? `control: ${chosen.control.controlnet}` : "no control";
  $("#reference-name").textContent = (page.selected && page.references[page.selected]) || "none";
  renderHistory();
}

function renderHistory() {
  const list = $("#history");
  list.replaceChildren();
  if (!page.state) return;
  for (const entry of page.state.history) {
    const item = document.createElement("li");
    item.textContent = `${entry.id} ${entry.action}${entry.targets.length ? " " + entry.targets.join(",") : ""}`;
    item.title = "compare with the current image";
    if (entry.id === page.state.head) item.className = "head";
    item.addEventListener("click", () => compare(entry));
    list.append(item);
  }
}

let compareTicket = 0; // a later click wins over a difference still being drawn
function compare(entry) {
  const state = page.state;
  if (!state.image_sha256 || !entry.image_sha256) return;
  $("#compare").hidden = false;
  $("#compare-a").src = url(state.image_url);
  $("#compare-a-label").textContent = `current (${state.head})`;
  $("#compare-b").src = url(`/api/images/${entry.image_sha256}.png`);
  $("#compare-b-label").textContent = `${entry.id} ${entry.action}`;
  const diff = $("#compare-diff");
  delete diff.dataset.changed;
  $("#compare-diff-label").textContent = "difference: …";
  const ticket = ++compareTicket;
  difference($("#compare-a"), $("#compare-b"))
    .then(({ image, changed }) => {
      if (ticket !== compareTicket) return;
      diff.width = image.width;
      diff.height = image.height;
      diff.getContext("2d").putImageData(image, 0, 0);
      diff.dataset.changed = String(changed);
      const share = (100 * changed) / (image.width * image.height);
      $("#compare-diff-label").textContent = changed
        ? `difference: ${changed} pixels (${share.toFixed(1)}%)`
        : "difference: none (identical)";
    })
    .catch((error) => ticket === compareTicket && say(`the difference could not be drawn: ${error.message}`, true));
}

function adopt(state, syncLayout = true) {
  page.state = state;
  if (syncLayout) page.layout = structuredClone(state.layout);
  if (page.selected && !page.layout.regions.some((r) => r.name === page.selected)) page.selected = null;
  render();
}

// Answers that carry the canvas state may arrive out of order (a slow refresh after a
// later edit): each request takes a ticket when sent, and an answer older than the state
// already shown is not adopted.
let stateTickets = 0;
let adoptedTicket = 0;
async function withState(send, pick = (answer) => answer, syncLayout = true) {
  const ticket = ++stateTickets;
  const answer = await send();
  if (ticket > adoptedTicket) {
    adoptedTicket = ticket;
    adopt(pick(answer), syncLayout);
  }
  return answer;
}

// Editing the draft ----------------------------------------------------------------------

// The draft is sent a moment after the last edit; body[data-draft] says whether the server
// has every edit ("saved") or not yet ("unsaved").
let saveTimer = null;
let edits = 0;
function changed() {
  render();
  edits += 1;
  document.body.dataset.draft = "unsaved";
  clearTimeout(saveTimer);
  saveTimer = setTimeout(pushLayout, 250);
}

async function pushLayout() {
  clearTimeout(saveTimer);
  const sent = edits;
  try {
    await withState(() => api("PUT", "/api/layout", page.layout), undefined, false);
    if (sent === edits) document.body.dataset.draft = "saved";
  } catch (error) {
    say(error.message, true);
  }
}

function uniqueName() {
  const names = new Set(page.layout.regions.map((r) => r.name));
  for (let i = page.layout.regions.length + 1; ; i++) if (!names.has(`region-${i}`)) return `region-${i}`;
}

function createRegion(shape) {
  const name = uniqueName();
  page.layout.regions.push({ name, prompt: "", ...shape });
  page.selected = name;
  changed();
}

function selectRegion(name) {
  page.selected = name;
  render();
}

function editRegion(name, changes) {
  const region = page.layout.regions.find((r) => r.name === name);
  if (!region) return;
  Object.assign(region, changes);
  if (changes.name) page.selected = changes.name;
  changed();
}

function deleteRegion() {
  if (!page.selected) return;
  page.layout.regions = page.layout.regions.filter((r) => r.name !== page.selected);
  page.selected = null;
  changed();
}

// Jobs and progress ------------------------------------------------------------------------

const finished = new Set(); // jobs whose last event the page has seen

function followJob(job) {
  if (finished.has(job.id)) return; // the POST's answer came after the job's own events
  page.job = job;
  page.steps[job.id] = page.steps[job.id] || 0;
  $("#cancel").disabled = false;
  $("#job-status").textContent = job.position > 1 ? `${job.kind}: queued (position ${job.position})` : `${job.kind}: starting`;
}

function onEvent(event) {
  page.events += 1;
  if (event.type === "chat") {
    chat.event(event);
    return;
  }
  const job = page.job;
  if (!job || event.job !== job.id) {
    if (event.type === "started" || event.type === "queued") followJob({ id: event.job, kind: event.kind, position: event.position || 1 });
    else return;
  }
  if (event.type === "queued") {
    $("#job-status").textContent = `${event.kind}: queued (position ${event.position})`;
  } else if (event.type === "started") {
    $("#job-status").textContent = `${event.kind}: running`;
    $("#progress-bar").value = 0;
    $("#progress-count").textContent = "0/…";
  } else if (event.type === "step") {
    page.steps[event.job] = (page.steps[event.job] || 0) + 1;
    $("#progress-bar").max = event.total;
    $("#progress-bar").value = event.step;
    $("#progress-count").textContent = `${event.step}/${event.total}`;
    if (event.preview) {
      $("#preview").src = event.preview;
      $("#preview").hidden = false;
    }
  } else {
    finished.add(event.job);
    $("#cancel").disabled = true;
    $("#job-status").textContent = `${event.kind}: ${event.type}`;
    document.body.dataset.lastJob = `${event.job}:${event.kind}:${event.type}`;
    if (event.type === "failed") say(event.error, true);
    if (event.type === "done") say(event.result && event.result.message ? event.result.message : "done");
    refresh();
  }
}

async function refresh() {
  try {
    await withState(() => api("GET", "/api/state"));
  } catch (error) {
    say(error.message, true);
  }
}

async function submit(path, body) {
  try {
    await pushLayout();
    const answer = await api("POST", path, { layout: page.layout, ...body });
    followJob(answer.job);
  } catch (error) {
    say(error.message, true);
  }
}

async function action(path, body) {
  try {
    const answer = await withState(() => api("POST", path, body), (a) => a.state);
    say(answer.message);
  } catch (error) {
    say(error.message, true);
  }
}

// Files ---------------------------------------------------------------------------------------

async function importFile(file) {
  try {
    if (file.name.toLowerCase().endsWith(".png") || file.type === "image/png") {
      const data = await file.arrayBuffer();
      const answer = await withState(() => api("POST", "/api/import/png", data, "image/png"), (a) => a.state);
      say(answer.message);
    } else {
      let layout;
      try {
        layout = JSON.parse(await file.text());
      } catch (error) {
        throw new Error(`${file.name} is not valid JSON (${error.message})`);
      }
      await withState(() => api("PUT", "/api/layout", layout));
      say(`imported ${file.name}`);
    }
  } catch (error) {
    say(error.message, true);
  }
}

async function exportLayout() {
  try {
    await pushLayout();
    const layout = await api("GET", "/api/layout");
    const blob = new Blob([JSON.stringify(layout, null, 2)], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "layout.json";
    link.click();
    URL.revokeObjectURL(link.href);
  } catch (error) {
    say(error.message, true);
  }
}

async function saveProject() {
  const name = prompt("Project name (letters, digits, . _ -)");
  if (!name) return;
  try {
    const answer = await api("POST", "/api/projects", { name });
    say(answer.message);
  } catch (error) {
    if (error.status === 409 && confirm(`Project ${name} exists. Replace it?`)) {
      await action("/api/projects", { name, overwrite: true });
    } else {
      say(error.message, true);
    }
  }
  loadProjects();
}

async function loadProjects() {
  const select = $("#projects");
  const { projects } = await api("GET", "/api/projects");
  select.replaceChildren(new Option("Open project…", ""), ...projects.map((p) => new Option(p, p)));
}

async function loadModels() {
  const { models } = await api("GET", "/api/models");
  $("#models").replaceChildren(...models.map((m) => new Option(m, m)));
}

// Per-region ControlNet --------------------------------------------------------------------

/** The region's box, or its polygon's bounds (where a map smaller than the canvas goes). */
function regionBounds(region) {
  if (region.box) return region.box;
  if (region.polygon) {
    const xs = region.polygon.map((p) => p[0]);
    const ys = region.polygon.map((p) => p[1]);
    return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }
  return [0, 0, page.layout.width, page.layout.height];
}

async function attachControl(file) {
  const region = page.layout.regions.find((r) => r.name === page.selected);
  if (!region) return say("select a region first", true);
  try {
    const bitmap = await createImageBitmap(file);
    const { width, height } = page.layout;
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, width, height);
    if (bitmap.width === width && bitmap.height === height) {
      context.drawImage(bitmap, 0, 0);
    } else {
      const [x0, y0, x1, y1] = regionBounds(region); // a smaller map is placed at the region
      context.drawImage(bitmap, x0, y0, x1 - x0, y1 - y0);
    }
    region.control = {
      controlnet: $("#controlnet").value.trim() || "pakati-shapes-outline",
      image_png: canvas.toDataURL("image/png").split(",")[1],
      scale: Number($("#control-scale").value) || 1,
    };
    say(`${file.name} is ${region.name}'s control map (${region.control.controlnet})`);
    changed();
  } catch (error) {
    say(`${file.name} could not be read as an image (${error.message})`, true);
  }
}

function clearControl() {
  const region = page.layout.regions.find((r) => r.name === page.selected);
  if (region && region.control) {
    region.control = null;
    changed();
  }
}

// References and delta analysis ----------------------------------------------------------

async function attachReference(file) {
  if (!page.selected) return say("select a region first", true);
  try {
    const info = await api("POST", "/api/references", await file.arrayBuffer(), file.type || "application/octet-stream");
    page.references[page.selected] = info.name;
    say(`attached ${file.name} (${info.width}x${info.height}) to ${page.selected}`);
    render();
  } catch (error) {
    say(error.message, true);
  }
}

async function analyzeRegion() {
  const reference = page.references[page.selected];
  if (!reference) return say("attach a reference to this region first", true);
  try {
    const result = await api("POST", "/api/analyze", { reference, region: page.selected });
    const table = document.createElement("table");
    table.innerHTML = "<tr><th>aspect</th><th>similarity</th><th>findings and what to try</th></tr>";
    for (const [name, aspect] of Object.entries(result.aspects)) {
      const row = table.insertRow();
      row.dataset.aspect = name;
      row.insertCell().textContent = name;
      row.insertCell().textContent = aspect.similarity.toFixed(3);
      row.insertCell().textContent = [...aspect.findings, ...aspect.suggestions].join("\n") || "-";
    }
    $("#analysis").replaceChildren(table);
    say(result.message);
  } catch (error) {
    say(error.message, true);
  }
}

// Wiring ----------------------------------------------------------------------------------------

const view = new CanvasView($("#stage"), $("#overlay"), $("#image"), {
  onCreate: createRegion,
  onSelect: selectRegion,
  onZoom: (zoom) => { $("#zoom-label").textContent = `${Math.round(zoom * 100)}%`; },
});
const panel = new Panel(document, {
  onSettings: (changes) => { Object.assign(page.layout, changes); changed(); },
  onRegion: editRegion,
  onSelect: selectRegion,
});
const chat = new ChatPanel(document, {
  onPlan: (layout) => { page.layout = layout; render(); },
  onJob: followJob,
  onError: (message) => say(message, true),
});
page.view = view;

function setTool(tool) {
  view.setTool(tool);
  document.querySelectorAll("[data-tool]").forEach((b) => b.classList.toggle("active", b.dataset.tool === tool));
}

/** The largest zoom at which the whole canvas fits the viewport. */
function fitZoom(layout) {
  const box = $("#viewport").getBoundingClientRect();
  const fits = ZOOMS.filter((z) => layout.width * z <= box.width - 40 && layout.height * z <= box.height - 40);
  return fits.length ? fits[fits.length - 1] : ZOOMS[0];
}

function zoomBy(direction) {
  const index = ZOOMS.indexOf(view.zoom);
  view.setZoom(ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, index + direction))]);
}

function selectedRegionAction(kind) {
  if (!page.selected) return say("select a region first", true);
  if (kind === "regenerate") submit("/api/regenerate", { regions: [page.selected] });
  if (kind === "refine") submit("/api/refine", { region: page.selected, strength: Number($("#strength").value) });
  if (kind === "lock") action("/api/lock", { region: page.selected, locked: !page.state.locked.includes(page.selected) });
}

document.querySelectorAll("[data-tool]").forEach((b) => b.addEventListener("click", () => setTool(b.dataset.tool)));
document.querySelectorAll("[data-tab]").forEach((b) => b.addEventListener("click", () => {
  document.querySelectorAll("[data-tab]").forEach((t) => t.classList.toggle("active", t === b));
  $("#tab-edit").hidden = b.dataset.tab !== "edit";
  $("#tab-chat").hidden = b.dataset.tab !== "chat";
}));
$("#zoom-in").addEventListener("click", () => zoomBy(1));
$("#zoom-out").addEventListener("click", () => zoomBy(-1));
$("#generate").addEventListener("click", () => submit("/api/generate", {}));
$("#cancel").addEventListener("click", () => page.job && api("POST", `/api/jobs/${page.job.id}/cancel`).catch((e) => say(e.message, true)));
$("#undo").addEventListener("click", () => action("/api/undo"));
$("#redo").addEventListener("click", () => action("/api/redo"));
$("#regenerate").addEventListener("click", () => selectedRegionAction("regenerate"));
$("#refine").addEventListener("click", () => selectedRegionAction("refine"));
$("#lock").addEventListener("click", () => selectedRegionAction("lock"));
$("#delete").addEventListener("click", deleteRegion);
$("#strength").addEventListener("input", () => { $("#strength-value").textContent = $("#strength").value; });
$("#import").addEventListener("change", (e) => { if (e.target.files[0]) importFile(e.target.files[0]); e.target.value = ""; });
$("#export").addEventListener("click", exportLayout);
$("#brush-size").addEventListener("input", (e) => { view.brush = Number(e.target.value); });
$("#reference").addEventListener("change", (e) => { if (e.target.files[0]) attachReference(e.target.files[0]); e.target.value = ""; });
$("#analyze").addEventListener("click", analyzeRegion);
$("#control-map").addEventListener("change", (e) => { if (e.target.files[0]) attachControl(e.target.files[0]); e.target.value = ""; });
$("#control-clear").addEventListener("click", clearControl);
$("#save").addEventListener("click", saveProject);
$("#projects").addEventListener("change", (e) => { if (e.target.value) action("/api/projects/open", { name: e.target.value }); });
$("#new-seed").addEventListener("click", () => { page.layout.seed = null; changed(); say("the next generation draws a new seed"); });
$("#compare-close").addEventListener("click", () => { $("#compare").hidden = true; });

document.addEventListener("keydown", (event) => {
  if (event.target.closest("input, textarea, select")) return;
  const key = event.key;
  const ctrl = event.ctrlKey || event.metaKey;
  if (ctrl && key.toLowerCase() === "z") { event.preventDefault(); action(event.shiftKey ? "/api/redo" : "/api/undo"); }
  else if (ctrl && key.toLowerCase() === "y") { event.preventDefault(); action("/api/redo"); }
  else if (ctrl) return;
  else if (key === "b") setTool("box");
  else if (key === "p") setTool("polygon");
  else if (key === "v") setTool("select");
  else if (key === "m") setTool("brush");
  else if (key === "g") submit("/api/generate", {});
  else if (key === "r") selectedRegionAction("regenerate");
  else if (key === "l") selectedRegionAction("lock");
  else if (key === "+" || key === "=") zoomBy(1);
  else if (key === "-") zoomBy(-1);
  else if (key === "Enter") view.closePolygon();
  else if (key === "Escape") view.cancelDraft();
  else if (key === "Delete" || key === "Backspace") deleteRegion();
});

async function start() {
  setTool("box");
  const state = await api("GET", "/api/state");
  adopt(state);
  view.setZoom(fitZoom(state.layout));
  // A job already running (the page was reloaded): replay its events, so progress resumes.
  let since = state.next_event;
  if (state.job) {
    followJob(state.job);
    since = state.job.first_event;
  }
  page.source = follow(since, onEvent);
  await chat.load();
  loadProjects().catch(() => {});
  loadModels().catch(() => {});
  document.body.dataset.ready = "1";
}

start().catch((error) => say(error.message, true));
