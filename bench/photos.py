"""Real photos with face boxes, assembled at run time from sources we may use (nothing is committed):

- ``skimage.data.astronaut()``: Eileen Collins, NASA (public domain); face box (177, 67, 96, 96).
- ``grace_hopper.jpg`` from matplotlib's sample data: Grace Hopper, US Navy (public domain); face box
  (172, 122, 185, 208), annotated by hand here (hairline under the cap to chin, cheek to cheek).
- FER2013 PrivateTest faces (read from ../shared/data at run time, never copied), pasted upscaled:
  the box is the pasted 48x48 crop, which FER2013 cut tight around the face.
- Photos without people from scikit-image (coffee, a cat, a rocket, textures...): false positives only.

Group photos are composed from these faces at several sizes, small in-plane rotations and positions;
benchmark photos (``sized_photos``) at fixed frame sizes (640x480 to 1920x1080) with 1-4 faces each.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h
ASTRONAUT_FACE: Box = (177, 67, 96, 96)
HOPPER_FACE: Box = (172, 122, 185, 208)


@dataclass(frozen=True)
class Photo:
    name: str
    group: str
    rgb: np.ndarray
    faces: list[Box]


def astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook as cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
        return np.asarray(image.convert("RGB"))


def no_face_photos() -> list[tuple[str, np.ndarray]]:
    from skimage import data

    out = []
    for name in ("coffee", "chelsea", "rocket", "hubble_deep_field", "brick", "grass", "gravel", "colorwheel",
                 "moon", "immunohistochemistry"):
        img = np.asarray(getattr(data, name)())
        if img.ndim == 2:
            img = np.dstack([img] * 3)
        out.append((name, np.ascontiguousarray(img[..., :3]).astype(np.uint8)))
    return out


def _head(rgb: np.ndarray, face: Box, margin: float) -> tuple[np.ndarray, Box]:
    """A crop around the face with ``margin`` x face size of context, and the face box inside it."""
    x, y, w, h = face
    mx, my = int(w * margin), int(h * margin)
    x0, y0 = max(0, x - mx), max(0, y - my)
    x1, y1 = min(rgb.shape[1], x + w + mx), min(rgb.shape[0], y + h + my)
    return rgb[y0:y1, x0:x1], (x - x0, y - y0, w, h)


def _rotate(crop: np.ndarray, face: Box, degrees: float) -> tuple[np.ndarray, Box]:
    """Tilt the head in-plane about the face centre; the face box keeps its centre and size."""
    h, w = crop.shape[:2]
    fx, fy, fw, fh = face
    centre = (fx + fw / 2, fy + fh / 2)
    m = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    out = cv2.warpAffine(crop, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    return out, face


def _place(canvas: np.ndarray, crop: np.ndarray, face: Box, size: int, taken: list[Box],
           rng: np.random.Generator) -> Box | None:
    """Paste ``crop`` scaled so the face is ``size`` px wide at a free spot; the face box, or None."""
    scale = size / face[2]
    ch, cw = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    H, W = canvas.shape[:2]
    if ch >= H or cw >= W:
        return None
    resized = cv2.resize(crop, (cw, ch), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    for _ in range(50):
        x, y = int(rng.integers(0, W - cw)), int(rng.integers(0, H - ch))
        region = (x, y, cw, ch)
        if all(_disjoint(region, t) for t in taken):
            canvas[y : y + ch, x : x + cw] = resized
            taken.append(region)
            return (x + round(face[0] * scale), y + round(face[1] * scale), round(face[2] * scale),
                    round(face[3] * scale))
    return None


def _disjoint(a: Box, b: Box) -> bool:
    return a[0] + a[2] <= b[0] or b[0] + b[2] <= a[0] or a[1] + a[3] <= b[1] or b[1] + b[3] <= a[1]


def group_photos(n: int = 24, seed: int = 0, size: tuple[int, int] = (1280, 720)) -> Iterator[Photo]:
    """Group photos: 2-5 real heads each (astronaut, Grace Hopper), faces 40-260 px, tilted up to 15
    degrees, on a plain or a real no-face background."""
    rng = np.random.default_rng(seed)
    heads = [_head(astronaut(), ASTRONAUT_FACE, 0.6), _head(grace_hopper(), HOPPER_FACE, 0.5)]
    backgrounds = [img for _, img in no_face_photos()]
    W, H = size
    for i in range(n):
        if i % 2:
            bg = backgrounds[i % len(backgrounds)]
            canvas = cv2.resize(bg, (W, H), interpolation=cv2.INTER_LINEAR)
        else:
            canvas = np.full((H, W, 3), int(rng.integers(60, 200)), np.uint8)
        faces: list[Box] = []
        taken: list[Box] = []
        for _ in range(int(rng.integers(2, 6))):
            crop, face = heads[int(rng.integers(0, len(heads)))]
            crop, face = _rotate(crop, face, float(rng.uniform(-15, 15)))
            box = _place(canvas, crop, face, int(rng.integers(40, 261)), taken, rng)
            if box is not None:
                faces.append(box)
        yield Photo(f"group-{i:02d}", "group", canvas, faces)


def small_face_photos(face_sizes: tuple[int, ...] = (24, 28, 32, 40, 48), per_size: int = 12, seed: int = 0,
                      frame: tuple[int, int] = (1280, 720), per_photo: int = 6) -> Iterator[Photo]:
    """Real heads (astronaut, Grace Hopper) with faces of exactly each size (px), tilted up to 15 degrees, on
    plain or real no-face backgrounds; the group is "small-<size>". For the min_face_size rule: a face of
    min_face_size px must be found."""
    rng = np.random.default_rng([seed, *face_sizes])
    heads = [_head(astronaut(), ASTRONAUT_FACE, 0.6), _head(grace_hopper(), HOPPER_FACE, 0.5)]
    backgrounds = [img for _, img in no_face_photos()]
    W, H = frame
    for size in face_sizes:
        for i in range(per_size):
            if i % 2:
                canvas = cv2.resize(backgrounds[i % len(backgrounds)], (W, H), interpolation=cv2.INTER_LINEAR)
            else:
                canvas = np.full((H, W, 3), int(rng.integers(60, 200)), np.uint8)
            faces: list[Box] = []
            taken: list[Box] = []
            for _ in range(per_photo):
                crop, face = heads[int(rng.integers(0, len(heads)))]
                crop, face = _rotate(crop, face, float(rng.uniform(-15, 15)))
                box = _place(canvas, crop, face, size, taken, rng)
                if box is not None:
                    faces.append(box)
            yield Photo(f"small-{size}-{i:02d}", f"small-{size}", canvas, faces)


def fer2013_photos(images: np.ndarray, n: int = 16, per_photo: int = 4, seed: int = 0) -> Iterator[Photo]:
    """Real FER2013 faces (48x48 gray) pasted at 96-192 px onto 960x540 gray canvases."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        canvas = np.full((540, 960, 3), int(rng.integers(80, 180)), np.uint8)
        faces: list[Box] = []
        taken: list[Box] = []
        for _ in range(per_photo):
            face = images[int(rng.integers(0, len(images)))]
            crop = np.dstack([face] * 3)
            box = _place(canvas, crop, (0, 0, 48, 48), int(rng.integers(96, 193)), taken, rng)
            if box is not None:
                faces.append(box)
        yield Photo(f"fer2013-{i:02d}", "fer2013", canvas, faces)


def evaluation_set(fer_images: np.ndarray | None = None) -> list[Photo]:
    photos = [Photo("astronaut", "portrait", astronaut(), [ASTRONAUT_FACE]),
              Photo("grace_hopper", "portrait", grace_hopper(), [HOPPER_FACE])]
    photos += list(group_photos())
    if fer_images is not None:
        photos += list(fer2013_photos(fer_images))
    photos += [Photo(name, "no-face", img, []) for name, img in no_face_photos()]
    return photos


SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080))


def sized_photos(fer_images: np.ndarray | None, sizes: tuple[tuple[int, int], ...] = SIZES,
                 counts: tuple[int, ...] = (1, 2, 3, 4), seed: int = 0) -> list[Photo]:
    """Photos at each frame size with each number of faces, on real no-face backgrounds: the faces cycle
    through the astronaut, Grace Hopper and a FER2013 face (Grace Hopper when ``fer_images`` is None), each
    face 15-30% of the frame height. The one-face photos are the astronaut alone."""
    heads = [_head(astronaut(), ASTRONAUT_FACE, 0.6), _head(grace_hopper(), HOPPER_FACE, 0.5)]
    backgrounds = [img for _, img in no_face_photos()[:4]]  # coffee, a cat, a rocket, a galaxy field
    photos = []
    for W, H in sizes:
        for n in counts:
            rng = np.random.default_rng([seed, W, H, n])  # the same photo whichever others are asked for
            background = cv2.resize(backgrounds[(n - 1) % len(backgrounds)], (W, H), interpolation=cv2.INTER_AREA)
            shrink = 1.0
            for _ in range(30):  # smaller faces until all n fit without overlapping
                canvas = background.copy()
                faces: list[Box] = []
                taken: list[Box] = []
                for k in range(n):
                    kind = k % 3
                    if kind == 2 and fer_images is not None:
                        face = fer_images[int(rng.integers(0, len(fer_images)))]
                        crop, box = np.dstack([face] * 3), (0, 0, 48, 48)
                    else:
                        crop, box = heads[min(kind, 1)]
                    size = max(24, int(H * rng.uniform(0.15, 0.30) * shrink))
                    placed = _place(canvas, crop, box, size, taken, rng)
                    if placed is not None:
                        faces.append(placed)
                if len(faces) == n:
                    break
                shrink *= 0.9
            photos.append(Photo(f"{W}x{H}-{n}face", f"{W}x{H}", canvas, faces))
    return photos


def jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def privatetest_faces(data: str | None) -> np.ndarray | None:
    """FER2013's PrivateTest faces, (N, 48, 48) uint8, read from ``data``; None when the file is missing."""
    if not data or not Path(data).is_file():
        return None
    from training.data import load_fer2013

    d = load_fer2013(data)
    return d.images[d.indices("PrivateTest")]
