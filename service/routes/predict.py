"""POST /predict: one uploaded photo -> faces with emotions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.requests import ClientDisconnect

from service.auth import check_key, presented_key
from service.errors import BadRequest, InvalidParameter
from service.schemas import PredictResponse, error_responses
from service.state import ServiceState, StateDep
from service.uploads import FIELD, read_upload

router = APIRouter(tags=["inference"])

_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": [FIELD],
            "properties": {FIELD: {"type": "string", "format": "binary",
                                   "description": "JPEG, PNG, WebP or BMP; the type is read from the bytes"}},
        }}},
    }
}


def face_limits(state: ServiceState, max_faces: int | None, min_face_size: int | None) -> tuple[int, int]:
    settings = state.settings
    if max_faces is not None and max_faces > settings.max_faces:
        raise InvalidParameter(f"max_faces: must be at most {settings.max_faces}.")
    return max_faces or settings.max_faces, min_face_size or settings.min_face_size


@router.post(
    "/predict", response_model=PredictResponse, responses=error_responses(400, 401, 404, 413, 415, 422, 503),
    openapi_extra=_MULTIPART_BODY, summary="Detect faces in a photo and classify their emotions",
    description="Send the photo as multipart/form-data in the field `file`. Faces come largest first, with "
                "a box in the upright (EXIF-rotated) image, the top emotion, its probability and every label's "
                "probability. No face is a 200 with `faces: []`. `?model=NAME` picks one of `GET /v1/models`.",
)
async def predict(
    request: Request,
    state: StateDep,
    max_faces: int | None = Query(None, ge=1, description="report at most this many faces (largest first)"),
    min_face_size: int | None = Query(None, ge=1, le=100_000, description="ignore faces smaller than this, px"),
    model: str | None = Query(None, max_length=200, description="a model of GET /v1/models (default: its default)"),
) -> dict[str, Any]:
    check_key(state.settings.api_keys, presented_key(request.headers))
    pipeline, runner = state.require_pipeline(model)
    limit_faces, min_size = face_limits(state, max_faces, min_face_size)
    settings = state.settings
    try:
        data = await read_upload(request.headers.get("content-type"), request.headers.get("content-length"),
                                 request.stream(), settings.max_upload_bytes, settings.max_multipart_parts)
    except ClientDisconnect:
        raise BadRequest("The client disconnected during the upload.", code="client_disconnected") from None
    prediction = await runner.run(pipeline.run_bytes, data, limit_faces, min_size)
    state.metrics.observe_prediction("http", prediction.timings_ms, len(prediction.faces))
    contract = pipeline.classifier.contract
    return {
        "faces": prediction.faces,
        "image": {"width": prediction.width, "height": prediction.height},
        "model": {"name": contract.name, "version": contract.version},
        "timings_ms": prediction.timings_ms,
    }
