"""Read one uploaded file from a multipart/form-data body, in memory, under a byte limit.

The body is consumed as a stream: a Content-Length over the limit is refused before reading, and a
body that grows past the limit is refused as soon as it does, so no request is ever buffered whole
beyond the limit. Files are never spooled to disk (Starlette's form parser would spool parts over
1 MB to a temporary file). The number of parts is bounded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from service.errors import BadRequest, MissingFile, PayloadTooLarge, UnsupportedMediaType

FIELD = "file"


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the {limit:,}-byte limit.")


def check_declared_length(content_length: str | None, limit: int) -> None:
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError:
        raise BadRequest("The Content-Length header is not a number.", code="invalid_request") from None
    if declared > limit:
        raise _too_large(limit)


async def read_upload(content_type: str | None, content_length: str | None, stream: AsyncIterator[bytes],
                      limit: int, max_parts: int) -> bytes:
    """The bytes of the multipart field ``file``; raises a ServiceError for every way this can fail."""
    mime, params = parse_options_header(content_type or "")
    if mime != b"multipart/form-data":
        raise UnsupportedMediaType(f"Send the image as multipart/form-data in a field named '{FIELD}'.",
                                   code="unsupported_media_type")
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("The multipart body has no boundary.", code="invalid_multipart")
    check_declared_length(content_length, limit)

    form = _FileField(max_parts)
    parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise BadRequest("The multipart body is malformed.", code="invalid_multipart") from None
    if form.data is None:
        raise MissingFile(f"The multipart body has no field named '{FIELD}'.")
    return bytes(form.data)


class _FileField:
    """python-multipart callbacks that keep the first part named FIELD and count the parts."""

    def __init__(self, max_parts: int) -> None:
        self.max_parts = max_parts
        self.parts = 0
        self.data: bytearray | None = None
        self._header = b""
        self._value = b""
        self._name: bytes | None = None
        self._keep = False

    def callbacks(self) -> dict[str, Any]:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data}

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.max_parts:
            raise BadRequest(f"The body has more than {self.max_parts} multipart parts.", code="too_many_parts")
        self._name, self._keep = None, False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._name = parse_options_header(self._value)[1].get(b"name")
        self._header = self._value = b""

    def on_headers_finished(self) -> None:
        if self._name == FIELD.encode() and self.data is None:
            self._keep = True
            self.data = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._keep and self.data is not None:
            self.data += data[start:end]
