"""Faults of /v1/embeddings: each breaks one contract and names the checks that must catch it."""

from __future__ import annotations

import base64
import math
import struct

from conformance.server.vectors import embed

from . import TEST_PROFILES, Req, Resp, error, fault

def _is_embeddings(req: Req) -> bool:
    return req.method == "POST" and req.path == "/embeddings" and isinstance(req.json, dict)


def _answered(req: Req, resp: Resp) -> dict | None:
    """The body of a successful embeddings answer, or None."""
    return resp.json if _is_embeddings(req) and resp.status == 200 else None


def _base64(req: Req) -> bool:
    return req.json.get("encoding_format") == "base64"


def _vectors(req: Req, body: dict) -> list[list[float]]:
    if _base64(req):
        return [_unpack(item["embedding"]) for item in body["data"]]
    return [item["embedding"] for item in body["data"]]


def _unpack(value: str) -> list[float]:
    raw = base64.b64decode(value)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def _set_vectors(req: Req, resp: Resp, body: dict, vectors: list[list[float]], pack: str = "<{}f") -> None:
    """Put ``vectors`` back in the answer in the encoding the request asked for (``pack`` for base64)."""
    for item, vector in zip(body["data"], vectors):
        item["embedding"] = base64.b64encode(struct.pack(pack.format(len(vector)), *vector)).decode() if _base64(req) else vector
    resp.set_json(body)


def _inputs(req: Req) -> list[str]:
    value = req.json["input"]
    return value if isinstance(value, list) else [value]


@fault("embeddings_base64_ignored", "embeddings.base64.matches_float")
def base64_ignored(req):
    """encoding_format base64 is ignored: floats come back (the openai client's default decoding accepts them)."""
    if _is_embeddings(req) and _base64(req):
        body = req.json
        body["encoding_format"] = "float"
        req.set_json(body)


@fault("embeddings_base64_float64", "embeddings.base64.matches_float", collateral={"embeddings.dimensions.honoured", "embeddings.vector.normalized"})
def base64_float64(req, resp):
    """base64 carries float64s instead of float32s."""
    body = _answered(req, resp)
    if body and _base64(req):
        _set_vectors(req, resp, body, _vectors(req, body), pack="<{}d")


@fault("embeddings_base64_big_endian", "embeddings.base64.matches_float", collateral={"embeddings.batch.matches_single", "embeddings.dimensions.honoured", "embeddings.semantic.paraphrase_closer", "embeddings.vector.finite_same_length", "embeddings.vector.normalized"})
def base64_big_endian(req, resp):
    """base64 carries big-endian float32s."""
    body = _answered(req, resp)
    if body and _base64(req):
        _set_vectors(req, resp, body, _vectors(req, body), pack=">{}f")


@fault("embeddings_dimensions_ignored", "embeddings.dimensions.honoured")
def dimensions_ignored(req):
    """A valid dimensions is ignored: full-size vectors come back."""
    if _is_embeddings(req) and isinstance(req.json.get("dimensions"), int) and 32 <= req.json["dimensions"] <= 4096:
        body = req.json
        del body["dimensions"]
        req.set_json(body)


@fault("embeddings_dimensions_clamped", "errors.invalid_request_rejected")
def dimensions_clamped(req):
    """An out-of-range dimensions is clamped into the model's range instead of refused."""
    if _is_embeddings(req) and isinstance(req.json.get("dimensions"), int):
        body = req.json
        body["dimensions"] = min(max(body["dimensions"], 32), 4096)
        req.set_json(body)


@fault("embeddings_dimensions_not_renormalised", "embeddings.vector.normalized")
def dimensions_not_renormalised(req, resp):
    """With dimensions, the full vector is truncated but not renormalised."""
    body = _answered(req, resp)
    if body and req.json.get("dimensions"):
        size = req.json["dimensions"]
        truncated = [embed(body["model"], text, 4096)[:size] for text in _inputs(req)]
        _set_vectors(req, resp, body, truncated)


@fault("embeddings_not_normalised", "embeddings.vector.normalized")
def not_normalised(req, resp):
    """Vectors come back scaled (norms 1.5, 2.5, ...) instead of unit length."""
    body = _answered(req, resp)
    if body:
        _set_vectors(req, resp, body, [[x * (1.5 + i) for x in v] for i, v in enumerate(_vectors(req, body))])


@fault(
    "embeddings_batch_reversed",
    "embeddings.batch.matches_single",
)
def batch_reversed(req, resp):
    """A batch's vectors come back in reverse order, with index rewritten to 0..n-1."""
    body = _answered(req, resp)
    if body and len(body["data"]) > 1:
        body["data"] = [dict(item, index=i) for i, item in enumerate(reversed(body["data"]))]
        resp.set_json(body)


@fault(
    "embeddings_batch_out_of_order",
    "embeddings.response.shape",
)
def batch_out_of_order(req, resp):
    """A batch's data comes back in reverse order (each index still names its input)."""
    body = _answered(req, resp)
    if body and len(body["data"]) > 1:
        body["data"].reverse()
        resp.set_json(body)


@fault("embeddings_index_off_by_one", "embeddings.response.shape")
def index_off_by_one(req, resp):
    """data[i].index counts from 1."""
    body = _answered(req, resp)
    if body:
        for item in body["data"]:
            item["index"] += 1
        resp.set_json(body)


@fault(
    "embeddings_position_dependent",
    {"embeddings.vector.same_text_same_vector", "embeddings.batch.matches_single"},
)
def position_dependent(req, resp):
    """A text's vector depends on its position in the batch (later positions get another text's direction mixed in)."""
    body = _answered(req, resp)
    if body:
        noise = embed(body["model"], "position noise", len(_vectors(req, body)[0]))
        mixed = [[x + 0.5 * i * n for x, n in zip(v, noise)] for i, v in enumerate(_vectors(req, body))]
        norms = [math.sqrt(sum(y * y for y in v)) for v in mixed]
        _set_vectors(req, resp, body, [[x / norm for x in v] for v, norm in zip(mixed, norms)])


@fault(
    "embeddings_batch_crosstalk",
    {"embeddings.semantic.paraphrase_closer", "embeddings.batch.matches_single"},
)
def batch_crosstalk(req, resp):
    """Every input of a batch is embedded as all the inputs joined together."""
    body = _answered(req, resp)
    if body and len(body["data"]) > 1:
        joined = embed(body["model"], " ".join(_inputs(req)), len(_vectors(req, body)[0]))
        _set_vectors(req, resp, body, [joined] * len(body["data"]))


@fault(
    "embeddings_ragged_batch",
    "embeddings.vector.finite_same_length",
    collateral={"embeddings.dimensions.honoured"},
)
def ragged_batch(req, resp):
    """In a batch, the last vector is one component short."""
    body = _answered(req, resp)
    if body and len(body["data"]) > 1:
        vectors = _vectors(req, body)
        vectors[-1] = vectors[-1][:-1]
        _set_vectors(req, resp, body, vectors)


@fault("embeddings_usage_missing", {"embeddings.usage.tokens", "embeddings.response.schema"})
def usage_missing(req, resp):
    """The answer has no usage object."""
    body = _answered(req, resp)
    if body:
        del body["usage"]
        resp.set_json(body)


@fault("embeddings_total_tokens_zero", "embeddings.usage.tokens")
def total_tokens_zero(req, resp):
    """usage.total_tokens is 0 while prompt_tokens is positive."""
    body = _answered(req, resp)
    if body:
        body["usage"]["total_tokens"] = 0
        resp.set_json(body)


@fault("embeddings_empty_input_accepted", "errors.invalid_request_rejected")
def empty_input_accepted(req):
    """An empty string input (alone or in an array) is embedded as a space instead of refused."""
    if _is_embeddings(req):
        body = req.json
        value = body.get("input")
        if value == "" or (isinstance(value, list) and "" in value):
            body["input"] = " " if value == "" else [item or " " for item in value]
            req.set_json(body)


@fault("embeddings_unknown_model_served", "errors.unknown_model_rejected")
def unknown_model_served(req):
    """An unknown model name on /embeddings is served by the default embedding model."""
    if _is_embeddings(req) and str(req.json.get("model", "")).startswith("no-such"):
        body = req.json
        body["model"] = "qwen3-embedding-8b"
        req.set_json(body)


@fault("embeddings_ignored_parameter_refused", "unsupported.ignored_parameter_accepted", profile=str(TEST_PROFILES / "scaleway-ignored.yaml"))
def embeddings_ignored_parameter_refused(req):
    """POST /embeddings refuses `user`, which the (test) profile documents as accepted and ignored."""
    if _is_embeddings(req) and isinstance(req.json, dict) and "user" in req.json:
        return error(400, "Unrecognized request argument supplied: user", param="user")
