"""The service as Ray Serve replicas: the same FastAPI app (``create_app``), run by the FastAPI-ingress pattern.

    serve run deploy/ray/serve.yaml          # import_path: service.ray_serve:build (needs `pip install '.[ray]'`)

Each replica builds its own app at start (``__serve_build_asgi_app__``), so settings are read in the
replica's process from FER_* variables (serve.yaml's runtime_env) and serve.yaml's ``args.settings``; the app's
lifespan loads the model there. Ray calls ``check_health`` every ``health_check_period_s``: it is the check
/readyz makes, so a replica without its model is replaced. Routes and pipeline are the app's, not copied here.
"""

from __future__ import annotations

from typing import Any

import ray
from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from service.app import create_app
from service.config import Settings


@serve.deployment(name="fer", graceful_shutdown_timeout_s=30)  # serve.yaml sets the rest (and may change these)
@serve.ingress()
class FerReplica:
    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self._overrides = dict(settings or {})
        self._app: FastAPI | None = None

    def __serve_build_asgi_app__(self) -> FastAPI:
        replica = serve.get_replica_context().replica_id.unique_id
        name = f"{replica}@{ray.util.get_node_ip_address()}"
        self._app = create_app(Settings(**{"replica_name": name, **self._overrides}))
        return self._app

    def check_health(self) -> None:
        state = self._app.state.service if self._app is not None else None
        if state is None or not state.ready:
            raise RuntimeError(f"not ready: {state.problem if state else 'no app'}")


def build(args: dict[str, Any]) -> Application:
    """serve.yaml's application builder: ``args: {settings: {max_faces: 5, ...}}`` overrides FER_* settings."""
    return FerReplica.bind(args.get("settings"))  # type: ignore[attr-defined]
