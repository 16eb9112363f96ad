// The service's HTTP side as the page uses it: readiness, model info, photo upload, the stream URL.
// Errors from the service are always {"detail": sentence, "code": machine_code}.

const READY_POLL_MS = 2000;
// When the service has FER_API_KEYS, open the page as /?api_key=KEY: the key goes with every call.
const API_KEY = new URLSearchParams(location.search).get("api_key");
// The model every call asks for (?model= of GET /v1/models); null: the service's default. /?model=NAME preselects.
let chosenModel = new URLSearchParams(location.search).get("model");

/** Ask for this model from now on (null: the service's default). */
export function chooseModel(name) {
  chosenModel = name || null;
}

/** "?model=...&api_key=..." for what is set, or "". */
function query(withKey) {
  const params = new URLSearchParams();
  if (chosenModel) params.set("model", chosenModel);
  if (withKey && API_KEY) params.set("api_key", API_KEY);
  const text = params.toString();
  return text ? `?${text}` : "";
}

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

/** The default model's name, version and labels, or null while the service is not ready. */
export async function modelInfo() {
  return getJson("/v1/model");
}

/** {default, models: [{name, version, labels, ...}]} of every served model, or null while not ready. */
export async function modelList() {
  return getJson("/v1/models");
}

async function getJson(path) {
  try {
    const response = await fetch(path, { cache: "no-store" });
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
  const response = await fetch(`/predict${query(false)}`, { method: "POST", body: form, headers });
  const body = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}

/** ws:// or wss:// to this page's own host, so the page works behind TLS too. */
export function streamUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/stream${query(true)}`;
}
