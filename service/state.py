"""What the lifespan loads and the routes use, kept on ``app.state`` (never module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request, WebSocket

from service.config import Settings
from service.errors import NotReady, UnknownModel
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.runner import InferenceRunner


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    runner: InferenceRunner | None = None
    pipelines: dict[str, Pipeline] = field(default_factory=dict)  # one per served model, by model name
    default_model: str | None = None
    problem: str | None = field(default="starting")  # why the service is not ready (for logs only)
    open_streams: int = 0

    @property
    def ready(self) -> bool:
        return self.default_model is not None and self.runner is not None

    @property
    def pipeline(self) -> Pipeline | None:
        """The default model's pipeline."""
        return self.pipelines.get(self.default_model) if self.default_model else None

    def require_pipeline(self, model: str | None = None) -> tuple[Pipeline, InferenceRunner]:
        """The pipeline of ``model`` (default: the default model) and the runner; 503 before start-up, 404 for a
        model this service does not serve."""
        if self.default_model is None or self.runner is None:
            raise NotReady("The model is not loaded yet; retry shortly.")
        name = self.default_model if model is None else model
        if name not in self.pipelines:
            raise UnknownModel(f"There is no model named {name!r}; this service has: {', '.join(self.pipelines)}.")
        return self.pipelines[name], self.runner


async def service_state(request: Request) -> ServiceState:
    """FastAPI dependency: the app's ServiceState."""
    return state_of(request)


StateDep = Annotated[ServiceState, Depends(service_state)]


def state_of(connection: Request | WebSocket) -> ServiceState:
    state: ServiceState = connection.app.state.service
    return state
