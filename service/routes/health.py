"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from service.errors import NotReady
from service.schemas import StatusResponse, error_responses
from service.state import StateDep

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=StatusResponse, summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=StatusResponse, responses=error_responses(503),
            summary="Readiness: 200 once the model and the face detector are loaded, 503 before")
async def readyz(state: StateDep) -> dict[str, str]:
    if not state.ready:
        raise NotReady("The model is not loaded; the service log says why.")
    return {"status": "ready"}
