"""``fer-stream``: send a video file, an image folder or a camera to the service's ``/ws/stream`` and print
one JSON line per answered frame (each face with its ``track_id``), or a final summary with every track's
time in view and dominant emotions; optionally write an annotated video.

    fer-stream clip.mp4                            # next frame when the previous answer arrives
    fer-stream clip.mp4 --fps 30 --summary         # a fixed send rate: the service drops what it cannot keep up with
    fer-stream frames/ --output annotated.mp4      # an image folder, in name order
    fer-stream 0 --url ws://host:8000/ws/stream    # camera 0

A video file's frames are timed by the file's own frame rate (``?frame_rate=``), so tracks and smoothing follow
the video's clock however fast the service answers; camera frames and image folders by their arrival.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import cv2
import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

from service.video import VideoError, VideoOutput, annotate, encode_jpeg, open_source

DEFAULT_URL = "ws://127.0.0.1:8000/ws/stream"
_CLOSE_REASONS = {
    1003: "the service accepts only binary frames",
    1008: "the service refused the stream",
    1009: "a frame was larger than the service accepts (lower --quality)",
    1013: "the service is not ready (no model loaded)",
}


class StreamError(Exception):
    """Streaming cannot go on; the message is one sentence for the user."""


@dataclass
class FrameResult:
    seq: int
    frame: np.ndarray
    answer: dict[str, Any] | None  # None: the service skipped this frame (latest frame wins)
    latency_ms: float | None = None  # from sending the frame to its answer


@dataclass
class TrackSummary:
    """One person as the service followed them: when they were seen, and their smoothed emotion frame by frame."""

    first_t: float
    last_t: float
    frames: int = 0
    emotions: Counter[str] = field(default_factory=Counter)

    def as_dict(self, track_id: int) -> dict[str, Any]:
        shares = [{"emotion": e, "share": round(n / self.frames, 3)} for e, n in self.emotions.most_common(3)]
        return {"track_id": track_id, "first_t": round(self.first_t, 3), "last_t": round(self.last_t, 3),
                "time_in_view_s": round(self.last_t - self.first_t, 3), "frames": self.frames,
                "dominant_emotions": shares}


@dataclass
class Summary:
    mode: str
    sent: int = 0
    answered: int = 0
    errors: int = 0
    dropped: int = 0
    faces: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    elapsed_s: float = 0.0
    tracks: dict[int, TrackSummary] = field(default_factory=dict)

    def add(self, result: FrameResult) -> None:
        self.sent = max(self.sent, result.seq + 1)
        self.elapsed_s = time.perf_counter() - self.started
        answer = result.answer
        if answer is None:
            return
        self.answered += 1
        if result.latency_ms is not None:
            self.latencies_ms.append(result.latency_ms)
        if answer["type"] == "error":
            self.errors += 1
        else:
            self.faces += len(answer["faces"])
            self.dropped = answer["dropped"]  # the service's running total for this connection
            for face in answer["faces"]:
                self._track(face, float(answer["t"]))

    def _track(self, face: dict[str, Any], t: float) -> None:
        if "track_id" not in face:
            return
        track = self.tracks.setdefault(face["track_id"], TrackSummary(t, t))
        track.last_t = t
        track.frames += 1
        track.emotions[face.get("smoothed", face)["emotion"]] += 1

    def as_dict(self) -> dict[str, Any]:
        lat = np.asarray(self.latencies_ms)
        latency = ({"p50": round(float(np.percentile(lat, 50)), 1), "p95": round(float(np.percentile(lat, 95)), 1),
                    "mean": round(float(lat.mean()), 1)} if lat.size else None)
        return {"mode": self.mode, "frames_sent": self.sent, "answered": self.answered, "errors": self.errors,
                "dropped": self.dropped, "faces": self.faces, "elapsed_s": round(self.elapsed_s, 3),
                "fps": round(self.answered / self.elapsed_s, 2) if self.elapsed_s > 0 else 0.0,
                "latency_ms": latency, "tracks": [t.as_dict(i) for i, t in sorted(self.tracks.items())]}


def stream_url(url: str, max_faces: int | None = None, min_face_size: int | None = None,
               **options: float | str | None) -> str:
    """The stream URL with the face and tracking options as query parameters (kept alongside any already there)."""
    given = {"max_faces": max_faces, "min_face_size": min_face_size, **options}
    params = {k: f"{v:g}" if isinstance(v, float) else v for k, v in given.items() if v is not None}
    if not params:
        return url
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def open_stream(url: str, timeout: float, api_key: str | None = None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    try:  # JPEG does not deflate: skip compression's CPU
        return connect(url, open_timeout=timeout, compression=None, additional_headers=headers)
    except InvalidURI:
        raise StreamError(f"{url}: not a ws:// or wss:// URL.") from None
    except ConnectionRefusedError:
        raise StreamError(f"cannot connect to {url}: connection refused (is the service running?).") from None
    except TimeoutError:
        raise StreamError(f"cannot connect to {url}: no answer within {timeout:g} s.") from None
    except InvalidHandshake as exc:
        raise StreamError(f"cannot open a stream at {url}: {exc}.") from None
    except OSError as exc:
        raise StreamError(f"cannot connect to {url}: {exc.strerror or exc}.") from None


def _closed(exc: ConnectionClosed) -> StreamError:
    code = exc.rcvd.code if exc.rcvd is not None else None
    reason = exc.rcvd.reason if exc.rcvd is not None else ""
    what = _CLOSE_REASONS.get(code or 0, "the service closed the stream" if code else "the connection was lost")
    return StreamError(f"{what}{f': {reason}' if reason else ''} (close code {code or 'none'}).")


def _send(ws: ClientConnection, data: bytes) -> None:
    try:
        ws.send(data)
    except ConnectionClosed as exc:
        raise _closed(exc) from None


def _receive(ws: ClientConnection, timeout: float) -> dict[str, Any] | None:
    """The next answer, or None when none came within ``timeout`` seconds."""
    try:
        message: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    except ConnectionClosed as exc:
        raise _closed(exc) from None
    except TimeoutError:
        return None
    if message.get("type") == "error" and message.get("seq") is None:  # the whole stream refused; a close follows
        what = _CLOSE_REASONS[1013] if message.get("code") == "model_not_ready" else "the service refused the stream"
        raise StreamError(f"{what}: {message.get('detail')} ({message.get('code')}).")
    return message


def _no_answer(timeout: float) -> StreamError:
    return StreamError(f"no answer from the service within {timeout:g} s.")


def lockstep(ws: ClientConnection, frames: Iterable[np.ndarray], quality: int = 90,
             timeout: float = 30.0) -> Generator[FrameResult, None, None]:
    """Send a frame, wait for its answer, send the next: the pace is the service's, and nothing is dropped."""
    for seq, frame in enumerate(frames):
        data = encode_jpeg(frame, quality)
        start = time.perf_counter()
        _send(ws, data)
        answer = _receive(ws, timeout)
        if answer is None:
            raise _no_answer(timeout)
        if answer.get("seq") != seq:
            raise StreamError(f"answer for frame {answer.get('seq')} while waiting for frame {seq}.")
        yield FrameResult(seq, frame, answer, (time.perf_counter() - start) * 1000)


def paced(ws: ClientConnection, frames: Iterable[np.ndarray], fps: float, quality: int = 90,
          timeout: float = 30.0) -> Generator[FrameResult, None, None]:
    """Send at a fixed rate from a second thread and yield every frame in order as its fate is known:
    answered, or skipped by the service (``answer=None``) because a newer frame arrived while it was busy."""
    lock = threading.Lock()
    waiting: dict[int, tuple[np.ndarray, float]] = {}  # frames sent and not yet answered or skipped
    failure: list[BaseException] = []
    done, stop = threading.Event(), threading.Event()

    def send_all() -> None:
        start = time.perf_counter()
        try:
            for seq, frame in enumerate(frames):
                if stop.wait(max(0.0, start + seq / fps - time.perf_counter())):
                    return
                data = encode_jpeg(frame, quality)
                with lock:
                    waiting[seq] = (frame, time.perf_counter())
                _send(ws, data)
        except BaseException as exc:  # handed to the receiving thread, which raises it
            failure.append(exc)
        finally:
            done.set()

    sender = threading.Thread(target=send_all, name="fer-stream-sender", daemon=True)
    sender.start()
    next_seq, idle_since = 0, time.perf_counter()
    try:
        while True:
            if failure:
                raise failure[0]
            with lock:
                pending = bool(waiting)
            if done.is_set() and not pending:
                return  # every frame sent is answered or skipped (the last one is never skipped)
            answer = _receive(ws, 0.1)
            if answer is None:
                if not pending:
                    idle_since = time.perf_counter()  # nothing owed: the sender is between frames
                elif time.perf_counter() - idle_since > timeout:
                    raise _no_answer(timeout)
                continue
            idle_since = now = time.perf_counter()
            seq = int(answer["seq"])
            with lock:
                skipped = [(k, waiting.pop(k)[0]) for k in range(next_seq, seq)]
                frame, sent_at = waiting.pop(seq)
            for k, skipped_frame in skipped:
                yield FrameResult(k, skipped_frame, None)
            yield FrameResult(seq, frame, answer, (now - sent_at) * 1000)
            next_seq = seq + 1
    finally:
        stop.set()
        sender.join(timeout=5)


def stream_source(source: Iterable[np.ndarray], url: str, *, fps: float | None = None, quality: int = 90,
                  timeout: float = 30.0, output: VideoOutput | None = None,
                  on_answer: Callable[[dict[str, Any]], None] | None = None, api_key: str | None = None) -> Summary:
    """Stream frames to ``url`` (lockstep, or paced at ``fps``); hand each answer, with its ``latency_ms``,
    to ``on_answer``; draw every frame into ``output``; return the counts."""
    summary = Summary(mode="paced" if fps else "lockstep")
    with open_stream(url, timeout, api_key) as ws:
        results = paced(ws, source, fps, quality, timeout) if fps else lockstep(ws, source, quality, timeout)
        last_answer: dict[str, Any] | None = None
        with closing(results):
            for result in results:
                summary.add(result)
                if result.answer is not None:
                    last_answer = result.answer
                    if on_answer is not None:
                        on_answer({**result.answer, "latency_ms": round(result.latency_ms or 0.0, 2)})
                if output is not None:  # a skipped frame shows the newest answer before it
                    output.write(annotate(result.frame, last_answer))
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fer-stream", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="a video file, a folder of images, or a camera index (0, 1, ...)")
    p.add_argument("--url", default=DEFAULT_URL, help=f"the service's stream URL (default {DEFAULT_URL})")
    p.add_argument("--fps", type=float, default=None,
                   help="send at this fixed rate instead of waiting for each answer (frames may then be dropped)")
    p.add_argument("--summary", action="store_true", help="print only a final summary JSON")
    p.add_argument("--output", type=Path, default=None, help="write an annotated video here (MPEG-4, .mp4)")
    p.add_argument("--model", default=None, help="a model of the service's GET /v1/models (default: its default)")
    p.add_argument("--max-faces", type=int, default=None, help="report at most this many faces per frame")
    p.add_argument("--min-face-size", type=int, default=None, help="ignore faces smaller than this, in pixels")
    p.add_argument("--detect-every", type=int, default=None,
                   help="full face detection at least every N frames, near the tracked faces between "
                        "(the service's default when not given; 1 = every frame)")
    p.add_argument("--smoothing", type=float, default=None,
                   help="time constant of each track's smoothed emotion, seconds (0 = none; service default 0.5)")
    p.add_argument("--frame-rate", type=float, default=None,
                   help="the frames' clock for tracking (default: a video file's own rate; cameras and image "
                        "folders: arrival time)")
    p.add_argument("--limit", type=int, default=None, help="stop after this many frames")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of the frames sent (default 90)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait to connect and for each answer")
    p.add_argument("--api-key", default=os.environ.get("FER_API_KEY"),
                   help="sent as 'Authorization: Bearer KEY' when the service has FER_API_KEYS (default $FER_API_KEY)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("fps", "limit", "timeout", "detect_every", "frame_rate"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if args.smoothing is not None and args.smoothing < 0:
        parser.error("--smoothing must be 0 or more")
    if not 1 <= args.quality <= 100:
        parser.error("--quality must be between 1 and 100")
    logging.basicConfig(level=logging.WARNING, format="fer-stream: %(message)s")
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # camera probing warnings: our error says it
    try:
        source = open_source(args.source)  # before connecting: a missing file fails without touching the service
    except VideoError as exc:
        return _fail(exc)
    frames: Iterable[np.ndarray] = source
    if args.limit is not None:
        frames = (frame for _, frame in zip(range(args.limit), source, strict=False))
    output = VideoOutput(args.output, args.fps or source.fps or 10.0) if args.output else None
    live = args.source.isdigit()  # a camera: its frames' own time is when they arrive (folders have no fps)
    frame_rate = args.frame_rate or (None if live else source.fps)
    url = stream_url(args.url, args.max_faces, args.min_face_size, detect_every=args.detect_every,
                     smoothing_s=args.smoothing, frame_rate=frame_rate, model=args.model)
    try:
        summary = stream_source(frames, url, fps=args.fps,
                                quality=args.quality, timeout=args.timeout, output=output,
                                on_answer=None if args.summary else _print_line, api_key=args.api_key)
    except (StreamError, VideoError) as exc:
        return _fail(exc)
    except KeyboardInterrupt:
        return 130
    finally:
        source.close()
        if output is not None:
            output.close()
    if args.summary:
        print(json.dumps(summary.as_dict()), flush=True)
    if summary.dropped:
        print(f"fer-stream: the service dropped {summary.dropped} of {summary.sent} frames "
              "(sent faster than it answers; latest frame wins)", file=sys.stderr)
    return 0


def _print_line(answer: dict[str, Any]) -> None:
    print(json.dumps(answer), flush=True)


def _fail(exc: Exception) -> int:
    print(f"fer-stream: error: {exc}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
