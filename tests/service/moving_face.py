"""A real face that moves: skimage's astronaut photo slid around a gray canvas, with the face's box per frame.

Shared by the browser test (as a fake camera) and the fer-stream test (as a video file and an image folder).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from tests.service.conftest import ASTRONAUT_FACE

GRAY = 128


def photo_offset(i: int, n: int) -> tuple[int, int]:
    """Where frame i of n puts the photo's top-left corner: one smooth loop, so a looping camera never jumps."""
    angle = 2 * math.pi * i / n
    return 64 + round(32 * math.sin(angle)), -12 + round(8 * math.cos(angle))


def moving_face_frames(photo: np.ndarray, n: int, width: int = 640, height: int = 480
                       ) -> Iterator[tuple[np.ndarray, tuple[int, int, int, int]]]:
    """(RGB frame, face box x, y, w, h) for each of n frames."""
    ph, pw = photo.shape[:2]
    fx, fy, fw, fh = ASTRONAUT_FACE
    for i in range(n):
        ox, oy = photo_offset(i, n)
        frame = np.full((height, width, 3), GRAY, np.uint8)
        # paste the part of the photo that falls inside the canvas
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + pw, width), min(oy + ph, height)
        frame[y0:y1, x0:x1] = photo[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        yield frame, (fx + ox, fy + oy, fw, fh)
