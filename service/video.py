"""Video in and out for ``fer-stream``, with OpenCV: frames from a video file, an image folder or a camera;
JPEG encoding; answers drawn on frames; an annotated video written to disk."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
BOX_BGR = (118, 230, 0)  # the web page's box green
FOURCC = "mp4v"  # MPEG-4 Part 2: written by opencv-python-headless's bundled FFmpeg, no system codecs needed


class VideoError(Exception):
    """A source that cannot be opened or read, or an output that cannot be written: one sentence for the user."""


class FrameSource:
    """BGR frames from somewhere; ``fps`` is the source's own rate where it has one (files and cameras)."""

    def __init__(self, name: str, frames: Iterator[np.ndarray], fps: float | None,
                 release: Callable[[], None] = lambda: None) -> None:
        self.name, self.fps = name, fps
        self._frames, self._release = frames, release

    def __iter__(self) -> Iterator[np.ndarray]:
        return self._frames

    def close(self) -> None:
        self._release()


def open_source(spec: str) -> FrameSource:
    """An integer opens that camera; a folder streams its images in name order; anything else is a video file."""
    if spec.isdigit():
        return _camera(int(spec))
    path = Path(spec)
    if not path.exists():
        raise VideoError(f"{spec}: no such file or folder.")
    return _folder(path) if path.is_dir() else _video(path)


def _capture_frames(capture: cv2.VideoCapture, first: np.ndarray) -> Iterator[np.ndarray]:
    yield first
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def _video(path: Path) -> FrameSource:
    capture = cv2.VideoCapture(str(path))
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok or first is None:
        capture.release()
        raise VideoError(f"{path}: not a video (or image) OpenCV can read.")
    fps = capture.get(cv2.CAP_PROP_FPS)
    return FrameSource(str(path), _capture_frames(capture, first), fps if 0 < fps < 1000 else None, capture.release)


def _camera(index: int) -> FrameSource:
    capture = cv2.VideoCapture(index)
    ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok or first is None:
        capture.release()
        raise VideoError(f"camera {index}: cannot be opened or gives no picture.")
    fps = capture.get(cv2.CAP_PROP_FPS)
    return FrameSource(f"camera {index}", _capture_frames(capture, first), fps if 0 < fps < 1000 else None,
                       capture.release)


def _folder(folder: Path) -> FrameSource:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise VideoError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder.")

    def frames() -> Iterator[np.ndarray]:
        for file in files:
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                raise VideoError(f"{file}: not an image OpenCV can read.")
            yield image

    return FrameSource(str(folder), frames(), None)


def encode_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise VideoError("a frame could not be encoded as JPEG.")
    return buf.tobytes()


def annotate(frame: np.ndarray, answer: dict[str, Any] | None) -> np.ndarray:
    """A copy of the frame with each face's box, track id, emotion and confidence (or the error code) drawn on it."""
    out = frame.copy()
    if answer is None:
        return out
    scale = max(0.5, min(out.shape[:2]) / 640)
    thickness = max(1, round(2 * scale))
    if answer.get("type") == "error":
        _label(out, f"error: {answer.get('code')}", 4, 4, scale, (0, 0, 220))
        return out
    for face in answer.get("faces", []):
        box = face["box"]
        x, y, w, h = box["x"], box["y"], box["w"], box["h"]
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_BGR, thickness)
        shown = face.get("smoothed", face)  # a stream's face: its track's smoothed emotion, after its track id
        name = f"#{face['track_id']} " if "track_id" in face else ""
        _label(out, f"{name}{shown['emotion']} {shown['confidence']:.2f}", x, y, scale, BOX_BGR)
    return out


def _label(image: np.ndarray, text: str, x: int, y: int, scale: float, colour: tuple[int, int, int]) -> None:
    """Black text on a filled tag sitting on top of (x, y), or just below it at the image's top edge."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, 0.5 * scale, 1)
    top = y - th - base - 4 if y - th - base - 4 >= 0 else y
    cv2.rectangle(image, (x, top), (x + tw + 4, top + th + base + 4), colour, cv2.FILLED)
    cv2.putText(image, text, (x + 2, top + th + 2), font, 0.5 * scale, (0, 0, 0), 1, cv2.LINE_AA)


class VideoOutput:
    """An annotated video file; opened on the first frame (its size fixes the video's), later frames resized."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps = path, fps
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._size = (frame.shape[1], frame.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*FOURCC), self.fps, self._size)
            if not self._writer.isOpened():
                raise VideoError(f"{self.path}: cannot write a video here (codec {FOURCC}).")
        if (frame.shape[1], frame.shape[0]) != self._size:
            frame = cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            log.info("wrote %d frames to %s", self.frames, self.path)
