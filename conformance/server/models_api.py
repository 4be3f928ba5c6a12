"""GET /v1/models and GET /v1/models/{model}: the catalog as OpenAI model objects."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import catalog


async def list_models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [info.as_object() for info in catalog.MODELS]})


async def retrieve_model(request: Request) -> JSONResponse:
    return JSONResponse(catalog.get(request.path_params["model"]).as_object())
