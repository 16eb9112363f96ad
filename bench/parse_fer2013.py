"""Parse time of the full FER2013 CSV: training.data's vectorised parser vs the notebook's method.

    python -m bench.parse_fer2013 [--data ../shared/data/fer2013.csv.gz] [--repeat 3]

The notebook did ``np.array(list(map(str.split, data.pixels)), np.float32)`` after ``pd.read_csv``.
Both are timed on the same pixel strings, already in memory (CSV reading is common to both and
timed separately); the best of --repeat runs is reported.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bench.stats import wall_times
from training.data import load_fer2013, parse_pixels, read_bytes


def notebook_parse(pixels: list[str]) -> np.ndarray:
    return np.array(list(map(str.split, pixels)), np.float32)


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    return min(wall_times(fn, repeat))


def run(data: str, repeat: int = 3) -> dict[str, float]:
    raw = read_bytes(data)
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    pixels = frame["pixels"].tolist()
    ours = best_of(lambda: parse_pixels(pixels), repeat)
    notebook = best_of(lambda: notebook_parse(pixels), repeat)
    np.testing.assert_array_equal(parse_pixels(pixels), notebook_parse(pixels).astype(np.uint8))
    full = best_of(lambda: load_fer2013(data), repeat)
    return {
        "rows": len(pixels),
        "vectorised_parse_s": round(ours, 3),
        "notebook_parse_s": round(notebook, 3),
        "parse_speedup": round(notebook / ours, 1),
        "full_load_and_validate_s": round(full, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/fer2013.csv.gz")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    print(json.dumps(run(args.data, args.repeat), indent=2))


if __name__ == "__main__":
    main()
