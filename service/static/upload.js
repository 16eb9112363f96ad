// The photo tab: one photo -> POST /predict -> the photo with boxes and labels, and a table of every
// face's probabilities. The labels are the answer's own keys, in the model's order.

import { predictPhoto } from "./api.js";
import { drawFaces, labelColour } from "./draw.js";
import { setStatus } from "./status.js";

export function setupUpload({ input, canvas, results }) {
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    if (file) analyse(file, canvas, results);
  });
}

async function analyse(file, canvas, results) {
  setStatus("uploading", `Analysing ${file.name}…`);
  results.dataset.state = "busy";
  let answer;
  try {
    answer = await predictPhoto(file);
  } catch {
    results.dataset.state = "error";
    setStatus("offline", "The service cannot be reached: check that it is running.", "error");
    return;
  }
  if (!answer.ok) {
    results.dataset.state = "error";
    const notReady = answer.body?.code === "model_not_ready";
    const detail = answer.body?.detail ?? `The service answered ${answer.status}.`;
    setStatus(notReady ? "not-ready" : "error", `The photo was not analysed: ${detail}`, notReady ? "warn" : "error");
    return;
  }
  const { faces, image } = answer.body;
  await drawPhoto(canvas, file, image);
  drawFaces(canvas.getContext("2d"), faces, 1, { bars: false, numbered: faces.length > 1 });
  canvas.dataset.faces = String(faces.length);
  renderTable(results, faces);
  results.dataset.faces = String(faces.length);
  results.dataset.state = "done";
  if (faces.length === 0) {
    setStatus("no-face", "No face found in this photo: try one with a larger, frontal face.", "warn");
  } else {
    setStatus("photo-done", `Found ${faces.length} face${faces.length === 1 ? "" : "s"} in ${file.name}.`);
  }
}

/** Draw the photo at the size the service saw it (upright: EXIF orientation applied, as the service does). */
async function drawPhoto(canvas, file, image) {
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext("2d");
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    ctx.drawImage(bitmap, 0, 0, image.width, image.height);
    bitmap.close();
  } catch {
    ctx.fillStyle = "#444"; // the service read it but this browser cannot: boxes on a plain background
    ctx.fillRect(0, 0, image.width, image.height);
  }
}

function renderTable(results, faces) {
  results.replaceChildren(...faces.map((face, i) => {
    const section = document.createElement("section");
    section.className = "face";
    section.dataset.emotion = face.emotion;
    const heading = document.createElement("h3");
    const { x, y, w, h } = face.box;
    heading.textContent = `Face ${i + 1}: ${face.emotion} (${percent(face.confidence)}), ` +
      `box ${w}×${h} at (${x}, ${y})`;
    const table = document.createElement("table");
    table.className = "probabilities";
    const entries = Object.entries(face.probabilities);
    entries.forEach(([label, p], j) => {
      const row = table.insertRow();
      row.dataset.label = label;
      row.dataset.probability = String(p);
      if (label === face.emotion) row.className = "top";
      row.insertCell().textContent = label;
      const bar = document.createElement("span");
      bar.style.width = `${(p * 100).toFixed(1)}%`;
      bar.style.background = labelColour(j, entries.length);
      const cell = row.insertCell();
      cell.className = "bar";
      cell.append(bar);
      row.insertCell().textContent = percent(p);
    });
    section.append(heading, table);
    return section;
  }));
}

function percent(p) {
  return `${(p * 100).toFixed(1)}%`;
}
