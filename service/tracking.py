"""Face tracks across frames: SORT (Bewley et al. 2016). Each track's box is followed by a constant-velocity
Kalman filter; each frame's detections are matched to the tracks' predicted boxes by overlap and motion
(Hungarian assignment, service/assignment.py); each track also keeps an exponential moving
average of its emotion probabilities. No I/O and no framework: one ``Tracker`` per stream or video.

    tracker = Tracker(TrackerConfig(smoothing_s=0.5))
    for t, boxes, probabilities in frames:         # t in seconds; boxes: list[Box]; probabilities: (n, labels)
        for face in tracker.update(boxes, t, probabilities):
            face.track_id, face.age_s, face.smoothed   # one per box, in the order given

Ids count up from 1 and are never reused by a tracker. State is bounded: a track unseen for ``max_age_s`` is
dropped, at most ``max_tracks`` live at once, and each track is a few fixed-size arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from service.assignment import min_cost_assignment
from service.detectors import Box


@dataclass(frozen=True)
class TrackerConfig:
    smoothing_s: float = 0.5  # time constant of the emotion average; 0 = the latest frame's probabilities
    max_age_s: float = 2.0  # a track not matched for this long is dropped (its id is never used again)
    max_tracks: int = 64  # live tracks at most; beyond, the longest-unseen are dropped first
    min_iou: float = 0.1  # a detection may continue a track if it overlaps the track's predicted box this much
    max_distance: float = 0.75  # ... or if their centres are this close, in units of the boxes' mean size
    max_size_ratio: float = 2.0  # ... and neither box is more than this many times the other's side
    distance_weight: float = 0.5  # cost = (1 - IoU) + weight x centre distance
    # Kalman noise, relative to the box's size s: measurement error 0.05 s; unknown initial velocity
    # (2 s per second); random acceleration of the centre 3 s per second squared; the size drifts at random
    # (no velocity: a face's size changes slowly, and a partly hidden face's shrinking box must not be
    # extrapolated) by 0.3 s per square-root second.
    measurement_noise: float = 0.05
    initial_velocity: float = 2.0
    acceleration: float = 3.0
    size_drift: float = 0.3
    # A detection whose size disagrees with the track's by a fraction f counts (1 + (f / 0.1)^2) times less:
    # a face partly hidden by another is found as a smaller box, whose centre lags the face's.
    size_tolerance: float = 0.1


class BoxFilter:
    """Kalman filter of a box as (centre x, centre y, width, height): the centre at constant velocity, the size
    as a random walk.

    With diagonal noise the four coordinates never couple, so the filter is four independent 2-state filters
    (value, rate per second), vectorised: ``x``, ``v`` (4,) and the covariance entries ``p00, p01, p11`` (4,);
    the size's rate is held at 0.
    """

    MOVING = np.array([1.0, 1.0, 0.0, 0.0])  # which coordinates have a velocity

    def __init__(self, z: np.ndarray, config: TrackerConfig) -> None:
        self.config = config
        size = _size(z)
        self.x = z.astype(np.float64)
        self.v = np.zeros(4)
        self.p00 = np.full(4, (config.measurement_noise * size) ** 2)
        self.p01 = np.zeros(4)
        self.p11 = self.MOVING * (config.initial_velocity * size) ** 2

    def predicted(self, dt: float) -> np.ndarray:
        """The box expected ``dt`` seconds after the last update (the state does not change)."""
        z: np.ndarray = self.x + self.v * dt
        return z

    def update(self, z: np.ndarray, dt: float) -> None:
        """Predict ``dt`` seconds ahead, then correct with the measured box ``z``."""
        c, m = self.config, self.MOVING
        size = _size(self.x)
        q = (c.acceleration * size) ** 2  # white acceleration: G = (dt^2/2, dt), Q = q G G^T
        x = self.x + self.v * dt
        drift = (c.size_drift * size) ** 2 * dt  # the size's random walk
        p00 = self.p00 + dt * (2 * self.p01 + dt * self.p11) + m * q * dt**4 / 4 + (1 - m) * drift
        p01 = self.p01 + dt * self.p11 + m * q * dt**3 / 2
        p11 = self.p11 + m * q * dt**2
        mismatch = float(np.max(np.abs(np.log(np.maximum(z[2:], 1.0) / np.maximum(self.x[2:], 1.0)))))
        r = (c.measurement_noise * _size(z)) ** 2 * (1 + (np.expm1(mismatch) / c.size_tolerance) ** 2)
        k0, k1 = p00 / (p00 + r), p01 / (p00 + r)
        innovation = z - x
        self.x = x + k0 * innovation
        self.v = self.v + k1 * innovation
        self.p00, self.p01, self.p11 = (1 - k0) * p00, (1 - k0) * p01, p11 - k1 * p01


@dataclass
class Track:
    id: int
    filter: BoxFilter
    box: Box  # the last detection
    first_seen: float
    last_seen: float
    hits: int = 1
    smoothed: np.ndarray | None = None

    def predicted(self, t: float) -> np.ndarray:
        return self.filter.predicted(max(0.0, t - self.last_seen))


@dataclass(frozen=True)
class TrackedFace:
    """What ``Tracker.update`` says about one detection."""

    track_id: int
    age_s: float  # since the track's first detection
    hits: int  # detections in the track so far, this one included
    box: Box
    smoothed: np.ndarray | None  # the track's averaged probabilities (None when no probabilities were given)


@dataclass
class Tracker:
    config: TrackerConfig = field(default_factory=TrackerConfig)
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 1

    def predicted_boxes(self, t: float) -> list[tuple[Track, np.ndarray]]:
        """Each live track with the (cx, cy, w, h) box its filter expects at time ``t``."""
        return [(track, track.predicted(t)) for track in self.tracks]

    def match(self, boxes: Sequence[Box], t: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
        """(track index, box index) pairs, unmatched track indices, unmatched box indices; changes nothing."""
        predicted = np.array([track.predicted(t) for track in self.tracks]).reshape(-1, 4)
        return assign(*match_cost(predicted, centre_boxes(boxes), self.config))

    def update(self, boxes: Sequence[Box], t: float, probabilities: np.ndarray | None = None) -> list[TrackedFace]:
        """Give this frame's detections (and their probabilities, one row per box) at time ``t`` seconds;
        returns one TrackedFace per box, in order. Unmatched boxes start new tracks; tracks unseen for
        ``max_age_s`` are dropped."""
        self.tracks = [tr for tr in self.tracks if t - tr.last_seen <= self.config.max_age_s]
        matches, _, new = self.match(boxes, t)
        owner: dict[int, Track] = {}
        measured = centre_boxes(boxes)
        for ti, bi in matches:
            track = self.tracks[ti]
            track.filter.update(measured[bi], max(0.0, t - track.last_seen))
            track.smoothed = self._smooth(track, None if probabilities is None else probabilities[bi], t)
            track.box, track.last_seen, track.hits = boxes[bi], t, track.hits + 1
            owner[bi] = track
        for bi in new:
            raw = None if probabilities is None else np.asarray(probabilities[bi], np.float64).copy()
            track = Track(self.next_id, BoxFilter(measured[bi], self.config), boxes[bi], t, t, smoothed=raw)
            self.next_id += 1
            self.tracks.append(track)
            owner[bi] = track
        self._enforce_limit()
        return [TrackedFace(tr.id, round(t - tr.first_seen, 6), tr.hits, boxes[bi], tr.smoothed)
                for bi, tr in sorted(owner.items())]

    def _smooth(self, track: Track, raw: np.ndarray | None, t: float) -> np.ndarray | None:
        if raw is None:
            return track.smoothed
        if track.smoothed is None:
            return np.asarray(raw, np.float64).copy()
        return ema(track.smoothed, raw, t - track.last_seen, self.config.smoothing_s)

    def _enforce_limit(self) -> None:
        if len(self.tracks) > self.config.max_tracks:
            self.tracks.sort(key=lambda tr: tr.last_seen, reverse=True)  # most recently seen first
            del self.tracks[self.config.max_tracks:]
            self.tracks.sort(key=lambda tr: tr.id)


def ema(previous: np.ndarray, raw: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """Exponential moving average in time, not in frames: the weight of the new value is 1 - exp(-dt/tau), so
    the result does not depend on the frame rate (tau <= 0: just the new value)."""
    if tau <= 0:
        return np.asarray(raw, np.float64).copy()
    alpha = 1.0 - math.exp(-max(0.0, dt) / tau)
    out: np.ndarray = previous + alpha * (np.asarray(raw, np.float64) - previous)
    return out


def centre_boxes(boxes: Sequence[Box]) -> np.ndarray:
    """(n, 4) boxes as centre x, centre y, width, height."""
    return np.array([(b.x + b.w / 2, b.y + b.h / 2, b.w, b.h) for b in boxes], np.float64).reshape(-1, 4)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of centre-form boxes."""
    a0, a1 = a[:, None, :2] - a[:, None, 2:] / 2, a[:, None, :2] + a[:, None, 2:] / 2
    b0, b1 = b[None, :, :2] - b[None, :, 2:] / 2, b[None, :, :2] + b[None, :, 2:] / 2
    overlap = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None)
    inter = overlap[..., 0] * overlap[..., 1]
    union = (a[:, None, 2] * a[:, None, 3]) + (b[None, :, 2] * b[None, :, 3]) - inter
    out: np.ndarray = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return out


def centre_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) distance between centres, in units of the two boxes' mean side."""
    scale = (_sizes(a)[:, None] + _sizes(b)[None, :]) / 2
    out: np.ndarray = np.linalg.norm(a[:, None, :2] - b[None, :, :2], axis=2) / np.maximum(scale, 1e-9)
    return out


def match_cost(predicted: np.ndarray, detected: np.ndarray, config: TrackerConfig) -> tuple[np.ndarray, np.ndarray]:
    """(cost, allowed): cost = (1 - IoU) + distance_weight x centre distance for every track/detection pair;
    a pair is allowed when the boxes overlap (IoU >= min_iou) or their centres are close (<= max_distance),
    and their sizes differ by at most max_size_ratio."""
    iou = iou_matrix(predicted, detected)
    distance = centre_distance(predicted, detected)
    ratio = _sizes(predicted)[:, None] / np.maximum(_sizes(detected)[None, :], 1e-9)
    similar = (ratio <= config.max_size_ratio) & (ratio >= 1 / config.max_size_ratio)
    allowed = ((iou >= config.min_iou) | (distance <= config.max_distance)) & similar
    return (1.0 - iou) + config.distance_weight * distance, allowed


def assign(cost: np.ndarray, allowed: np.ndarray) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """The cheapest one-to-one matching among allowed pairs: (pairs, unmatched rows, unmatched columns)."""
    n_rows, n_cols = cost.shape
    pairs: list[tuple[int, int]] = []
    if n_rows and n_cols and allowed.any():
        big = float(cost[allowed].max()) + 1e6  # a forbidden pair is only chosen when nothing else is left
        rows, cols = min_cost_assignment(np.where(allowed, cost, big))
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]
    matched_rows, matched_cols = {r for r, _ in pairs}, {c for _, c in pairs}
    return (pairs, [r for r in range(n_rows) if r not in matched_rows],
            [c for c in range(n_cols) if c not in matched_cols])


def _size(z: np.ndarray) -> float:
    return float(max(z[2], z[3], 1.0))


def _sizes(z: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.maximum(np.maximum(z[:, 2], z[:, 3]), 1.0)
    return out
