"""POST /v1/rerank (skeleton: being implemented)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .errors import unknown_route


async def create_rerank(request: Request) -> Response:
    raise unknown_route(request.method, request.url.path)
