"""The export gate: an ONNX file that does not reproduce the Keras model is refused."""

import numpy as np
import pytest

from training.errors import ExportError
from training.export import check_parity, convert
from training.model import build_model


def test_parity_gate_refuses_an_onnx_file_of_another_model(fer2013, tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    exported = build_model("seed_cnn", 7)
    path = tmp_path / "m.onnx"
    convert(exported, path)
    faces = fer2013.images[:64]
    assert check_parity(exported, path, faces) <= 1e-4
    keras.utils.set_random_seed(2)
    other = build_model("seed_cnn", 7)
    with pytest.raises(ExportError, match="disagree on 64 real faces"):
        check_parity(other, path, faces)
    assert np.isfinite(check_parity(exported, path, faces))


def test_flip_tta_exports_as_one_graph_that_matches_keras(fer2013, tmp_path):
    from training.model import with_flip_tta

    model = with_flip_tta(build_model("seed_cnn", 7))
    path = tmp_path / "tta.onnx"
    convert(model, path)
    assert check_parity(model, path, fer2013.images[:32]) <= 1e-4
