"""Faults of /v1/rerank: each breaks one contract and names the checks that must catch it."""

from __future__ import annotations

from conformance.server import catalog
from conformance.server.vectors import cosine, embed

from . import Req, Resp, fault


def _is_rerank(req: Req) -> bool:
    return req.method == "POST" and req.path == "/rerank" and isinstance(req.json, dict)


def _answered(req: Req, resp: Resp) -> dict | None:
    """The body of a successful rerank answer, or None."""
    return resp.json if _is_rerank(req) and resp.status == 200 else None


def _edit_request(req: Req, **changes) -> None:
    body = req.json
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    req.set_json(body)


@fault("rerank_unsorted", "rerank.results.sorted")
def unsorted(req, resp):
    """results come back lowest score first."""
    body = _answered(req, resp)
    if body and len(body["results"]) > 1:
        body["results"].reverse()
        resp.set_json(body)


@fault(
    "rerank_index_is_rank",
    "rerank.index.original_position",
    collateral={"rerank.documents.returned", "rerank.scores.match_embeddings"},
)
def index_is_rank(req, resp):
    """index is the result's rank (0, 1, 2, ...) instead of the document's position in the request."""
    body = _answered(req, resp)
    if body:
        for rank, result in enumerate(body["results"]):
            result["index"] = rank
        resp.set_json(body)


@fault(
    "rerank_index_one_based",
    "rerank.results.indexes_valid",
    collateral={"rerank.documents.returned", "rerank.scores.match_embeddings", "rerank.semantic.relevant_first"},
)
def index_one_based(req, resp):
    """index counts documents from 1."""
    body = _answered(req, resp)
    if body:
        for result in body["results"]:
            result["index"] += 1
        resp.set_json(body)


@fault("rerank_top_n_ignored", "rerank.top_n.honoured")
def top_n_ignored(req):
    """top_n is ignored: every document comes back."""
    if _is_rerank(req) and "top_n" in req.json:
        _edit_request(req, top_n=None)


@fault("rerank_return_documents_ignored", "rerank.documents.returned")
def return_documents_ignored(req, resp):
    """Results never carry their document, even with return_documents true."""
    body = _answered(req, resp)
    if body:
        for result in body["results"]:
            result.pop("document", None)
        resp.set_json(body)


@fault("rerank_wrong_document_text", "rerank.documents.returned")
def wrong_document_text(req, resp):
    """Each returned document's text is the next result's document."""
    body = _answered(req, resp)
    if body and len(body["results"]) > 1:
        documents = [result.get("document") for result in body["results"]]
        for result, document in zip(body["results"], documents[1:] + documents[:1]):
            result["document"] = document
        resp.set_json(body)


@fault("rerank_empty_input_accepted", "errors.invalid_request_rejected")
def empty_input_accepted(req):
    """An empty documents array or empty query is answered (no results / a blank query) instead of refused."""
    if not _is_rerank(req):
        return None
    if req.json.get("documents") == []:
        return Resp(200, {"content-type": "application/json"}, b'{"id": "rerank-0", "model": "qwen3-embedding-8b", "usage": {"total_tokens": 1}, "results": []}')
    if req.json.get("query") == "":
        _edit_request(req, query=" ")
    return None


@fault("rerank_scores_rescaled", "rerank.scores.match_embeddings")
def scores_rescaled(req, resp):
    """relevance_score is (cosine + 1) / 2: same order, but not the embeddings' cosine."""
    body = _answered(req, resp)
    if body:
        for result in body["results"]:
            result["relevance_score"] = (result["relevance_score"] + 1) / 2
        resp.set_json(body)


@fault("rerank_scores_negated", "rerank.semantic.relevant_first", collateral={"rerank.scores.match_embeddings"})
def scores_negated(req, resp):
    """The model scores documents by dissimilarity (minus the cosine): the least relevant ranks first."""
    body = _answered(req, resp)
    if body:
        request = req.json
        texts = [d["text"] if isinstance(d, dict) else d for d in request["documents"]]
        size = catalog.get(body["model"]).dimensions[1]
        query = embed(body["model"], request["query"], size)
        scores = [-cosine(query, embed(body["model"], text, size)) for text in texts]
        ranked = sorted(range(len(texts)), key=lambda i: -scores[i])[: request.get("top_n") or len(texts)]
        with_documents = request.get("return_documents") is not False
        body["results"] = [
            {"index": i, "relevance_score": scores[i], **({"document": {"text": texts[i]}} if with_documents else {})}
            for i in ranked
        ]
        resp.set_json(body)


@fault(
    "rerank_score_as_string",
    "rerank.response.schema",
    collateral={"rerank.scores.match_embeddings"},
)
def score_as_string(req, resp):
    """relevance_score is sent as a string."""
    body = _answered(req, resp)
    if body:
        for result in body["results"]:
            result["relevance_score"] = str(result["relevance_score"])
        resp.set_json(body)


@fault("rerank_usage_missing", "rerank.usage.tokens")
def usage_missing(req, resp):
    """The answer has no usage object."""
    body = _answered(req, resp)
    if body:
        del body["usage"]
        resp.set_json(body)


@fault("rerank_id_missing", "rerank.response.identity")
def id_missing(req, resp):
    """The answer has no id."""
    body = _answered(req, resp)
    if body:
        del body["id"]
        resp.set_json(body)
