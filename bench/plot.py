"""docs/benchmarks.png: images/s per frame size (ours with each detector, and fer), HTTP latency percentiles and
requests/s per concurrency, and the server's memory over requests; a panel only for sections that ran."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _speed(ax: Any, pipeline: dict[str, Any] | None, peer: dict[str, Any] | None) -> None:
    series: dict[str, dict[str, Any]] = {}
    for name, d in (pipeline or {}).get("detectors", {}).items():
        series[f"ours ({name})"] = d["sizes"]
    if peer and peer.get("available"):
        series["fer"] = peer["fer"]["sizes"]
    sizes = [k for k in next(iter(series.values())) if k != "all"]
    width = 0.8 / len(series)
    for i, (label, by_size) in enumerate(series.items()):
        values = [by_size[s]["images_per_s"] or 0 for s in sizes]
        ax.bar(np.arange(len(sizes)) + i * width, values, width, label=label)
    ax.set_xticks(np.arange(len(sizes)) + width * (len(series) - 1) / 2, sizes)
    ax.set_ylabel("images/s (one at a time)")
    ax.set_title("Pipeline, same JPEG photos (1-4 faces)")
    ax.legend()


def _http(ax: Any, http: dict[str, Any]) -> None:
    rows = http["rows"]
    x = np.arange(len(rows))
    for i, q in enumerate(("p50", "p95", "p99")):
        ax.bar(x + i * 0.27, [r["latency_ms"][q] or 0 for r in rows], 0.27, label=q)
    ax.set_xticks(x + 0.27, [f"c={r['concurrency']}\n{r['requests_per_s']:.0f} req/s" for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(f"HTTP /predict, {http['workers']} workers, 640x480 photo")
    ax.legend()


def _memory(ax: Any, memory: dict[str, Any]) -> None:
    samples = memory["samples"]
    requests = [s["requests"] for s in samples]
    ax.plot(requests, [s["pss_mb"] for s in samples], marker="o", label="all processes, PSS")
    ax.plot(requests, [s["rss_mb"] for s in samples], marker=".", linestyle=":", label="all processes, RSS sum")
    ax.plot(requests, [s["largest_process_mb"] for s in samples], marker="o", label="largest process, RSS")
    ax.axhline(memory["target_mb"], color="gray", linestyle="--", label="target")
    ax.set_xlabel("requests")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.set_title("Server memory")
    ax.legend()


def plot(sections: dict[str, dict[str, Any]], path: Path, title: str) -> bool:
    """Write the figure; False when no section it draws has run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def ok(key: str) -> dict[str, Any] | None:
        r = sections.get(key)
        return r if r and "error" not in r else None

    panels = []
    if ok("pipeline") or (ok("peer") or {}).get("available"):
        panels.append(lambda ax: _speed(ax, ok("pipeline"), ok("peer")))
    if http := ok("http"):
        panels.append(lambda ax: _http(ax, http))
    if memory := ok("memory"):
        panels.append(lambda ax: _memory(ax, memory))
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for draw, ax in zip(panels, axes[0], strict=True):
        draw(ax)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
