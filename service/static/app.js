// Entry point of the live demo page: tabs, the model line, the readiness message, and wiring of the
// webcam stream (stream.js) and the photo upload (upload.js). Plain ES modules, no build step.

import { checkReady, chooseModel, modelList, waitForReady } from "./api.js";
import { LiveStream } from "./stream.js";
import { setStatus } from "./status.js";
import { setupUpload } from "./upload.js";

const $ = (id) => document.getElementById(id);

const live = new LiveStream({ video: $("video"), overlay: $("overlay"), timeline: $("timeline"), startButton: $("start"),
  stopButton: $("stop") });
$("start").addEventListener("click", () => live.start());
$("stop").addEventListener("click", () => live.stop());
setupUpload({ input: $("file"), canvas: $("upload-canvas"), results: $("upload-results") });

for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => selectTab(tab.dataset.tab));
}

function selectTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  }
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
  if (name !== "webcam" && live.running) live.stop(); // no camera left running behind a hidden tab
}

let models = null; // GET /v1/models, once the service is ready

async function showModel() {
  models = await modelList();
  const select = $("model-select");
  const node = $("model");
  node.dataset.state = models ? "ready" : "unknown";
  if (!models) {
    node.textContent = "Model: not loaded";
    return;
  }
  const wanted = new URLSearchParams(location.search).get("model");
  select.replaceChildren(...models.models.map((m) => {
    const option = new Option(`${m.name}${m.default ? " (default)" : ""}: ${m.labels.length} labels`, m.name);
    option.selected = wanted ? m.name === wanted : m.default;
    return option;
  }));
  select.disabled = models.models.length < 2;
  describeModel();
}

/** The chosen model's line; every call from now on asks for it (?model=). */
function describeModel() {
  const chosen = models.models.find((m) => m.name === $("model-select").value) ?? models.models[0];
  chooseModel(chosen.default ? null : chosen.name);
  const node = $("model");
  node.dataset.model = chosen.name;
  node.dataset.labels = chosen.labels.join(",");
  node.textContent = `Model: ${chosen.name} ${chosen.version} (${chosen.labels.length} labels: ` +
    `${chosen.labels.join(", ")})`;
}

$("model-select").addEventListener("change", () => {
  describeModel();
  if (live.running) { // the stream asks for its model when it opens: reopen it
    live.stop();
    live.start();
  }
});

async function init() {
  const ready = await checkReady();
  await showModel();
  if (!ready.ok) {
    const say = (result) => setStatus(result.reachable ? "not-ready" : "offline", result.reachable
      ? `The service is not ready: ${result.detail} This page will notice when it is.`
      : "The service cannot be reached; retrying…", "warn");
    say(ready);
    await waitForReady(say);
    await showModel();
  }
  if (!live.running && $("status").dataset.state.match(/^(starting|not-ready|offline)$/)) {
    setStatus("ready", "Ready: start the camera, or analyse a photo in the Photo tab.");
  }
}

init();
