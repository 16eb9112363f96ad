"""Bad input gets a clear {"detail", "code"} with the right status, never a 500, and never harms the
next request."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tests.service.conftest import encode, post_image


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, valid-looking PNG whose header declares width x height (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def expect(r, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code
    assert body["detail"].endswith("."), body["detail"]  # a sentence for a person


@pytest.fixture
def still_works(client, astronaut_jpeg):
    yield
    r = post_image(client, astronaut_jpeg)
    assert r.status_code == 200 and len(r.json()["faces"]) == 1


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 400, "empty_file"),
        (b"hello, I am plain text", 415, "unsupported_media_type"),
        (b"<html><body>not an image</body></html>", 415, "unsupported_media_type"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj\n", 415, "unsupported_media_type"),
        (np.random.default_rng(0).bytes(5000), 415, "unsupported_media_type"),
        (b"GIF89a" + b"\x00" * 100, 415, "unsupported_media_type"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 50, 400, "invalid_image"),
    ],
    ids=["empty", "text", "html", "pdf", "random", "gif", "jpeg-magic-garbage"],
)
def test_not_an_image(client, still_works, payload, status, code):
    expect(post_image(client, payload, name="photo.jpg"), status, code)


def test_truncated_jpeg_and_png(client, still_works, astronaut):
    jpeg = encode(astronaut, "JPEG")
    png = encode(astronaut, "PNG")
    for data in (jpeg[: len(jpeg) // 2], png[: len(png) // 2]):
        r = post_image(client, data)
        expect(r, 400, "invalid_image")
        assert "truncated" in r.json()["detail"] or "corrupt" in r.json()["detail"]


def test_decompression_bomb_is_refused_before_decoding(client, still_works):
    r = post_image(client, png_declaring(50_000, 50_000), name="bomb.png")
    expect(r, 413, "image_too_large")
    assert "50000x50000" in r.json()["detail"]


def test_body_over_the_upload_limit_is_413(make_app, astronaut_jpeg):
    from fastapi.testclient import TestClient

    assert len(astronaut_jpeg) < 200_000
    with TestClient(make_app(max_upload_bytes=200_000)) as c:
        expect(post_image(c, astronaut_jpeg + b"\x00" * 200_000), 413, "payload_too_large")
        assert post_image(c, astronaut_jpeg).status_code == 200


def test_missing_or_misnamed_field_and_wrong_request_type(client, still_works, astronaut_jpeg):
    expect(client.post("/predict", files={"image": ("a.jpg", astronaut_jpeg, "image/jpeg")}), 422, "missing_file")
    expect(client.post("/predict", data={"file": "not a file"}), 415, "unsupported_media_type")
    expect(client.post("/predict", content=astronaut_jpeg, headers={"content-type": "image/jpeg"}),
           415, "unsupported_media_type")
    expect(client.post("/predict", content=b"--x\r\n", headers={"content-type": "multipart/form-data"}),
           400, "invalid_multipart")
    expect(client.post("/predict"), 415, "unsupported_media_type")


def test_too_many_multipart_parts(client, still_works, astronaut_jpeg):
    files = [(f"f{i}", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(50)] + [("file", ("a.jpg", astronaut_jpeg))]
    expect(client.post("/predict", files=files), 400, "too_many_parts")


def test_model_not_ready_is_503_and_readyz_says_so(make_app, tmp_path, astronaut_jpeg):
    from fastapi.testclient import TestClient

    with TestClient(make_app(model_path=tmp_path / "missing.onnx")) as c:
        expect(post_image(c, astronaut_jpeg), 503, "model_not_ready")
        expect(c.get("/readyz"), 503, "model_not_ready")
        assert str(tmp_path) not in c.get("/readyz").text  # no paths in responses
        assert c.get("/healthz").status_code == 200


def test_unknown_route_and_method_use_the_same_error_shape(client):
    expect(client.get("/nope"), 404, "not_found")
    expect(client.get("/predict"), 405, "method_not_allowed")


def test_tiny_and_odd_images_are_answered(client, astronaut):
    for shape in ((1, 1, 3), (10, 10, 3), (4, 2000, 3), (2000, 4, 3)):
        r = post_image(client, encode(np.full(shape, 90, np.uint8), "PNG"))
        assert r.status_code == 200 and r.json()["faces"] == [], shape
    gray = encode(np.asarray(Image.fromarray(astronaut).convert("L")), "JPEG")
    assert len(post_image(client, gray).json()["faces"]) == 1
    buf = io.BytesIO()
    Image.fromarray(astronaut).convert("CMYK").save(buf, "JPEG")
    assert len(post_image(client, buf.getvalue()).json()["faces"]) == 1


def _png16(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint16) * 257).save(buf, "PNG")
    return buf.getvalue()


def _animated(rgb: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:])
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "status", "faces_or_code"),
    [
        (lambda a: _png16(a), 200, 1),
        (lambda a: encode(np.dstack([a, np.full(a.shape[:2], 255, np.uint8)]), "PNG"), 200, 1),
        (lambda a: _animated(a, "WEBP"), 200, 1),  # first frame
        (lambda a: _animated(a, "GIF"), 415, "unsupported_media_type"),
    ],
    ids=["16-bit-png", "rgba-png", "animated-webp", "animated-gif"],
)
def test_odd_image_modes_through_the_api(client, still_works, astronaut, make, status, faces_or_code):
    r = post_image(client, make(astronaut), content_type="application/octet-stream")
    assert r.status_code == status, r.text
    if status == 200:
        assert len(r.json()["faces"]) == faces_or_code
    else:
        expect(r, status, faces_or_code)
