"""fer-batch on the local route (worker processes): a real nested collection gives one row per face or per
file with the service's error codes, and exactly the faces /predict answers for the same files."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from batch.rows import read_table
from tests.batch.conftest import Collection, LocalRun
from tests.service.conftest import ASTRONAUT_FACE, FER_LABELS, iou, post_image


def by_source(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        out[row["source"]].append(row)
    return out


def test_collection_gives_one_row_per_face_or_per_file_with_errors_coded(collection: Collection,
                                                                          local_run: LocalRun):
    table = pq.read_table(local_run.out)
    assert table.schema.names[:12] == ["source", "frame", "time_s", "track_id", "face_index", "box_x", "box_y",
                                       "box_w", "box_h", "detector_score", "emotion", "confidence"]
    assert [f"p_{label}" for label in FER_LABELS] == [n for n in table.schema.names if n.startswith("p_")]
    rows = by_source(table.to_pylist())
    # the inputs in order: the folder walked sorted (its hidden file left out), the video, the missing file
    assert list(rows) == [*sorted(str(p) for p in collection.photos), str(local_run.clip), str(local_run.missing)]

    (astronaut,) = rows[str(collection.faces[0])]
    assert astronaut["face_index"] == 0 and astronaut["error_code"] is None
    assert iou((astronaut["box_x"], astronaut["box_y"], astronaut["box_w"], astronaut["box_h"]), ASTRONAUT_FACE) > 0.5
    assert math.isclose(sum(astronaut[f"p_{label}"] for label in FER_LABELS), 1.0, rel_tol=1e-5)
    assert astronaut["emotion"] == max(FER_LABELS, key=lambda label: astronaut[f"p_{label}"])
    assert (astronaut["model"], astronaut["detector"]) == ("fer2013_seed_cnn", "yunet")
    for pasted in collection.faces[1:]:  # 3 FER2013 faces pasted on each: the detector finds at least two
        faces = rows[str(pasted)]
        assert len(faces) >= 2 and [r["face_index"] for r in faces] == list(range(len(faces)))
        areas = [r["box_w"] * r["box_h"] for r in faces]
        assert areas == sorted(areas, reverse=True)  # largest first, as /predict

    (coffee,) = rows[str(collection.no_face)]
    assert coffee["face_index"] is None and coffee["emotion"] is None and coffee["error_code"] is None
    assert (coffee["image_width"], coffee["image_height"]) == (600, 400)
    codes = {name: rows[str(path)][0]["error_code"] for name, path in
             [("truncated", collection.truncated), ("text", collection.text), ("missing", local_run.missing)]}
    assert codes == {"truncated": "invalid_image", "text": "unsupported_media_type", "missing": "file_not_found"}
    assert all(len(rows[str(p)]) == 1 for p in (collection.truncated, collection.text))
    assert "truncated" in rows[str(collection.truncated)][0]["error_detail"]
    assert not local_run.out.with_name("labels.parquet.parts").exists()  # merged, then the run directory removed


def test_rows_equal_predict_on_the_same_photos(collection: Collection, local_run: LocalRun, service_client):
    rows = by_source(pq.read_table(local_run.out).to_pylist())
    for path in collection.photos:
        response = post_image(service_client, path.read_bytes(), name=path.name)
        got = rows[str(path)]
        if response.status_code != 200:
            assert [r["error_code"] for r in got] == [response.json()["code"]], path
            continue
        body = response.json()
        faces = [] if got[0]["face_index"] is None else got
        assert len(faces) == len(body["faces"]), path
        for row, face in zip(faces, body["faces"], strict=True):
            assert {"x": row["box_x"], "y": row["box_y"], "w": row["box_w"], "h": row["box_h"]} == face["box"]
            assert (row["emotion"], row["confidence"], row["detector_score"]) == \
                (face["emotion"], face["confidence"], face["detector"]["score"])
            assert {label: row[f"p_{label}"] for label in FER_LABELS} == face["probabilities"]  # exactly
            assert (row["model"], row["model_version"]) == (body["model"]["name"], body["model"]["version"])
            assert (row["image_width"], row["image_height"]) == (body["image"]["width"], body["image"]["height"])


def test_an_existing_output_is_not_replaced_without_overwrite(collection: Collection, tmp_path, fer_batch):
    out = tmp_path / "labels.csv"
    out.write_text("precious\n")
    assert fer_batch(collection.no_face, "--out", out) == 2
    assert out.read_text() == "precious\n"
    assert fer_batch(collection.no_face, "--out", out, "--overwrite", "--workers", "1") == 0
    assert read_table(out).num_rows == 1


@pytest.mark.parametrize("name", ["labels.txt", "labels"])
def test_an_unknown_output_format_is_refused(tmp_path: Path, fer_batch, name):
    assert fer_batch(tmp_path, "--out", tmp_path / name) == 2


def test_model_is_chosen_by_name_or_path_as_the_service_does(collection: Collection, tmp_path):
    from batch.cli import main

    out = tmp_path / "named.csv"
    assert main([str(collection.faces[0]), "--out", str(out), "--model", "fer2013_seed_cnn", "--workers", "1",
                 "--no-progress"]) == 0
    (row,) = read_table(out).to_pylist()
    assert row["model"] == "fer2013_seed_cnn" and row["face_index"] == 0
    assert main([str(collection.faces[0]), "--out", str(tmp_path / "x.csv"), "--model", "no_such_model",
                 "--no-progress"]) == 2  # refused before any worker starts, as the service refuses to load it
