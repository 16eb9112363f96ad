"""Image decoding at the boundary: type by magic bytes, EXIF orientation, odd modes, limits."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from service.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from service.images import decode, sniff
from tests.service.conftest import ASTRONAUT_FACE, encode, iou, post_image
from tests.service.test_errors import png_declaring

LIMIT = 50_000_000


def test_sniff_reads_magic_bytes():
    assert sniff(b"\xff\xd8\xff\xe0rest") == "jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\nrest") == "png"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(b"BM\x00\x00") == "bmp"
    assert sniff(b"GIF89a") == "gif"
    assert sniff(b"%PDF-1.4") is None


def with_exif_orientation(rgb: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif.tobytes())
    return buf.getvalue()


def test_exif_orientation_is_applied(astronaut):
    # Stored rotated by 90 degrees with orientation 6 ("rotate 90 CW to view"): decoding must undo it.
    stored = np.rot90(astronaut, k=1)  # counter-clockwise, as a camera held sideways stores it
    decoded = decode(with_exif_orientation(np.ascontiguousarray(stored), 6), LIMIT)
    assert decoded.gray.shape == (512, 512)
    upright_gray = np.asarray(Image.fromarray(astronaut).convert("L"), dtype=np.int16)
    assert np.abs(decoded.gray.astype(np.int16) - upright_gray).mean() < 6  # JPEG noise only


def test_exif_rotated_photo_gets_boxes_in_the_rotated_frame(client, astronaut):
    portrait = np.ascontiguousarray(np.rot90(astronaut[:, :400], k=1))  # stored 400 wide x 512 high -> sideways
    r = post_image(client, with_exif_orientation(portrait, 6))
    body = r.json()
    assert body["image"] == {"width": 400, "height": 512}
    assert len(body["faces"]) == 1 and iou(body["faces"][0]["box"], ASTRONAUT_FACE) >= 0.5


def test_sixteen_bit_png_is_scaled_not_clipped(astronaut):
    gray16 = (np.asarray(Image.fromarray(astronaut).convert("L"), dtype=np.uint16) * 257)
    buf = io.BytesIO()
    Image.fromarray(gray16).save(buf, "PNG")
    decoded = decode(buf.getvalue(), LIMIT)
    expected = np.asarray(Image.fromarray(astronaut).convert("L"))
    assert np.abs(decoded.gray.astype(int) - expected.astype(int)).max() <= 1


def test_rgba_png_composites_transparency_on_white(astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # a transparent corner
    decoded = decode(encode(rgba, "PNG"), LIMIT)
    assert decoded.gray[0, 0] == 255
    assert decoded.gray.shape == (512, 512)


def test_animated_webp_gives_its_first_frame(astronaut):
    frames = [Image.fromarray(astronaut), Image.fromarray(255 - astronaut)]
    buf = io.BytesIO()
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    decoded = decode(buf.getvalue(), LIMIT)
    first = np.asarray(frames[0].convert("L"), dtype=np.int16)
    assert np.abs(decoded.gray.astype(np.int16) - first).mean() < 2


def test_rgb_is_decoded_only_when_asked(astronaut):
    data = encode(astronaut, "PNG")
    assert decode(data, LIMIT).rgb is None
    rgb = decode(data, LIMIT, want_rgb=True).rgb
    assert rgb is not None
    np.testing.assert_array_equal(rgb, astronaut)


def test_pixel_limit_is_checked_from_the_header():
    with pytest.raises(PayloadTooLarge, match=r"50000x50000 pixels"):
        decode(png_declaring(50_000, 50_000), LIMIT)
    with pytest.raises(PayloadTooLarge):
        decode(png_declaring(200, 200), max_pixels=100)


def test_refusals_are_typed(astronaut):
    with pytest.raises(UnsupportedMediaType):
        decode(b"not an image", LIMIT)
    with pytest.raises(BadRequest, match=r"truncated|corrupt"):
        decode(encode(astronaut, "PNG")[:5000], LIMIT)
    with pytest.raises(BadRequest, match="empty"):
        decode(b"", LIMIT)
