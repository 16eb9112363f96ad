"""WebSocket /ws/stream: binary frames in, one prediction per processed frame out, faces followed across frames.

Latest frame wins: while a frame is being processed, newer frames replace the one waiting (at most
one per connection), and each replaced frame counts as dropped. Memory stays flat however fast the
client sends. Answers:
  {"type": "prediction", "seq": N, "t": S, "faces": [...], "image": {...}, "detection": "full"|"regions",
   "timings_ms": {...}, "dropped": K}
  {"type": "error", "seq": N, "code": ..., "detail": ...}          (bad frame; the stream stays open)
``seq`` numbers the client's frames from 0 in arrival order; ``dropped`` is the connection's running
total of frames skipped; ``t`` is the frame's time in seconds on the stream's clock (``seq / frame_rate``
when the client gives ``?frame_rate=``, else since the stream opened, by arrival). Each face carries
``track_id``, ``track_age_s``, ``track_frames`` and ``smoothed`` (service/stream_tracking.py); a bad frame
leaves the tracks as they were. Text messages close with 1003, frames over the size limit with 1009, an idle
stream with 1000 after the idle timeout, a stream to a service without a model with 1013, a stream
without a valid API key (when FER_API_KEYS is set) with 1008.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocketState

from service.auth import check_key, presented_key
from service.errors import InvalidParameter, Overloaded, ServiceError
from service.routes.predict import face_limits
from service.state import ServiceState, state_of
from service.stream_tracking import DEFAULT_DETECT_EVERY, DEFAULT_SMOOTHING_S, StreamOptions, StreamTracker

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_NORMAL, CLOSE_UNSUPPORTED, CLOSE_POLICY, CLOSE_TOO_BIG = 1000, 1003, 1008, 1009


class TrackingQuery(BaseModel):
    """The stream's tracking options (README, WebSocket section); checked after the handshake, so that a bad
    value is answered like any other refusal: an error message, then close 1008."""

    model_config = ConfigDict(extra="ignore")
    detect_every: int = Field(DEFAULT_DETECT_EVERY, ge=1, le=1000)
    smoothing_s: float = Field(DEFAULT_SMOOTHING_S, ge=0.0, le=600.0)
    frame_rate: float | None = Field(None, gt=0.0, le=1000.0)


def tracking_options(params: Mapping[str, str]) -> TrackingQuery:
    try:
        return TrackingQuery.model_validate({k: params[k] for k in TrackingQuery.model_fields if k in params})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InvalidParameter(f"{error['loc'][0]}: {error['msg']}.") from None


class LatestFrame:
    """A one-frame mailbox: put() replaces what is waiting (and says so), get() waits for a frame."""

    def __init__(self) -> None:
        self._frame: tuple[int, bytes, float] | None = None
        self._event = asyncio.Event()
        self.closed = False

    def put(self, seq: int, data: bytes, arrived: float) -> bool:
        replaced = self._frame is not None
        self._frame = (seq, data, arrived)
        self._event.set()
        return replaced

    def close(self) -> None:
        self.closed = True
        self._event.set()

    async def get(self) -> tuple[int, bytes, float] | None:
        while self._frame is None and not self.closed:
            self._event.clear()
            await self._event.wait()
        frame, self._frame = self._frame, None
        return None if self.closed else frame


class StreamSession:
    model: str | None = None  # ?model=NAME; None: the service's default model

    def __init__(self, ws: WebSocket, state: ServiceState, max_faces: int, min_face_size: int,
                 options: StreamOptions, frame_rate: float | None) -> None:
        self.ws, self.state = ws, state
        self.max_faces, self.min_face_size = max_faces, min_face_size
        self.tracker = StreamTracker(options)
        self.frame_rate = frame_rate
        self.opened = time.monotonic()
        self.mailbox = LatestFrame()
        self.received = self.processed = self.dropped = self.errors = 0
        self.close_code: int | None = None
        self.close_reason = ""

    def _stop(self, code: int, reason: str) -> None:
        self.close_code, self.close_reason = code, reason
        self.mailbox.close()

    async def receive_loop(self) -> None:
        settings = self.state.settings
        metrics = self.state.metrics
        while not self.mailbox.closed:
            try:
                message = await asyncio.wait_for(self.ws.receive(), timeout=settings.ws_idle_timeout_s)
            except TimeoutError:
                self._stop(CLOSE_NORMAL, f"idle for {settings.ws_idle_timeout_s:g} s")
                return
            if message["type"] == "websocket.disconnect":
                self.mailbox.close()
                return
            data = message.get("bytes")
            if data is None:
                self._stop(CLOSE_UNSUPPORTED, "send frames as binary messages")
                return
            if len(data) > settings.ws_max_message_bytes:
                self._stop(CLOSE_TOO_BIG, f"frame over {settings.ws_max_message_bytes} bytes")
                return
            if self.mailbox.put(self.received, data, time.monotonic() - self.opened):
                self.dropped += 1
                metrics.frames.labels("dropped").inc()
            self.received += 1

    async def process_loop(self) -> None:
        pipeline, runner = self.state.require_pipeline(self.model)
        metrics = self.state.metrics
        while (frame := await self.mailbox.get()) is not None:
            seq, data, arrived = frame
            t = seq / self.frame_rate if self.frame_rate else arrived
            try:
                prediction = await runner.run(self.tracker.process, pipeline, data, t, self.max_faces,
                                              self.min_face_size, may_refuse=False)
            except ServiceError as exc:
                if exc.ws_close_code is not None:
                    self._stop(exc.ws_close_code, exc.detail)
                    return
                self.errors += 1
                metrics.frames.labels("error").inc()
                metrics.errors.labels(exc.code).inc()
                await self.ws.send_json({"type": "error", "seq": seq, **exc.body()})
                continue
            self.processed += 1
            metrics.frames.labels("processed").inc()
            metrics.observe_prediction("stream", prediction.timings_ms, len(prediction.faces))
            await self.ws.send_json({
                "type": "prediction", "seq": seq, "t": round(t, 4), "faces": prediction.faces,
                "image": {"width": prediction.width, "height": prediction.height},
                "detection": prediction.detection, "timings_ms": prediction.timings_ms, "dropped": self.dropped,
            })


@router.websocket("/ws/stream")
async def stream(
    ws: WebSocket,
    max_faces: int | None = Query(None, ge=1),
    min_face_size: int | None = Query(None, ge=1, le=100_000),
    model: str | None = Query(None, max_length=200),
) -> None:
    state = state_of(ws)
    await ws.accept()
    try:
        check_key(state.settings.api_keys, presented_key(ws.headers, ws.query_params))
        state.require_pipeline(model)
        if state.open_streams >= state.settings.ws_max_connections:
            raise Overloaded("Too many open streams; retry shortly.")
        limit_faces, min_size = face_limits(state, max_faces, min_face_size)
        query = tracking_options(ws.query_params)
    except ServiceError as exc:
        await ws.send_json({"type": "error", "seq": None, **exc.body()})
        await ws.close(exc.ws_close_code or CLOSE_POLICY, exc.detail[:120])
        return
    options = StreamOptions(detect_every=query.detect_every, smoothing_s=query.smoothing_s)
    session = StreamSession(ws, state, limit_faces, min_size, options, query.frame_rate)
    session.model = model
    state.open_streams += 1
    state.metrics.ws_open.inc()
    receiver = asyncio.create_task(session.receive_loop())
    try:
        await session.process_loop()
        if session.close_code is not None and ws.client_state == WebSocketState.CONNECTED:
            await ws.close(session.close_code, session.close_reason[:120])
    except (WebSocketDisconnect, RuntimeError, ConnectionError):
        pass  # the client went away mid-answer: nothing to tell it
    finally:
        # Nothing before these lines may await: a cancelled handler (server shutdown, test client)
        # is cancelled again at every await inside this block.
        state.open_streams -= 1
        state.metrics.ws_open.dec()
        receiver.cancel()
        log.debug("stream closed: %s", _summary(session))


def _summary(session: StreamSession) -> dict[str, Any]:
    return {"received": session.received, "processed": session.processed, "dropped": session.dropped,
            "errors": session.errors, "close_code": session.close_code}
