// The service's HTTP side as the page uses it: readiness, model info, photo upload, the stream URL.
// Errors from the service are always {"detail": sentence, "code": machine_code}.

const READY_POLL_MS = 2000;
// When the service has FER_API_KEYS, open the page as /?api_key=KEY: the key goes with every call.
const API_KEY = new URLSearchParams(location.search).get("api_key");

/** {ok: true} when /readyz says ready; otherwise {ok: false, reachable, detail}. */
export async function checkReady() {
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    if (response.ok) return { ok: true, reachable: true, detail: "" };
    const body = await response.json().catch(() => null);
    return { ok: false, reachable: true, detail: body?.detail ?? `The service answered ${response.status}.` };
  } catch {
    return { ok: false, reachable: false, detail: "The service cannot be reached." };
  }
}

/** Poll /readyz until it says ready (or shouldStop() is true); onWaiting(result) reports each failed check. */
export async function waitForReady(onWaiting, shouldStop = () => false) {
  for (;;) {
    const result = await checkReady();
    if (result.ok || shouldStop()) return result.ok;
    onWaiting(result);
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
}

/** The loaded model's name, version and labels, or null while the service is not ready. */
export async function modelInfo() {
  try {
    const response = await fetch("/v1/model", { cache: "no-store" });
    return response.ok ? await response.json() : null;
  } catch {
    return null;
  }
}

/** POST a photo to /predict: {ok, status, body} where body is the answer or the error object. */
export async function predictPhoto(file) {
  const form = new FormData();
  form.append("file", file, file.name);
  const headers = API_KEY ? { Authorization: `Bearer ${API_KEY}` } : {};
  const response = await fetch("/predict", { method: "POST", body: form, headers });
  const body = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}

/** ws:// or wss:// to this page's own host, so the page works behind TLS too. */
export function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = API_KEY ? `?api_key=${encodeURIComponent(API_KEY)}` : "";
  return `${scheme}//${location.host}/ws/stream${query}`;
}
