"""The notebook's architecture, exactly."""

import numpy as np
import pytest

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


def test_the_accurate_architecture_builds_and_mirrors_cleanly():
    from training.model import with_flip_tta

    model = build_model("vgg_fer", 8)  # a FER+ label set with contempt
    assert model.output_shape == (None, 8) and 10_000_000 < model.count_params() < 11_000_000
    x = np.random.default_rng(1).integers(0, 256, size=(3, 48, 48, 1)).astype("float32")
    averaged = with_flip_tta(model).predict(x, verbose=0)
    expected = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(averaged, expected, atol=1e-6)


@pytest.mark.parametrize("arch", ["seed_cnn", "vgg_fer"])
def test_each_architecture_learns_real_faces(arch, fer2013):
    """A short CPU run: fitting 64 real FER2013 faces must drive the loss well down."""
    import keras

    keras.utils.set_random_seed(0)
    x = fer2013.images[:64, ..., None].astype("float32")
    y = keras.utils.to_categorical(fer2013.labels[:64], 7)
    model = build_model(arch, 7)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0], history
