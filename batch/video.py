"""Video frames for labelling: read with OpenCV (its bundled FFmpeg), each with the timestamp the file gives
it, sampled at ``--fps`` by those timestamps (never by assuming a constant frame rate), and turned into the
pipeline's image type by service.images.from_pixels (decode's own conversion)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from service.errors import BadRequest
from service.images import DecodedImage, from_pixels

_EPS = 1e-6  # timestamps are floats of milliseconds: 0.30000000000000004 s is still the 0.3 s tick


@dataclass(frozen=True)
class VideoInfo:
    fps: float | None  # the container's nominal rate (for the progress estimate only)
    frames: int | None  # the container's frame count, where it says


@dataclass
class Sampler:
    """Takes the first frame at or after each tick k/fps (k = 0, 1, 2...); ticks without a frame are skipped,
    so a variable-rate or stuttering video still gives at most one frame per 1/fps seconds. fps=None takes all."""

    fps: float | None
    next_tick: int = 0

    def take(self, time_s: float) -> bool:
        if self.fps is None:
            return True
        if time_s + _EPS < self.next_tick / self.fps:
            return False
        self.next_tick = math.floor(time_s * self.fps + _EPS) + 1
        return True


def invalid_video(path: str) -> BadRequest:
    return BadRequest(f"{path}: looks like a video but OpenCV cannot read a frame from it.", code="invalid_video")


def open_video(path: str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise invalid_video(path)
    return capture


def probe(path: str) -> VideoInfo:
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return VideoInfo(None, None)
        fps, count = capture.get(cv2.CAP_PROP_FPS), capture.get(cv2.CAP_PROP_FRAME_COUNT)
        return VideoInfo(fps if 0 < fps < 1000 else None, int(count) if count > 0 else None)
    finally:
        capture.release()


def expected_samples(info: VideoInfo, fps: float | None) -> int | None:
    """About how many frames a video gives at ``fps`` (progress bar total; the real count may differ)."""
    if info.frames is None:
        return None
    if fps is None or info.fps is None or fps >= info.fps:
        return info.frames
    return max(1, math.ceil(info.frames / info.fps * fps))


def frames(capture: cv2.VideoCapture, start: int = 0) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index in the file, timestamp in seconds, BGR frame) from frame ``start`` on; frames before it are
    grabbed but not converted (a resumed run continues where it stopped, timestamps as the file gives them)."""
    index = 0
    while index < start:
        if not capture.grab():
            return
        index += 1
    while capture.grab():
        # whole microseconds: 0.3 s, not 0.30000000000000004
        time_s = round(capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, 6)
        ok, frame = capture.retrieve()
        if not ok or frame is None:
            return
        yield index, time_s, frame
        index += 1


def to_image(bgr: np.ndarray, want_rgb: bool) -> DecodedImage:
    """The pipeline's input for one frame: what images.decode gives for the same pixels in a PNG."""
    return from_pixels(np.ascontiguousarray(bgr[..., ::-1]), want_rgb, format="video")
