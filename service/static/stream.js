// The webcam tab: camera -> JPEG frames -> /ws/stream -> boxes with track ids drawn over the live video, and
// each tracked person's emotion over the last 30 s (timeline.js).
// One frame is in flight at a time: the next leaves when the previous answer (prediction or error)
// arrives, so the page runs at the service's pace. A lost connection is retried with backoff, and a
// service without a model (close code 1013) is waited for through /readyz.

import { checkReady, streamUrl, waitForReady } from "./api.js";
import { drawFaces } from "./draw.js";
import { setStatus } from "./status.js";
import { EmotionTimeline } from "./timeline.js";

const JPEG_QUALITY = 0.8;
const MAX_SIDE = 640; // longer side of the frames sent; the overlay is scaled back to the video
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];
const FPS_WINDOW_MS = 2000;
const SMOOTHING = 0.1; // weight of the newest latency in the smoothed figure

/** Answers per second over a sliding window, last and smoothed round-trip latency, dropped frames. */
class StreamStats {
  constructor() {
    this.times = [];
    this.smoothed = null;
    this.droppedBefore = 0; // dropped frames of earlier connections (the server counts per connection)
    this.dropped = 0;
  }

  answer(now, latencyMs, dropped) {
    this.times.push(now);
    while (now - this.times[0] > FPS_WINDOW_MS) this.times.shift();
    this.smoothed = this.smoothed === null ? latencyMs : this.smoothed + SMOOTHING * (latencyMs - this.smoothed);
    this.last = latencyMs;
    if (typeof dropped === "number") this.dropped = dropped;
  }

  connectionClosed() {
    this.droppedBefore += this.dropped;
    this.dropped = 0;
  }

  get fps() {
    if (this.times.length < 2) return 0;
    return ((this.times.length - 1) * 1000) / (this.times[this.times.length - 1] - this.times[0]);
  }

  render() {
    show("fps", this.fps, this.fps.toFixed(1));
    show("latency", this.last, `${Math.round(this.last)} ms`);
    show("latency-avg", this.smoothed, `${Math.round(this.smoothed)} ms`);
    const dropped = this.droppedBefore + this.dropped;
    show("dropped", dropped, String(dropped));
  }
}

function show(id, value, text) {
  const node = document.getElementById(id);
  node.dataset.value = String(value);
  node.textContent = text;
}

/** A camera error in words: the DOMException names getUserMedia documents. */
function cameraProblem(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return ["no-camera-permission", "Camera permission was denied: allow the camera for this page and try again."];
    case "NotFoundError":
    case "OverconstrainedError":
      return ["no-camera", "No camera was found: connect one, or use the Photo tab."];
    case "NotReadableError":
      return ["camera-busy", "The camera is in use by another program or cannot be read."];
    default:
      return ["camera-error", `The camera could not be started (${error?.message || error}).`];
  }
}

export class LiveStream {
  constructor({ video, overlay, timeline, startButton, stopButton }) {
    Object.assign(this, { video, overlay, startButton, stopButton });
    this.timeline = new EmotionTimeline(timeline);
    this.capture = document.createElement("canvas");
    this.running = false;
    this.ws = null;
    this.attempt = 0;
    this.predictions = 0;
    this.answers = 0;
  }

  async start() {
    if (this.running) return;
    if (!navigator.mediaDevices?.getUserMedia) {
      setStatus("camera-error", "This browser gives no camera access here (it needs https or localhost).", "error");
      return;
    }
    this.running = true;
    this.setButtons();
    setStatus("starting-camera", "Asking for the camera…");
    try {
      this.media = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (error) {
      const [state, message] = cameraProblem(error);
      setStatus(state, message, "error");
      this.running = false;
      this.setButtons();
      return;
    }
    this.video.srcObject = this.media;
    await this.video.play().catch(() => {}); // autoplay of a muted stream is allowed; play() only hurries it
    this.stats = new StreamStats();
    this.connect();
  }

  stop() {
    this.running = false;
    this.setButtons();
    clearTimeout(this.retryTimer);
    this.ws?.close(1000, "stopped");
    this.ws = null;
    this.media?.getTracks().forEach((track) => track.stop());
    this.video.srcObject = null;
    this.clearOverlay();
    this.timeline.clear();
    setStatus("stopped", "Camera stopped.");
  }

  setButtons() {
    this.startButton.disabled = this.running;
    this.stopButton.disabled = !this.running;
  }

  async connect() {
    if (!this.running) return;
    const ready = await checkReady();
    if (!ready.ok) {
      const waited = await waitForReady((result) => this.reportNotReady(result), () => !this.running);
      if (!waited) return;
    }
    if (!this.running) return;
    setStatus("connecting", "Connecting to the service…");
    const ws = new WebSocket(streamUrl());
    this.ws = ws;
    this.timeline.newConnection();
    this.sentAt = new Map();
    this.nextSeq = 0;
    ws.onopen = () => {
      setStatus("streaming", "Streaming: waiting for the first answer…");
      this.sendFrame(ws);
    };
    ws.onmessage = (event) => this.onAnswer(ws, JSON.parse(event.data));
    ws.onclose = (event) => this.onClose(ws, event);
  }

  reportNotReady(result) {
    if (result.reachable) {
      setStatus("not-ready", `The service is not ready: ${result.detail} Waiting for it…`, "warn");
    } else {
      setStatus("reconnecting", "The service cannot be reached; retrying…", "warn");
    }
  }

  async sendFrame(ws) {
    if (!this.running || ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    const { videoWidth, videoHeight } = this.video;
    if (!videoWidth || !videoHeight) {
      setTimeout(() => this.sendFrame(ws), 50); // no picture yet
      return;
    }
    const scale = Math.min(1, MAX_SIDE / Math.max(videoWidth, videoHeight));
    this.capture.width = Math.round(videoWidth * scale);
    this.capture.height = Math.round(videoHeight * scale);
    this.capture.getContext("2d").drawImage(this.video, 0, 0, this.capture.width, this.capture.height);
    const blob = await new Promise((resolve) => this.capture.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    if (!blob) {
      setTimeout(() => this.sendFrame(ws), 50);
      return;
    }
    this.sentAt.set(this.nextSeq++, performance.now());
    ws.send(blob);
  }

  onAnswer(ws, message) {
    if (ws !== this.ws) return;
    if (message.seq === null || message.seq === undefined) {
      // A refusal of the whole stream (e.g. no model); the close that follows decides what happens next.
      const state = message.code === "model_not_ready" ? "not-ready" : "error";
      setStatus(state, `The service refused the stream: ${message.detail}`, "warn");
      return;
    }
    const now = performance.now();
    const sent = this.sentAt.get(message.seq) ?? now;
    this.sentAt.delete(message.seq);
    this.attempt = 0;
    this.answers += 1;
    this.overlay.dataset.answers = String(this.answers);
    this.stats.answer(now, now - sent, message.dropped);
    this.stats.render();
    if (message.type === "prediction") {
      this.predictions += 1;
      this.overlay.dataset.predictions = String(this.predictions);
      this.drawPrediction(message);
    } else {
      setStatus("frame-error", `The service could not use a frame: ${message.detail}`, "error");
    }
    this.sendFrame(ws);
  }

  drawPrediction(message) {
    const ctx = this.clearOverlay();
    drawFaces(ctx, message.faces, this.overlay.width / message.image.width);
    this.overlay.dataset.faces = String(message.faces.length);
    this.overlay.dataset.tracks = message.faces.map((face) => face.track_id).join(",");
    const now = performance.now() / 1000;
    this.timeline.add(message, now);
    this.timeline.draw(now);
    if (message.faces.length === 0) {
      setStatus("no-face", "No face in the frame: face the camera, with light on your face.", "warn");
    } else {
      const n = message.faces.length;
      setStatus("streaming", `Streaming: ${n} face${n === 1 ? "" : "s"} in the frame.`);
    }
  }

  clearOverlay() {
    const ctx = this.overlay.getContext("2d");
    const { videoWidth, videoHeight } = this.video;
    if (videoWidth && (this.overlay.width !== videoWidth || this.overlay.height !== videoHeight)) {
      this.overlay.width = videoWidth; // also clears it
      this.overlay.height = videoHeight;
    }
    ctx.clearRect(0, 0, this.overlay.width, this.overlay.height);
    this.overlay.dataset.faces = "0";
    return ctx;
  }

  onClose(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.stats.connectionClosed();
    if (!this.running) return;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    const seconds = (delay / 1000).toFixed(1);
    if (event.code === 1013) {
      setStatus("not-ready", `The service is not ready (${event.reason || "no model loaded"}); waiting for it…`,
        "warn");
    } else if ([1003, 1008, 1009].includes(event.code)) {
      setStatus("error", `The service closed the stream: ${event.reason || `code ${event.code}`}. ` +
        `Reconnecting in ${seconds} s…`, "error");
    } else {
      setStatus("reconnecting", `Connection lost (code ${event.code}); reconnecting in ${seconds} s ` +
        `(attempt ${this.attempt})…`, "warn");
    }
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
