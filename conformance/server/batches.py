"""/v1/batches (skeleton: being implemented)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .errors import unknown_route


async def create_batch(request: Request) -> Response:
    raise unknown_route(request.method, request.url.path)


async def list_batches(request: Request) -> Response:
    raise unknown_route(request.method, request.url.path)


async def retrieve_batch(request: Request) -> Response:
    raise unknown_route(request.method, request.url.path)


async def cancel_batch(request: Request) -> Response:
    raise unknown_route(request.method, request.url.path)
