// Entry point of the live demo page: tabs, the model line, the readiness message, and wiring of the
// webcam stream (stream.js) and the photo upload (upload.js). Plain ES modules, no build step.

import { checkReady, modelInfo, waitForReady } from "./api.js";
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

async function showModel() {
  const info = await modelInfo();
  const node = $("model");
  node.dataset.state = info ? "ready" : "unknown";
  node.textContent = info
    ? `Model: ${info.name} ${info.version} (${info.labels.length} labels), detector: ${info.detector?.name ?? "?"}`
    : "Model: not loaded";
}

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
