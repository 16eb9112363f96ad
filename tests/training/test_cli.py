"""fer-train end to end on real FER2013, through the command line: inspect, train, export, evaluate."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def fer_train(*args: object, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "training.cli", *map(str, args)], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"fer-train {args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return done


def test_inspect_prints_the_exact_counts_and_draws_the_plots(fer2013_csv, tmp_path):
    out = fer_train("inspect", "--data", fer2013_csv, "--out", tmp_path).stdout
    assert "35,887 rows" in out
    for split, total in (("Training", "28,709"), ("PublicTest", "3,589"), ("PrivateTest", "3,589")):
        line = next(row for row in out.splitlines() if row.strip().startswith(split))
        assert line.split()[-1] == total
    total_line = next(row for row in out.splitlines() if row.strip().startswith("total"))
    assert total_line.split()[1:] == ["4,953", "547", "5,121", "8,989", "6,077", "4,002", "6,198", "35,887"]
    for name in ("class_distribution.png", "samples.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_bad_file_exits_2_with_one_line_and_no_traceback(make_csv, tmp_path):
    path = make_csv([(9, " ".join(["0"] * 2304), "Training")])
    done = fer_train("inspect", "--data", path, "--out", tmp_path, check=False)
    assert done.returncode == 2
    assert "row 0 (line 2): emotion label 9 is not in 0-6" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def quick_run(fer2013_csv, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run") / "quick"
    fer_train("train", "--data", fer2013_csv, "--out", run, "--limit", 3000, "--epochs", 2, "--batch-size", 64,
              "--lr", "1e-3", "--augment", "light", "--seed", 3)
    return run


@pytest.fixture(scope="module")
def flip_export(quick_run, tmp_path_factory) -> Path:
    """quick_run exported once with flip TTA and a square crop (an export is the slow part: tf2onnx, the TTA
    choice, latency and calibration); tests that change it work on a copy of its directory."""
    onnx_path = tmp_path_factory.mktemp("flip") / "tta.onnx"
    fer_train("export", "--run", quick_run, "--out", onnx_path, "--tta", "flip", "--crop", "square:1.1:-0.025")
    return onnx_path


def test_train_writes_the_whole_run_directory(quick_run):
    for name in ("config.json", "history.json", "model.keras", "metrics.json", "classification_report.txt",
                 "plots/accuracy.png", "plots/loss.png", "plots/confusion_matrix.png"):
        assert (quick_run / name).is_file(), name
    history = json.loads((quick_run / "history.json").read_text())
    assert len(history["accuracy"]) == len(history["val_accuracy"]) == 2
    metrics = json.loads((quick_run / "metrics.json").read_text())
    private = metrics["splits"]["PrivateTest"]
    assert private["n"] == 300 and 0.0 <= private["accuracy"] <= 1.0
    assert metrics["leak"]["test_rows_with_same_source_row_in_train"] == 0
    assert json.loads((quick_run / "config.json").read_text())["flip"] is True


def test_existing_run_is_not_overwritten_and_finished_run_resumes_to_the_same_result(quick_run, fer2013_csv):
    done = fer_train("train", "--data", fer2013_csv, "--out", quick_run, check=False)
    assert done.returncode == 2 and "--resume" in done.stderr
    before = json.loads((quick_run / "metrics.json").read_text())
    fer_train("train", "--out", quick_run, "--resume", "--data", fer2013_csv)
    after = json.loads((quick_run / "metrics.json").read_text())
    assert after["splits"] == before["splits"]  # nothing left to train: same model, same numbers


def test_export_then_evaluate_reproduces_the_contract_figures(quick_run, fer2013_csv, tmp_path):
    import onnxruntime as ort

    from model_contract import read_contract

    onnx_path = tmp_path / "quick.onnx"
    fer_train("export", "--run", quick_run, "--out", onnx_path)
    assert onnx_path.with_suffix(".md").is_file()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    contract = read_contract(session.get_modelmeta().custom_metadata_map)
    assert contract.labels == ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
    assert contract.training["params"] == 792_855
    assert contract.training["parity_max_abs_diff"] <= 1e-4
    assert session.get_inputs()[0].name == "image" and session.get_inputs()[0].shape == ["batch", 48, 48, 1]
    # raw 0-255 faces in, probabilities out, for any batch size
    faces = np.random.default_rng(0).integers(0, 256, (5, 48, 48, 1)).astype(np.float32)
    probs = session.run(None, {"image": faces})[0]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    out = tmp_path / "eval"
    fer_train("evaluate", "--model", onnx_path, "--data", fer2013_csv, "--split", "PrivateTest", "--out", out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 3_589
    assert round(metrics["accuracy"], 4) == round(contract.training["metrics"]["PrivateTest"]["accuracy"], 4)
    assert set(metrics) >= {"split", "n", "accuracy", "macro_f1", "per_class", "confusion_matrix"}
    assert (out / "confusion_matrix.png").is_file() and (out / "classification_report.txt").is_file()

    keras_out = tmp_path / "eval_keras"
    fer_train("evaluate", "--model", quick_run / "model.keras", "--data", fer2013_csv, "--split", "PrivateTest",
              "--out", keras_out)
    keras_metrics = json.loads((keras_out / "metrics.json").read_text())
    assert keras_metrics["accuracy"] == metrics["accuracy"]  # same code, same model, same numbers


def test_same_seed_gives_the_same_run(fer2013_csv, tmp_path):
    args = ("--data", fer2013_csv, "--limit", 800, "--epochs", 1, "--batch-size", 64, "--augment", "light",
            "--seed", 11)
    histories = []
    for name in ("a", "b"):
        fer_train("train", "--out", tmp_path / name, *args)
        histories.append(json.loads((tmp_path / name / "history.json").read_text()))
    assert histories[0] == histories[1]


def test_export_with_flip_tta_records_its_evidence_and_the_card_states_the_seed_leak(flip_export, fer2013):
    import onnxruntime as ort

    from model_contract import read_contract
    from training.protocols import make_splits

    onnx_path = flip_export

    meta = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_modelmeta()
    training = read_contract(meta.custom_metadata_map).training
    selection = training["tta_selection"]
    assert training["tta"] == "flip" and selection["split"] == "PublicTest"
    assert 0.0 < selection["none"] <= 1.0 and 0.0 < selection["flip"] <= 1.0
    card = onnx_path.with_suffix(".md").read_text()
    assert f"Chosen on PublicTest: {100 * selection['none']:.2f}% without, {100 * selection['flip']:.2f}% with" in card
    # No seed-protocol run given: the card still states that protocol's leak, measured on its split.
    leak = make_splits(fer2013, "seed", 0).leak
    assert leak is not None and leak["test_rows"] == 6_293
    assert f"{leak['test_rows_with_identical_pixels_in_train']:,} of its 6,293 test rows" in card


def test_export_records_latency_crop_and_calibration_and_amend_rewrites_only_the_contract(flip_export, fer2013_csv,
                                                                                         tmp_path):
    import onnx

    from model_contract import CropSpec, read_contract

    onnx_path = shutil.copytree(flip_export.parent, tmp_path / "amended") / flip_export.name

    def contract_of(path: Path):  # type: ignore[no-untyped-def]
        proto = onnx.load(str(path))
        return proto.graph.SerializeToString(), read_contract({p.key: p.value for p in proto.metadata_props})

    graph, exported = contract_of(onnx_path)
    assert exported.crop == CropSpec("square", 1.1, -0.025)
    assert exported.training["latency"]["ms_per_face"] > 0 and exported.training["latency"]["threads"] == 1
    assert exported.training["calibration"]["method"] == "top_label_isotonic"  # the default
    assert exported.training["calibration"]["split"] == "PublicTest" and exported.confidence_map is not None
    card = onnx_path.with_suffix(".md").read_text()
    assert "a square of 1.1 x the box's longer side" in card and "ms per face (batch 1" in card

    bad = fer_train("amend", "--model", onnx_path, "--crop", "round", check=False)
    assert bad.returncode == 2 and "box|square" in bad.stderr
    fer_train("amend", "--model", onnx_path, "--crop", "box", "--calibrate", "--data", fer2013_csv)
    graph_after, amended = contract_of(onnx_path)
    assert graph_after == graph  # the weights and the graph are untouched
    assert amended.crop == CropSpec("box", 1.0, 0.0)
    # same method, same data: the same calibration
    assert (amended.temperature, amended.confidence_map) == (exported.temperature, exported.confidence_map)
    assert amended.training["metrics"] == exported.training["metrics"]
    card = onnx_path.with_suffix(".md").read_text()
    assert "Face crop: the detector's box as it is." in card and "### Per class" in card
    assert card.count("## Results") == 1
    fer_train("amend", "--model", onnx_path, "--latency")  # from the contract alone: splits keep their roles
    card = onnx_path.with_suffix(".md").read_text()
    assert "Model selection used PublicTest only; PrivateTest was never used" in card
    assert card.index("| PublicTest |") < card.index("| PrivateTest |")
