"""Image decoding at the boundary: type by magic bytes, EXIF orientation, odd modes, limits."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from service.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from service.images import dct_reduction, decode, sniff
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


# --- reduced (DCT-scaled) JPEG decoding ---

def big_jpeg(astronaut, size=(4032, 3024), orientation: int | None = None) -> tuple[bytes, np.ndarray]:
    rgb = np.ascontiguousarray(cv2.resize(astronaut, size, interpolation=cv2.INTER_CUBIC))
    if orientation is not None:
        return with_exif_orientation(rgb, orientation), rgb
    return encode(rgb, "JPEG"), rgb


def test_dct_reduction_is_the_largest_that_keeps_the_scale_asked_for():
    assert dct_reduction(4032, 3024, 0.2) == 4
    assert dct_reduction(4032, 3024, 0.125) == 8
    assert dct_reduction(1920, 1080, 0.34) == 2
    assert dct_reduction(640, 480, 0.51) == 1
    assert dct_reduction(640, 480, 1.0) == 1
    assert dct_reduction(6, 6, 0.01) == 4  # at least one pixel each way


def test_a_large_jpeg_is_decoded_at_the_dct_scale_asked_for(astronaut):
    data, rgb = big_jpeg(astronaut)
    decoded = decode(data, LIMIT, want_rgb=True, min_scale=0.2)
    assert decoded.scale == 0.25 and decoded.rgb is not None
    assert decoded.rgb.shape == (756, 1008, 3) and decoded.gray.shape == (756, 1008)
    assert (decoded.width, decoded.height) == (4032, 3024)  # the full image's size, for the boxes
    expected = cv2.resize(rgb, (1008, 756), interpolation=cv2.INTER_AREA).astype(np.int16)
    assert np.abs(decoded.rgb.astype(np.int16) - expected).mean() < 3  # the same picture, 16x fewer pixels
    gray_only = decode(data, LIMIT, min_scale=lambda w, h: 500 / w)  # a rule given the upright size
    assert gray_only.scale == 0.125 and gray_only.rgb is None and gray_only.gray.shape == (378, 504)


def test_reduced_decoding_keeps_exif_orientation(astronaut):
    stored = np.ascontiguousarray(np.rot90(cv2.resize(astronaut, (3000, 4000)), k=1))  # 4000 wide, 3000 high
    data = with_exif_orientation(stored, 6)
    seen: list[tuple[int, int]] = []
    decoded = decode(data, LIMIT, want_rgb=True, min_scale=lambda w, h: seen.append((w, h)) or 0.25)
    assert seen == [(3000, 4000)]  # the rule is given the upright size
    assert decoded.scale == 0.25 and decoded.gray.shape == (1000, 750) and (decoded.width, decoded.height) == (3000,
                                                                                                             4000)
    upright = cv2.resize(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY), (750, 1000), interpolation=cv2.INTER_AREA)
    assert np.abs(decoded.gray.astype(np.int16) - upright.astype(np.int16)).mean() < 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow_at_full_and_reduced_scale(astronaut, orientation):
    photo = np.ascontiguousarray(astronaut[:, :384])  # not square, so a wrong rotation changes the shape
    data = with_exif_orientation(photo, orientation)
    with Image.open(io.BytesIO(data)) as image:
        expected = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    full = decode(data, LIMIT, want_rgb=True)
    assert full.rgb is not None and full.scale == 1.0
    np.testing.assert_array_equal(full.rgb, expected)
    half = decode(data, LIMIT, want_rgb=True, min_scale=0.5)
    assert half.rgb is not None and half.scale == 0.5 and (half.width, half.height) == expected.shape[1::-1]
    shrunk = cv2.resize(expected, half.rgb.shape[1::-1], interpolation=cv2.INTER_AREA).astype(np.int16)
    assert np.abs(half.rgb.astype(np.int16) - shrunk).mean() < 4


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_opencv_decodes_a_jpeg_to_the_same_pixels_as_pillow(astronaut, mode, monkeypatch):
    """A JPEG that ends in its EOI marker is decoded by cv2.imdecode (faster); one with data after it by Pillow,
    as before. Both give the same arrays at every DCT scale, in colour and in gray, with EXIF orientation."""
    calls = []
    imdecode = cv2.imdecode
    monkeypatch.setattr(cv2, "imdecode", lambda *a: calls.append(a[1]) or imdecode(*a))
    photo = np.ascontiguousarray(cv2.resize(astronaut, (1024, 768)))
    if mode == "L":
        photo = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    for data in (encode(photo, "JPEG"), with_exif_orientation(photo, 6)):
        for scale in (1.0, 0.5, 0.25, 0.125):
            for want_rgb in (True, False):
                calls.clear()
                fast = decode(data, LIMIT, want_rgb=want_rgb, min_scale=scale)
                assert len(calls) == 1
                by_pillow = decode(data + b"trailer", LIMIT, want_rgb=want_rgb, min_scale=scale)
                assert len(calls) == 1  # not OpenCV's: data after the image
                assert (fast.scale, fast.width, fast.height) == (by_pillow.scale, by_pillow.width, by_pillow.height)
                np.testing.assert_array_equal(fast.gray, by_pillow.gray)
                assert (fast.rgb is None) == (by_pillow.rgb is None) == (not want_rgb)
                if want_rgb:
                    np.testing.assert_array_equal(fast.rgb, by_pillow.rgb)


def test_only_jpeg_is_decoded_reduced(astronaut):
    big = cv2.resize(astronaut, (2048, 2048))
    for kind in ("PNG", "WEBP", "BMP"):
        decoded = decode(encode(big, kind), LIMIT, min_scale=0.125)
        assert decoded.scale == 1.0 and decoded.gray.shape == (2048, 2048), kind


def test_limits_and_errors_are_the_same_when_decoding_reduced(astronaut):
    data, _ = big_jpeg(astronaut)
    with pytest.raises(PayloadTooLarge, match=r"4032x3024 pixels"):
        decode(data, max_pixels=12_000_000, min_scale=0.125)
    with pytest.raises(BadRequest, match="truncated"):
        decode(data[: len(data) // 2], LIMIT, min_scale=0.125)
    with pytest.raises(BadRequest, match="corrupt"):
        decode(data[:3] + bytes(100) + data[103:], LIMIT, min_scale=0.125)
    sof = data.find(b"\xff\xc0")  # zero width and height in the frame header
    with pytest.raises(BadRequest, match="cannot be decoded"):
        decode(data[: sof + 5] + bytes(4) + data[sof + 9 :], LIMIT, min_scale=0.125)
