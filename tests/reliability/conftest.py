"""Reliability tests reuse the service factories (tiny ONNX model, apps, live servers)."""

from tests.service.conftest import (  # noqa: F401 - re-exported fixtures
    client,
    live_server,
    make_app,
    tiny_model,
)
