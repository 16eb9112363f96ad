"""The `fer` PyPI package in its own venv, bench/.venv-fer (git-ignored), created on first use. fer declares torch
(for its optional MTCNN) and moviepy (video), which its image path never imports: it is installed with
``--no-deps`` beside only what ``from fer.fer import FER`` imports."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

log = logging.getLogger(__name__)

VENV = Path(__file__).resolve().parent / ".venv-fer"
FER = "fer==25.10.3"
# fer.fer imports tensorflow, cv2, numpy, requests and pkg_resources (setuptools, held back because newer releases
# drop pkg_resources); fer.utils imports PIL (pillow); fer.classes imports pandas and tqdm.
REQUIREMENTS = ["tensorflow-cpu>=2.16,<2.22", "opencv-python-headless<5", "pandas", "requests", "tqdm",
                "setuptools<81", "pillow"]
MARKER = VENV / ".installed"
SPEC = "\n".join([FER, *REQUIREMENTS])


def python() -> Path:
    return VENV / "bin" / "python"


def ensure(timeout_s: float = 1800) -> tuple[Path | None, str]:
    """(the venv's python, "") once fer imports there; (None, why not) when it cannot be installed."""
    if MARKER.is_file() and MARKER.read_text() == SPEC and python().is_file():
        return python(), ""
    pip = [str(python()), "-m", "pip", "install", "-q", "--retries", "2", "--timeout", "60"]  # fail soon offline
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [*pip, "--upgrade", "pip"],
        [*pip, *REQUIREMENTS],
        [*pip, "--no-deps", FER],
        [str(python()), "-c", "from fer.fer import FER"],
    ]
    for cmd in steps:
        log.info("fer venv: %s", " ".join(cmd[1:]))
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None, f"`{' '.join(cmd[1:])}` did not finish in {timeout_s:.0f} s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(cmd[1:])}` failed (exit {done.returncode}): {' / '.join(tail)}"
    MARKER.write_text(SPEC)
    return python(), ""
