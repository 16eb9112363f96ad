"""Which replica answered: an ``X-FER-Replica`` header on every HTTP response and WebSocket handshake, and a
``fer_replica_info{replica=...}`` gauge, so a response or a /metrics scrape behind a balancer says where it
came from. The name is ``FER_REPLICA_NAME`` (default ``hostname:pid``; on Ray Serve, replica id @ node)."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-fer-replica"


def name_replica(app: FastAPI, name: str, registry: CollectorRegistry) -> None:
    """The hook create_app calls: the header on every answer, the name in the app's metrics."""
    Gauge("fer_replica_info", "The replica that answered this scrape (X-FER-Replica)", ["replica"],
          registry=registry).labels(name).set(1)
    app.add_middleware(ReplicaHeaderMiddleware, name=name)


class ReplicaHeaderMiddleware:
    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.header = (HEADER, name.encode("latin-1", "replace"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_named(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_named)
