"""fer-batch factories: a nested photo collection with real faces and broken files, a generated video, the
service app on the shipped model (to compare rows with /predict), and a way to run the CLI."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.photos import fer2013_photos, jpeg
from tests.service.conftest import SHIPPED_MODEL


@dataclass(frozen=True)
class Collection:
    root: Path
    faces: list[Path]  # photos with real faces
    no_face: Path
    truncated: Path
    text: Path

    @property
    def photos(self) -> list[Path]:
        return [*self.faces, self.no_face, self.truncated, self.text]


def png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def fer_faces(fer2013: Any) -> np.ndarray:
    return fer2013.images[fer2013.indices("PublicTest")][:64]


@pytest.fixture(scope="session")
def collection(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray, astronaut_jpeg: bytes,
               fer_faces: np.ndarray) -> Collection:
    """root/portraits/astronaut.jpg, root/portraits/pasted/fer-0{0,1}.jpg (FER2013 faces on gray canvases),
    root/no-face/coffee.png, root/broken/truncated.jpg (half a JPEG), root/broken/notes.jpg (text).
    Shared by the tests: none of them writes into it."""
    from skimage import data

    root = tmp_path_factory.mktemp("photos") / "collection"
    (root / "portraits" / "pasted").mkdir(parents=True)
    (root / "no-face").mkdir()
    (root / "broken").mkdir()
    faces = [root / "portraits" / "astronaut.jpg"]
    faces[0].write_bytes(astronaut_jpeg)
    for photo in fer2013_photos(fer_faces, n=2, per_photo=3, seed=1):
        path = root / "portraits" / "pasted" / f"{photo.name}.jpg"
        path.write_bytes(jpeg(photo.rgb))
        faces.append(path)
    no_face = root / "no-face" / "coffee.png"
    no_face.write_bytes(png(np.asarray(data.coffee())))
    truncated = root / "broken" / "truncated.jpg"
    truncated.write_bytes(astronaut_jpeg[: len(astronaut_jpeg) // 2])
    text = root / "broken" / "notes.jpg"
    text.write_text("these are notes, not a photo\n")
    (root / ".hidden.jpg").write_bytes(astronaut_jpeg)  # hidden files are not part of a collection
    return Collection(root, faces, no_face, truncated, text)


def moving_frames(astronaut: np.ndarray, count: int, size: tuple[int, int] = (320, 240)) -> Iterator[np.ndarray]:
    """BGR frames of the astronaut's head sliding right on a gray background; every 10th frame is empty."""
    head = astronaut[30:230, 130:330, ::-1]  # 200x200 around the face
    head = cv2.resize(head, (140, 140), interpolation=cv2.INTER_AREA)
    w, h = size
    for i in range(count):
        frame = np.full((h, w, 3), 128, np.uint8)
        if i % 10 != 9:
            x = 10 + (i * 4) % (w - 150)
            frame[50:190, x : x + 140] = head
        yield frame


def write_video(path: Path, astronaut: np.ndarray, frames: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (320, 240))
    assert writer.isOpened()
    for frame in moving_frames(astronaut, frames):
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def make_video(tmp_path: Path, astronaut: np.ndarray) -> Callable[..., Path]:
    def make(name: str = "clip.mp4", frames: int = 30, fps: float = 10.0) -> Path:
        return write_video(tmp_path / name, astronaut, frames, fps)

    return make


@dataclass(frozen=True)
class LocalRun:
    """The local route's output for the collection, a 12-frame clip and a missing file (--segment-frames 5)."""

    out: Path
    clip: Path
    missing: Path
    argv: tuple[str, ...]  # inputs and the options that decide the rows, for other routes to repeat


@pytest.fixture(scope="session")
def local_run(collection: Collection, tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> LocalRun:
    from batch.cli import main

    folder = tmp_path_factory.mktemp("local-run")
    clip = write_video(folder / "clip.mp4", astronaut, frames=12, fps=10.0)
    missing = folder / "missing.jpg"
    argv = (str(collection.root), str(clip), str(missing), "--segment-frames", "5", "--model", str(SHIPPED_MODEL))
    out = folder / "labels.parquet"
    assert main([*argv, "--out", str(out), "--workers", "2", "--chunk-size", "2", "--no-progress"]) == 0
    return LocalRun(out, clip, missing, argv)


def decoded_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as OpenCV decodes it (BGR)."""
    capture = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        out.append(frame)
    capture.release()
    return out


@pytest.fixture(scope="module")
def service_client() -> Iterator[Any]:
    """The real service (create_app) on the shipped model with default settings, as fer-batch's defaults."""
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    with TestClient(create_app(Settings(model_path=SHIPPED_MODEL))) as client:
        yield client


@pytest.fixture
def fer_batch() -> Callable[..., int]:
    """fer_batch(*argv) -> exit status of the CLI run in this process (its workers are real processes)."""
    from batch.cli import main

    def run(*argv: Any) -> int:
        return main([str(a) for a in argv] + ["--no-progress", "--model", str(SHIPPED_MODEL)])

    return run
