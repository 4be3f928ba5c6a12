"""The reference server's /v1/rerank (docs/REFERENCE_MODEL.md, "Rerank")."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import create_app, vectors

KEY = "sk-test-rerank"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "qwen3-embedding-8b"
#: Scaleway's documented example (how-to/query-reranking-models): results 1, 2, 0 with top_n 3.
QUERY = "What is the biggest area of water on earth ?"
DOCUMENTS = [
    "The Pacific is approximately 165 million km²",
    "Oceans can be sorted by size: Pacific, Atlantic, Indian",
    "The Atlantic is a very large ocean.",
    "The deepest pool on earth is 96 000 m²",
]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


def rerank(client: TestClient, **body):
    return client.post("/v1/rerank", headers=AUTH, json={"model": MODEL, "query": QUERY, "documents": DOCUMENTS, **body})


def answer(client: TestClient, **body) -> dict:
    response = rerank(client, **body)
    assert response.status_code == 200, response.text
    return response.json()


def test_scaleway_example_ranks_as_documented(client):
    body = answer(client, top_n=3)
    assert schema_errors("RerankResponse", body) == []
    assert [r["index"] for r in body["results"]] == [1, 2, 0]
    assert [r["document"]["text"] for r in body["results"]] == [DOCUMENTS[1], DOCUMENTS[2], DOCUMENTS[0]]
    assert body["model"] == MODEL and body["id"].startswith("rerank-")
    assert body["usage"]["total_tokens"] > 0


def test_all_documents_are_ranked_without_top_n_and_top_n_is_clamped(client):
    every = answer(client)["results"]
    assert sorted(r["index"] for r in every) == [0, 1, 2, 3]
    scores = [r["relevance_score"] for r in every]
    assert scores == sorted(scores, reverse=True)
    assert answer(client, top_n=10)["results"] == every
    assert answer(client, top_n=1)["results"] == every[:1]


def test_scores_are_the_cosines_of_the_embeddings_endpoint_vectors(client):
    response = client.post("/v1/embeddings", headers=AUTH, json={"model": MODEL, "input": [QUERY, *DOCUMENTS]})
    query, *docs = [item["embedding"] for item in response.json()["data"]]
    for result in answer(client)["results"]:
        assert result["relevance_score"] == pytest.approx(vectors.cosine(query, docs[result["index"]]), abs=1e-6)


def test_index_is_the_original_position_whatever_the_order(client):
    forward = {DOCUMENTS[r["index"]]: r["relevance_score"] for r in answer(client)["results"]}
    backward_docs = DOCUMENTS[::-1]
    backward = answer(client, documents=backward_docs)["results"]
    assert {backward_docs[r["index"]]: r["relevance_score"] for r in backward} == forward


def test_documents_as_objects_and_return_documents(client):
    objects = [{"text": text} for text in DOCUMENTS]
    with_objects = answer(client, documents=objects)
    assert with_objects["results"] == answer(client)["results"]
    assert all("document" not in r for r in answer(client, return_documents=False)["results"])


def test_the_id_is_deterministic_per_request(client):
    assert answer(client, top_n=2)["id"] == answer(client, top_n=2)["id"] != answer(client, top_n=3)["id"]


@pytest.mark.parametrize(
    "body, param",
    [
        ({"documents": []}, "documents"),
        ({"documents": "one document"}, "documents"),
        ({"documents": ["ok", ""]}, "documents[1]"),
        ({"documents": ["ok", 3]}, "documents[1]"),
        ({"documents": [{"txt": "x"}]}, "documents[0].text"),
        ({"query": ""}, "query"),
        ({"query": None}, "query"),
        ({"query": ["a"]}, "query"),
        ({"documents": None}, "documents"),
        ({"top_n": 0}, "top_n"),
        ({"top_n": "2"}, "top_n"),
        ({"return_documents": "yes"}, "return_documents"),
        ({"model": None}, "model"),
    ],
)
def test_invalid_requests_are_refused_naming_the_parameter(client, body, param):
    response = rerank(client, **body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


@pytest.mark.parametrize("model, status", [("no-such-model", 404), ("mistral-small-3.2-24b-instruct-2506", 400), ("bge-multilingual-gemma2", 400)])
def test_models_without_rerank_are_refused(client, model, status):
    response = rerank(client, model=model)
    assert response.status_code == status
    assert response.json()["error"]["param"] == "model"
