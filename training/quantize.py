"""``fer-train quantize``: an int8 copy of an exported model, for CPUs with integer dot-product units.

onnxruntime's static quantization (QDQ format): every Conv gets int8 weights, one scale per output channel, and
uint8 activations whose ranges are the minimum and maximum seen on Training faces (never a test split); the Relu
and MaxPool layers between convolutions are quantized too (``OPS``), so the activations stay uint8 from one
convolution to the next instead of going back to float around each of them (seed CNN on an AMD EPYC Zen 4, one
thread, eight alternating rounds: 1.90 ms per face with Conv alone, 1.68 ms with them; the same PublicTest
accuracy). The dense layers stay fp32 (a few percent of the compute). Weights use 7 of their 8 bits
(``reduce_range``): a sum of two uint8 x int8 products then fits the 16-bit intermediates that CPUs without VNNI
use, which would otherwise saturate (only a VNNI machine was at hand to measure on).

Measured on an AMD EPYC (Zen 4, AVX-512 VNNI), batch 1, one thread, flip TTA inside, the shipped copies beside
their sources: seed CNN 4.41 -> 1.60 ms per face (Conv alone, the 1.0.0 copy: 5.07 -> 1.68), PublicTest
65.45% -> 65.39%; vgg_fer 1.1.0 (Conv alone) 23.41 -> 7.66 ms, 67.57% -> 67.60%. The detector (YuNet-s,
mostly depthwise convolutions) got slower quantized (5.6 -> 10.9 ms), so it stays fp32.

The copy gets its own contract (name, calibration refitted on PublicTest, metrics of the int8 graph, latency) and
card; its training record is the source's plus ``quantized_from`` (source file, sha256, agreement).
"""

from __future__ import annotations

import logging
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from model_contract import ModelContract, read_contract, write_contract
from training.errors import ExportError

log = logging.getLogger(__name__)

CALIBRATION_FACES = 512
BATCH = 64
OPS = ("Conv", "Relu", "MaxPool")  # the op types given int8 (`fer-train quantize --ops`); before 2026-12-03: Conv


def _shown(path: Path) -> str:
    """The path as the card shows it: relative to the working directory (the repository) when inside it."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


class _Faces:
    """onnxruntime's CalibrationDataReader protocol over (n, 48, 48) uint8 faces."""

    def __init__(self, input_name: str, faces: np.ndarray) -> None:
        self._batches = iter([{input_name: faces[i : i + BATCH, ..., None].astype(np.float32)}
                              for i in range(0, len(faces), BATCH)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def quantize_graph(source: Path, out: Path, input_name: str, faces: np.ndarray, ops: tuple[str, ...] = OPS) -> None:
    """Write the int8 graph of ``source`` to ``out`` (no contract), calibrated on ``faces``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), _Faces(input_name, faces), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=list(ops),
                        calibrate_method=CalibrationMethod.MinMax)


def quantize(model_path: Path, data: str, out_path: Path, name: str | None = None,
             faces: int = CALIBRATION_FACES, seed: int = 0, ferplus_csv: str | None = None,
             calibration: str = "isotonic", ops: tuple[str, ...] = OPS, version: str | None = None) -> ModelContract:
    """``version``: the copy's (default: its source's)."""
    import onnx

    from training import card
    from training.evaluate import OnnxPredictor
    from training.export import calibrated_results, contract_metrics, trained_on
    from training.latency import measure_latency
    from training.warm_start import file_sha256

    if not model_path.is_file():
        raise ExportError(f"{model_path}: no such model")
    source = read_contract({p.key: p.value for p in onnx.load(str(model_path), load_external_data=False)
                            .metadata_props})
    if source.training.get("quantized_from"):
        raise ExportError(f"{model_path} is already quantized")
    training: dict[str, Any] = dict(source.training)
    dataset, splits = trained_on(model_path, training, data, ferplus_csv)
    pick = np.sort(np.random.default_rng(seed).choice(splits.train, size=min(faces, len(splits.train)),
                                                      replace=False))
    name = name or out_path.stem
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(f".{out_path.name}.tmp")
    try:
        quantize_graph(model_path, tmp_path, source.input.name, dataset.images[pick], ops)
        proto = onnx.load(str(tmp_path))
        # evaluation reads the contract from the file
        write_contract(proto, source.with_updates(name=name, version=version or source.version))
        onnx.save(proto, str(tmp_path))
        predictor = OnnxPredictor.load(tmp_path)
        raw, record, results, curves = calibrated_results(predictor, dataset, splits, calibration)
        source_raw = OnnxPredictor.load(model_path).raw(dataset.images[splits.select])
        agreement = float((raw.argmax(1) == source_raw.argmax(1)).mean())
        training.update(
            metrics=contract_metrics(results), latency=measure_latency(tmp_path),
            calibration=record,
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            quantized_from={
                "path": _shown(model_path), "name": source.name, "version": source.version,
                "sha256": file_sha256(model_path),
                "metrics": source.training.get("metrics"), "latency": source.training.get("latency"),
                "latency_here": measure_latency(model_path),  # beside this copy's, on the same machine
                "method": f"onnxruntime static QDQ of {', '.join(ops)}: weights int8 per channel (7 bits), "
                          "activations uint8 (MinMax); dense layers fp32",
                "ops": list(ops),
                "calibration_faces": len(pick), "calibration_split": "Training", "seed": seed,
                "top1_agreement": {"split": splits.select_name, "fraction": round(agreement, 4)},
            })
        contract = predictor.contract.with_updates(training=training)
        write_contract(proto, contract)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp_path))
        tmp_path.replace(out_path)
    finally:
        tmp_path.unlink(missing_ok=True)
    log.info("%s: %s accuracy %.4f (source %.4f), %.2f ms per face (source %s)", out_path, splits.select_name,
             results[splits.select_name]["accuracy"],
             (source.training.get("metrics") or {}).get(splits.select_name, {}).get("accuracy", float("nan")),
             training["latency"]["ms_per_face"], (source.training.get("latency") or {}).get("ms_per_face"))
    card.write_quantized_card(out_path, contract, results, curves)
    return contract
