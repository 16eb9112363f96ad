"""What the lifespan loads and the routes use, kept on ``app.state`` (never module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, WebSocket

from service.config import Settings
from service.errors import NotReady
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.runner import InferenceRunner


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    runner: InferenceRunner | None = None
    pipeline: Pipeline | None = None
    problem: str | None = field(default="starting")  # why the service is not ready (for logs only)
    open_streams: int = 0

    @property
    def ready(self) -> bool:
        return self.pipeline is not None and self.runner is not None

    def require_pipeline(self) -> tuple[Pipeline, InferenceRunner]:
        if self.pipeline is None or self.runner is None:
            raise NotReady("The model is not loaded yet; retry shortly.")
        return self.pipeline, self.runner


def service_state(request: Request) -> ServiceState:
    """FastAPI dependency: the app's ServiceState."""
    return state_of(request)


StateDep = Annotated[ServiceState, Depends(service_state)]


def state_of(connection: Request | WebSocket) -> ServiceState:
    state: ServiceState = connection.app.state.service
    return state
