"""Property-based checks: generated valid requests are answered per the spec, invalid ones refused.

The property runner (conformance/property_run.py) generates the requests from the OpenAPI
document and applies these checks to every exchange; the first failure, shrunk, is the verdict.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

from ..vocabulary import RECOMMENDED, REQUIRED
from . import Failure, check, require, short
from .errors import envelope, error_object


def request_field(request, name: str) -> Any:
    """A field of the request: from the JSON body, the multipart form, or the query."""
    for source in (request.body, request.form, request.params):
        if isinstance(source, dict) and name in source:
            return source[name]
    return None


def response_component(response: Any, request) -> tuple[bool, str | None]:
    """(is JSON, component) for the operation's ``response`` entry and this request."""
    if isinstance(response, dict):
        value = request_field(request, response["by"])
        if value is None:
            return True, response.get("default")
        component = response.get("values", {}).get(value, response.get("default"))
        return component is not None, component
    return True, response


def _decoded_embeddings(body: Any) -> Any:
    """An embeddings body asked for as base64, with each vector decoded to floats (Failure if it is not base64 float32)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return body
    data = []
    for i, item in enumerate(body["data"]):
        if isinstance(item, dict) and isinstance(item.get("embedding"), str):
            try:
                raw = base64.b64decode(item["embedding"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Failure(f"data[{i}].embedding is not base64: {exc}") from None
            require(len(raw) % 4 == 0 and raw, f"data[{i}].embedding decodes to {len(raw)} bytes, not float32 values")
            item = {**item, "embedding": list(struct.unpack(f"<{len(raw) // 4}f", raw))}
        data.append(item)
    return {**body, "data": data}


@check("property.valid_request.accepted", source="openapi: #/paths (a request valid per an operation's requestBody and parameters is answered 200 with its response schema)")
def valid_request_accepted(ctx, ex):
    """A request the OpenAPI spec calls valid (generated within the profile's documented parameters) is answered 2xx with a body valid against the response schema."""
    if not ex.ok:
        err = error_object(ex) or {}
        raise Failure(f"a valid request was refused with {ex.status}: {short(err.get('message') or ex.text)}")
    if ex.client_error:
        raise Failure(f"the openai client could not read the answer: {ex.client_error}")
    is_json, component = response_component(ctx.params.get("response"), ex.request)
    if not is_json:
        require(ex.raw.strip(), "the text answer is empty")
        return
    if ex.json_error or ex.json is None:
        raise Failure(f"the answer is not JSON ({ex.json_error or 'empty'}): {short(ex.text)}")
    body = ex.json
    if request_field(ex.request, "encoding_format") == "base64":
        body = _decoded_embeddings(body)
    if component:
        ctx.require_schema(component, body)


@check("property.invalid_request.refused", source="openapi: #/components/schemas/ErrorResponse (a request an operation's requestBody or parameters call invalid is refused 4xx with this envelope)")
def invalid_request_refused(ctx, ex):
    """A request the OpenAPI spec calls invalid is refused with 4xx and the OpenAI error envelope, never 2xx, never 5xx."""
    why = ctx.params.get("why", "it violates the spec")
    if ex.ok:
        # leniency (a value past a bound, an unknown property, a coercible type) breaks no client:
        # refusing is the spec's letter, a recommended-level finding
        raise Failure(f"an invalid request was accepted with {ex.status} ({why})", level=RECOMMENDED)
    if ex.status >= 500:
        raise Failure(f"an invalid request broke the server: {ex.status} instead of 4xx ({why})", level=REQUIRED)
    require(400 <= ex.status < 500, f"status {ex.status}, expected 4xx ({why})")
    if ctx.params.get("protocol_probe"):
        return  # a wrong method or Content-Type may be refused by a gateway: any 4xx will do
    envelope(ctx, ex)
