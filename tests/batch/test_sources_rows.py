"""fer-batch's pure parts: which files a set of inputs names (and as what), and one schema in every format."""

from __future__ import annotations

import math

import pytest

from batch.rows import FORMATS, OutputFormatError, RunInfo, TableWriter, output_format, read_table
from batch.sources import find, sniff_video

INFO = RunInfo(("anger", "happiness"), "m", "1.0.0", "yunet")
FACE = {"box": {"x": 1, "y": 2, "w": 30, "h": 40}, "emotion": "happiness", "confidence": 0.7000000476837158,
        "probabilities": {"anger": 0.29999998211860657, "happiness": 0.7000000476837158},
        "detector": {"name": "yunet", "score": 0.9312}}


def test_folders_are_walked_sorted_globs_expanded_and_each_file_found_once(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".git").mkdir()
    for name in ("b/deep/z.jpg", "b/a.png", "c.jpg", ".git/x.jpg", "b/.thumb.jpg"):
        (tmp_path / name).write_bytes(b"\xff\xd8\xff")
    (tmp_path / "b" / "clip.bin").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(20))
    found = find([str(tmp_path / "b"), str(tmp_path / "*.jpg"), str(tmp_path / "b" / "a.png"),
                  str(tmp_path / "nothing-*.jpg")])
    assert [(s.path.removeprefix(str(tmp_path) + "/"), s.kind) for s in found] == [
        ("b/a.png", "image"), ("b/clip.bin", "video"), ("b/deep/z.jpg", "image"), ("c.jpg", "image"),
        ("nothing-*.jpg", "image"),  # a pattern that matches nothing still gets its row (file_not_found)
    ]


@pytest.mark.parametrize(("head", "is_video"), [
    (b"\x00\x00\x00\x18ftypisom", True), (b"\x00\x00\x00\x18ftypqt  ", True), (b"\x00\x00\x00\x18ftypheic", False),
    (b"\x00\x00\x00\x1cftypavif", False), (b"RIFF\x00\x00\x00\x00AVI LIST", True), (b"\x1a\x45\xdf\xa3\x01", True),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", False), (b"\xff\xd8\xff\xe0", False), (b"GIF89a", False), (b"hello", False),
])
def test_videos_are_recognised_by_their_bytes(head, is_video):
    assert sniff_video(head + bytes(16)) is is_video


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_holds_the_same_rows_and_floats_exactly(tmp_path, fmt):
    rows = INFO.face_rows("a.jpg", [FACE, FACE], 640, 480) + INFO.face_rows("empty.png", [], 10, 10)
    rows += [INFO.error_row("bad.jpg", "invalid_image", "The JPEG image is truncated."),
             *INFO.face_rows("v.mp4", [FACE], 320, 240, frame=7, time_s=0.7, track_ids=[3])]
    path = tmp_path / f"out{fmt}"
    with TableWriter(path, INFO.schema) as writer:
        writer.write(INFO.table(rows[:3]))
        writer.write(INFO.table(rows[3:]))
    back = read_table(path)
    assert back.column_names == INFO.schema.names
    got = back.to_pylist()
    assert [r["face_index"] for r in got] == [0, 1, None, None, 0]
    assert got[0]["p_anger"] == 0.29999998211860657 and got[0]["detector_score"] == 0.9312
    assert got[2]["image_width"] == 10 and got[2]["error_code"] is None
    assert (got[3]["error_code"], got[3]["error_detail"]) == ("invalid_image", "The JPEG image is truncated.")
    assert (got[4]["frame"], got[4]["time_s"], got[4]["track_id"]) == (7, 0.7, 3)
    assert not any(isinstance(v, float) and math.isnan(v) for r in got for v in r.values())


def test_a_failed_write_leaves_no_output(tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(RuntimeError), TableWriter(path, INFO.schema) as writer:
        writer.write(INFO.table(INFO.face_rows("a.jpg", [FACE], 1, 1)))
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_the_extension_names_the_format():
    assert output_format("x/labels.CSV") == ".csv"
    with pytest.raises(OutputFormatError, match=r"\.parquet, \.csv, \.jsonl"):
        output_format("labels.xlsx")
