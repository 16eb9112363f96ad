"""The notebook's architecture, exactly."""

import numpy as np

from training.model import SEED_CNN_PARAMS, build_model


def test_seed_cnn_has_the_notebooks_792855_parameters():
    model = build_model("seed_cnn", 7)
    assert model.count_params() == SEED_CNN_PARAMS == 792_855
    assert [layer.name for layer in model.layers if "conv" in layer.name] == [f"conv{i}" for i in range(1, 6)]
    assert model.output_shape == (None, 7)


def test_seed_cnn_normalises_inside_the_graph_and_outputs_probabilities():
    model = build_model("seed_cnn", 7)
    assert model.layers[1].name == "rescale"
    x = np.random.default_rng(0).integers(0, 256, size=(4, 48, 48, 1)).astype("float32")
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_architecture_is_a_clear_error():
    import pytest

    with pytest.raises(ValueError, match="unknown architecture 'resnet9000'"):
        build_model("resnet9000", 7)
