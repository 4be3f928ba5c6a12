"""Checks on /embeddings: shape, usage, vectors, base64, dimensions, batches, semantic sanity."""

from __future__ import annotations

import base64
import binascii
import copy
import math
import struct
from typing import Any

from ..transport import ApiRequest, Exchange
from . import Failure, Skip, check, json_object, require, short

#: Two answers for the same text through separate requests agree at least this much (GPU batching noise).
SAME_VECTOR = 0.999
#: A shortened vector agrees at least this much with the renormalised prefix of the full one.
SAME_PREFIX = 0.99
NORM_TOLERANCE = 1e-3


def cosine(a: list[float], b: list[float]) -> float:
    require(len(a) == len(b), f"cannot compare vectors of {len(a)} and {len(b)} components")
    dot = math.fsum(x * y for x, y in zip(a, b))
    norms = norm(a) * norm(b)
    require(norms > 0, "a vector is all zeros")
    return dot / norms


def norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def request_inputs(ex: Exchange) -> list[Any]:
    value = ex.request.body.get("input")
    return value if isinstance(value, list) else [value]


def data_items(ex: Exchange) -> list[dict[str, Any]]:
    body = json_object(ex)
    data = body.get("data")
    require(isinstance(data, list) and data, f"data must be a non-empty array, got {short(data)}")
    for i, item in enumerate(data):
        require(isinstance(item, dict), f"data[{i}] is not an object: {short(item)}")
    return data


def float_vector(value: Any, where: str) -> list[float]:
    require(isinstance(value, list) and value, f"{where} must be a non-empty array of numbers, got {short(value)}")
    for x in value:
        if not (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)):
            require(False, f"{where} holds {short(x)}, not a finite number")  # the message built only when it fails
    return value


def vectors(ex: Exchange) -> list[list[float]]:
    """The float vectors of a response, in data order."""
    return [float_vector(item.get("embedding"), f"data[{i}].embedding") for i, item in enumerate(data_items(ex))]


def followup(ctx, ex: Exchange, **changes: Any) -> Exchange:
    """The case's request with ``changes`` (None removes a key), sent through the same transport, cached."""
    body = copy.deepcopy(ex.request.body)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return ctx.followup(ApiRequest(method="POST", path=ex.request.path, body=body), f"the follow-up request {short(body)}")


@check("embeddings.response.schema", source="openapi: #/components/schemas/CreateEmbeddingResponse")
def response_schema(ctx, ex):
    """The body is valid against the OpenAPI CreateEmbeddingResponse schema."""
    ctx.require_schema("CreateEmbeddingResponse", ex.json)


@check("embeddings.response.shape", source="openapi: #/components/schemas/Embedding (object embedding, index its input's position)")
def response_shape(ctx, ex):
    """object "list", a model name, one object "embedding" per input, in input order: data[i].index == i."""
    data = data_items(ex)
    body = ex.json
    require(body.get("object") == "list", f'object is {short(body.get("object"))}, expected "list"')
    require(isinstance(body.get("model"), str) and body["model"], f"model must be a non-empty string, got {short(body.get('model'))}")
    expected = len(request_inputs(ex))
    require(len(data) == expected, f"{expected} input(s) sent, {len(data)} embedding(s) returned")
    for i, item in enumerate(data):
        require(item.get("object") == "embedding", f'data[{i}].object is {short(item.get("object"))}, expected "embedding"')
        index = item.get("index")
        require(index == i and not isinstance(index, bool), f"data[{i}].index is {short(index)}, expected {i} (the input's position)")


@check("embeddings.usage.tokens", source="openapi: #/components/schemas/CreateEmbeddingResponse/properties/usage (prompt_tokens and total_tokens; nothing is generated)")
def usage_tokens(ctx, ex):
    """usage has an integer prompt_tokens > 0 and total_tokens equal to it (embeddings generate nothing)."""
    body = ex.json if isinstance(ex.json, dict) else {}
    usage = body.get("usage")
    require(isinstance(usage, dict), f"usage must be an object, got {short(usage)}")
    prompt, total = usage.get("prompt_tokens"), usage.get("total_tokens")
    for name, value in (("prompt_tokens", prompt), ("total_tokens", total)):
        require(isinstance(value, int) and not isinstance(value, bool), f"usage.{name} must be an integer, got {short(value)}")
    require(prompt > 0, f"usage.prompt_tokens is {prompt} for a non-empty input")
    require(total == prompt, f"usage.total_tokens {total} != prompt_tokens {prompt}")


@check("embeddings.vector.finite_same_length", source="openapi: #/components/schemas/Embedding/properties/embedding (a list of floats whose length depends on the model; JSON has no NaN, RFC 8259 §6)")
def finite_same_length(ctx, ex):
    """Every embedding is a non-empty array of finite numbers, all of the same length."""
    lengths = {len(v) for v in vectors(ex)}
    require(len(lengths) == 1, f"the vectors of one response have different lengths: {sorted(lengths)}")


@check("embeddings.vector.normalized", source="profile: endpoints.embeddings.properties.normalized")
def vector_normalized(ctx, ex):
    """Every embedding has unit L2 norm (within 1e-3), where the profile documents normalised vectors."""
    if not ctx.profile.endpoint_property("embeddings", "normalized", False):
        raise Skip(f"profile {ctx.profile.name!r} does not document normalised embeddings")
    for i, vector in enumerate(vectors(ex)):
        length = norm(vector)
        require(abs(length - 1) <= NORM_TOLERANCE, f"data[{i}].embedding has L2 norm {length:.6f}, expected 1")


@check("embeddings.batch.matches_single", source="openapi: #/components/schemas/Embedding/properties/index (data[i] is the embedding of input[i])")
def batch_matches_single(ctx, ex):
    """In a batch, data[i] is input[i]'s embedding: it matches that input embedded alone (cosine >= 0.999)."""
    position = ctx.params["position"]
    batch = vectors(ex)
    require(len(batch) > position, f"the batch answer has no data[{position}]")
    alone = vectors(followup(ctx, ex, input=request_inputs(ex)[position]))[0]
    similarity = cosine(batch[position], alone)
    require(similarity >= SAME_VECTOR, f"data[{position}] has cosine {similarity:.4f} with input[{position}] embedded alone: it is another input's vector")


@check("embeddings.vector.same_text_same_vector", level="recommended", source="observed: OpenAI gives the same text the same vector (cosine >= 0.999); nothing normative promises it")
def same_text_same_vector(ctx, ex):
    """The same text twice in one batch gets the same vector (cosine >= 0.999)."""
    first, second = ctx.params["positions"]
    batch = vectors(ex)
    require(len(batch) > max(first, second), f"the batch answer has only {len(batch)} vectors")
    similarity = cosine(batch[first], batch[second])
    require(similarity >= SAME_VECTOR, f"input[{first}] and input[{second}] are the same text but their vectors have cosine {similarity:.4f}")


@check("embeddings.semantic.paraphrase_closer", semantic=True, source="profile: endpoints.embeddings.features core (vectors represent the text's meaning)")
def paraphrase_closer(ctx, ex):
    """A paraphrase is closer to its anchor text than an unrelated text is (a model-quality check)."""
    batch = vectors(ex)
    anchor, paraphrase, unrelated = (batch[ctx.params[name]] for name in ("anchor", "paraphrase", "unrelated"))
    close, far = cosine(anchor, paraphrase), cosine(anchor, unrelated)
    require(close > far, f"cosine(anchor, paraphrase) = {close:.4f} is not above cosine(anchor, unrelated) = {far:.4f}")
    return f"paraphrase {close:.3f} > unrelated {far:.3f}"


def decode_base64(value: Any, where: str) -> list[float]:
    """A base64 string of little-endian float32s, as floats."""
    require(isinstance(value, str), f"{where} is {short(value)}, expected a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Failure(f"{where} is not valid base64: {exc}") from None
    require(raw and len(raw) % 4 == 0, f"{where} decodes to {len(raw)} bytes, not a whole number of float32s")
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


@check("embeddings.base64.matches_float", source="sdk: openai.lib._parsing._embeddings.parse_embedding_response (the client asks for base64 by default and decodes float32 with np.frombuffer)")
def base64_matches_float(ctx, ex):
    """encoding_format base64 gives base64 strings of little-endian float32s equal to the float answer's vectors."""
    decoded = [decode_base64(item.get("embedding"), f"data[{i}].embedding") for i, item in enumerate(data_items(ex))]
    floats = vectors(followup(ctx, ex, encoding_format="float"))
    require(len(decoded) == len(floats), f"{len(decoded)} base64 vectors but {len(floats)} float vectors for the same input")
    for i, (packed, plain) in enumerate(zip(decoded, floats)):
        require(len(packed) == len(plain), f"data[{i}] decodes to {len(packed)} float32s, the float answer has {len(plain)} components")
        require(all(math.isfinite(x) for x in packed), f"data[{i}] decodes to non-finite float32s (wrong byte order or width?)")
        similarity = cosine(packed, plain)
        ratio = norm(packed) / norm(plain)
        require(similarity >= SAME_VECTOR and abs(ratio - 1) <= 0.01, f"data[{i}] decodes to a different vector than the float answer (cosine {similarity:.4f}, norm ratio {ratio:.4f})")


@check("embeddings.dimensions.honoured", source="profile: endpoints.embeddings.features embedding-dimensions (vectors of that length, renormalised)")
def dimensions_honoured(ctx, ex):
    """With dimensions=N each vector has N components and is the full vector's first N renormalised (cosine >= 0.99)."""
    size = ex.request.body["dimensions"]
    short_vectors = vectors(ex)
    for i, vector in enumerate(short_vectors):
        require(len(vector) == size, f"dimensions={size} asked, data[{i}].embedding has {len(vector)} components")
    full = vectors(followup(ctx, ex, dimensions=None))
    for i, (shortened, whole) in enumerate(zip(short_vectors, full)):
        require(len(whole) >= size, f"the full vector has {len(whole)} components, fewer than dimensions={size}")
        similarity = cosine(shortened, whole[:size])
        require(similarity >= SAME_PREFIX, f"data[{i}] is not the full vector's first {size} components renormalised (cosine {similarity:.4f})")
