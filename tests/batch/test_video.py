"""fer-batch on videos: every frame or --fps sampled by the file's timestamps, frames equal to /predict on the
same decoded pixels, a timeline PNG and a summary table per video; the sampler on irregular timestamps."""

from __future__ import annotations

import pyarrow.compute as pc
import pytest
from PIL import Image

from batch.output import video_stem, videos_dir
from batch.rows import read_table
from batch.video import Sampler
from tests.batch.conftest import decoded_frames, png
from tests.service.conftest import FER_LABELS, post_image


def test_sampler_takes_the_first_frame_of_each_tick_from_timestamps():
    times = [0.0, 0.1, 0.45, 0.52, 0.99, 1.7, 1.71, 2.0, 2.0000004, 4.2]  # a stuttering, variable-rate video
    sampler = Sampler(fps=2.0)
    assert [t for t in times if sampler.take(t)] == [0.0, 0.52, 1.7, 2.0, 4.2]
    every = Sampler(fps=None)
    assert all(every.take(t) for t in times)


def test_video_gives_every_frame_with_timestamps_equal_to_predict(make_video, tmp_path, fer_batch, service_client):
    clip = make_video(frames=30, fps=10.0)
    out = tmp_path / "frames.csv"
    assert fer_batch(clip, "--out", out, "--workers", "2", "--segment-frames", "7") == 0
    rows = read_table(out).to_pylist()
    assert sorted({r["frame"] for r in rows}) == list(range(30))
    assert {r["frame"]: r["time_s"] for r in rows} == {i: pytest.approx(i / 10) for i in range(30)}
    assert {r["frame"] for r in rows if r["face_index"] is None} == {9, 19, 29}  # the empty frames: one row each
    assert all(r["error_code"] is None for r in rows)
    # one person sliding across: one track, kept through the empty frames (gone 0.2 s, under the tracker's 1 s)
    assert {r["track_id"] for r in rows if r["face_index"] is not None} == {1}

    frames = decoded_frames(clip)
    for index in (0, 4, 9, 17):  # the same pixels, sent to /predict as a lossless PNG
        body = post_image(service_client, png(frames[index][..., ::-1]), name="frame.png", content_type="image/png")
        faces = [r for r in rows if r["frame"] == index and r["face_index"] is not None]
        assert len(faces) == len(body.json()["faces"])
        for row, face in zip(faces, body.json()["faces"], strict=True):
            assert {"x": row["box_x"], "y": row["box_y"], "w": row["box_w"], "h": row["box_h"]} == face["box"]
            assert {label: row[f"p_{label}"] for label in FER_LABELS} == face["probabilities"]  # exactly


def test_fps_samples_by_timestamp_and_each_video_gets_a_timeline_and_summary(make_video, tmp_path, fer_batch):
    clip = make_video("seven.mp4", frames=28, fps=7.0)  # 4 s at 7 fps, sampled at 3 per second
    out = tmp_path / "sampled.parquet"
    assert fer_batch(clip, "--out", out, "--fps", "3", "--workers", "1") == 0
    table = read_table(out)
    frames = sorted(set(table["frame"].to_pylist()))
    # ticks every 1/3 s: the first frame at or after each tick (frame k is at k/7 s)
    assert frames == [0, 3, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26]
    png_path = videos_dir(out) / f"{video_stem(str(clip))}.timeline.png"
    with Image.open(png_path) as image:
        assert image.format == "PNG" and image.width > 400 and image.height > 100
    summary = read_table(videos_dir(out) / f"{video_stem(str(clip))}.summary.parquet").to_pylist()
    everyone, track = summary  # all faces, then the one track
    assert track["track_id"] == 1 and track["faces"] == everyone["faces"]
    faces = table.filter(pc.is_valid(table["face_index"]))
    assert everyone["track_id"] is None and everyone["frames_sampled"] == 12
    assert everyone["faces"] == faces.num_rows and everyone["frames_with_face"] == len(set(faces["frame"].to_pylist()))
    assert sum(everyone[f"share_{label}"] for label in FER_LABELS) == pytest.approx(1.0)
    assert everyone["dominant_emotion"] in FER_LABELS
    assert everyone["first_s"] == pytest.approx(0.0) and everyone["last_s"] <= 26 / 7 + 1e-6


def test_a_file_that_looks_like_a_video_but_is_broken_is_one_coded_row(make_video, tmp_path, fer_batch):
    clip = make_video(frames=20)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:64])  # the ftyp box and nothing playable
    out = tmp_path / "rows.jsonl"
    assert fer_batch(broken, "--out", out) == 0
    (row,) = read_table(out).to_pylist()
    assert row["error_code"] == "invalid_video" and row["source"] == str(broken)
    assert not videos_dir(out).exists()
