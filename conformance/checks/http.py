"""Checks on the HTTP layer of a successful exchange: status, media type, client parsing."""

from __future__ import annotations

from . import Failure, Skip, check, require, short


@check("http.status_success", source="profile: endpoints.*.features (a valid request for a claimed feature is answered 2xx, RFC 9110 §15.3)")
def status_success(ctx, ex):
    """A valid request gets a 2xx status."""
    require(ex.ok, f"expected a 2xx status, got {ex.status}")


@check("http.json_body", source="wire: RFC 8259 §2 (the body is a JSON text) served as application/json (RFC 8259 §11, RFC 9110 §8.3)")
def json_body(ctx, ex):
    """A non-streamed success is application/json and its body parses as JSON."""
    require(ex.content_type == "application/json", f"Content-Type is {ex.content_type or 'missing'!r}, expected application/json")
    if ex.json_error:
        raise Failure(f"body is {ex.json_error}: {short(ex.text)}")
    require(isinstance(ex.json, dict), f"body is a JSON {type(ex.json).__name__}, expected an object")


#: The transports that are an official SDK, and what to call each in a message.
SDKS = {"openai": "the openai client (Python)", "openai-node": "the openai Node SDK"}


@check(
    "sdk.accepts_response",
    source="sdk: openai.OpenAI (its resource methods read the response without raising); the openai npm package's OpenAI client and its stream helpers (chat.completions.stream, responses.stream) for openai-node",
)
def sdk_accepts_response(ctx, ex):
    """The official SDK (Python's openai, Node's openai) reads the response without raising."""
    if ex.transport not in SDKS:
        raise Skip(f"only judged through an official SDK; this exchange went through the {ex.transport} transport")
    require(ex.client_error is None, f"{SDKS[ex.transport]} failed on this response: {ex.client_error}")
    # what the SDK declined to do with a valid answer (e.g. parse a stream cut at max_tokens) is noted, not failed
    return ex.client_note
