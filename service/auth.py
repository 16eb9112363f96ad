"""Optional API keys (FER_API_KEYS) for the inference routes. Keys are compared in constant time.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``; WebSocket clients that
cannot set headers (browsers) may use the ``api_key`` query parameter instead.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence

from service.errors import Unauthorized


def presented_key(headers: Mapping[str, str], query: Mapping[str, str] | None = None) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    if "x-api-key" in headers:
        return headers["x-api-key"].strip()
    if query is not None and "api_key" in query:
        return query["api_key"]
    return None


def check_key(keys: Sequence[str], presented: str | None) -> None:
    """Raise Unauthorized unless ``presented`` is one of ``keys`` (no keys configured: open)."""
    if not keys:
        return
    if presented is None:
        raise Unauthorized("This service needs an API key: send 'Authorization: Bearer <key>'.")
    given = presented.encode()
    # Compare with every key, always: the time taken does not depend on which key (if any) matched.
    matches = [hmac.compare_digest(given, key.encode()) for key in keys]
    if not any(matches):
        raise Unauthorized("The API key is not valid.")
