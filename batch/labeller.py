"""Files -> rows with the service's own pipeline (service.app.load_pipeline, built once per worker): a photo
goes through ``Pipeline.run_bytes`` exactly as a /predict upload does; a video's sampled frames go through
``Pipeline.run``. Every failure is a row with a code from the service's error hierarchy:

    the service's image codes   empty_file, invalid_image, unsupported_media_type, image_too_large, detection_failed
    reading the file            file_not_found, unreadable_file, file_too_large
    videos                      invalid_video (looks like a video, but no frame can be read)
    anything unexpected         internal_error (logged with its traceback; the run goes on)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2

from batch import video
from batch.rows import RunInfo
from service.app import load_pipeline
from service.config import Settings
from service.detectors import Box
from service.errors import BadRequest, PayloadTooLarge, ServiceError
from service.pipeline import Pipeline
from service.tracking import Tracker, TrackerConfig

log = logging.getLogger(__name__)
Row = dict[str, Any]
INTERNAL = ("internal_error", "Labelling this file failed unexpectedly; the log has the details.")


@dataclass(frozen=True)
class LabelOptions:
    """What decides the rows of a run (besides the files): the service settings (model, detector, max_faces,
    min_face_size...) and the batch's own knobs."""

    settings: Settings = field(default_factory=Settings)
    fps: float | None = None  # video frames sampled per second of video time; None = every frame
    max_file_bytes: int = 512 * 1024 * 1024
    segment_frames: int = 500  # sampled video frames per part file (the resume step within a video)


@dataclass
class VideoState:
    """Where a video's labelling stands after a segment: enough to continue it in another process."""

    sampler: video.Sampler
    tracker: Tracker  # SORT (service/tracking.py): one per video, its state bounded
    frames_read: int = 0  # frames of the file consumed so far (the next frame's index)
    segment: int = 0  # number of the next segment
    done: bool = False


def worker_settings(settings: Settings) -> Settings:
    """The settings of one worker's pipeline. Each worker (process or Ray actor) owns one core: a detector that
    spreads one image over every core while it is its process's only request would make the workers fight
    over the cores (measured: 2 workers on 2 cores, 8.8 photos/s so, 23.3 with one thread each)."""
    return settings.model_copy(update={"detector_idle_threads": 1})


def run_info(pipeline: Pipeline) -> RunInfo:
    contract = pipeline.classifier.contract
    return RunInfo(tuple(contract.labels), contract.name, contract.version, pipeline.detector.name)


def pipeline_identity(pipeline: Pipeline, settings: Settings) -> dict[str, Any]:
    """What decides a pipeline's rows: the model file's bytes, the detector's parameters, the face limits. A
    resumed run must match it (settings that only change speed, or the server, may differ)."""
    model = Path(pipeline.classifier.path)
    contract = pipeline.classifier.contract
    return {"model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(), "model": [contract.name, contract.version],
            "detector": pipeline.detector.describe(), "max_faces": settings.max_faces,
            "min_face_size": settings.min_face_size, "max_image_pixels": pipeline.max_image_pixels,
            "align_faces": pipeline.align_faces}


def read_file(path: str, max_bytes: int) -> bytes:
    """A file's bytes, or the ServiceError that says why not."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise BadRequest(f"{path}: no such file.", code="file_not_found") from None
    except OSError as exc:
        raise BadRequest(f"{path}: cannot be read ({exc.strerror or type(exc).__name__}).",
                         code="unreadable_file") from None
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{path}: larger than the {max_bytes:,}-byte limit.", code="file_too_large")
    return data


class Labeller:
    """One process's pipeline and the rows it makes. Build once per worker: loading the model takes a while."""

    def __init__(self, options: LabelOptions) -> None:
        self.options = options
        settings = options.settings
        cv2.setNumThreads(settings.opencv_threads)  # as the service's lifespan does: the workers are the parallelism
        self.pipeline = load_pipeline(worker_settings(settings))
        self.info = run_info(self.pipeline)
        self.max_faces, self.min_face_size = settings.max_faces, settings.min_face_size

    def image(self, path: str) -> list[Row]:
        try:
            data = read_file(path, self.options.max_file_bytes)
        except ServiceError as exc:
            return [self.info.error_row(path, exc.code, exc.detail)]
        return self.image_bytes(path, data)

    def image_bytes(self, path: str, data: bytes) -> list[Row]:
        """The rows of one photo: what /predict answers for the same bytes, one row per face."""
        try:
            prediction = self.pipeline.run_bytes(data, self.max_faces, self.min_face_size)
        except ServiceError as exc:
            return [self.info.error_row(path, exc.code, exc.detail)]
        except Exception:
            log.exception("labelling %s failed", path)
            return [self.info.error_row(path, *INTERNAL)]
        return self.info.face_rows(path, prediction.faces, prediction.width, prediction.height)

    def new_video(self) -> VideoState:
        config = TrackerConfig()
        if self.options.fps is not None:  # sparse samples: a track outlives two missed samples
            config = replace(config, max_age_s=max(config.max_age_s, 2.5 / self.options.fps))
        return VideoState(sampler=video.Sampler(self.options.fps), tracker=Tracker(config))

    def video(self, path: str, state: VideoState | None = None,
              on_frame: Callable[[], None] = lambda: None) -> Iterator[tuple[list[Row], VideoState]]:
        """The rows of a video, ``segment_frames`` sampled frames at a time, each with the state after it (save
        both before asking for the next: the state is updated in place). The last segment has ``done`` set."""
        state = state or self.new_video()
        try:
            capture = video.open_video(path)
        except ServiceError as exc:
            state.segment, state.done = state.segment + 1, True
            yield [self.info.error_row(path, exc.code, exc.detail)], state
            return
        try:
            rows: list[Row] = []
            sampled = 0
            for index, time_s, frame in video.frames(capture, state.frames_read):
                state.frames_read = index + 1
                if not state.sampler.take(time_s):
                    continue
                rows += self._frame(path, index, time_s, frame, state.tracker)
                on_frame()
                sampled += 1
                if sampled == self.options.segment_frames:
                    state.segment += 1
                    yield rows, state
                    rows, sampled = [], 0
            if state.frames_read == 0:
                unread = video.invalid_video(path)
                rows = [self.info.error_row(path, unread.code, unread.detail)]
            state.segment += 1
            state.done = True
            yield rows, state
        finally:
            capture.release()

    def _frame(self, path: str, index: int, time_s: float, frame: Any, tracker: Tracker) -> list[Row]:
        """One sampled frame: the whole frame detected and classified (as /predict would), then its faces
        matched to the video's tracks by their boxes."""
        try:
            image = video.to_image(frame, self.pipeline.want_rgb)
            prediction = self.pipeline.run(image, self.max_faces, self.min_face_size)
        except ServiceError as exc:
            return [self.info.error_row(path, exc.code, exc.detail, index, time_s)]
        except Exception:
            log.exception("labelling frame %d of %s failed", index, path)
            return [self.info.error_row(path, *INTERNAL, index, time_s)]
        boxes = [Box(f["box"]["x"], f["box"]["y"], f["box"]["w"], f["box"]["h"]) for f in prediction.faces]
        tracks = [face.track_id for face in tracker.update(boxes, time_s)]
        return self.info.face_rows(path, prediction.faces, prediction.width, prediction.height, index, time_s,
                                   track_ids=tracks)
