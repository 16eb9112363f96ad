"""One error hierarchy, one renderer: every failure becomes ``{"detail": <sentence>, "code": <machine code>}``.

ServiceError
├── BadRequest (400)            invalid_image, empty_file, invalid_multipart, too_many_parts
├── MissingFile (422)           missing_file
├── InvalidParameter (422)      invalid_parameter
├── Unauthorized (401)          unauthorized
├── UnsupportedMediaType (415)  unsupported_media_type
├── PayloadTooLarge (413)       payload_too_large, image_too_large
├── UnknownModel (404)          unknown_model
├── NotReady (503)              model_not_ready
├── Overloaded (503)            overloaded
└── DetectionFailed (500)       detection_failed

Each class also says how a WebSocket stream treats it: an error message on the open connection
(bad frame) or a close code (protocol violation). A 500 never carries exception text.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ServiceError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    # WebSocket: None = answer {"type": "error"} and keep the connection; an int = close with that code.
    ws_close_code: ClassVar[int | None] = None

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default

    def body(self) -> dict[str, str]:
        return {"detail": self.detail, "code": self.code}


class BadRequest(ServiceError):
    status_code = 400
    code = "invalid_image"


class MissingFile(ServiceError):
    status_code = 422
    code = "missing_file"


class InvalidParameter(ServiceError):
    status_code = 422
    code = "invalid_parameter"


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"
    ws_close_code = 1008  # policy violation


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


class UnknownModel(ServiceError):
    status_code = 404
    code = "unknown_model"
    ws_close_code = 1008  # the stream asked for something this service does not have


class NotReady(ServiceError):
    status_code = 503
    code = "model_not_ready"
    ws_close_code = 1013  # try again later


class Overloaded(ServiceError):
    status_code = 503
    code = "overloaded"
    ws_close_code = 1013  # try again later


class DetectionFailed(ServiceError):
    status_code = 500
    code = "detection_failed"


def error_response(exc: ServiceError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)


_HTTP_ERRORS = {
    400: ("bad_request", "The request is malformed."),
    401: ("unauthorized", "Authentication is required."),
    403: ("forbidden", "This is not allowed."),
    404: ("not_found", "There is no such route."),
    405: ("method_not_allowed", "This route does not accept that HTTP method."),
    406: ("not_acceptable", "The requested response type is not available."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "The request body type is not supported."),
    422: ("invalid_request", "The request is invalid."),
    429: ("too_many_requests", "Too many requests; retry later."),
    503: ("unavailable", "The service is unavailable; retry later."),
}


def install_handlers(app: FastAPI) -> None:
    """Route every exception type through the one renderer."""

    async def service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        if exc.status_code >= 500:
            log.warning("%s %s -> %d %s: %s", request.method, request.url.path, exc.status_code, exc.code, exc.detail)
        return error_response(exc, {"Retry-After": "1"} if exc.status_code == 503 else None)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code, detail = _HTTP_ERRORS.get(exc.status_code, ("http_error", "The request failed."))
        return JSONResponse({"detail": detail, "code": code}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": _describe(exc.errors()), "code": "invalid_parameter"}, status_code=422)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "The service failed to process this request.", "code": "internal_error"},
                            status_code=500)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def _describe(errors: Any) -> str:
    """One sentence from pydantic's error list: 'max_faces: Input should be greater than or equal to 1'."""
    parts = []
    for err in list(errors)[:3]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "body", "path", "header"))
        parts.append(f"{where}: {err.get('msg', 'invalid value')}" if where else str(err.get("msg", "invalid value")))
    return ("; ".join(parts) or "The request is invalid").rstrip(".") + "."
