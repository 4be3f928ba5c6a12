"""Checks on /v1/models: the list, retrieving one model."""

from __future__ import annotations

from urllib.parse import unquote

from ..transport import ApiRequest, Unjudgeable, policy
from . import Skip, check, json_object, require, short



@check("models.list.shape", source="openapi: #/components/schemas/ListModelsResponse")
def list_shape(ctx, ex):
    """GET /models returns {"object": "list", "data": [model objects with unique ids]} valid against the spec."""
    body = json_object(ex)
    require(body.get("object") == "list", f'object is {short(body.get("object"))}, expected "list"')
    data = body.get("data")
    require(isinstance(data, list) and data, f"data must be a non-empty array, got {short(data)}")
    ctx.require_schema("ListModelsResponse", body)
    ids = [m.get("id") for m in data if isinstance(m, dict)]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    require(not duplicates, f"model ids listed more than once: {duplicates}")


@check("models.list.includes_configured", source="openapi: #/paths/~1models/get (lists the currently available models: every configured one)")
def list_includes_configured(ctx, ex):
    """Every model the run is configured with appears in GET /models."""
    data = (ex.json or {}).get("data") if isinstance(ex.json, dict) else None
    require(isinstance(data, list), "no data array to look in")
    listed = {m.get("id") for m in data if isinstance(m, dict)}
    configured = _configured(ctx)
    missing = sorted(set(configured) - listed)
    require(not missing, f"configured models not listed: {', '.join(missing)}")


def model_in_path(path: str) -> str:
    """The model id of a ``/models/{model}`` path, whole: ids may hold slashes (``org/name``, as vLLM
    serves Hugging Face names) and arrive percent-encoded."""
    return unquote(path.split("?", 1)[0].removeprefix("/models/"))


@check("models.retrieve.shape", source="openapi: #/components/schemas/Model")
def retrieve_shape(ctx, ex):
    """GET /models/{id} returns that model object (same id, object "model") valid against the spec."""
    body = json_object(ex)
    wanted = model_in_path(ex.request.path)
    require(body.get("id") == wanted, f"id is {short(body.get('id'))}, expected {wanted!r}")
    require(body.get("object") == "model", f'object is {short(body.get("object"))}, expected "model"')
    ctx.require_schema("Model", body)


@check("models.retrieve.each_configured", source="openapi: #/paths/~1models~1{model}/get (retrieves every available model as a Model)")
def retrieve_each_configured(ctx, ex):
    """GET /models/{id} answers 200 with that model object for every model the run is configured with."""
    problems = []
    configured = _configured(ctx)
    for model in configured:
        got = ctx.send(ApiRequest("GET", f"/models/{model}"), cache_key=f"models.retrieve:{model}")
        if policy.disposition(got.status) != policy.JUDGE:
            raise Unjudgeable(f"retrieving {model} got {got.status}; could not judge")
        if not got.ok:
            problems.append(f"{model}: status {got.status}")
            continue
        body = got.json
        if not isinstance(body, dict) or body.get("id") != model or body.get("object") != "model":
            problems.append(f"{model}: answered {short(body, 120)}")
            continue
        errors = ctx.schema_errors("Model", body)
        if errors:
            problems.append(f"{model}: not a Model object: {errors[0]}")
    require(not problems, "retrieving configured models failed: " + "; ".join(problems))
    return f"{len(configured)} model(s) retrieved"


def _configured(ctx) -> list[str]:
    """The models given with --model (or a hosted profile's named explicitly) for the selected endpoints."""
    models = ctx.settings.configured_models()
    if not models:
        raise Skip("no model is configured: give the models to look for with --model CAPABILITY=NAME (a profile's defaults are not checked unless it is a hosted provider's profile named with --profile)")
    return models
