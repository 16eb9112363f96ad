"""fer-train quantize on the shipped seed CNN and the real FER2013: an int8 graph, its own honest contract and
card, calibrated on Training faces only."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest

from model_contract import read_contract
from tests.service.conftest import SHIPPED_MODEL
from training.errors import ExportError
from training.warm_start import file_sha256


@pytest.fixture(scope="module")
def quantized(fer2013_csv, tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("int8") / "seed_int8.onnx"
    done = subprocess.run([sys.executable, "-m", "training.cli", "quantize", "--model", str(SHIPPED_MODEL),
                           "--data", str(fer2013_csv), "--out", str(out), "--faces", "128"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_the_copy_is_an_int8_graph_with_its_own_contract(quantized):
    proto = onnx.load(str(quantized))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [t for t in proto.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert len(int8_weights) == 10  # the five convolutions, in the plain and the mirrored branch of flip TTA
    contract = read_contract({p.key: p.value for p in proto.metadata_props})
    source = contract.training["quantized_from"]
    assert contract.name == "seed_int8"
    assert source["sha256"] == file_sha256(SHIPPED_MODEL) and source["name"] == "fer2013_seed_cnn"
    assert source["calibration_split"] == "Training" and source["calibration_faces"] == 128
    assert contract.training["calibration"]["split"] == "PublicTest"
    assert contract.training["latency"]["ms_per_face"] > 0 and source["latency_here"]["ms_per_face"] > 0


def test_its_metrics_are_the_int8_graphs_own_and_close_to_the_source(quantized, fer2013):
    from training.evaluate import OnnxPredictor

    predictor = OnnxPredictor.load(quantized)
    t = predictor.contract.training
    for split in ("PublicTest", "PrivateTest"):
        positions = fer2013.indices(split)
        accuracy = float((predictor.predict(fer2013.images[positions]).argmax(1) == fer2013.labels[positions]).mean())
        assert accuracy == pytest.approx(t["metrics"][split]["accuracy"], abs=1e-9)
        assert abs(accuracy - t["quantized_from"]["metrics"][split]["accuracy"]) < 0.01  # within a point
    assert t["quantized_from"]["top1_agreement"]["fraction"] >= 0.95
    source = OnnxPredictor.load(SHIPPED_MODEL).raw(fer2013.images[:64])
    assert not np.allclose(predictor.raw(fer2013.images[:64]), source, atol=1e-5)  # it really changed


def test_its_card_says_where_it_came_from_and_how_to_reproduce_it(quantized):
    card = quantized.with_suffix(".md").read_text()
    contract = read_contract({p.key: p.value for p in onnx.load(str(quantized)).metadata_props})
    assert f"**{100 * contract.training['metrics']['PrivateTest']['accuracy']:.2f}%**" in card
    assert "[`fer2013_seed_cnn`](fer2013_seed_cnn.md)" in card
    assert "128 Training faces" in card and "fer-train quantize --model models/fer2013_seed_cnn.onnx" in card
    assert (quantized.with_suffix(".assets") / "confusion_matrix.png").is_file()


def test_a_quantized_model_is_not_quantized_again(quantized, fer2013_csv, tmp_path):
    from training.quantize import quantize

    with pytest.raises(ExportError, match="already quantized"):
        quantize(quantized, str(fer2013_csv), tmp_path / "again.onnx")


def test_quantize_refuses_another_dataset(tmp_path):
    from training.quantize import quantize

    other = tmp_path / "other.csv"
    other.write_text("emotion,pixels,Usage\n0," + " ".join(["0"] * 2304) + ",Training\n")
    with pytest.raises(ExportError, match="sha256 differs"):
        quantize(SHIPPED_MODEL, str(other), tmp_path / "x.onnx")


def _maxpool_inputs(proto: onnx.ModelProto) -> set[str]:
    made_by = {out: node.op_type for node in proto.graph.node for out in node.output}
    return {made_by[node.input[0]] for node in proto.graph.node if node.op_type == "MaxPool"}


def test_relu_and_maxpool_stay_int8_between_convolutions(quantized, fer2013, tmp_path):
    from training.quantize import OPS, quantize_graph

    proto = onnx.load(str(quantized))
    assert _maxpool_inputs(proto) == {"DequantizeLinear"}  # pooled in uint8: no float Relu in between
    assert sum(n.op_type == "Relu" for n in proto.graph.node) < 10  # the Relus after the 10 convs are folded
    assert read_contract({p.key: p.value for p in proto.metadata_props}).training["quantized_from"]["ops"] == list(OPS)
    conv_only = tmp_path / "conv_only.onnx"  # how the copies before 2026-12-03 were made
    quantize_graph(SHIPPED_MODEL, conv_only, "image", fer2013.images[:64], ("Conv",))
    assert _maxpool_inputs(onnx.load(str(conv_only))) == {"Relu"}


def test_the_card_names_the_flags_that_differ_from_the_defaults(quantized):
    from training.card import _quantize_options

    contract = read_contract({p.key: p.value for p in onnx.load(str(quantized)).metadata_props})
    assert _quantize_options(contract) == ""
    q = {**contract.training["quantized_from"], "ops": ["Conv"], "version": "0.9.0"}
    older = contract.with_updates(training={**contract.training, "quantized_from": q})
    assert _quantize_options(older) == f" --ops Conv --version {contract.version}"
    del q["ops"]  # a copy made before the field existed
    assert _quantize_options(older).startswith(" --ops Conv ")


def test_ops_must_include_conv():
    done = subprocess.run([sys.executable, "-m", "training.cli", "quantize", "--model", str(SHIPPED_MODEL),
                           "--data", "x.csv", "--out", "x.onnx", "--ops", "Relu,MaxPool"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "includes Conv" in done.stderr
