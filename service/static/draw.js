// Draws answers on a canvas: per face a box, its track id (stream answers), the top emotion with its
// probability and, optionally, a small bar chart of every label's probability. A stream's face shows its
// track's smoothed probabilities (steadier than one frame's). Labels and their order come from the answer
// (the model's own metadata), never from a list in this page, so a model with 8 labels just works.

const BOX_COLOUR = "#00e676";

/** A distinct colour per label position, spread round the hue circle. */
export function labelColour(index, count) {
  return `hsl(${Math.round((index * 360) / Math.max(count, 1))} 75% 55%)`;
}

/** scale: canvas pixels per answer-image pixel (the frame sent may be smaller than the canvas). */
export function drawFaces(ctx, faces, scale, { bars = true, numbered = false } = {}) {
  const canvas = ctx.canvas;
  const font = Math.max(12, Math.round(Math.max(canvas.width, canvas.height) / 45));
  ctx.save();
  ctx.font = `${font}px system-ui, sans-serif`;
  ctx.textBaseline = "top";
  faces.forEach((face, i) => {
    const x = face.box.x * scale, y = face.box.y * scale, w = face.box.w * scale, h = face.box.h * scale;
    ctx.lineWidth = Math.max(2, Math.round(font / 6));
    ctx.strokeStyle = BOX_COLOUR;
    ctx.strokeRect(x, y, w, h);
    const shown = face.smoothed ?? face;
    const name = face.track_id !== undefined ? `#${face.track_id} ` : numbered ? `${i + 1}. ` : "";
    drawTag(ctx, `${name}${shown.emotion} ${Math.round(shown.confidence * 100)}%`, x, y, font);
    if (bars) drawBars(ctx, shown.probabilities, x, y, w, font);
  });
  ctx.restore();
}

function drawTag(ctx, text, x, y, font) {
  const pad = Math.round(font / 4);
  const width = ctx.measureText(text).width + 2 * pad;
  const top = y - font - 2 * pad >= 0 ? y - font - 2 * pad : y;
  ctx.fillStyle = BOX_COLOUR;
  ctx.fillRect(x, top, width, font + 2 * pad);
  ctx.fillStyle = "#000";
  ctx.fillText(text, x + pad, top + pad);
}

/** A bar per label beside the box (right if it fits, else left), clamped inside the canvas. */
function drawBars(ctx, probabilities, x, y, w, font) {
  const entries = Object.entries(probabilities);
  const small = Math.round(font * 0.8);
  ctx.font = `${small}px system-ui, sans-serif`;
  const labelWidth = Math.max(...entries.map(([label]) => ctx.measureText(label).width));
  const barWidth = small * 6, row = small + 4, pad = 4;
  const width = labelWidth + barWidth + 3 * pad, height = entries.length * row + pad;
  const canvas = ctx.canvas;
  let left = x + w + pad;
  if (left + width > canvas.width) left = Math.max(0, x - width - pad);
  const top = Math.min(Math.max(0, y), Math.max(0, canvas.height - height));
  ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
  ctx.fillRect(left, top, width, height);
  entries.forEach(([label, p], i) => {
    const rowTop = top + pad + i * row;
    ctx.fillStyle = "#fff";
    ctx.fillText(label, left + pad, rowTop);
    ctx.fillStyle = labelColour(i, entries.length);
    ctx.fillRect(left + 2 * pad + labelWidth, rowTop + 1, Math.max(1, p * barWidth), small - 2);
  });
}
