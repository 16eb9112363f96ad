"""Shared fixtures: paths to the real data (required in CI), and factories for small CSV files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def _data_file(env: str, default: Path) -> Path:
    """A real data file; a missing one fails the test when FER_REQUIRE_DATA=1 (CI), else skips it."""
    path = Path(os.environ.get(env, default))
    if not path.is_file():
        message = f"real data not found at {path} (set {env})"
        if os.environ.get("FER_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def fer2013_csv() -> Path:
    return _data_file("FER2013_CSV", SHARED_DATA / "fer2013.csv.gz")


@pytest.fixture(scope="session")
def ferplus_csv() -> Path:
    return _data_file("FERPLUS_CSV", SHARED_DATA / "fer2013new.csv")


@pytest.fixture(scope="session")
def fer2013(fer2013_csv: Path):  # type: ignore[no-untyped-def]
    from training.data import load_fer2013

    return load_fer2013(fer2013_csv)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())  # (512, 512, 3) RGB, one face at (177, 67, 96, 96)


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


Row = tuple[object, str, str]


def pixel_string(rng: np.random.Generator, n: int = 2304) -> str:
    return " ".join(map(str, rng.integers(0, 256, size=n)))


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[..., Path]:
    """make_csv(rows=None, header="emotion,pixels,Usage", n_per_usage=3) -> path of a small CSV.

    Default rows: every class in every Usage split, random pixels.
    """

    def make(rows: list[Row] | None = None, header: str = "emotion,pixels,Usage", name: str = "fer.csv",
             n_per_class: int = 2) -> Path:
        if rows is None:
            rng = np.random.default_rng(0)
            rows = [(label, pixel_string(rng), usage)
                    for usage in ("Training", "PublicTest", "PrivateTest")
                    for label in range(7) for _ in range(n_per_class)]
        path = tmp_path / name
        path.write_text(header + "\n" + "".join(f"{e},{p},{u}\n" for e, p, u in rows))
        return path

    return make
