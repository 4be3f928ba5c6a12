"""Faults only property-based runs catch: no example case sends the input that shows them.

Each runs with property-based runs on (a fixed seed) and is also run without them, where the
report must pass: that is the proof the generated requests found what the examples miss.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from . import Req, Resp, fault

INVALID = "property.invalid_request.refused"
VALID = "property.valid_request.accepted"
_SERVER_ERROR = json.dumps({"error": {"message": "internal error", "type": "server_error", "param": None, "code": None}}).encode()


def _post(req: Req, path: str) -> dict | None:
    body = req.json if req.method == "POST" and req.path == path else None
    return body if isinstance(body, dict) else None


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@fault("property_chat_penalty_out_of_range_500", INVALID, property=True, scope=("chat",))
def penalty_out_of_range_500(req):
    """presence_penalty or frequency_penalty outside [-2, 2] crashes the server: 500 instead of 400."""
    body = _post(req, "/chat/completions")
    if body and any(_number(body.get(name)) and abs(body[name]) > 2 for name in ("presence_penalty", "frequency_penalty")):
        return Resp(500, {"content-type": "application/json"}, _SERVER_ERROR)
    return None


@fault("property_chat_max_temperature_refused", VALID, property=True, scope=("chat",))
def max_temperature_refused(req):
    """temperature 2 (the documented maximum, inclusive) is refused: an off-by-one bound."""
    body = _post(req, "/chat/completions")
    if body and _number(body.get("temperature")) and body["temperature"] >= 2:
        error = {"error": {"message": "temperature must be below 2", "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"}}
        return Resp(400, {"content-type": "application/json"}, json.dumps(error).encode())
    return None


@fault("property_embeddings_dimensions_wrong_type_ignored", INVALID, property=True, scope=("embeddings",), warns={INVALID})
def dimensions_wrong_type_ignored(req):
    """dimensions that is not an integer (a string, a fraction, a boolean) is silently ignored: full-size vectors, 200."""
    body = _post(req, "/embeddings")
    if body and "dimensions" in body and body["dimensions"] is not None:
        value = body["dimensions"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
            del body["dimensions"]
            req.set_json(body)
    return None


@fault("property_rerank_top_n_zero_accepted", INVALID, property=True, scope=("rerank",), warns={INVALID})
def top_n_zero_accepted(req):
    """top_n below 1 is ignored: every document comes back, 200, where the spec's minimum is 1."""
    body = _post(req, "/rerank")
    if body and _number(body.get("top_n")) and body["top_n"] < 1:
        del body["top_n"]
        req.set_json(body)
    return None


@fault("property_batches_list_bad_limit_500", INVALID, property=True, scope=("batches",))
def list_bad_limit_500(req):
    """GET /batches with a limit that is not an integer crashes the server: 500."""
    if req.method == "GET" and req.path == "/batches":
        limits = parse_qs(req.query, keep_blank_values=True).get("limit", [])
        if any(not value.lstrip("-").isdigit() for value in limits):
            return Resp(500, {"content-type": "text/plain"}, b"Internal Server Error")
    return None


@fault("property_chat_n_above_spec_maximum_clamped", INVALID, property=True, scope=("chat",), warns={INVALID})
def n_above_maximum_clamped(req):
    """n above the spec's maximum of 128 is clamped to 1 and answered 200 instead of refused."""
    body = _post(req, "/chat/completions")
    if body and _number(body.get("n")) and body["n"] > 128:
        body["n"] = 1
        req.set_json(body)
    return None


@fault("property_batches_list_limit_above_100_clamped", INVALID, property=True, scope=("batches",), warns={INVALID})
def list_limit_clamped(req):
    """GET /batches with limit above 100 (the documented maximum) is clamped and answered 200."""
    if req.method == "GET" and req.path == "/batches":
        limits = parse_qs(req.query, keep_blank_values=True).get("limit", [])
        if limits and limits[-1].isdigit() and int(limits[-1]) > 100:
            req.query = "limit=100"
    return None
