"""Response models: they document the API (OpenAPI at /docs) and fix the JSON shapes clients rely on."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_PROBS: dict[str, Any] = {"anger": 0.02, "disgust": 0.001, "fear": 0.01, "happiness": 0.91, "sadness": 0.01,
                          "surprise": 0.039, "neutral": 0.01}


class BoxOut(BaseModel):
    x: int = Field(description="left edge, pixels of the upright (EXIF-rotated) image")
    y: int = Field(description="top edge")
    w: int = Field(description="width")
    h: int = Field(description="height")


class DetectorOut(BaseModel):
    name: str = Field(description="detector that found the face")
    score: float | None = Field(description="detector confidence, where the detector gives one")


class FaceOut(BaseModel):
    box: BoxOut
    emotion: str = Field(description="most probable label, spelled as in the model's metadata")
    confidence: float = Field(description="probability of that label")
    probabilities: dict[str, float] = Field(description="every label's probability; they sum to 1")
    detector: DetectorOut


class ImageOut(BaseModel):
    width: int
    height: int


class ModelRef(BaseModel):
    name: str
    version: str


class PredictResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "faces": [{"box": {"x": 177, "y": 67, "w": 96, "h": 96}, "emotion": "happiness", "confidence": 0.91,
                   "probabilities": _PROBS, "detector": {"name": "haar", "score": None}}],
        "image": {"width": 512, "height": 512},
        "model": {"name": "fer2013_seed_cnn_int8", "version": "1.0.0"},
        "timings_ms": {"decode": 2.1, "detect": 9.5, "classify": 0.9, "total": 12.6},
    }})

    faces: list[FaceOut] = Field(description="largest face first; [] when no face is found")
    image: ImageOut
    model: ModelRef
    timings_ms: dict[str, float] = Field(description="decode, detect, classify and total, in milliseconds")


class ErrorResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "detail": "The JPEG image is truncated.", "code": "invalid_image"}})

    detail: str = Field(description="a sentence for a person")
    code: str = Field(description="a stable machine-readable code")


class StatusResponse(BaseModel):
    status: Literal["ok", "ready"]


class ModelInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "name": "fer2013_seed_cnn_int8", "version": "1.0.0", "labels": list(_PROBS),
        "input": {"name": "image", "height": 48, "width": 48, "channels": 1, "colour": "gray",
                  "value_range": [0.0, 255.0]},
        "output": {"name": "probabilities", "kind": "probabilities"}, "temperature": 1.2,
        "training": {"protocol": "official", "metrics": {"PrivateTest": {"accuracy": 0.66, "macro_f1": 0.64}}},
        "detector": {"name": "haar", "scale_factor": 1.32, "min_neighbors": 5},
    }})

    name: str
    version: str
    labels: list[str]
    input: dict[str, Any]
    output: dict[str, Any]
    temperature: float
    training: dict[str, Any]
    crop: dict[str, Any] = Field(description="the face-crop rule of the model's contract")
    latency: dict[str, Any] | None = None
    detector: dict[str, Any]


class ModelEntry(BaseModel):
    name: str
    version: str
    labels: list[str]
    input: dict[str, Any]
    output: dict[str, Any]
    temperature: float
    training: dict[str, Any] = Field(description="protocol, label source, architecture, metrics per split, ...")
    crop: dict[str, Any] = Field(description="how a face is cut out around the detector's box (CropSpec)")
    latency: dict[str, Any] | None = Field(
        description="ms per face at batch 1 on one onnxruntime thread, test-time augmentation included, and the "
                    "hardware it was measured on (at export)")
    default: bool = Field(description="answers requests that name no model")


class ModelList(BaseModel):
    default: str = Field(description="the model of requests without ?model=")
    models: list[ModelEntry]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries for the error statuses a route can return."""
    text = {400: "Invalid image or request", 401: "Missing or wrong API key", 404: "No model of that name",
            413: "Body or image too large",
            415: "Not an image type this service reads", 422: "Missing field or invalid parameter",
            503: "Model not ready, or at capacity"}
    return {code: {"model": ErrorResponse, "description": text.get(code, "Error")} for code in codes}
