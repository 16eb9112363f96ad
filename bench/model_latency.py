"""Section 1b: milliseconds per face of every emotion model in models/ (those with a fer_contract) and of an
untrained ``vgg_fer`` exported to a temporary file (latency depends on the architecture, not the weights),
each run as the service runs it (EmotionClassifier, single-threaded session) at batch 1 and batch 16."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench.classifier_ceiling import mosaic
from bench.stats import median_ms
from model_contract import METADATA_KEY, ContractError, ModelContract, read_contract, write_contract
from service.classifier import EmotionClassifier, ModelLoadError

ROOT = Path(__file__).resolve().parents[1]
# TensorFlow stays out of the bench process: the export runs in a child (it also runs tf2onnx in its own).
_EXPORT = ("import sys; from pathlib import Path; from training.export import convert; "
           "from training.model import build_model; m = build_model(sys.argv[1], 7); convert(m, Path(sys.argv[2])); "
           "print(m.count_params())")


def contracted_models(folder: Path = ROOT / "models") -> list[Path]:
    """ONNX files in ``folder`` that carry a fer_contract (the detectors' models do not)."""
    import onnx

    found = []
    for path in sorted(folder.glob("*.onnx")):
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if METADATA_KEY in props:
            found.append(path)
    return found


def export_untrained(arch: str, out: Path, like: Path, timeout_s: float = 900) -> Path:
    """``training.export.convert(build_model(arch, 7), out)`` in a child process, then the contract of ``like``
    renamed, so the service's loader accepts it."""
    import onnx

    done = subprocess.run([sys.executable, "-c", _EXPORT, arch, str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"exporting {arch} failed: {done.stderr.strip().splitlines()[-1:]}")
    params = int(done.stdout.strip().splitlines()[-1])
    contract = _contract_of(like).with_updates(name=f"{arch}-untrained", version="0.0.0",
                                               training={"arch": arch, "params": params, "untrained": True})
    proto = onnx.load(str(out))
    write_contract(proto, contract)
    onnx.save(proto, str(out))
    return out


def _contract_of(path: Path) -> ModelContract:
    import onnx

    return read_contract({p.key: p.value for p in onnx.load(str(path)).metadata_props})


def measure(path: Path, faces: np.ndarray, repeat: int, batches: tuple[int, ...] = (1, 16)) -> dict[str, Any]:
    classifier = EmotionClassifier.load(path, intra_threads=1, inter_threads=1)
    row: dict[str, Any] = {"model": classifier.contract.name, "file": path.name,
                           "arch": classifier.contract.training.get("arch"),
                           "params": classifier.contract.training.get("params")}
    for b in batches:
        image, boxes = mosaic(faces[:b])
        batch = classifier.crops(image, None, boxes)
        classifier.classify(batch)  # warm-up
        row[f"ms_per_face_batch{b}"] = round(median_ms(partial(classifier.classify, batch), repeat) / b, 3)
    return row


def run(faces: np.ndarray, repeat: int = 50, untrained: tuple[str, ...] = ("vgg_fer",),
        models: list[Path] | None = None) -> dict[str, Any]:
    """``models``: the ONNX files to time (default: the contracted ones in models/)."""
    models = contracted_models() if models is None else models
    rows, problems = [], []
    for path in models:
        try:
            rows.append(measure(path, faces, repeat))
        except (ModelLoadError, ContractError) as exc:
            problems.append(str(exc))
    with tempfile.TemporaryDirectory() as tmp:
        for arch in untrained:
            if not models:
                problems.append(f"{arch}: no contracted model in models/ to borrow a contract from")
                continue
            try:
                path = export_untrained(arch, Path(tmp) / f"{arch}.onnx", like=models[0])
            except (RuntimeError, subprocess.TimeoutExpired, ModelLoadError, ContractError) as exc:
                problems.append(str(exc))
                continue
            rows.append({**measure(path, faces, repeat), "untrained": True})
    return {"repeat": repeat, "session": "EmotionClassifier.load(path, intra_threads=1, inter_threads=1)",
            "note": "untrained models: random weights; latency depends on the architecture, not on the weights",
            "rows": rows, "problems": problems}
