"""Inputs -> the files to label, in a stable order: files as given, folders walked recursively (hidden
entries skipped, names sorted), glob patterns expanded. Photo or video is decided by the file's bytes,
as the service decides an image's type: never by its name.

Everything found is labelled, whatever its name: a file that is neither a video nor an image the service
reads becomes one row with the service's error code, so nothing in a folder is silently left out.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

Kind = Literal["image", "video"]
HEAD_BYTES = 512
# ISO media files that are still images (HEIF, AVIF): the image route answers them with unsupported_media_type.
_STILL_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")


@dataclass(frozen=True)
class Source:
    path: str  # as found: as given, or a folder's path joined with the names under it
    kind: Kind


def sniff_video(head: bytes) -> bool:
    """Whether these first bytes start a video container OpenCV's FFmpeg reads (MP4/MOV, AVI, MKV/WebM,
    MPEG-PS/TS, FLV, ASF/WMV)."""
    if head[4:8] == b"ftyp":
        return head[8:12] not in _STILL_BRANDS
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):  # QuickTime files without an ftyp box
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[:4] in (b"\x1a\x45\xdf\xa3", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3") or head[:3] == b"FLV":
        return True
    if head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return True
    return len(head) > 188 and head[0] == 0x47 and head[188] == 0x47  # MPEG transport stream packets


def kind_of(path: str) -> Kind:
    """video when the bytes say so; image otherwise (unreadable files too: the labeller reports why)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError:
        return "image"
    return "video" if sniff_video(head) else "image"


def _walk(folder: str) -> Iterator[str]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def _paths(spec: str) -> Iterator[str]:
    if os.path.isdir(spec):
        yield from _walk(spec)
    elif os.path.lexists(spec) or not glob.has_magic(spec):
        yield spec  # a missing file still gets its row (file_not_found)
    else:
        matches = sorted(glob.glob(spec, recursive=True))
        if not matches:
            yield spec
        for match in matches:
            yield from (_walk(match) if os.path.isdir(match) else [match])


def find(inputs: Sequence[str]) -> list[Source]:
    """Every file the inputs name, each once (first occurrence wins), with its kind."""
    seen: set[str] = set()
    sources = []
    for spec in inputs:
        for path in _paths(spec):
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                sources.append(Source(path, kind_of(path)))
    return sources

