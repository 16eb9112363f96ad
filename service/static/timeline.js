// Each tracked person's emotion over the last 30 s: one row per track (4 at most), a stacked area of the
// track's smoothed probabilities over time, in the colours of the probability bars. The labels, their order
// and so their colours come from the answers (the model's own metadata), never from a list in this page.

import { labelColour } from "./draw.js";

const WINDOW_S = 30;
const MAX_ROWS = 4;
const ROW_HEIGHT = 44;
const LEGEND_HEIGHT = 22;
const NAME_WIDTH = 44;
const GAP_S = 1.0; // samples further apart than this are not joined: the person was out of view

export class EmotionTimeline {
  constructor(canvas) {
    this.canvas = canvas;
    this.tracks = new Map(); // "connection:track_id" -> {id, samples: [{t, p: [..]}]}
    this.labels = [];
    this.connection = 0;
    this.added = 0;
  }

  /** A new connection: the service numbers its tracks afresh, so its ids are other people. */
  newConnection() {
    this.connection += 1;
  }

  /** Record one prediction's faces at time ``now`` (seconds, the page's clock). */
  add(message, now) {
    for (const face of message.faces) {
      if (face.track_id === undefined) continue;
      const shown = face.smoothed ?? face;
      const labels = Object.keys(shown.probabilities);
      if (labels.join() !== this.labels.join()) this.labels = labels; // another model: its own labels
      const key = `${this.connection}:${face.track_id}`;
      if (!this.tracks.has(key)) this.tracks.set(key, { id: face.track_id, order: this.added++, samples: [] });
      this.tracks.get(key).samples.push({ t: now, p: labels.map((label) => shown.probabilities[label]) });
    }
    this.forget(now);
  }

  /** Drop what is older than the window: memory stays bounded however long the page streams. */
  forget(now) {
    for (const [key, track] of this.tracks) {
      const samples = track.samples;
      let old = 0;
      while (old < samples.length && now - samples[old].t > WINDOW_S) old += 1;
      if (old) samples.splice(0, old);
      if (!samples.length) this.tracks.delete(key);
    }
  }

  clear() {
    this.tracks.clear();
    this.draw(0);
  }

  draw(now) {
    const last = (track) => track.samples[track.samples.length - 1].t;
    const rows = [...this.tracks.values()] // the tracks seen most recently, in the order they came
      .sort((a, b) => last(b) - last(a))
      .slice(0, MAX_ROWS)
      .sort((a, b) => a.order - b.order);
    const canvas = this.canvas;
    const width = canvas.clientWidth || canvas.width;
    const height = LEGEND_HEIGHT + Math.max(1, rows.length) * ROW_HEIGHT;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    ctx.font = "12px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    this.drawLegend(ctx);
    const plotWidth = width - NAME_WIDTH;
    const x = (t) => NAME_WIDTH + plotWidth * (1 - (now - t) / WINDOW_S);
    rows.forEach((track, row) => {
      const top = LEGEND_HEIGHT + row * ROW_HEIGHT, h = ROW_HEIGHT - 6;
      ctx.fillStyle = "rgba(128, 128, 128, 0.15)";
      ctx.fillRect(NAME_WIDTH, top, plotWidth, h);
      ctx.fillStyle = getComputedStyle(canvas).color;
      ctx.fillText(`#${track.id}`, 4, top + h / 2);
      for (const run of runs(track.samples)) drawStack(ctx, run, x, top, h, this.labels.length);
    });
    canvas.dataset.tracks = rows.map((track) => track.id).join(",");
    canvas.dataset.samples = String(rows.reduce((n, track) => n + track.samples.length, 0));
    canvas.dataset.labels = this.labels.join(",");
    canvas.dataset.top = rows.map((track) => this.topLabel(track)).join(",");
  }

  drawLegend(ctx) {
    let left = NAME_WIDTH;
    this.labels.forEach((label, i) => {
      ctx.fillStyle = labelColour(i, this.labels.length);
      ctx.fillRect(left, 5, 12, 12);
      ctx.fillStyle = getComputedStyle(this.canvas).color;
      ctx.fillText(label, left + 16, 11);
      left += 22 + ctx.measureText(label).width;
    });
  }

  /** The label with the highest probability, averaged over the track's window. */
  topLabel(track) {
    const sums = this.labels.map((_, i) => track.samples.reduce((s, sample) => s + (sample.p[i] ?? 0), 0));
    return this.labels[sums.indexOf(Math.max(...sums))] ?? "";
  }
}

/** The samples split where the track was out of view for longer than GAP_S. */
function runs(samples) {
  const out = [];
  let current = [];
  for (const sample of samples) {
    if (current.length && sample.t - current[current.length - 1].t > GAP_S) {
      out.push(current);
      current = [];
    }
    current.push(sample);
  }
  if (current.length) out.push(current);
  return out;
}

/** One band per label, stacked bottom-up in the model's label order, over one run of samples. */
function drawStack(ctx, samples, x, top, height, count) {
  const only = samples.length === 1; // a single sample: a thin bar, so a new track shows at once
  const below = samples.map(() => 0);
  for (let i = 0; i < count; i += 1) {
    const above = samples.map((sample, k) => below[k] + (sample.p[i] ?? 0));
    ctx.beginPath();
    samples.forEach((sample, k) => {
      const px = x(sample.t) + (only ? 2 : 0);
      ctx.lineTo(px, top + height * (1 - above[k]));
    });
    for (let k = samples.length - 1; k >= 0; k -= 1) {
      ctx.lineTo(x(samples[k].t) - (only ? 2 : 0), top + height * (1 - below[k]));
    }
    ctx.closePath();
    ctx.fillStyle = labelColour(i, count);
    ctx.fill();
    above.forEach((value, k) => { below[k] = value; });
  }
}
