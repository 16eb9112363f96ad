"""Which calibration method carries over to faces it was not fitted on? Chosen inside PublicTest only.

    python -m bench.calibration_cv [--model models/NAME.onnx ...] [--json out.json]

Each method is fitted on one half of PublicTest and scored (ECE, 15 bins) on the other, both ways, over 20 random
halvings; the method with the lowest mean is the one a model should ship with. Each is then fitted on the whole of
PublicTest and PrivateTest's ECE is reported beside it, for the record only: PrivateTest chooses nothing.

Methods: none; one temperature T minimising the ECE (what export does, training/calibrate.py) or the NLL; a bias
per class fitted by NLL, then T by ECE; vector scaling (T and a bias per class, both by NLL); and two binning
methods on the top label's confidence: isotonic regression, and histogram binning (15 equal-mass bins).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from model_contract import ConfidenceMap, to_probabilities
from training.calibrate import fit_confidence_map, fit_temperature, nll
from training.evaluate import expected_calibration_error

Calibrator = Callable[[np.ndarray], np.ndarray]  # logits -> probabilities
REPEATS = 20


def softmax(z: np.ndarray) -> np.ndarray:
    return to_probabilities(z, "logits")


def _nll_fit(z: np.ndarray, y: np.ndarray, with_temperature: bool) -> tuple[float, np.ndarray]:
    """(T, bias per class) minimising the NLL of softmax(z / T + bias); T stays 1 unless ``with_temperature``."""
    from scipy.optimize import minimize

    k = z.shape[1]

    def loss(p: np.ndarray) -> float:
        t = np.exp(p[0]) if with_temperature else 1.0
        return nll(softmax(z / t + p[1:]), y)

    p = minimize(loss, np.zeros(k + 1), method="L-BFGS-B").x
    return (float(np.exp(p[0])) if with_temperature else 1.0), p[1:]


def temperature(objective: str) -> Callable[[np.ndarray, np.ndarray], Calibrator]:
    def fit(z: np.ndarray, y: np.ndarray) -> Calibrator:
        t = fit_temperature(z, y, "logits", objective)
        return lambda x: softmax(x / t)
    return fit


def bias_then_temperature(z: np.ndarray, y: np.ndarray) -> Calibrator:
    _, b = _nll_fit(z, y, with_temperature=False)
    t = fit_temperature(z + b, y, "logits", "ece")
    return lambda x: softmax((x + b) / t)


def vector_scaling(z: np.ndarray, y: np.ndarray) -> Calibrator:
    t, b = _nll_fit(z, y, with_temperature=True)
    return lambda x: softmax(x / t + b)


def _top_label(fit_map: Callable[[np.ndarray, np.ndarray], ConfidenceMap]
               ) -> Callable[[np.ndarray, np.ndarray], Calibrator]:
    """A binning method on the top label's probability, applied as the contract applies it (ConfidenceMap)."""
    def fit(z: np.ndarray, y: np.ndarray) -> Calibrator:
        mapping = fit_map(softmax(z), y)
        return lambda x: mapping.apply(softmax(x))
    return fit


def _histogram(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> ConfidenceMap:
    """Equal-mass bins of the top label's probability, each mapped to its accuracy (a step function as knots)."""
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == y).astype(np.float64)
    edges = np.quantile(confidence, np.linspace(0, 1, bins + 1)[1:-1])
    which = np.searchsorted(edges, confidence)
    accuracy = [float(correct[which == b].mean()) if (which == b).any() else float(correct.mean())
                for b in range(bins)]
    xs, ys = [0.0], [accuracy[0]]
    for i, edge in enumerate(edges):
        xs += [float(edge), float(edge)]
        ys += [accuracy[i], accuracy[i + 1]]
    return ConfidenceMap((*xs, 1.0), (*ys, accuracy[-1]))


METHODS: dict[str, Callable[[np.ndarray, np.ndarray], Calibrator]] = {
    "none": lambda z, y: softmax,
    "temperature_ece": temperature("ece"),
    "temperature_nll": temperature("nll"),
    "bias_nll_then_temperature_ece": bias_then_temperature,
    "vector_scaling_nll": vector_scaling,
    "top_label_isotonic": _top_label(fit_confidence_map),  # what fer-train --calibration isotonic fits
    "top_label_histogram_15": _top_label(_histogram),
}


def cross_validated_ece(z: np.ndarray, y: np.ndarray, fit: Callable[[np.ndarray, np.ndarray], Calibrator],
                        repeats: int = REPEATS, seed: int = 0) -> float:
    """Mean ECE on the held-out half over ``repeats`` random halvings of (z, y), each half fitted in turn."""
    rng = np.random.default_rng(seed)
    scores = []
    for _ in range(repeats):
        order = rng.permutation(len(y))
        a, b = order[: len(y) // 2], order[len(y) // 2:]
        for train, test in ((a, b), (b, a)):
            scores.append(expected_calibration_error(fit(z[train], y[train])(z[test]), y[test]))
    return float(np.mean(scores))


def compare(public: tuple[np.ndarray, np.ndarray], private: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Every method's PublicTest cross-validated ECE and, fitted on all of PublicTest, its PrivateTest ECE."""
    (zp, yp), (zq, yq) = public, private
    cv = {name: cross_validated_ece(zp, yp, fit) for name, fit in METHODS.items()}
    rows = [{"method": name, "publictest_cv_ece": cv[name],
             "privatetest_ece": expected_calibration_error(fit(zp, yp)(zq), yq)} for name, fit in METHODS.items()]
    return {"rows": rows, "chosen_on_publictest": min(cv, key=cv.__getitem__)}


def run(data_path: str, model_path: str) -> dict[str, Any]:
    from training.data import load_fer2013
    from training.evaluate import OnnxPredictor

    data = load_fer2013(data_path)
    predictor = OnnxPredictor.load(model_path)
    if predictor.labels != data.label_names:
        raise SystemExit(f"{model_path} is not a FER2013 model (labels {predictor.labels})")
    splits = {}
    for split in ("PublicTest", "PrivateTest"):
        idx = data.indices(split)
        probs = to_probabilities(predictor.raw(data.images[idx]), predictor.contract.output.kind)
        splits[split] = (np.log(np.clip(probs, 1e-12, None)), data.labels[idx])  # logits, up to a shift per row
    accuracy = {s: float((z.argmax(1) == y).mean()) for s, (z, y) in splits.items()}
    return {"model": Path(model_path).name, "accuracy": accuracy, **compare(splits["PublicTest"],
                                                                           splits["PrivateTest"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=os.environ.get("FER2013_CSV", "../shared/data/fer2013.csv.gz"))
    p.add_argument("--model", action="append", help="default: the shipped FER2013 models")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    models = args.model or [f"models/{name}.onnx" for name in ("fer2013_seed_cnn", "fer2013_seed_cnn_int8",
                                                                "fer2013_vgg", "fer2013_vgg_int8")]
    results = [run(args.data, m) for m in models]
    for r in results:
        print(f"\n{r['model']}: accuracy PublicTest {r['accuracy']['PublicTest']:.2%}, "
              f"PrivateTest {r['accuracy']['PrivateTest']:.2%}; chosen on PublicTest: {r['chosen_on_publictest']}")
        print("| method | PublicTest ECE, 2-fold CV x 20 | PrivateTest ECE (fitted on all PublicTest) |")
        print("|---|---:|---:|")
        for row in r["rows"]:
            print(f"| {row['method']} | {row['publictest_cv_ece']:.4f} | {row['privatetest_ece']:.4f} |")
    mean = across_models(results)
    print("\nOne method for every model, by the mean of their PublicTest CV ECEs: "
          + ", ".join(f"{m} {v:.4f}" for m, v in sorted(mean.items(), key=lambda kv: kv[1])))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


def across_models(results: list[dict[str, Any]]) -> dict[str, float]:
    """Each method's PublicTest cross-validated ECE averaged over the models: the way one method is chosen for
    the pipeline (per model, methods within a few thousandths of each other trade places from run to run)."""
    return {name: float(np.mean([next(r["publictest_cv_ece"] for r in m["rows"] if r["method"] == name)
                                 for m in results])) for name in METHODS}


if __name__ == "__main__":
    main()
