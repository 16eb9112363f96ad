"""Keras run -> ONNX (SavedModel + tf2onnx), contract metadata, parity gate, calibration, model card.

``tf2onnx.convert.from_keras`` fails on Keras 3 (KeyError ``keras_tensor_N``); exporting a SavedModel
with ``model.export()`` and converting it with ``python -m tf2onnx.convert --saved-model`` works.
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from model_contract import ContractError, CropSpec, InputSpec, ModelContract, OutputSpec, read_contract, write_contract
from training.calibrate import calibrate as fit_calibration
from training.config import TrainConfig
from training.errors import ExportError
from training.evaluate import KerasPredictor, OnnxPredictor, compute_metrics
from training.ferplus import label_report
from training.latency import measure_latency
from training.sources import load_dataset

log = logging.getLogger(__name__)
PARITY_ATOL = 1e-4
PARITY_FACES = 512
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "probabilities"


def convert(model: Any, out_path: Path) -> None:
    """Write the Keras model as ONNX (dynamic batch, input ``image``, output ``probabilities``)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        saved = Path(tmp) / "saved_model"
        model.export(str(saved), verbose=False)
        raw = Path(tmp) / "raw.onnx"
        cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved), "--output", str(raw),
               "--opset", str(OPSET), "--rename-outputs", OUTPUT_NAME]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ExportError(f"tf2onnx failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        proto = onnx.load(str(raw))
    graph = proto.graph
    if [i.name for i in graph.input] != [INPUT_NAME] or [o.name for o in graph.output] != [OUTPUT_NAME]:
        raise ExportError(f"unexpected ONNX io {[i.name for i in graph.input]} -> {[o.name for o in graph.output]}")
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(proto, str(out_path))


def check_parity(model: Any, onnx_path: Path, faces: np.ndarray) -> float:
    """Max |Keras - onnxruntime| over ``faces``; raises ExportError above PARITY_ATOL."""
    import onnxruntime as ort

    x = faces[..., None].astype(np.float32)
    expected = model.predict(x, batch_size=256, verbose=0)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x})[0]
    diff = float(np.abs(expected - got).max())
    if not diff <= PARITY_ATOL:
        raise ExportError(f"onnxruntime and Keras disagree on {len(faces)} real faces: max |diff| {diff:.2e} "
                          f"> {PARITY_ATOL:.0e}; the ONNX file was not written")
    return diff


def _parent(run_dir: Path, config: TrainConfig) -> dict[str, Any] | None:
    """The model a warm-started run began from (``--init-from``): its file's sha256 then, and its own training."""
    if not config.init_from:
        return None
    state = json.loads((run_dir / "checkpoints" / "state.json").read_text())
    parent: dict[str, Any] = {"path": config.init_from, "sha256": state.get("init_from_sha256")}
    try:
        import onnx

        meta = {p.key: p.value for p in onnx.load(config.init_from, load_external_data=False).metadata_props}
        contract = read_contract(meta)
        t = contract.training
        parent.update(name=contract.name, train_seconds=t.get("train_seconds"),
                      epochs_run=t.get("epochs_run"), hardware=t.get("hardware"))
    except (OSError, ContractError, ValueError):
        log.warning("--init-from %s is no longer readable: its own training is not in the card", config.init_from)
    return parent


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def trained_on(model_path: Path, training: dict[str, Any], data: str, ferplus_csv: str | None) -> tuple[Any, Any]:
    """(dataset, splits) of an exported model's contract ``training``: the CSV at ``data`` must be the one it was
    trained on (same sha256); its protocol's splits, no balancing."""
    from training.protocols import make_splits

    dataset = load_dataset(data, training.get("label_source", "fer2013"), ferplus_csv)
    if dataset.sha256 != training.get("dataset_sha256"):
        raise ExportError(f"{data} is not the dataset {model_path.name} was trained on (sha256 differs)")
    return dataset, make_splits(dataset, training.get("protocol", "official"), 0, "none")


def calibrated_results(predictor: OnnxPredictor, dataset: Any, splits: Any, method: str
                       ) -> tuple[np.ndarray, dict[str, Any], dict[str, dict[str, Any]],
                                  dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Fit ``method`` on the selection split into ``predictor.contract``, then every split's results with it:
    (the selection split's raw outputs, the contract's calibration record, results, curves)."""
    raw = predictor.raw(dataset.images[splits.select])
    temperature, confidence_map, record = fit_calibration(
        method, raw, dataset.labels[splits.select], predictor.contract.output.kind, splits.select_name)
    predictor.contract = predictor.contract.with_updates(temperature=temperature, confidence_map=confidence_map)
    return (raw, record, *split_results(predictor, dataset, splits))


def split_results(predictor: OnnxPredictor, dataset: Any, splits: Any
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Metrics of the ONNX model on the selection and the report split (the contract's and the card's figures),
    and the (probabilities, labels) behind them."""
    results, curves = {}, {}
    for split, positions in ((splits.select_name, splits.select), (splits.report_name, splits.report)):
        probs = predictor.predict(dataset.images[positions])
        y = dataset.labels[positions]
        m = compute_metrics(probs, y, dataset.label_names, split)
        m["ece_uncalibrated"] = compute_metrics(predictor.raw(dataset.images[positions]), y,
                                                dataset.label_names, split)["ece"]
        results[split] = m
        curves[split] = (probs, y)
    return results, curves


def contract_metrics(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s: {k: m[k] for k in ("n", "accuracy", "macro_f1", "ece", "ece_uncalibrated")} for s, m in results.items()}


def export_run(run_dir: Path, out_path: Path, name: str | None = None, version: str = "1.0.0",
               data: str | None = None, calibrate: bool = True, seed_run: Path | None = None,
               seed_official_run: Path | None = None, tta: str = "none", crop: CropSpec | None = None,
               crop_chosen_for: str | None = None, calibration: str = "isotonic") -> Path:
    import keras
    import onnx

    from training import card
    from training.protocols import make_splits

    config = TrainConfig.load(run_dir / "config.json")
    run_metrics = json.loads((run_dir / "metrics.json").read_text())
    base = keras.models.load_model(run_dir / "model.keras", compile=False)
    model = base
    if tta == "flip":
        from training.model import with_flip_tta

        model = with_flip_tta(base)
    dataset = load_dataset(data or config.data, config.labels, config.ferplus_csv)
    if dataset.sha256 != run_metrics["dataset_sha256"]:
        raise ExportError(f"{data or config.data} is not the dataset the run was trained on (sha256 differs)")
    splits = make_splits(dataset, config.protocol, config.seed, "none")
    name = name or out_path.stem
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(f".{out_path.name}.tmp")
    try:
        convert(model, tmp_path)
        rng = np.random.default_rng(0)
        pick = rng.choice(splits.select, size=min(PARITY_FACES, len(splits.select)), replace=False)
        diff = check_parity(model, tmp_path, dataset.images[pick])
        log.info("parity: max |keras - onnxruntime| = %.2e on %d real faces", diff, len(pick))

        tta_selection = None
        if tta != "none":  # the evidence for test-time augmentation, on the selection split only
            y_select = dataset.labels[splits.select]
            with_tta = KerasPredictor(model, dataset.label_names).predict(dataset.images[splits.select])
            plain = KerasPredictor(base, dataset.label_names).predict(dataset.images[splits.select])
            tta_selection = {"split": splits.select_name, "none": float((plain.argmax(1) == y_select).mean()),
                             tta: float((with_tta.argmax(1) == y_select).mean())}
        contract = ModelContract(
            name=name, version=version, labels=dataset.label_names,
            input=InputSpec(name=INPUT_NAME, height=48, width=48, channels=1, colour="gray"),
            output=OutputSpec(name=OUTPUT_NAME, kind="probabilities"),
            crop=crop or CropSpec(),
            training={
                "calibration": None,
                "protocol": config.protocol, "label_source": config.labels, "arch": config.arch,
                "params": int(model.count_params()), "dataset_sha256": dataset.sha256,
                "config": json.loads(config.to_json()), "selected_epoch": run_metrics["selected_epoch"],
                "epochs_run": run_metrics["epochs_run"], "train_seconds": run_metrics["train_seconds"],
                "hardware": run_metrics.get("hardware") or hardware(),
                "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "parity_max_abs_diff": diff, "tta": tta, "tta_selection": tta_selection, "metrics": {},
                "labels": None if config.labels == "fer2013" or not config.ferplus_csv
                else label_report(config.ferplus_csv, config.labels),
                "init_from": _parent(run_dir, config),
                # the model bench.crop_eval chose the crop rule for, when it was not this one
                "crop_chosen_for": crop_chosen_for if crop_chosen_for not in (None, name) else None,
            },
        )
        proto = onnx.load(str(tmp_path))
        write_contract(proto, contract)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp_path))

        # Every figure in the contract and the card, and the calibration, comes from the ONNX file itself, so
        # `fer-train evaluate --model NAME.onnx` and `fer-train amend --calibrate` reproduce them exactly.
        predictor = OnnxPredictor.load(tmp_path)
        # Calibrating on the seed protocol's only held-out split would tune on its test split: skip it.
        if calibrate and config.protocol == "official":
            _, record, results, curves = calibrated_results(predictor, dataset, splits, calibration)
            contract = predictor.contract.with_updates(training={**contract.training, "calibration": record})
        else:
            results, curves = split_results(predictor, dataset, splits)
        contract = contract.with_updates(training={**contract.training, "metrics": contract_metrics(results),
                                                   "latency": measure_latency(tmp_path)})
        write_contract(proto, contract)
        onnx.save(proto, str(tmp_path))
        tmp_path.replace(out_path)
    finally:
        tmp_path.unlink(missing_ok=True)
    seed_leak = None
    if seed_run is None and config.labels == "fer2013":
        # Until the seed-protocol run exists, the card still states its leak: a property of the split alone.
        seed_leak = make_splits(dataset, "seed", 0).leak
    card.write_card(out_path, contract, results, curves, run_dir, seed_run, seed_official_run, seed_leak)
    return out_path
