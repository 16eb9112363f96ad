"""Section 9: one stream that follows people. A generated video of real faces moving and crossing
(bench/moving_people.py: the astronaut and FER2013 PublicTest faces over a brick wall, 15 fps) is streamed
lockstep to a real server with ``?frame_rate=15`` (the video's own clock) once per ``detect_every``:
answers per second, recall against the true boxes and against detecting every frame, and how well the
tracks hold (track id changes per person, frames where a person carries another person's id).
Then, in process: do the tracks hold when two people cross closer and closer?"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import replace
from itertools import pairwise
from typing import Any

import numpy as np
from websockets.asyncio.client import connect

from bench import moving_people
from bench.moving_people import Frame, box_iou, crossing, detectable_faces, label_faces, line
from bench.photos import jpeg
from bench.server import serving

FPS = 15
FRAMES = 150
EVERY = (1, 2, 3, 5, 8, 12)
CROSSING_GAPS = (80, 60, 40, 20, 0)  # vertical distance between the two faces' centres as they cross, px
MATCH_IOU = 0.5


def public_test_faces(data: str) -> np.ndarray:
    from training.data import load_fer2013

    d = load_fer2013(data)
    return d.images[d.indices("PublicTest")]


def detector_count() -> Any:
    """RGB frame -> faces found by the service's default detector, in process."""
    import cv2

    from service.app import load_pipeline
    from service.config import Settings

    pipeline = load_pipeline(Settings())
    return pipeline, lambda rgb: len(pipeline.detector.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), rgb, 24))


async def stream(ws_url: str, frames: list[bytes], every: int) -> tuple[list[dict[str, Any]], float]:
    url = f"{ws_url}/ws/stream?frame_rate={FPS}&detect_every={every}"
    answers = []
    async with connect(url, max_size=None, compression=None) as ws:
        started = time.perf_counter()
        for data in frames:
            await ws.send(data)
            answers.append(json.loads(await ws.recv()))
        elapsed = time.perf_counter() - started
    return answers, elapsed


def score(answers: list[dict[str, Any]], video: list[Frame], reference: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Recall (true faces in view found at IoU >= 0.5), recall of the reference run's faces, and track holding."""
    found = total = ref_found = ref_total = 0
    ids: dict[str, list[int]] = {}
    for i, (answer, frame) in enumerate(zip(answers, video, strict=True)):
        faces = answer["faces"]
        who = label_faces(faces, frame.faces, MATCH_IOU)
        total += len(frame.faces)
        found += len(who)
        for k, name in label_faces(faces, frame.faces).items():
            ids.setdefault(name, []).append(faces[k]["track_id"])
        if reference is not None:
            for ref in reference[i]["faces"]:
                ref_total += 1
                ref_found += any(box_iou(f["box"], _box(ref)) >= MATCH_IOU for f in faces)
    return {"recall": found / total if total else None,
            "recall_vs_every_frame": ref_found / ref_total if ref_total else None, **holding(ids)}


def holding(ids: dict[str, list[int]]) -> dict[str, Any]:
    """Per person: the share of its frames under its most frequent id; id changes; frames under another's id."""
    main = {name: Counter(seq).most_common(1)[0][0] for name, seq in ids.items()}
    people = {}
    for name, seq in ids.items():
        others = {main[o] for o in main if o != name}
        people[name] = {"frames": len(seq), "main_id_share": round(seq.count(main[name]) / len(seq), 4),
                        "id_changes": sum(a != b for a, b in pairwise(seq)),
                        "frames_with_anothers_id": sum(t in others for t in seq)}
    return {"people": people, "worst_main_id_share": min((p["main_id_share"] for p in people.values()), default=None),
            "swapped_frames": sum(p["frames_with_anothers_id"] for p in people.values())}


def _box(face: dict[str, Any]) -> tuple[int, int, int, int]:
    b = face["box"]
    return b["x"], b["y"], b["w"], b["h"]


def crossing_gaps(pipeline: Any, faces48: np.ndarray, every: int, n: int = 90) -> list[dict[str, Any]]:
    """In process, on the video's clock: two faces crossing with their centres ``gap`` px apart vertically, each
    of them in front in turn (the one behind is partly or, at gap 0, wholly hidden for a while)."""
    from service.stream_tracking import StreamOptions, StreamTracker

    rows = []
    for gap in CROSSING_GAPS:
        a, b = crossing(faces48, n)[:2]
        a = replace(a, path=line((100, 200), (540, 200), 0, n - 1))
        b = replace(b, path=line((540, 200 + gap), (100, 200 + gap), 0, n - 1))
        for people in ([a, b], [b, a]):
            video = list(moving_people.render(people, n))
            tracker = StreamTracker(StreamOptions(detect_every=every))
            ids: dict[str, list[int]] = {}
            for i, frame in enumerate(video):
                result = tracker.process(pipeline, jpeg(frame.rgb), i / FPS, 20, 24)
                for k, name in label_faces(result.faces, frame.faces).items():
                    ids.setdefault(name, []).append(result.faces[k]["track_id"])
            hidden = min(sum(p.name in f.faces for f in video) for p in people)
            rows.append({"gap_px": gap, "in_front": people[1].name, "frames": n, "least_frames_in_view": hidden,
                         **holding(ids)})
    return rows


def run(data: str, workers: int, every: tuple[int, ...] = EVERY, frames: int = FRAMES,
        rounds: int = 3) -> dict[str, Any]:
    """``rounds`` passes over every setting, alternating, so a busy moment costs every setting alike; the fps
    reported is the median pass (tracking results do not vary: the video's clock, not the wall's)."""
    pipeline, count = detector_count()
    faces48 = detectable_faces(public_test_faces(data), count, 2)
    video = list(moving_people.render(crossing(faces48, frames), frames))
    payloads = [jpeg(f.rgb) for f in video]
    passes: dict[int, list[tuple[list[dict[str, Any]], float]]] = {n: [] for n in every}
    with serving(workers) as server:
        asyncio.run(stream(server.ws_url, payloads[:10], 1))  # warm-up
        for _ in range(rounds):
            for n in every:
                passes[n].append(asyncio.run(stream(server.ws_url, payloads, n)))
    reference = passes[1][0][0] if 1 in passes else None
    rows = []
    for n, results in passes.items():
        answers = results[0][0]
        fps = sorted(len(a) / elapsed for a, elapsed in results)
        rows.append({"detect_every": n, "fps": round(fps[len(fps) // 2], 2), "fps_all": [round(f, 2) for f in fps],
                     "full_detections": sum(a["detection"] == "full" for a in answers),
                     "detect_ms_median": round(float(np.median([a["timings_ms"]["detect"] for a in answers])), 2),
                     "total_ms_median": round(float(np.median([a["timings_ms"]["total"] for a in answers])), 2),
                     **score(answers, video, reference if n != 1 else None)})
    from service.stream_tracking import DEFAULT_DETECT_EVERY

    gaps = crossing_gaps(pipeline, faces48, DEFAULT_DETECT_EVERY)
    return {"frames": frames, "video_fps": FPS, "workers": workers, "rounds": rounds, "rows": rows,
            "default_detect_every": DEFAULT_DETECT_EVERY, "crossing": gaps}


def render(r: dict[str, Any]) -> str:
    """The section's markdown (bench/report.py's helpers)."""
    from bench.report import fmt, pct, table

    rows = [[str(x["detect_every"]) + (" (default)" if x["detect_every"] == r["default_detect_every"] else ""),
             fmt(x["fps"], 1), str(x["full_detections"]), fmt(x["detect_ms_median"], 1), fmt(x["total_ms_median"], 1),
             pct(x["recall"]), pct(x["recall_vs_every_frame"]), pct(x["worst_main_id_share"]), str(x["swapped_frames"])]
            for x in r["rows"]]
    gaps = [[f"{g['gap_px']} px", g["in_front"], f"{g['least_frames_in_view']} of {g['frames']}",
             ", ".join(f"{name} {p['id_changes']}" for name, p in g["people"].items()),
             pct(g["worst_main_id_share"]), str(g["swapped_frames"])] for g in r["crossing"]]
    return (f"One lockstep stream of a {r['frames']}-frame video ({r['video_fps']} fps, 640x480): the astronaut and a "
            "FER2013 PublicTest face cross, a second FER2013 face comes in from the edge (bench/moving_people.py); "
            f"`?frame_rate={r['video_fps']}`, so tracking follows the video's clock. {r['workers']} worker processes; "
            f"fps is the median of {r['rounds']} passes per setting, interleaved. Recall: true faces in view found "
            "at IoU >= 0.5; against every frame: the faces that detecting every frame finds, found here too. "
            "Held: the least share of a person's frames under their most frequent track id; swapped: frames in "
            "which a person carried another person's id.\n\n"
            + table(["detect_every", "fps", "full detections", "detect ms (median)", "total ms (median)", "recall",
                     "recall vs every frame", "held", "swapped"], rows)
            + f"\n\nTwo faces crossing, in process, detect_every {r['default_detect_every']}: their centres a vertical "
            "gap apart, each in front in turn (the one behind is partly, at 0 px wholly, hidden).\n\n"
            + table(["gap", "in front", "least frames in view", "track id changes", "held", "swapped"], gaps,
                    text_columns=2))
