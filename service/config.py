"""Service settings: typed, validated, read from ``FER_*`` environment variables (or passed to create_app)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The shipped models: models/ beside the packages in a checkout; the Docker image sets FER_MODELS_DIR.
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def _csv(value: object) -> object:
    """Lists from the environment as comma-separated strings: FER_CORS_ORIGINS=https://a,https://b."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FER_", extra="forbid", frozen=True)

    # model
    model_path: Path | None = Field(None, description="serve only this ONNX model (exported by fer-train)")
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="models to serve: names in FER_MODELS_DIR or paths (default: all of them)")
    preload_models: Literal["default", "all"] = Field(
        "default", description="sessions open from start-up: the default model's only (every model is still "
                               "checked at start; another opens on its first request) or all")
    models_dir: Path = Field(MODELS_DIR, description="folder of the shipped models (*.onnx with their contracts)")
    default_model: str | None = Field(None, description="model of requests without ?model= (default: the rule in "
                                                        "service/catalog.py)")
    default_max_latency_ms: float = Field(3.0, gt=0, description="the default rule's bound on ms per face")
    require_model: bool = Field(False, description="refuse to start (instead of staying not-ready) without a model")
    ort_intra_threads: int = Field(1, ge=0, description="onnxruntime intra-op threads per session (0 = ORT default)")
    ort_inter_threads: int = Field(1, ge=0, description="onnxruntime inter-op threads (0 = ORT default)")

    # face detection
    detector: Literal["yunet", "blazeface", "haar"] = Field(
        "yunet", description="face detector: yunet (CNN, default) or haar (the notebook's cascade)")
    detector_confidence: float = Field(0.6, ge=0.0, le=1.0, description="minimum detector score (yunet)")
    align_faces: bool = Field(False, description="rotate faces so the eyes are level (needs landmarks: yunet)")
    nms_iou: float = Field(0.4, gt=0.0, le=1.0, description="overlapping boxes above this IoU are merged")
    haar_scale_factor: float = Field(1.32, gt=1.0, description="notebook default")
    haar_min_neighbors: int = Field(5, ge=0, description="notebook default")
    # 24, where YuNet-s still finds faces as well as libfacedetection did (bench/detection_eval.py). Emotions of
    # such small faces are far less reliable (bench/face_size_eval.py, PublicTest, seed CNN: 53.3% at 24 px, 63.1%
    # at 40, 65.5% at 48); ?min_face_size=40 skips them and detects at half size (faster).
    min_face_size: int = Field(24, ge=1, description="smallest face reported, in original-image pixels; it also "
                                                     "sets how far a frame is shrunk before detection")
    detect_max_side: int = Field(640, ge=0, description="longest side detection runs at, at most (0 = no bound): "
                                                        "bounds the cost; faces under 20 px x side / this are missed")
    detector_idle_threads: int = Field(0, ge=0, description="threads for one detection while no other request is "
                                                            "in the process (0 = every core); under load: 1")
    classifier_idle_threads: int = Field(0, ge=0, description="threads for one classification while no other request "
                                                              "is in the process (0 = every core); under load: 1")
    tune_malloc: bool = Field(True, description="fixed glibc malloc thresholds (service/allocator.py): "
                                                "warm detector buffers, big images back to the OS")
    opencv_threads: int = Field(1, ge=0, description="cv2.setNumThreads; requests already run in parallel")

    # requests
    max_faces: int = Field(20, ge=1, le=1000, description="default and upper bound of ?max_faces")
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="request body limit (413 above)")
    max_image_pixels: int = Field(50_000_000, ge=1, description="decoded image limit (413 above)")
    max_multipart_parts: int = Field(8, ge=1, description="parts allowed in one multipart body")
    workers_threads: int = Field(2, ge=1, description="inference threads per process")
    max_pending: int = Field(64, ge=1, description="requests waiting for an inference thread before 503")

    # websocket stream
    ws_max_message_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger frames close with 1009")
    ws_max_connections: int = Field(256, ge=1, description="streams beyond this are closed with 1013")
    ws_idle_timeout_s: float = Field(60.0, gt=0, description="close a stream that sends nothing for this long")

    # HTTP
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="if set, /predict and /ws/stream need one of these keys", repr=False)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, description="CORS allow-list")
    log_level: str = Field("info", description="debug, info, warning, error")
    replica_name: str = Field(default_factory=_this_process, max_length=200,
                              description="X-FER-Replica header and fer_replica_info label (default hostname:pid)")

    _split_lists = field_validator("cors_origins", "api_keys", "models", mode="before")(_csv)

    @property
    def cpu_count(self) -> int:
        return os.cpu_count() or 1
