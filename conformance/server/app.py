"""The ASGI application: routes under /v1, authentication, and the error envelope on every error."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import batches, chat, embeddings, models_api, rerank, responses, transcriptions
from .auth import AuthMiddleware
from .errors import APIError, internal_error, method_not_allowed, unknown_route

logger = logging.getLogger("conformance.server")

#: Endpoints under /v1: one module per endpoint.
ROUTES = [
    Route("/models", models_api.list_models, methods=["GET"]),
    Route("/models/{model:path}", models_api.retrieve_model, methods=["GET"]),
    Route("/chat/completions", chat.create_chat_completion, methods=["POST"]),
    Route("/responses", responses.create_response, methods=["POST"]),
    Route("/embeddings", embeddings.create_embeddings, methods=["POST"]),
    Route("/rerank", rerank.create_rerank, methods=["POST"]),
    Route("/audio/transcriptions", transcriptions.create_transcription, methods=["POST"]),
    Route("/batches", batches.create_batch, methods=["POST"]),
    Route("/batches", batches.list_batches, methods=["GET"]),
    Route("/batches/{batch_id}", batches.retrieve_batch, methods=["GET"]),
    Route("/batches/{batch_id}/cancel", batches.cancel_batch, methods=["POST"]),
]


class InternalErrorMiddleware:
    """Turns any unexpected exception into a 500 ``internal_error`` envelope (if nothing was sent yet)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("Unexpected error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            await internal_error().response()(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        return unknown_route(method, path).response()
    if exc.status_code == 405:
        return method_not_allowed(method, path, exc.headers).response()
    return APIError(exc.status_code, str(exc.detail), headers=exc.headers).response()


def create_app(api_keys: Iterable[str]) -> Starlette:
    """The reference server app; every request needs ``Authorization: Bearer <one of api_keys>``."""
    keys = tuple(api_keys)
    if isinstance(api_keys, str) or not all(isinstance(key, str) and key for key in keys):
        raise ValueError("api_keys must be an iterable of non-empty strings")
    app = Starlette(
        routes=[Mount("/v1", app=Router(ROUTES, redirect_slashes=False))],
        middleware=[Middleware(InternalErrorMiddleware), Middleware(AuthMiddleware, api_keys=keys)],
        exception_handlers={APIError: _api_error, HTTPException: _http_error},
    )
    app.router.redirect_slashes = False
    return app
