"""Section 3: the `fer` PyPI package on the very same JPEG photos as section 2, in its own venv
(bench/peer_venv.py) and its own process: images/s and recall, and the ratio ours/fer."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench import peer_venv
from bench.detection_eval import match
from bench.photos import Photo, jpeg
from bench.stats import ratio
from service.detectors import Box

WORKER = Path(__file__).resolve().parent / "fer_peer_worker.py"
TARGET_SPEEDUP = 5.0


def run_fer(photos: list[Photo], repeat: int, quality: int = 90, timeout_s: float = 1800) -> dict[str, Any]:
    """fer's raw answer for each photo (decoded from the same JPEG bytes as ours, to BGR like cv2.imread)."""
    py, why = peer_venv.ensure()
    if py is None:
        return {"available": False, "reason": why}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "images.npz"
        images = {f"img{i}": cv2.imdecode(np.frombuffer(jpeg(p.rgb, quality), np.uint8), cv2.IMREAD_COLOR)
                  for i, p in enumerate(photos)}
        np.savez(path, **images)  # type: ignore[arg-type]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        try:
            done = subprocess.run([str(py), "-I", str(WORKER), str(path), "--repeat", str(repeat)], capture_output=True,
                                  text=True, env=env, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"available": False, "reason": f"fer did not finish in {timeout_s:.0f} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"available": False, "reason": f"fer failed (exit {done.returncode}): {' / '.join(tail)}"}
    return {"available": True, **json.loads(done.stdout.strip().splitlines()[-1])}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    faces = sum(r["faces"] for r in rows)
    found = sum(r["found"] for r in rows)
    total_s = sum(r["ms"] for r in rows) / 1000
    return {"images": len(rows), "faces": faces, "found": found, "recall": round(found / faces, 4) if faces else None,
            "false_positives": sum(r["false_positives"] for r in rows),
            "images_per_s": round(len(rows) / total_s, 2) if total_s else None}


def run(photos: list[Photo], ours: dict[str, Any], repeat: int = 3, quality: int = 90) -> dict[str, Any]:
    """``ours``: section 2's result on the same photos (its default detector is compared)."""
    answer = run_fer(photos, repeat, quality)
    if not answer["available"]:
        return {"available": False, "reason": answer["reason"], "venv": str(peer_venv.VENV)}
    rows = []
    for photo, r in zip(photos, answer["images"], strict=True):
        tp, fp = match(photo.faces, [Box(x, y, w, h) for x, y, w, h in r["boxes"]])
        rows.append({"photo": photo.name, "size": photo.group, "faces": len(photo.faces), "found": tp,
                     "false_positives": fp, "ms": r["ms"]})
    sizes = dict.fromkeys(r["size"] for r in rows)
    fer_sizes = {s: summarise([r for r in rows if r["size"] == s]) for s in sizes} | {"all": summarise(rows)}
    comparison = {}
    for detector, result in ours["detectors"].items():
        per_size = {}
        for size, fer_row in fer_sizes.items():
            mine = result["sizes"][size]
            speedup = ratio(mine["images_per_s"], fer_row["images_per_s"])
            recall_ok = (mine["recall"] or 0.0) >= (fer_row["recall"] or 0.0)
            per_size[size] = {"ours_images_per_s": mine["images_per_s"], "fer_images_per_s": fer_row["images_per_s"],
                              "speedup": speedup, "ours_recall": mine["recall"], "fer_recall": fer_row["recall"],
                              "met": bool(speedup is not None and speedup >= TARGET_SPEEDUP and recall_ok)}
        comparison[detector] = per_size
    return {"available": True, "venv": str(peer_venv.VENV), "fer_version": answer["fer_version"],
            "tensorflow_version": answer["tensorflow_version"], "repeat": repeat,
            "fer_settings": "FER() defaults: Haar cascade on the full image (scale 1.1, min 50 px, 5 neighbours), "
                            "quantized TFLite emotion model; TensorFlow's own thread count",
            "timing_note": "fer is timed on decoded arrays (no JPEG decode); ours includes decoding the JPEG",
            "init_s": round(answer["init_s"], 2), "first_call_ms": round(answer["first_call_ms"], 1),
            "target_speedup": TARGET_SPEEDUP, "fer": {"sizes": fer_sizes, "photos": rows}, "comparison": comparison}
