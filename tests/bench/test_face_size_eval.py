"""bench.face_size_eval: how faces are shrunk, and the rule that picks the smallest side."""

from __future__ import annotations

import numpy as np

from bench.face_size_eval import shrunk, smallest_within


def test_full_size_faces_are_untouched_and_smaller_ones_lose_detail():
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    assert shrunk(faces, 48, 48) is faces
    small = shrunk(faces, 16, 48)
    assert small.shape == faces.shape and small.dtype == np.uint8
    assert small.std() < faces.std() * 0.7  # area averaging then upscaling smooths the noise
    assert abs(float(small.mean()) - float(faces.mean())) < 3


def test_the_smallest_side_is_the_last_before_accuracy_falls_out_of_tolerance():
    rows = [{"side": s, "accuracy": a} for s, a in ((24, 0.53), (32, 0.61), (40, 0.631), (44, 0.64), (48, 0.655))]
    assert smallest_within(rows, 0.655, 0.03) == 40
    assert smallest_within(rows, 0.655, 0.05) == 32
    assert smallest_within(rows, 0.655, 0.01) == 48
    dip = [*rows, {"side": 36, "accuracy": 0.40}, {"side": 28, "accuracy": 0.65}]  # a dip stops the walk down
    assert smallest_within(dip, 0.655, 0.03) == 40
