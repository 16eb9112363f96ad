"""Emotion classification with onnxruntime. Everything about the model's input and labels comes from
its contract (model_contract.py), read from the ONNX file. No FastAPI here.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from model_contract import ContractError, ModelContract, read_contract
from service.allocator import release_free_memory
from service.detectors import Box
from service.errors import NotReady

log = logging.getLogger(__name__)

# Faces per onnxruntime call. A bigger batch only makes bigger buffers, which (without an arena, over the 8 MB
# mmap threshold) are faulted in afresh on every call: the int8 seed CNN, one thread, AMD EPYC AVX2, 3.62 ms a
# face in one call of 32 and 3.10 in calls of 8; 3.52 vs 3.15 at 16 (bench/classifier_ceiling.py measures it).
CHUNK = 8


class ModelLoadError(RuntimeError):
    """The model file is missing, not ONNX, or does not match its contract; the message says which."""


class EmotionClassifier:
    """A model and its contract. The onnxruntime session may be released (``release``: the contract stays, the
    weights leave memory) and is opened again by the first ``classify`` that needs it.

    ``idle_threads``: a request that is alone in the process is classified by a second session with that many
    threads (0: every core; measured on a 2-core EPYC, the seed CNN with its flip TTA 11.4 ms on one thread,
    6.2 ms on two); under load, one thread per request, so requests never oversubscribe the cores."""

    def __init__(self, session: Any, contract: ModelContract, path: Path, threads: tuple[int, int] = (1, 1),
                 idle_threads: int = 0) -> None:
        self._session: Any = session
        self._parallel: Any = None
        self.contract = contract
        self.path = path
        self.input_name = session.get_inputs()[0].name
        self._threads = threads
        self.idle_threads = idle_threads or len(os.sched_getaffinity(0))
        self._opening = threading.Lock()
        spec = contract.input
        self._size = (spec.width, spec.height)
        self._scale = (spec.value_max - spec.value_min) / 255.0
        self._offset = spec.value_min

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    @property
    def needs_rgb(self) -> bool:
        return self.contract.input.colour != "gray"

    @property
    def session(self) -> Any:
        """The onnxruntime session, opened again if it was released."""
        session = self._session
        if session is None:
            with self._opening:
                if self._session is None:
                    self._session = self._reopen()
                session = self._session
        return session

    @session.setter
    def session(self, value: Any) -> None:
        self._session = value

    def _reopen(self) -> Any:
        """The session again, from the same file with the same contract; 503 if the file is gone or changed."""
        try:
            session = _open_session(self.path, *self._threads)
            same = read_contract(session.get_modelmeta().custom_metadata_map) == self.contract
        except (ModelLoadError, ContractError):
            same = False
        if not same:
            log.error("model %s: %s is gone or no longer the file loaded at start", self.contract.name, self.path)
            raise NotReady(f"The model {self.contract.name!r} cannot be opened again; the service needs a restart.")
        log.info("opened model %s from %s", self.contract.name, self.path)
        release_free_memory()
        return session

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def release(self) -> None:
        """Drop the sessions (their weights and buffers); the next classify opens one again from the file."""
        self._session = self._parallel = None

    def parallel_session(self) -> Any | None:
        """The session for a request alone in the process (opened on first use), or None if it would not have
        more threads than the serial one."""
        if self.idle_threads <= self._threads[0]:
            return None
        if self._parallel is None:
            with self._opening:
                if self._session is None:  # released: open the file again and check it is the same model
                    self._session = self._reopen()
                if self._parallel is None:
                    self._parallel = _open_session(self.path, self.idle_threads, 1, spin_between_runs=False)
                    release_free_memory()
        return self._parallel

    @classmethod
    def load(cls, path: Path, intra_threads: int = 1, inter_threads: int = 1, idle_threads: int = 0
             ) -> EmotionClassifier:
        if not path.is_file():
            raise ModelLoadError(f"model file not found: {path}")
        session = _open_session(path, intra_threads, inter_threads)
        try:
            contract = read_contract(session.get_modelmeta().custom_metadata_map)
            if len(session.get_inputs()) != 1 or len(session.get_outputs()) < 1:
                raise ContractError("the model must have exactly one input")
            contract.check_io(session.get_inputs()[0].shape, session.get_outputs()[0].shape)
        except ContractError as exc:
            raise ModelLoadError(f"{path}: {exc}") from None
        return cls(session, contract, path, (intra_threads, inter_threads), idle_threads)

    def crops(self, gray: np.ndarray, rgb: np.ndarray | None, boxes: list[Box], align: bool = False) -> np.ndarray:
        """(N, H, W, C) float32 model input: the region the contract's crop rule gives for each box, resized,
        scaled to the contract's range.

        With ``align``, a face with landmarks is first rotated about its centre so the eyes are level.
        """
        spec = self.contract.input
        source = gray
        if self.needs_rgb:
            if rgb is None:
                raise ValueError("this model needs colour input")
            source = rgb if spec.colour == "rgb" else rgb[..., ::-1]
        batch = np.empty((len(boxes), spec.height, spec.width, spec.channels), dtype=np.float32)
        rule = self.contract.crop
        for i, b in enumerate(boxes):
            x, y, w, h = (round(v) for v in rule.region(b.x, b.y, b.w, b.h))
            region = Box(x, y, max(1, w), max(1, h), b.score, b.landmarks)
            face = aligned_face(source, region) if align and b.landmarks else cut(source, region)
            interpolation = cv2.INTER_AREA if face.shape[1] >= spec.width else cv2.INTER_LINEAR
            resized = cv2.resize(face, self._size, interpolation=interpolation)
            batch[i] = resized.reshape(spec.height, spec.width, spec.channels)
        if self._scale != 1.0 or self._offset != 0.0:
            batch = batch * self._scale + self._offset
        return batch

    def classify(self, batch: np.ndarray, alone: bool = False) -> np.ndarray:
        """(N, n_labels) probabilities for a batch, in onnxruntime calls of at most CHUNK faces; ``alone``: no
        other request is in the process, so every core may work on this one."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)))
        session = (self.parallel_session() if alone else None) or self.session
        raw = np.concatenate([session.run(None, {self.input_name: batch[i:i + CHUNK]})[0]
                              for i in range(0, len(batch), CHUNK)])
        return self.contract.probabilities(raw)

    def describe(self) -> dict[str, Any]:
        c = self.contract
        training = c.training
        return {
            "name": c.name,
            "version": c.version,
            "labels": list(c.labels),
            "input": {"name": c.input.name, "height": c.input.height, "width": c.input.width,
                      "channels": c.input.channels, "colour": c.input.colour,
                      "value_range": [c.input.value_min, c.input.value_max]},
            "output": {"name": c.output.name, "kind": c.output.kind},
            "temperature": c.temperature,
            "crop": {"shape": c.crop.shape, "scale": c.crop.scale, "shift_y": c.crop.shift_y},
            "training": {k: training[k] for k in ("protocol", "label_source", "arch", "params", "dataset_sha256",
                                                  "metrics", "selected_epoch", "hardware", "tta", "calibration")
                         if k in training},
            "latency": training.get("latency"),
        }


def _open_session(path: Path, intra_threads: int, inter_threads: int, spin_between_runs: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_threads
    options.inter_op_num_threads = inter_threads
    if not spin_between_runs:
        # Pool threads spin between operators while a run lasts (woken per operator instead, the second thread
        # gained little: YuNet at 544x416, 5.7 ms on one thread, 3.7 ms spinning, 4.6-6 ms sleeping), and stop
        # when it returns: threads still spinning after it would take a core from the next request's decoding.
        options.add_session_config_entry("session.force_spinning_stop", "1")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No arena: a face batch's buffers are small, and an arena keeps the largest batch's forever (measured, seed
    # CNN, two sessions after batches of up to 20 faces: +113 MB with arenas, +58 MB without; same latency).
    options.enable_cpu_mem_arena = False
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf/... types
        raise ModelLoadError(f"{path} is not a loadable ONNX model ({type(exc).__name__})") from None


def cut(image: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels; where the box reaches outside the image, the image's border is repeated."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box.x, box.y, box.x + box.w, box.y + box.h
    inner = image[max(0, y0) : min(height, y1), max(0, x0) : min(width, x1)]
    pad = (max(0, -y0), max(0, y1 - height), max(0, -x0), max(0, x1 - width))
    if inner.size == 0 or not any(pad):
        return inner
    return cv2.copyMakeBorder(inner, *pad, cv2.BORDER_REPLICATE)


def aligned_face(image: np.ndarray, box: Box) -> np.ndarray:
    """The box's face, rotated about its centre so that the line between the eyes is horizontal."""
    assert box.landmarks is not None
    (rx, ry), (lx, ly) = box.landmarks[0], box.landmarks[1]
    angle = float(np.degrees(np.arctan2(ly - ry, lx - rx)))
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    # Rotate a region 1.5x the box so the rotated crop has no empty corners, then cut the box out.
    half = 0.75 * max(box.w, box.h)
    x0, y0 = max(0, int(cx - half)), max(0, int(cy - half))
    x1, y1 = min(image.shape[1], int(cx + half) + 1), min(image.shape[0], int(cy + half) + 1)
    region = image[y0:y1, x0:x1]
    m = cv2.getRotationMatrix2D((cx - x0, cy - y0), angle, 1.0)
    rotated = cv2.warpAffine(region, m, (region.shape[1], region.shape[0]), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
    fx, fy = round(cx - x0 - box.w / 2.0), round(cy - y0 - box.h / 2.0)
    fx, fy = max(0, fx), max(0, fy)
    return rotated[fy : fy + box.h, fx : fx + box.w]

