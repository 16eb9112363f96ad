"""The model contract: JSON round trip, validation, and checks against a model's real shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_contract import (
    METADATA_KEY,
    ConfidenceMap,
    ContractError,
    CropSpec,
    InputSpec,
    ModelContract,
    read_contract,
    to_probabilities,
    write_contract,
)

LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")


def contract(**kw) -> ModelContract:
    return ModelContract(**{"name": "m", "version": "1.0.0", "labels": LABELS, **kw})


def test_round_trip_through_json_keeps_every_field():
    c = contract(temperature=1.7, training={"protocol": "official", "metrics": {"PrivateTest": {"accuracy": 0.65}}},
                 crop=CropSpec("square", 1.2, 0.05))
    again = ModelContract.from_json(c.to_json())
    assert again == c
    assert json.loads(c.to_json())["labels"] == list(LABELS)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"labels": ("a",)}, "at least two"),
        ({"labels": ("a", "a")}, "unique"),
        ({"temperature": 0}, "temperature must be a positive number"),
        ({"temperature": float("nan")}, "temperature"),
        ({"input": InputSpec(channels=3)}, "colour 'gray' needs 1 channel"),
        ({"input": InputSpec(height=0)}, "height must be a positive integer"),
        ({"input": InputSpec(value_min=255.0, value_max=0.0)}, "value range"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"crop": CropSpec("circle")}, "crop shape must be 'box' or 'square'"),  # type: ignore[arg-type]
        ({"crop": CropSpec("square", 9.0)}, "crop scale must be a number from 0.25 to 4"),
        ({"crop": CropSpec("square", 1.0, 0.9)}, "crop shift_y"),
    ],
)
def test_invalid_contracts_are_refused_with_the_reason(change, message):
    with pytest.raises(ContractError, match=message):
        contract(**change)


def test_from_json_refuses_garbage_and_missing_fields():
    with pytest.raises(ContractError, match="not valid JSON"):
        ModelContract.from_json("{labels: [")
    with pytest.raises(ContractError, match="missing the field 'labels'"):
        ModelContract.from_json(json.dumps({"name": "m", "version": "1"}))
    with pytest.raises(ContractError, match="schema_version"):
        ModelContract.from_json(json.dumps({**contract().to_dict(), "schema_version": 99}))
    with pytest.raises(ContractError, match="malformed"):
        ModelContract.from_json(json.dumps({**contract().to_dict(), "input": {"pixels": 3}}))


def test_check_io_accepts_a_symbolic_batch_and_refuses_mismatches():
    c = contract()
    c.check_io(["batch", 48, 48, 1], ["batch", 7])
    c.check_io([None, 48, 48, 1], [None, 7])
    with pytest.raises(ContractError, match="input shape"):
        c.check_io(["batch", 64, 64, 1], ["batch", 7])
    with pytest.raises(ContractError, match="7 labels"):
        c.check_io(["batch", 48, 48, 1], ["batch", 8])


def test_contract_travels_in_onnx_metadata():
    onnx = pytest.importorskip("onnx")
    proto = onnx.ModelProto()
    write_contract(proto, contract(temperature=2.0))
    write_contract(proto, contract(temperature=3.0))  # replaces, never duplicates
    meta = {p.key: p.value for p in proto.metadata_props}
    assert list(meta) == [METADATA_KEY]
    assert read_contract(meta).temperature == 3.0
    with pytest.raises(ContractError, match="no 'fer_contract' metadata"):
        read_contract({})


def test_to_probabilities_applies_temperature_and_keeps_the_argmax():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    same = to_probabilities(p, "probabilities", 1.0)
    np.testing.assert_allclose(same, p)
    soft = to_probabilities(p, "probabilities", 2.0)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert (soft.argmax(1) == p.argmax(1)).all() and soft.max() < p.max()
    # T=2 on probabilities == softmax(log p / 2) == normalised sqrt(p)
    np.testing.assert_allclose(soft, np.sqrt(p) / np.sqrt(p).sum(axis=1, keepdims=True))


def test_a_confidence_map_changes_the_top_labels_probability_only_and_never_the_prediction():
    mapping = ConfidenceMap((0.3, 0.9), (0.2, 0.8))
    p = np.array([[0.6, 0.3, 0.1], [0.95, 0.03, 0.02], [0.4, 0.35, 0.25]])
    q = mapping.apply(p)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert (q.argmax(1) == p.argmax(1)).all()
    assert q[0, 0] == pytest.approx(0.5) and q[1, 0] == pytest.approx(0.8)  # interpolated; flat beyond the knots
    np.testing.assert_allclose(q[0, 1:] / q[0, 1:].sum(), p[0, 1:] / p[0, 1:].sum())  # the rest keep proportions
    assert q[2, 0] >= q[2, 1]  # mapped down to 0.3, it would fall below the second label: held level with it
    c = contract(confidence_map=mapping)
    assert ModelContract.from_json(c.to_json()).confidence_map == mapping
    np.testing.assert_allclose(c.probabilities(p), q)
    assert contract().probabilities(p) == pytest.approx(p)  # none: the temperature alone
    sure = mapping.apply(np.array([[1.0, 0.0, 0.0], [1 - 1e-30, 1e-30, 0.0]]))  # 1 - p is 0 in floating point
    np.testing.assert_allclose(sure, [[0.8, 0.1, 0.1], [0.8, 0.2, 0.0]])


@pytest.mark.parametrize("knots", [((0.5, 0.4), (0.1, 0.2)), ((0.1, 0.2), (0.3, 0.2)), ((0.1,), (0.2, 0.3)),
                                   ((0.0, 1.5), (0.0, 1.0)), ((), ())])
def test_a_confidence_map_must_be_monotone_and_within_0_and_1(knots):
    with pytest.raises(ContractError, match="confidence_map"):
        contract(confidence_map=ConfidenceMap(*knots))
    d = contract().to_dict()
    d["confidence_map"] = {"x": [0.1]}
    with pytest.raises(ContractError, match="confidence_map"):
        ModelContract.from_dict(d)


def test_a_contract_without_a_crop_rule_keeps_the_detectors_box():
    """Models exported before the crop rule existed are cut as before: the detector's box as it is."""
    d = contract().to_dict()
    del d["crop"]
    assert ModelContract.from_dict(d).crop == CropSpec("box", 1.0, 0.0)
    assert CropSpec().region(10, 20, 30, 40) == (10, 20, 30, 40)


def test_square_crop_regions_are_centred_scaled_and_shifted():
    x, y, w, h = CropSpec("square", 1.0).region(100, 50, 80, 100)
    assert (w, h) == (100, 100) and (x + w / 2, y + h / 2) == (140, 100)
    x, y, w, h = CropSpec("square", 1.2, 0.1).region(100, 50, 80, 100)
    assert w == h == pytest.approx(120) and x + w / 2 == 140 and y + h / 2 == pytest.approx(100 + 12)
