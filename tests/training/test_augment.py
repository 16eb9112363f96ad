"""Stateless augmentation: same (seed, epoch, batch) -> same images, so --resume replays an epoch."""

import numpy as np
import pytest

from training.augment import augment, epoch_stream
from training.config import AUGMENT_PRESETS, TrainConfig


def config(**kw) -> TrainConfig:
    return TrainConfig(data="x", **{**AUGMENT_PRESETS["strong"], **kw})


@pytest.fixture
def faces(fer2013) -> np.ndarray:
    return fer2013.images[:16, ..., None].astype(np.float32)


def test_augment_is_a_pure_function_of_its_seed(faces):
    c = config()
    a = augment(faces, np.array([7, 1]), c).numpy()
    b = augment(faces, np.array([7, 1]), c).numpy()
    other = augment(faces, np.array([7, 2]), c).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, other)
    assert a.shape == faces.shape and a.min() >= 0.0 and a.max() <= 255.0


def test_flip_only_mirrors_images(faces):
    c = TrainConfig(data="x", flip=True)
    out = augment(faces, np.array([0, 0]), c).numpy()
    for got, img in zip(out, faces, strict=True):
        assert np.array_equal(got, img) or np.array_equal(got, img[:, ::-1])


def test_epoch_stream_replays_the_same_epoch_when_started_there(fer2013):
    c = TrainConfig(data="x", epochs=3, batch_size=32, flip=True, rotation=10.0, seed=5)
    positions = np.arange(100)
    full, steps = epoch_stream(fer2013.images, fer2013.labels, positions, c, 7, first_epoch=0)
    resumed, _ = epoch_stream(fer2013.images, fer2013.labels, positions, c, 7, first_epoch=2)
    full_batches = list(full.as_numpy_iterator())
    assert steps == 4 and len(full_batches) == 12
    for (x1, y1), (x2, y2) in zip(full_batches[8:], resumed.as_numpy_iterator(), strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    # each epoch visits every position exactly once, in a different order
    labels = [np.concatenate([b[1].argmax(1) for b in full_batches[e * 4:(e + 1) * 4]]) for e in range(3)]
    assert all(np.bincount(lb, minlength=7).tolist() == np.bincount(fer2013.labels[:100], minlength=7).tolist()
               for lb in labels)
    assert not np.array_equal(labels[0], labels[1])
