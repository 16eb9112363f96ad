"""An interrupted fer-batch run (the whole process group killed mid-run, as a crash or a lost machine would)
continues when the same command runs again: committed parts are not redone, no row is duplicated or lost."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from batch.rows import read_table
from tests.batch.conftest import Collection
from tests.service.conftest import ROOT, SHIPPED_MODEL


def committed_parts(parts: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in parts.glob("*.parquet")}


def test_an_interrupted_run_resumes_without_redoing_or_duplicating_rows(collection: Collection, make_video,
                                                                         tmp_path, fer_batch):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(24):
        shutil.copy(collection.faces[0], photos / f"astronaut-{i:02d}.jpg")
    shutil.copy(collection.truncated, photos / "truncated.jpg")
    clip = make_video(frames=60)
    out = tmp_path / "labels.jsonl"
    parts = tmp_path / "labels.jsonl.parts"
    argv = [str(photos), str(clip), "--out", str(out), "--workers", "2", "--chunk-size", "2",
            "--segment-frames", "5", "--model", str(SHIPPED_MODEL)]

    proc = subprocess.Popen([sys.executable, "-m", "batch.cli", *argv, "--no-progress"], cwd=ROOT,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not parts.exists() or len(committed_parts(parts)) < 3:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no part committed within 120 s"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the run's own process group: the CLI and its workers
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    before = committed_parts(parts)
    assert not out.exists() and (parts / "plan.json").is_file()
    # 13 chunks of photos; 12 video segments of 5 frames and the empty end of the video: the run was cut short
    assert 3 <= len(before) < 13 + 13

    assert fer_batch(*argv[:-2], "--fps", "2") == 2  # other options: refused, the run directory kept
    assert committed_parts(parts) == before

    assert fer_batch(*argv[:-2], "--keep-parts") == 0
    after = committed_parts(parts)
    assert {name: after[name] for name in before} == before  # nothing committed before was written again
    assert len(after) == 13 + 13

    rows = read_table(out).to_pylist()
    keys = Counter((r["source"], r["frame"], r["face_index"]) for r in rows)
    assert max(keys.values()) == 1
    per_photo = Counter(r["source"] for r in rows if r["frame"] is None)
    assert per_photo == {str(p): 1 for p in sorted(photos.iterdir())}
    assert sorted({r["frame"] for r in rows if r["source"] == str(clip)}) == list(range(60))
    assert [r["error_code"] for r in rows if r["source"].endswith("truncated.jpg")] == ["invalid_image"]
