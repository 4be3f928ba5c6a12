"""POST /v1/embeddings: validated input, deterministic vectors (vectors.py), float or base64."""

from __future__ import annotations

import base64
import struct
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import catalog
from .errors import invalid_type, invalid_value, unknown_parameter
from .model import count_tokens
from .validation import expect_choice, expect_integer, expect_string, optional, read_json_object, require
from .vectors import embed

#: OpenAI's limit on the number of inputs in one request.
MAX_INPUTS = 2048
ENCODINGS = ("float", "base64")


def parse_input(value: Any) -> list[str]:
    """``input`` as a list of non-empty strings (a string, or an array of 1..MAX_INPUTS strings)."""
    if isinstance(value, str):
        if not value:
            raise invalid_value("input", "cannot be an empty string.")
        return [value]
    if not isinstance(value, list):
        raise invalid_type("input", "a string or an array of strings", value)
    if not value:
        raise invalid_value("input", "expected at least 1 item(s), got 0.")
    if len(value) > MAX_INPUTS:
        raise invalid_value("input", f"expected at most {MAX_INPUTS} item(s), got {len(value)}.")
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise invalid_type(f"input[{i}]", "a string", item)
        if not item:
            raise invalid_value(f"input[{i}]", "cannot be an empty string.")
    return value


def encode_base64(vector: list[float]) -> str:
    """The vector as little-endian float32 bytes, base64-encoded (what the openai client decodes)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


#: Every property of OpenAI's CreateEmbeddingRequest (additionalProperties: false).
PARAMETERS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


async def create_embeddings(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    for name in body:
        if name not in PARAMETERS:  # the spec's CreateEmbeddingRequest allows no other property
            raise unknown_parameter(name)
    require(body, ("model", "input"))
    model = expect_string(body["model"], "model")
    texts = parse_input(body["input"])
    encoding = optional(body, "encoding_format", expect_choice, ENCODINGS, default="float")
    info = catalog.get_with(model, catalog.EMBEDDINGS, "embeddings")
    assert info.dimensions is not None  # every embedding model has its sizes in the catalog
    smallest, largest = info.dimensions
    dimensions = optional(body, "dimensions", expect_integer, smallest, largest, default=largest)
    data = []
    for index, text in enumerate(texts):
        vector = embed(info.id, text, dimensions)
        value: list[float] | str = encode_base64(vector) if encoding == "base64" else vector
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = sum(max(1, count_tokens(text)) for text in texts)
    return JSONResponse(
        {"object": "list", "data": data, "model": info.id, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )
