"""Checks on the HTTP layer of a successful exchange: status, media type, client parsing."""

from __future__ import annotations

from . import Failure, check, require, short


@check("http.status_success")
def status_success(ctx, ex):
    """A valid request gets a 2xx status."""
    require(ex.ok, f"expected a 2xx status, got {ex.status}")


@check("http.json_body")
def json_body(ctx, ex):
    """A non-streamed success is application/json and its body parses as JSON."""
    require(ex.content_type == "application/json", f"Content-Type is {ex.content_type or 'missing'!r}, expected application/json")
    if ex.json_error:
        raise Failure(f"body is {ex.json_error}: {short(ex.text)}")
    require(isinstance(ex.json, dict), f"body is a JSON {type(ex.json).__name__}, expected an object")


@check("sdk.accepts_response")
def sdk_accepts_response(ctx, ex):
    """The official openai client reads the response without raising."""
    if ex.transport != "openai":
        return "only meaningful through the openai client"
    require(ex.client_error is None, f"the openai client failed on this response: {ex.client_error}")
