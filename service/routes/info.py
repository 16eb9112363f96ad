"""Model information and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.catalog import describe_all
from service.schemas import ModelInfo, ModelList, error_responses
from service.state import StateDep

router = APIRouter(tags=["operations"])


@router.get("/v1/model", response_model=ModelInfo, responses=error_responses(503),
            summary="The loaded model: name, version, labels, input spec, training metrics, detector")
async def model_info(state: StateDep) -> dict[str, Any]:
    pipeline, _ = state.require_pipeline()
    return {**pipeline.classifier.describe(), "detector": pipeline.detector.describe()}


@router.get("/v1/models", response_model=ModelList, responses=error_responses(503),
            summary="Every served model (choose one with ?model=NAME), and which one is the default")
async def models(state: StateDep) -> dict[str, Any]:
    state.require_pipeline()
    assert state.default_model is not None
    return describe_all({name: p.classifier for name, p in state.pipelines.items()}, state.default_model)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)",
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}})
async def metrics(state: StateDep) -> Response:
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
