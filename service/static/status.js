// The page's one status line (#status): what the page is doing or what went wrong, in words.
// data-state is a stable machine-readable name for tests and styles; data-level is info, warn or error.

export function setStatus(state, message, level = "info") {
  const node = document.getElementById("status");
  node.dataset.state = state;
  node.dataset.level = level;
  node.textContent = message;
}
