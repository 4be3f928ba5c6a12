"""Checks on /rerank (Jina / Cohere style): ordering, indexes, top_n, documents, usage, scores."""

from __future__ import annotations

import math
from typing import Any

from ..transport import ApiRequest, Exchange
from . import check, json_object, require, short
from .embeddings import cosine, vectors

#: A document's score may move this much when the batch around it changes.
SAME_SCORE = 0.01
#: relevance_score and the embeddings' cosine agree within this much.
EMBEDDING_TOLERANCE = 0.02


def documents(ex: Exchange) -> list[str]:
    """The texts of the request's documents (strings or {"text": ...} objects)."""
    return [d["text"] if isinstance(d, dict) else d for d in ex.request.body["documents"]]


def results(ex: Exchange) -> list[dict[str, Any]]:
    body = json_object(ex)
    items = body.get("results")
    require(isinstance(items, list), f"results must be an array, got {short(items)}")
    for i, item in enumerate(items):
        require(isinstance(item, dict), f"results[{i}] is not an object: {short(item)}")
    return items


def scores(ex: Exchange) -> list[float]:
    out = []
    for i, item in enumerate(results(ex)):
        score = item.get("relevance_score")
        require(isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score), f"results[{i}].relevance_score is {short(score)}, not a finite number")
        out.append(score)
    return out


def indexes(ex: Exchange) -> list[int]:
    count = len(documents(ex))
    out = []
    for i, item in enumerate(results(ex)):
        index = item.get("index")
        require(isinstance(index, int) and not isinstance(index, bool), f"results[{i}].index is {short(index)}, not an integer")
        require(0 <= index < count, f"results[{i}].index {index} is outside the {count} documents sent")
        require(index not in out, f"results[{i}].index {index} appears twice")
        out.append(index)
    return out


def score_by_text(ex: Exchange) -> dict[str, float]:
    texts = documents(ex)
    return {texts[index]: score for index, score in zip(indexes(ex), scores(ex))}


@check("rerank.response.schema", source="openapi: #/components/schemas/RerankResponse")
def response_schema(ctx, ex):
    """The body is valid against the RerankResponse schema (Jina / Cohere style, specs/openapi)."""
    ctx.require_schema("RerankResponse", ex.json)


@check("rerank.response.identity", level="recommended", source="openapi: #/components/schemas/RerankResponse/properties/id (and model: both optional, Jina sends no id, Cohere v2 no model)")
def response_identity(ctx, ex):
    """The body names itself: a non-empty string id and the model as a non-empty string."""
    body = json_object(ex)
    require(isinstance(body.get("id"), str) and body["id"], f"id must be a non-empty string, got {short(body.get('id'))}")
    require(isinstance(body.get("model"), str) and body["model"], f"model must be a non-empty string, got {short(body.get('model'))}")


@check("rerank.results.sorted", source="openapi: #/paths/~1rerank/post (documents ranked by relevance: highest relevance_score first, as Jina and Cohere v2 answer)")
def results_sorted(ctx, ex):
    """results are ordered by relevance_score, highest first, each a finite number."""
    values = scores(ex)
    for i in range(1, len(values)):
        require(values[i - 1] >= values[i], f"results[{i - 1}].relevance_score {values[i - 1]} < results[{i}].relevance_score {values[i]}: not sorted highest first")


@check("rerank.results.indexes_valid", source="openapi: #/components/schemas/RerankResult/properties/index (the document's position in the request's documents)")
def indexes_valid(ctx, ex):
    """Every result's index is an integer position in the documents sent, none twice."""
    indexes(ex)


@check("rerank.top_n.honoured", source="openapi: #/components/schemas/RerankRequest/properties/top_n (only the top_n most relevant documents)")
def top_n_honoured(ctx, ex):
    """Exactly min(top_n, number of documents) results; every document when top_n is absent."""
    count = len(documents(ex))
    top_n = ex.request.body.get("top_n")
    expected = count if top_n is None else min(top_n, count)
    got = len(results(ex))
    require(got == expected, f"{count} documents with top_n={top_n}: expected {expected} results, got {got}")


@check("rerank.documents.returned", source="openapi: #/components/schemas/RerankRequest/properties/return_documents (each result carries its document's text)")
def documents_returned(ctx, ex):
    """With return_documents true each result has document.text equal to the document at its index; any returned document matches."""
    texts = documents(ex)
    wanted = ex.request.body.get("return_documents") is True
    for i, (index, item) in enumerate(zip(indexes(ex), results(ex))):
        document = item.get("document")
        if document is None:
            require(not wanted, f"return_documents is true but results[{i}] has no document")
            continue
        require(isinstance(document, dict), f"results[{i}].document is {short(document)}, expected an object with text")
        require(document.get("text") == texts[index], f"results[{i}].document.text is {short(document.get('text'))}, but documents[{index}] is {short(texts[index])}")


@check("rerank.usage.tokens", level="recommended", source="openapi: #/components/schemas/RerankResponse/properties/usage (optional: Jina sends it, Cohere v2 does not)")
def usage_tokens(ctx, ex):
    """usage.total_tokens is a positive integer (prompt_tokens, when present, an integer no larger)."""
    body = ex.json if isinstance(ex.json, dict) else {}
    usage = body.get("usage")
    require(isinstance(usage, dict), f"usage must be an object, got {short(usage)}")
    total = usage.get("total_tokens")
    require(isinstance(total, int) and not isinstance(total, bool) and total > 0, f"usage.total_tokens must be a positive integer, got {short(total)}")
    prompt = usage.get("prompt_tokens")
    if prompt is not None:
        require(isinstance(prompt, int) and not isinstance(prompt, bool) and 0 < prompt <= total, f"usage.prompt_tokens {short(prompt)} must be a positive integer <= total_tokens {total}")


@check("rerank.index.original_position", source="openapi: #/components/schemas/RerankResult/properties/index (the document's position in the request's documents)")
def index_original_position(ctx, ex):
    """index is the document's position in the request: the documents in reverse order keep their scores (within 0.01)."""
    body = dict(ex.request.body, documents=list(reversed(ex.request.body["documents"])))
    reversed_scores = score_by_text(ctx.followup(ApiRequest(method="POST", path=ex.request.path, body=body)))
    for text, score in score_by_text(ex).items():
        require(text in reversed_scores, f"{short(text)} is ranked in the request but not when the documents are reversed")
        other = reversed_scores[text]
        require(abs(score - other) <= SAME_SCORE, f"{short(text)} scores {score:.4f}, but {other:.4f} when the documents are reversed: index does not point at the scored document")


@check("rerank.scores.match_embeddings", source="profile: endpoints.rerank.features rerank-embedding-consistent (scores are the cosine of the normalised embeddings)")
def scores_match_embeddings(ctx, ex):
    """relevance_score is the cosine of the embeddings endpoint's query and document vectors (within 0.02)."""
    body = ex.request.body
    texts = documents(ex)
    request = ApiRequest(method="POST", path="/embeddings", body={"model": body["model"], "input": [body["query"], *texts]})
    query, *docs = vectors(ctx.followup(request))
    require(len(docs) == len(texts), f"/embeddings returned {len(docs) + 1} vectors for {len(texts) + 1} inputs")
    for index, score in zip(indexes(ex), scores(ex)):
        expected = cosine(query, docs[index])
        require(abs(score - expected) <= EMBEDDING_TOLERANCE, f"documents[{index}] has relevance_score {score:.4f}, but its embeddings' cosine with the query is {expected:.4f}")


@check("rerank.semantic.relevant_first", semantic=True, source="profile: endpoints.rerank.features core (documents ranked by relevance to the query)")
def relevant_first(ctx, ex):
    """A relevant document ranks first and no irrelevant one ranks above a relevant one (a model-quality check)."""
    relevant, irrelevant = set(ctx.params["relevant"]), set(ctx.params["irrelevant"])
    order = indexes(ex)
    require(order, "no results")
    require(order[0] in relevant, f"documents[{order[0]}] ranks first; expected one of {sorted(relevant)}")
    last_relevant = max(rank for rank, index in enumerate(order) if index in relevant)
    above = [index for index in order[:last_relevant] if index in irrelevant]
    require(not above, f"irrelevant documents {above} rank above a relevant one: order {order}")
    return f"order {order}"
