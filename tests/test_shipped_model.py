"""The shipped model in models/: its contract, its honesty on real PrivateTest faces, and the service on it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.service.conftest import SHIPPED_MODEL
from training.data import FER2013_LABELS

FER2013_SHA256 = "07f2f636efd288745291ec8598051c92a830679aabc23147e4ca7242250e7d92"


@pytest.fixture(scope="module")
def predictor():
    from training.evaluate import OnnxPredictor

    assert SHIPPED_MODEL.is_file(), f"the shipped model is missing: {SHIPPED_MODEL}"
    return OnnxPredictor.load(SHIPPED_MODEL)


def test_shipped_model_carries_its_full_contract(predictor):
    c = predictor.contract
    assert c.name == "fer2013_seed_cnn" and c.labels == FER2013_LABELS
    assert (c.input.height, c.input.width, c.input.channels, c.input.colour) == (48, 48, 1, "gray")
    assert (c.input.value_min, c.input.value_max) == (0.0, 255.0)
    t = c.training
    assert t["protocol"] == "official" and t["arch"] == "seed_cnn" and t["params"] == 792_855
    assert t["dataset_sha256"] == FER2013_SHA256
    assert t["parity_max_abs_diff"] <= 1e-4
    assert 0.05 < c.temperature < 20
    for split in ("PublicTest", "PrivateTest"):
        assert 0.0 < t["metrics"][split]["accuracy"] <= 1.0 and t["metrics"][split]["n"] == 3_589


def test_shipped_model_classifies_real_private_test_faces_as_well_as_it_claims(predictor, fer2013):
    positions = fer2013.indices("PrivateTest")
    probs = predictor.predict(fer2013.images[positions])
    accuracy = float((probs.argmax(axis=1) == fer2013.labels[positions]).mean())
    claimed = predictor.contract.training["metrics"]["PrivateTest"]["accuracy"]
    assert accuracy >= claimed - 0.005, (accuracy, claimed)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.slow
def test_fer_train_evaluate_reproduces_the_card_to_the_fourth_decimal(predictor, fer2013_csv, tmp_path):
    done = subprocess.run([sys.executable, "-m", "training.cli", "evaluate", "--model", str(SHIPPED_MODEL), "--data",
                           str(fer2013_csv), "--split", "PrivateTest", "--out", str(tmp_path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    measured = json.loads((tmp_path / "metrics.json").read_text())
    claimed = predictor.contract.training["metrics"]["PrivateTest"]
    assert f"{measured['accuracy']:.4f}" == f"{claimed['accuracy']:.4f}"
    assert f"{measured['macro_f1']:.4f}" == f"{claimed['macro_f1']:.4f}"
    card = SHIPPED_MODEL.with_suffix(".md").read_text()
    assert f"{100 * claimed['accuracy']:.2f}%" in card


def test_the_service_serves_the_shipped_model_by_default(astronaut_jpeg):
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings
    from tests.service.conftest import ASTRONAUT_FACE, iou, post_image

    assert Settings().model_path is None  # every model in models/ is served
    with TestClient(create_app(Settings())) as client:
        face = post_image(client, astronaut_jpeg).json()["faces"]
        assert len(face) == 1 and iou(face[0]["box"], ASTRONAUT_FACE) >= 0.5
        assert tuple(face[0]["probabilities"]) == FER2013_LABELS
        info = client.get("/v1/model").json()
        assert info["name"] == "fer2013_seed_cnn" and info["training"]["params"] == 792_855
