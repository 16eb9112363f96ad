"""Bytes -> validated image. The type is decided by the bytes (never the filename or a header), the
pixel count is checked from the header before any pixel is decoded, EXIF orientation is applied.

Accepted: JPEG, PNG, WebP (an animated WebP gives its first frame), BMP. Refused: everything else,
GIF included (415), truncated or corrupt files (400), images over the pixel limit (413).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

# Our own pixel limit is checked before decoding; Pillow's global bomb check would only warn first.
Image.MAX_IMAGE_PIXELS = None

ACCEPTED = "JPEG, PNG, WebP or BMP"
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}


def sniff(data: bytes) -> str | None:
    """The image type from its magic bytes, or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:2] == b"BM":
        return "bmp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


@dataclass(frozen=True)
class DecodedImage:
    gray: np.ndarray  # (H, W) uint8, upright (EXIF applied)
    rgb: np.ndarray | None  # (H, W, 3) uint8 when colour was asked for
    format: str

    @property
    def width(self) -> int:
        return int(self.gray.shape[1])

    @property
    def height(self) -> int:
        return int(self.gray.shape[0])


def decode(data: bytes, max_pixels: int, want_rgb: bool = False) -> DecodedImage:
    if not data:
        raise BadRequest("The uploaded file is empty.", code="empty_file")
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaType(f"The file is not an image this service reads; send {ACCEPTED}.")
    if kind == "gif":
        raise UnsupportedMediaType(f"GIF images are not supported; send {ACCEPTED}.")
    try:
        image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels.", code="image_too_large"
            )
        if width < 1 or height < 1:
            raise BadRequest("The image has no pixels.")
        image.seek(0)  # first frame of an animated WebP
        image.load()
        gray, rgb = _pixels(ImageOps.exif_transpose(image), want_rgb)
    except (PayloadTooLarge, BadRequest):
        raise
    except UnidentifiedImageError:
        raise BadRequest(f"The file looks like {kind.upper()} but cannot be decoded.") from None
    except Exception as exc:  # any decoder failure means this file is not a usable image
        truncated = "truncated" in str(exc).lower()
        reason = "is truncated" if truncated else "is corrupt and cannot be decoded"
        raise BadRequest(f"The {kind.upper()} image {reason}.") from None
    return DecodedImage(gray=gray, rgb=rgb, format=kind)


def _pixels(image: Image.Image, want_rgb: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """8-bit gray (and RGB when asked) from any mode: 16- and 32-bit images are scaled, not clipped;
    transparent pixels are shown over white, as a viewer would show them."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or (image.mode == "I" and values.max() > 255) else 255.0
        gray = np.clip(values * (255.0 / peak), 0, 255).astype(np.uint8)
        return gray, (np.dstack([gray] * 3) if want_rgb else None)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    gray = np.asarray(image.convert("L"))
    return gray, (np.asarray(image.convert("RGB")) if want_rgb else None)
