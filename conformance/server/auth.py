"""Bearer-key authentication, checked before routing for every HTTP request."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import APIError, invalid_api_key, missing_api_key


def check_authorization(header: str | None, api_keys: Iterable[bytes]) -> APIError | None:
    """None if ``header`` is ``Bearer <key>`` with a known key, else the 401 error to answer."""
    scheme, _, key = (header or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return missing_api_key()
    sent = key.encode()
    if not any(hmac.compare_digest(sent, known) for known in api_keys):
        return invalid_api_key()
    return None


class AuthMiddleware:
    """Answers 401 (``missing_api_key`` / ``invalid_api_key``) unless the request carries a valid key."""

    def __init__(self, app: ASGIApp, api_keys: Iterable[str]) -> None:
        self.app = app
        self.api_keys = tuple(key.encode() for key in api_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            error = check_authorization(Headers(scope=scope).get("authorization"), self.api_keys)
            if error is not None:
                await error.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
