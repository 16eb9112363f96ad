"""The benchmark sections that need no peer venv, run with tiny sizes: their results have the shape and the
non-timing values the report relies on (counts, recall, errors). Never an assertion on speed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import classifier_ceiling, memory, model_latency, pipeline_speed, plot, report
from bench.__main__ import parse_sections
from bench.photos import Photo, jpeg, sized_photos
from tests.service.conftest import SHIPPED_MODEL, build_onnx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shipped model where the checkout has it, else a tiny real ONNX classifier; the bench's in-process
    sections and its server both read it from FER_MODEL_PATH."""
    path = SHIPPED_MODEL if SHIPPED_MODEL.is_file() else build_onnx(tmp_path_factory.mktemp("model") / "tiny.onnx")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FER_MODEL_PATH", str(path))
        yield path


@pytest.fixture(scope="module")
def faces(fer2013: Any) -> np.ndarray:
    return fer2013.images[fer2013.indices("PrivateTest")]


@pytest.fixture(scope="module")
def photos(faces: np.ndarray) -> list[Photo]:
    return sized_photos(faces, sizes=((640, 480),), counts=(1, 3))


def test_sized_photos_have_the_asked_faces_inside_the_frame(photos: list[Photo]) -> None:
    assert [p.name for p in photos] == ["640x480-1face", "640x480-3face"]
    for photo, n in zip(photos, (1, 3), strict=True):
        assert photo.rgb.shape == (480, 640, 3) and len(photo.faces) == n
        for x, y, w, h in photo.faces:
            assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 480 and w >= 24


def test_classifier_ceiling_compares_every_batch_size(faces: np.ndarray, model: Path) -> None:
    out = classifier_ceiling.run(faces, batches=(1, 8), seconds=0.1, rounds=1)
    assert out["model"] == model.name and out["faces_available"] == len(faces)
    assert [r["batch"] for r in out["rows"]] == [1, 8]
    for r in out["rows"]:
        assert r["service_faces_per_s"] > 0 and r["bare_faces_per_s"] > 0 and r["ratio"] is not None
        assert r["met"] == (r["ratio"] >= 0.9)


def test_model_latency_times_each_model_at_batch_1_and_16(faces: np.ndarray, model: Path) -> None:
    out = model_latency.run(faces, repeat=2, untrained=(), models=[model])
    assert out["problems"] == [] and [r["file"] for r in out["rows"]] == [model.name]
    row = out["rows"][0]
    assert row["ms_per_face_batch1"] > 0 and row["ms_per_face_batch16"] > 0


def test_the_shipped_models_in_models_are_found_by_their_contract() -> None:
    found = model_latency.contracted_models()
    assert all(path.suffix == ".onnx" and path.parent.name == "models" for path in found)
    assert "blazeface_full_range.onnx" not in {path.name for path in found}  # a detector, no fer_contract


def test_pipeline_reports_recall_beside_speed(photos: list[Photo]) -> None:
    out = pipeline_speed.run(photos, detectors=("yunet", "haar"), repeat=1, with_stages=False)
    for name in ("yunet", "haar"):
        sizes = out["detectors"][name]["sizes"]
        assert set(sizes) == {"640x480", "all"}
        total = sizes["all"]
        assert total["images"] == 2 and total["faces"] == 4
        assert 0 <= total["found"] <= total["faces"] and 0.0 <= total["recall"] <= 1.0
        assert set(total["ms"]) == {"decode", "detect", "classify", "total"}
    # the astronaut alone; the astronaut, Grace Hopper and a FER2013 face
    assert out["detectors"]["yunet"]["sizes"]["all"]["found"] >= 3


def test_stage_table_times_every_stage_of_the_one_face_photo_and_a_12_megapixel_one(photos: list[Photo]) -> None:
    rows = pipeline_speed.stages(photos, repeat=1)["rows"]
    assert {r["frame"] for r in rows} == {"640x480", "4032x3024 (12 MP)"}
    stages = [r["stage"] for r in rows if r["frame"] == "640x480"]
    assert "decode as /predict does (scale 1)" in stages and "classify one face (crop + model)" in stages
    assert "detect: yuface (libfacedetection) at longest side 640" in stages  # the reference, a dev dependency
    big = {r["stage"]: r["ms"] for r in rows if r["frame"] != "640x480"}
    assert "decode as /predict does (scale 0.25)" in big and all(ms > 0 for ms in big.values())


def test_sequential_and_concurrent_requests_reach_a_real_server(photos: list[Photo]) -> None:
    from bench.server import serving
    from bench.speed_targets import concurrent, sequential

    data = jpeg(photos[0].rgb)
    with serving(1) as server:
        seq = sequential(server.url, data, repeat=3, warmup=1)
        assert seq["statuses"] == {"200": 3} and seq["median_ms"] > 0
        assert sequential(server.url, data, repeat=2, warmup=0, query="?min_face_size=40")["statuses"] == {"200": 2}
        many = concurrent(server.url, data, concurrency=2, seconds=1.0)
        assert many["requests"] > 0 and many["errors"] == 0


def test_memory_section_runs_a_real_server_without_errors(photos: list[Photo], tmp_path: Path) -> None:
    out = memory.run([jpeg(p.rgb) for p in photos], total=20, every=10, concurrency=2, workers=1)
    assert out["errors"] == 0 and out["statuses"] == {"200": 20}
    assert [s["requests"] for s in out["samples"]] == [0, 10, 20]
    assert all(s["rss_mb"] > 0 and s["largest_process_mb"] > 0 for s in out["samples"])
    assert all(0 < s["pss_mb"] <= s["rss_mb"] for s in out["samples"])  # PSS splits shared pages
    sections = {"memory": out, "pipeline": {"error": "not run here"}}
    results = {"date": "2000-01-01", "quick": True, "commit": "test", "json": "bench/results/x.json",
               "machine": {"cpu": "cpu", "cores": 2, "ram_gb": 1.0, "python": "3.11"},
               "load_1min": {"start": 0.0, "end": 0.0}, "busy_note": None, "sections_run": ["6"], "plot": "x.png",
               "sections": sections}
    text = report.document(results)
    assert "## 6. Memory" in text and "**Failed**: not run here" in text and "Quick mode" in text
    assert plot.plot(sections, tmp_path / "b.png", "test") and (tmp_path / "b.png").stat().st_size > 0


def test_sections_option_refuses_unknown_numbers() -> None:
    import argparse

    assert parse_sections("4,1,1") == [1, 4]
    with pytest.raises(argparse.ArgumentTypeError):
        parse_sections("1,99")
