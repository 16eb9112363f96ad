"""``fer-train amend``: re-measure, on an already exported model, what ``fer-train export`` measures today, and
rewrite its contract and the results section of its card. The weights never change (checked: same graph bytes).

- ``--crop RULE``: the face-crop rule (chosen with ``python -m bench.crop_eval`` on PublicTest);
- ``--calibrate``: the calibration (``--calibration isotonic`` or ``temperature``: training/calibrate.py), fitted
  on the selection split, and every split's metrics recomputed from the ONNX file;
- ``--latency``: ms per face on this machine (training/latency.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from model_contract import CropSpec, ModelContract, read_contract, write_contract
from training.errors import ExportError

log = logging.getLogger(__name__)


def amend(model_path: Path, data: str | None = None, crop: CropSpec | None = None, calibrate: bool = False,
          latency: bool = False, ferplus_csv: str | None = None, method: str = "isotonic") -> ModelContract:
    import onnx

    from training import card
    from training.evaluate import OnnxPredictor
    from training.export import calibrated_results, contract_metrics, trained_on
    from training.latency import measure_latency

    proto = onnx.load(str(model_path))
    graph_before = proto.graph.SerializeToString()
    contract = read_contract({p.key: p.value for p in proto.metadata_props})
    training: dict[str, Any] = dict(contract.training)
    if crop is not None:
        contract = contract.with_updates(crop=crop)
        training["crop_chosen_for"] = None  # re-measured for this model (bench.crop_eval --model)
    results = curves = None
    if calibrate:
        if data is None:
            raise ExportError("--calibrate needs --data (the FER2013 CSV the model was trained on)")
        dataset, splits = trained_on(model_path, training, data, ferplus_csv)
        predictor = OnnxPredictor.load(model_path)
        predictor.contract = contract
        _, record, results, curves = calibrated_results(predictor, dataset, splits, method)
        contract = predictor.contract
        training.update(metrics=contract_metrics(results), calibration=record)
        log.info("%s (fitted on %s); %s", record["method"], splits.select_name,
                 ", ".join(f"{s} ECE {m['ece']:.4f}" for s, m in results.items()))
    if latency:
        training["latency"] = measure_latency(model_path)
    contract = contract.with_updates(training=training)
    write_contract(proto, contract)
    if proto.graph.SerializeToString() != graph_before:
        raise ExportError("amending the contract changed the graph; nothing was written")
    tmp = model_path.with_name(f".{model_path.name}.tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(model_path)

    card_path = model_path.with_suffix(".md")
    if card_path.is_file():
        # The card lists the selection split first (the contract's JSON keeps its keys sorted).
        stored = training.get("metrics", {})
        select = (training.get("calibration") or {}).get("split", "PublicTest")
        metrics = results or {s: stored[s] for s in sorted(stored, key=lambda s: s != select)}
        card_path.write_text(card.replace_results_section(card_path.read_text(),
                                                           card.results_section(contract, metrics)))
        if curves is not None:
            split = list(curves)[-1]
            card.save_reliability(model_path.with_suffix(".assets"), contract, split, curves[split])
    return contract
