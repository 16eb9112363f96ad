"""Property and fuzz tests: the OpenAPI document driven by schemathesis (no 5xx allowed), and the
image-decoding boundary under random and mutated bytes (only typed, clean errors allowed)."""

from __future__ import annotations

import io

import numpy as np
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from PIL import Image

from service.errors import ServiceError
from service.images import decode

LIMIT = 4_000_000


def test_no_route_answers_5xx_to_anything_its_schema_allows(make_app):
    """schemathesis generates requests for every operation of /openapi.json, valid and invalid ones
    (schemathesis's pytest plugin does not run under pytest 9, so its strategies are driven directly)."""
    from schemathesis import GenerationMode

    app = make_app(max_upload_bytes=2_000_000)
    with TestClient(app):  # runs the lifespan: the model is loaded while schemathesis calls the app
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        tried = []
        assert {op.label for op in operations} >= {"POST /predict", "GET /readyz", "GET /v1/model"}
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(mode))
                @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
                def no_server_error(case):  # type: ignore[no-untyped-def]
                    response = case.call()
                    assert response.status_code < 500, (case.method, case.path, response.status_code,
                                                        response.text[:300])
                    if response.status_code >= 400:
                        assert set(response.json()) == {"detail", "code"}, response.text[:300]

                try:
                    no_server_error()
                except Unsatisfiable:
                    # nothing to make invalid in an operation without parameters or body (GET /healthz)
                    assert mode is GenerationMode.NEGATIVE and operation.label.startswith("GET"), operation.label
                    continue
                tried.append((operation.label, mode))
    assert ("POST /predict", GenerationMode.NEGATIVE) in tried and ("POST /predict", GenerationMode.POSITIVE) in tried


def _seed_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8))
    out = []
    for fmt in ("JPEG", "PNG", "WEBP", "BMP"):
        buf = io.BytesIO()
        img.save(buf, fmt)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_images()


@st.composite
def mutated_image(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "header"]))
        if op == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif op == "truncate" and len(data) > 1:
            data = data[: draw(st.integers(1, len(data) - 1))]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=64))
        elif op == "header" and len(data) > 32:  # corrupt sizes/flags where decoders read them
            i = draw(st.integers(0, 31))
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


def check_decode(data: bytes) -> None:
    try:
        image = decode(data, LIMIT)
    except ServiceError as exc:
        assert exc.status_code in (400, 413, 415), exc
        return
    assert image.gray.dtype == np.uint8 and image.gray.ndim == 2
    assert image.width * image.height <= LIMIT


@given(mutated_image())
@settings(max_examples=300, deadline=None)
def test_mutated_images_decode_or_fail_cleanly(data):
    check_decode(data)


@given(st.binary(max_size=4096))
@settings(max_examples=200, deadline=None)
def test_random_bytes_decode_or_fail_cleanly(data):
    check_decode(data)
