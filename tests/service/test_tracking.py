"""The tracker without a server: matching functions, the box filter, track ids, smoothing, bounded state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from service.detectors import Box
from service.tracking import (
    BoxFilter,
    Tracker,
    TrackerConfig,
    assign,
    centre_boxes,
    centre_distance,
    ema,
    iou_matrix,
    match_cost,
)


def c(x: float, y: float, w: float, h: float) -> list[float]:
    """A top-left box as the centre form the matching functions take."""
    return [x + w / 2, y + h / 2, w, h]


def test_iou_matrix_of_equal_disjoint_and_half_overlapping_boxes():
    a = np.array([c(0, 0, 10, 10)])
    b = np.array([c(0, 0, 10, 10), c(20, 0, 10, 10), c(5, 0, 10, 10)])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 0.0, 50 / 150]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)


def test_centre_distance_is_in_units_of_the_boxes_mean_side():
    a = np.array([c(0, 0, 10, 10)])
    b = np.array([c(20, 0, 10, 10), c(0, 0, 30, 30)])
    np.testing.assert_allclose(centre_distance(a, b), [[2.0, math.hypot(10, 10) / 20]])


def test_assign_finds_the_cheapest_matching_not_the_greedy_one():
    # Greedy takes (0, 0) at cost 1 and must then pay 10 for (1, 1); the optimum is 2 + 2.
    cost = np.array([[1.0, 2.0], [2.0, 10.0]])
    pairs, rows, cols = assign(cost, np.ones_like(cost, bool))
    assert sorted(pairs) == [(0, 1), (1, 0)] and rows == [] and cols == []


def test_assign_never_returns_a_forbidden_pair_and_reports_the_leftovers():
    cost = np.array([[0.1, 0.2, 0.3], [0.1, 0.5, 0.9]])
    allowed = np.array([[False, True, False], [True, False, False]])
    pairs, rows, cols = assign(cost, allowed)
    assert sorted(pairs) == [(0, 1), (1, 0)] and rows == [] and cols == [2]
    assert assign(cost, np.zeros_like(allowed)) == ([], [0, 1], [0, 1, 2])
    assert assign(np.zeros((0, 2)), np.zeros((0, 2), bool)) == ([], [], [0, 1])


def test_match_cost_allows_overlap_or_nearness_of_similar_sizes_only():
    config = TrackerConfig()
    track = np.array([c(100, 100, 50, 50)])
    detections = np.array([
        c(110, 100, 50, 50),   # overlaps
        c(140, 100, 50, 50),   # a little overlap, close centre
        c(300, 100, 50, 50),   # far away
        c(100, 100, 150, 150),  # same place, three times the size: another face
    ])
    cost, allowed = match_cost(track, detections, config)
    assert allowed.tolist() == [[True, True, False, False]]
    assert cost[0, 0] < cost[0, 1]


def test_box_filter_learns_a_constant_velocity_and_predicts_ahead():
    f = BoxFilter(np.array([100.0, 100.0, 50.0, 50.0]), TrackerConfig())
    for k in range(1, 20):  # 60 px/s to the right, 10 frames a second
        f.update(np.array([100.0 + 6 * k, 100.0, 50.0, 50.0]), 0.1)
    assert f.v[0] == pytest.approx(60, abs=2) and abs(f.v[1]) < 1
    assert f.predicted(0.5)[0] == pytest.approx(100 + 6 * 19 + 30, abs=2)


def moving(x0: float, vx: float, t: float, y: float = 100, size: int = 60) -> Box:
    return Box(round(x0 + vx * t), round(y), size, size)


def test_a_moving_face_keeps_its_id_and_its_age_grows():
    tracker = Tracker()
    ids, ages = [], []
    for i in range(100):
        t = i / 30
        (face,) = tracker.update([moving(20, 150, t)], t)
        ids.append(face.track_id)
        ages.append(face.age_s)
    assert set(ids) == {1}
    assert ages[-1] == pytest.approx(99 / 30) and face.hits == 100


def test_two_faces_crossing_keep_their_ids_though_one_is_hidden_at_the_crossing():
    """Both at the same height, opposite directions: they overlap fully at t = 1 s, where the one behind is
    not detected for 5 frames. Matching the last box alone would hand the hidden face's id to the other."""
    tracker = Tracker()
    seen: dict[str, set[int]] = {"right": set(), "left": set()}
    for i in range(60):
        t = i / 30
        right, left = moving(100, 200, t), moving(500, -200, t)
        hidden = 13 <= i <= 17  # |x gap| < 70 px around the crossing at i = 15
        boxes = [right] if hidden else [right, left]
        faces = tracker.update(boxes, t)
        seen["right"].add(faces[0].track_id)
        if not hidden:
            seen["left"].add(faces[1].track_id)
    assert seen == {"right": {1}, "left": {2}}


def test_an_id_is_never_reused_and_a_face_gone_too_long_gets_a_new_one():
    tracker = Tracker(TrackerConfig(max_age_s=0.5))
    assert tracker.update([Box(10, 10, 50, 50)], 0.0)[0].track_id == 1
    assert tracker.update([Box(12, 10, 50, 50)], 0.4)[0].track_id == 1  # gone 0.4 s: the same track
    assert tracker.update([Box(300, 10, 50, 50)], 0.5)[0].track_id == 2  # somebody else, elsewhere
    assert tracker.update([Box(12, 10, 50, 50)], 1.5)[0].track_id == 3  # gone 1.1 s: a new id
    assert [tr.id for tr in tracker.tracks] == [3]


def test_smoothing_follows_the_clock_not_the_frame_rate():
    """A step from one label to another: after 1 s the average is the same at 10 and at 30 frames a second."""
    before, after = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    results = []
    for fps in (10, 30):
        tracker = Tracker(TrackerConfig(smoothing_s=0.5))
        tracker.update([Box(0, 0, 50, 50)], 0.0, before[None])
        for k in range(1, fps + 1):
            (face,) = tracker.update([Box(0, 0, 50, 50)], k / fps, after[None])
        results.append(face.smoothed)
    expected = 1 - math.exp(-1 / 0.5)
    np.testing.assert_allclose(results[0], results[1])
    np.testing.assert_allclose(results[0], [1 - expected, expected])


def test_smoothing_of_zero_seconds_is_the_latest_frame():
    np.testing.assert_allclose(ema(np.array([0.5, 0.5]), np.array([0.9, 0.1]), 0.03, 0.0), [0.9, 0.1])
    tracker = Tracker(TrackerConfig(smoothing_s=0.0))
    tracker.update([Box(0, 0, 50, 50)], 0.0, np.array([[0.2, 0.8]]))
    np.testing.assert_allclose(tracker.update([Box(0, 0, 50, 50)], 0.1, np.array([[0.7, 0.3]]))[0].smoothed,
                               [0.7, 0.3])


def test_live_tracks_never_exceed_the_limit():
    tracker = Tracker(TrackerConfig(max_tracks=4))
    faces = tracker.update([Box(70 * i, 0, 60, 60) for i in range(10)], 0.0)
    assert len(faces) == 10 and len({f.track_id for f in faces}) == 10  # every face is answered
    assert len(tracker.tracks) == 4


def test_state_stays_bounded_over_an_hour_long_stream():
    """An hour at 2 frames a second, 400 people coming and going (a few in view at a time, one detection in ten
    missed): a track lives only max_age_s past its last detection, so the live tracks never outnumber the
    detections of that last stretch, nor max_tracks; each track's state has one fixed size. So a stream's
    memory does not grow with its length."""
    from collections import deque

    config = TrackerConfig(max_age_s=1.0)
    tracker = Tracker(config)
    rng = np.random.default_rng(0)
    visits = []  # enter, leave (s), x, y, vx (px/s)
    for _ in range(400):
        enter = float(rng.uniform(0, 3600))
        visits.append((enter, enter + float(rng.uniform(2, 30)), *rng.uniform(0, 1200, 2), float(rng.uniform(-40, 40))))
    fps = 2
    window: deque[int] = deque(maxlen=round(config.max_age_s * fps) + 1)  # detections per frame, last max_age_s
    most_live = 0
    for i in range(3600 * fps):
        t = i / fps
        boxes = [Box(round((x + vx * (t - s)) % 1200), round(y), 60, 60)
                 for s, e, x, y, vx in visits if s <= t <= e and rng.random() > 0.1]
        tracker.update(boxes, t, np.full((len(boxes), 7), 1 / 7))
        window.append(len(boxes))
        assert len(tracker.tracks) <= min(sum(window), config.max_tracks)
        most_live = max(most_live, len(tracker.tracks))
    assert most_live >= 3
    assert tracker.next_id > 400  # ids keep counting: none is reused
    sizes = {(tr.filter.x.nbytes, tr.filter.p11.nbytes, tr.smoothed.nbytes) for tr in tracker.tracks}
    assert sizes == {(32, 32, 56)}


def test_centre_boxes_of_no_boxes_is_an_empty_matrix():
    assert centre_boxes([]).shape == (0, 4)
