"""Bytes -> validated image. The type is decided by the bytes (never the filename or a header), the
pixel count is checked from the header before any pixel is decoded, EXIF orientation is applied.

Accepted: JPEG, PNG, WebP (an animated WebP gives its first frame), BMP. Refused: everything else,
GIF included (415), truncated or corrupt files (400), images over the pixel limit (413).

A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling: far less work than a full
decode and a resize) when the caller says how small the image may be; other formats decode in full.
Pillow reads the header, the size and EXIF of every file; a JPEG's pixels come from cv2.imdecode when the file
ends in its EOI marker (the same libjpeg pixels, sooner), from Pillow otherwise.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from service.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

# Our own pixel limit is checked before decoding; Pillow's global bomb check would only warn first.
Image.MAX_IMAGE_PIXELS = None

ACCEPTED = "JPEG, PNG, WebP or BMP"
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}
DCT_REDUCTIONS = (8, 4, 2)  # what libjpeg decodes directly, largest first
# EXIF orientation -> the transpose that shows the photo upright (as PIL.ImageOps.exif_transpose)
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}

# the same transposes on arrays, for what cv2.imdecode decodes
_UPRIGHT_CV: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: cv2.flip(a, 1), 3: lambda a: cv2.rotate(a, cv2.ROTATE_180), 4: lambda a: cv2.flip(a, 0),
    5: cv2.transpose, 6: lambda a: cv2.rotate(a, cv2.ROTATE_90_CLOCKWISE),
    7: lambda a: cv2.rotate(cv2.transpose(a), cv2.ROTATE_180),
    8: lambda a: cv2.rotate(a, cv2.ROTATE_90_COUNTERCLOCKWISE),
}
_EOI = b"\xff\xd9"  # a JPEG's last two bytes
# (reduction, colour) -> cv2.imdecode's flag: libjpeg's 1/n DCT scaling, as Pillow's draft mode asks for it
_IMREAD = {(1, True): cv2.IMREAD_COLOR, (2, True): cv2.IMREAD_REDUCED_COLOR_2, (4, True): cv2.IMREAD_REDUCED_COLOR_4,
           (8, True): cv2.IMREAD_REDUCED_COLOR_8, (1, False): cv2.IMREAD_GRAYSCALE,
           (2, False): cv2.IMREAD_REDUCED_GRAYSCALE_2, (4, False): cv2.IMREAD_REDUCED_GRAYSCALE_4,
           (8, False): cv2.IMREAD_REDUCED_GRAYSCALE_8}

# Given the upright (width, height) of the full image: the smallest scale (0-1] the caller can work with.
ScaleRule = Callable[[int, int], float]


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
    gray: np.ndarray  # (h, w) uint8, upright (EXIF applied), at ``scale`` of the full image
    rgb: np.ndarray | None  # (h, w, 3) uint8 when colour was asked for
    format: str
    scale: float = 1.0  # decoded pixels per full-image pixel: 1, or 1/2, 1/4, 1/8 for a reduced JPEG decode
    full_size: tuple[int, int] | None = None  # upright (width, height) of the full image; None: the arrays' size

    @property
    def width(self) -> int:
        """The full image's upright width (what boxes are reported in), whatever scale it was decoded at."""
        return self.full_size[0] if self.full_size else int(self.gray.shape[1])

    @property
    def height(self) -> int:
        return self.full_size[1] if self.full_size else int(self.gray.shape[0])


def decode(data: bytes, max_pixels: int, want_rgb: bool = False, min_scale: ScaleRule | float = 1.0) -> DecodedImage:
    """``min_scale``: how small the decoded image may be, as a fraction of the full image (or a rule that
    gives it from the full upright size). A JPEG is decoded at the largest DCT reduction that stays at or
    above it; 1.0 (the default) decodes everything in full."""
    if not data:
        raise BadRequest("The uploaded file is empty.", code="empty_file")
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaType(f"The file is not an image this service reads; send {ACCEPTED}.")
    if kind == "gif":
        raise UnsupportedMediaType(f"GIF images are not supported; send {ACCEPTED}.")
    try:
        image: Image.Image = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])
        width, height = image.size
        if width * height > max_pixels:
            raise PayloadTooLarge(
                f"The image is {width}x{height} pixels; the limit is {max_pixels:,} pixels.", code="image_too_large"
            )
        if width < 1 or height < 1:
            raise BadRequest("The image has no pixels.")
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1) if kind in ("jpeg", "png", "webp") else 1
        upright = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
        wanted = min_scale(*upright) if callable(min_scale) else min_scale
        decoded = _opencv_jpeg(data, image, wanted, want_rgb, orientation) if kind == "jpeg" else None
        if decoded is not None:
            reduction, gray, rgb = decoded
        else:
            reduction = _reduce(image, kind, wanted, want_rgb)
            image.seek(0)  # first frame of an animated WebP
            image.load()
            if orientation in _UPRIGHT:
                image = image.transpose(_UPRIGHT[orientation])
            gray, rgb = _pixels(image, want_rgb)
    except (PayloadTooLarge, BadRequest):
        raise
    except UnidentifiedImageError:
        raise BadRequest(f"The file looks like {kind.upper()} but cannot be decoded.") from None
    except Exception as exc:  # any decoder failure means this file is not a usable image
        truncated = "truncated" in str(exc).lower()
        reason = "is truncated" if truncated else "is corrupt and cannot be decoded"
        raise BadRequest(f"The {kind.upper()} image {reason}.") from None
    if reduction == 1:
        return DecodedImage(gray=gray, rgb=rgb, format=kind)
    return DecodedImage(gray=gray, rgb=rgb, format=kind, scale=1.0 / reduction, full_size=upright)


def from_pixels(rgb: np.ndarray, want_rgb: bool = False, format: str = "raw") -> DecodedImage:
    """An RGB frame decoded elsewhere (a video's frame, for fer-batch) as ``decode`` gives the same pixels read
    from a lossless file: the same gray conversion, so the pipeline sees the same image either way."""
    gray, colour = _pixels(Image.fromarray(rgb), want_rgb)
    return DecodedImage(gray=gray, rgb=colour, format=format)


def dct_reduction(width: int, height: int, min_scale: float) -> int:
    """The largest of 8, 4, 2 whose 1/n scale is >= min_scale and leaves at least one pixel each way, else 1."""
    for n in DCT_REDUCTIONS:
        if 1.0 / n >= min_scale and width >= n and height >= n:
            return n
    return 1


def reduced_size(width: int, height: int, n: int) -> tuple[int, int]:
    """(width, height) of a 1/n DCT-scaled decode: libjpeg rounds up."""
    return -(-width // n), -(-height // n)


def _opencv_jpeg(data: bytes, image: Image.Image, min_scale: float, want_rgb: bool, orientation: int
                 ) -> tuple[int, np.ndarray, np.ndarray | None] | None:
    """(reduction, gray, rgb) decoded by cv2.imdecode: the same libjpeg pixels as Pillow's decoder, 0.5-0.6 ms
    sooner at 640x480 (1.2 vs 1.8 ms on a Zen 4). None leaves the file to Pillow, which says what is wrong with
    it: a file that does not end in an EOI marker (truncated, or data after the image: libjpeg would fill a
    truncated one with gray, where Pillow refuses it), CMYK and other modes, anything OpenCV cannot read."""
    if image.mode not in ("RGB", "L") or not data.endswith(_EOI):
        return None
    width, height = image.size
    n = dct_reduction(width, height, min_scale)
    colour = want_rgb and image.mode == "RGB"
    try:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), _IMREAD[n, colour] | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return None
    if pixels is None or (pixels.shape[1], pixels.shape[0]) != reduced_size(width, height, n):
        return None
    if orientation in _UPRIGHT_CV:
        pixels = _UPRIGHT_CV[orientation](pixels)
    if colour:
        return n, cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY), cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    return n, pixels, (cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB) if want_rgb else None)


def _reduce(image: Image.Image, kind: str, min_scale: float, want_rgb: bool) -> int:
    """Ask libjpeg for a 1/n decode (Pillow's draft mode); the n it will decode at (1 when not a JPEG)."""
    if kind != "jpeg" or image.mode not in ("RGB", "L"):  # CMYK and others: decoded in full, as before
        return 1
    width, height = image.size
    n = dct_reduction(width, height, min_scale)
    mode = "RGB" if want_rgb and image.mode == "RGB" else "L"
    if n == 1 and mode == image.mode:
        return 1
    # draft picks the largest reduction s with size // s >= the size asked for; (w // n, h // n) gives s = n.
    image.draft(mode, (width // n, height // n) if n > 1 else None)
    expected = reduced_size(width, height, n)
    if image.size != expected:  # not the reduction asked for: never guess a scale
        raise RuntimeError(f"draft decoded {image.size}, expected {expected}")
    return n


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
    if image.mode == "L":
        gray = np.asarray(image)
        return gray, (cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB) if want_rgb else None)
    if image.mode != "RGB":
        image = image.convert("RGB")
    rgb = np.asarray(image)
    # OpenCV's BT.601 luma; differs from Pillow's convert("L") by at most 1 level, in very few pixels
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (rgb if want_rgb else None)
