"""Generated videos of real faces moving over a real background, with each person's true face box per frame:
the tracking tests, the live page's fake camera and the tracking benchmark all stream them.

The faces: the astronaut from ``skimage.data`` (public domain; its head with some hair and shoulders) and
FER2013 faces (48x48 gray, read at run time, never copied; upscaled, the whole crop being the face). The
background: scikit-image's photo of a brick wall, which has no face in it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from bench.photos import ASTRONAUT_FACE, Box, astronaut

Path = Callable[[int], tuple[float, float] | None]  # frame index -> the face's centre, or None when out of the video
MIN_VISIBLE = 0.5  # a face counts as in view when at least this much of it is neither off-frame nor covered


@dataclass(frozen=True)
class Person:
    name: str
    sprite: np.ndarray  # RGB: the head (and what surrounds it) as pasted
    face: Box  # the face inside the sprite
    path: Path


@dataclass(frozen=True)
class Frame:
    rgb: np.ndarray
    faces: dict[str, Box]  # person -> true face box, for every person in view (MIN_VISIBLE)


def head(rgb: np.ndarray, face: Box, face_size: int, margin: float) -> tuple[np.ndarray, Box]:
    """A crop with ``margin`` x the face's size around it, scaled so the face is ``face_size`` px wide."""
    x, y, w, h = face
    mx, my = int(w * margin), int(h * margin)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(rgb.shape[1], x + w + mx), min(rgb.shape[0], y + h + my)
    scale = face_size / w
    crop = cv2.resize(rgb[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return crop, (round((x - x0) * scale), round((y - y0) * scale), round(w * scale), round(h * scale))


def fer_head(face48: np.ndarray, face_size: int) -> tuple[np.ndarray, Box]:
    """A FER2013 face upscaled to ``face_size`` px, as RGB; the box is the whole crop."""
    big = cv2.resize(face48, (face_size, face_size), interpolation=cv2.INTER_CUBIC)
    return np.dstack([big] * 3), (0, 0, face_size, face_size)


def background(width: int, height: int) -> np.ndarray:
    from skimage import data

    return cv2.resize(np.asarray(data.brick()), (width, height), interpolation=cv2.INTER_LINEAR)[..., None].repeat(3, 2)


def render(people: list[Person], n: int, width: int = 640, height: int = 480) -> Iterator[Frame]:
    """n frames; later people are pasted over earlier ones (and may hide them)."""
    base = background(width, height)
    for i in range(n):
        frame = base.copy()
        owner = np.full((height, width), -1, np.int16)  # who painted each pixel: for what is hidden
        boxes: dict[int, Box] = {}
        for k, person in enumerate(people):
            centre = person.path(i)
            if centre is None:
                continue
            fx, fy, fw, fh = person.face
            ox, oy = round(centre[0] - fx - fw / 2), round(centre[1] - fy - fh / 2)
            sh, sw = person.sprite.shape[:2]
            x0, y0, x1, y1 = max(ox, 0), max(oy, 0), min(ox + sw, width), min(oy + sh, height)
            if x1 <= x0 or y1 <= y0:
                continue
            frame[y0:y1, x0:x1] = person.sprite[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
            owner[y0:y1, x0:x1] = k
            boxes[k] = (ox + fx, oy + fy, fw, fh)
        faces = {}
        for k, (bx, by, bw, bh) in boxes.items():
            visible = owner[max(by, 0):max(by + bh, 0), max(bx, 0):max(bx + bw, 0)] == k
            if visible.sum() >= MIN_VISIBLE * bw * bh:
                faces[people[k].name] = (bx, by, bw, bh)
        yield Frame(frame, faces)


def line(start: tuple[float, float], end: tuple[float, float], first: int, last: int) -> Path:
    """From ``start`` at frame ``first`` to ``end`` at frame ``last``, at constant speed; absent outside."""

    def at(i: int) -> tuple[float, float] | None:
        if not first <= i <= last:
            return None
        f = (i - first) / max(1, last - first)
        return start[0] + f * (end[0] - start[0]), start[1] + f * (end[1] - start[1])

    return at


def crossing(fer_faces: np.ndarray, n: int = 90, width: int = 640, height: int = 480) -> list[Person]:
    """The astronaut walks right while a FER2013 face walks left, passing in front of her (their boxes overlap
    at the crossing); from 55% of the video a second FER2013 face comes in from the right edge."""
    a_sprite, a_face = head(astronaut(), ASTRONAUT_FACE, 100, 0.35)
    b_sprite, b_face = fer_head(fer_faces[0], 110)
    c_sprite, c_face = fer_head(fer_faces[1], 100)
    enter = round(0.55 * n)
    return [
        Person("astronaut", a_sprite, a_face, line((100, 190), (width - 100, 190), 0, n - 1)),
        Person("fer-1", b_sprite, b_face, line((width - 100, 250), (100, 250), 0, n - 1)),
        Person("fer-2", c_sprite, c_face, line((width + 60, height - 75), (width - 110, height - 75), enter, n - 1)),
    ]


def looping(fer_face: np.ndarray, n: int = 60, width: int = 640, height: int = 480) -> list[Person]:
    """Two faces swinging side to side in opposite phase, crossing twice per loop; frame n is frame 0 again,
    so a camera that loops the video never jumps."""
    a_sprite, a_face = head(astronaut(), ASTRONAUT_FACE, 100, 0.35)
    b_sprite, b_face = fer_head(fer_face, 110)
    swing = (width - 240) / 2

    def a(i: int) -> tuple[float, float]:
        return width / 2 + swing * math.sin(2 * math.pi * i / n), 170

    def b(i: int) -> tuple[float, float]:
        return width / 2 - swing * math.sin(2 * math.pi * i / n), 300

    return [Person("astronaut", a_sprite, a_face, a), Person("fer-1", b_sprite, b_face, b)]


def detectable_faces(images: np.ndarray, detect: Callable[[np.ndarray], int], count: int,
                     size: int = 110) -> np.ndarray:
    """The first ``count`` of ``images`` (48x48) that ``detect`` (RGB frame -> number of faces) finds exactly once
    when pasted alone at ``size`` px on the background: the test is of tracking, not of the detector."""
    chosen = []
    base = background(640, 480)
    for face in images:
        frame = base.copy()
        sprite, _ = fer_head(face, size)
        frame[185:185 + size, 265:265 + size] = sprite
        if detect(frame) == 1:
            chosen.append(face)
            if len(chosen) == count:
                return np.stack(chosen)
    raise ValueError(f"only {len(chosen)} of {len(images)} faces were found by the detector")


def label_faces(faces: list[dict[str, Any]], truth: dict[str, Box], min_iou: float = 0.3) -> dict[int, str]:
    """Which person each reported face (answer dicts with a "box") is: a one-to-one matching by IoU with the
    true boxes, pairs under ``min_iou`` left out. Returns face index -> person name."""
    from scipy.optimize import linear_sum_assignment

    names = list(truth)
    if not faces or not names:
        return {}
    overlap = np.array([[box_iou(face["box"], truth[name]) for name in names] for face in faces])
    rows, cols = linear_sum_assignment(-overlap)
    return {int(r): names[c] for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= min_iou}


def box_iou(a: dict[str, int], b: Box) -> float:
    ix = max(0, min(a["x"] + a["w"], b[0] + b[2]) - max(a["x"], b[0]))
    iy = max(0, min(a["y"] + a["h"], b[1] + b[3]) - max(a["y"], b[1]))
    inter = ix * iy
    union = a["w"] * a["h"] + b[2] * b[3] - inter
    return inter / union if union else 0.0
