"""POST /v1/rerank (Jina / Cohere style): documents ranked by cosine of their embeddings with the query."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import catalog
from .errors import invalid_type, invalid_value
from .model import count_tokens
from .validation import expect_array, expect_bool, expect_integer, expect_string, optional, read_json_object, require
from .vectors import cosine, embed


def parse_documents(value: Any) -> list[str]:
    """``documents`` as texts: a non-empty array of non-empty strings or ``{"text": str}`` objects."""
    items = expect_array(value, "documents", min_items=1)
    texts = []
    for i, item in enumerate(items):
        text = item.get("text") if isinstance(item, dict) else item
        param = f"documents[{i}].text" if isinstance(item, dict) else f"documents[{i}]"
        if not isinstance(text, str):
            raise invalid_type(param, "a string, or an object with a string 'text'", text)
        if not text:
            raise invalid_value(param, "cannot be an empty string.")
        texts.append(text)
    return texts


async def create_rerank(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    require(body, ("model", "query", "documents"))
    model = expect_string(body["model"], "model")
    query = expect_string(body["query"], "query")
    if not query:
        raise invalid_value("query", "cannot be empty.")
    texts = parse_documents(body["documents"])
    top_n = optional(body, "top_n", expect_integer, 1, default=len(texts))
    return_documents = optional(body, "return_documents", expect_bool, default=True)
    info = catalog.get_with(model, catalog.RERANK, "rerank")
    assert info.dimensions is not None  # every embedding model has its sizes in the catalog
    size = info.dimensions[1]
    query_vector = embed(info.id, query, size)
    scores = [cosine(query_vector, embed(info.id, text, size)) for text in texts]
    ranked = sorted(range(len(texts)), key=lambda i: (-scores[i], i))[:top_n]
    results = []
    for index in ranked:
        result: dict[str, Any] = {"index": index, "relevance_score": scores[index]}
        if return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    tokens = sum(count_tokens(query) + max(1, count_tokens(text)) for text in texts)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    return JSONResponse({"id": f"rerank-{digest}", "model": info.id, "usage": {"total_tokens": tokens}, "results": results})
