"""bench.tta_eval: the views it builds and how it scores them."""

from __future__ import annotations

import numpy as np

from bench.tta_eval import CROPS, SHIFTS, cropped, score, shifted, views


def test_views_move_and_crop_the_face():
    faces = np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    moved = shifted(faces, 2, 0)
    assert np.array_equal(moved[:, :, 2:], faces[:, :, :-2])  # the content moved right by 2 px
    assert np.array_equal(moved[:, :, 0], faces[:, :, 0]) and np.array_equal(moved[:, :, 1], faces[:, :, 0])
    corner = cropped(faces, 44, 0, 0)
    assert corner.shape == faces.shape and corner.dtype == np.uint8
    assert np.array_equal(cropped(faces, 48, 0, 0), faces)
    every = views(faces)
    assert len(every) == 1 + 4 * len(SHIFTS) + 5 * len(CROPS)
    assert all(v.shape == faces.shape for v in every.values())


def test_averaged_views_are_scored_against_the_base_view():
    """A 'model' that reads the label from the top-left pixel: a shift right by s repeats that pixel, so shifts
    keep every answer, while a crop of the right or bottom corner reads another pixel."""
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (40, 48, 48), dtype=np.uint8)
    y = (faces[:, 0, 0] % 7).astype(np.int64)

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.eye(7)[batch[:, 0, 0] % 7]

    out = score(predict, faces, y)
    assert out["single"]["base"] == 1.0
    assert out["single"]["shift 2: 2,0"] == 1.0  # the corner pixel is repeated
    assert out["single"]["crop 44: 4,4"] < 0.5  # another pixel decides
    assert out["sets"]["base"] == {"views": 1, "accuracy": 1.0, "changed": 0}
    assert out["sets"]["shift 2"]["views"] == 5
    crop = out["sets"]["ten-crop 44 + whole"]
    assert crop["views"] == 6 and crop["changed"] == round((1 - crop["accuracy"]) * len(faces))
