"""The reference server's /v1/embeddings and its vector model (docs/REFERENCE_MODEL.md, "Embeddings")."""

from __future__ import annotations

import base64
import math
import struct

import pytest
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import create_app, vectors

KEY = "sk-test-embeddings"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "qwen3-embedding-8b"
FIXED = "bge-multilingual-gemma2"
TEXT = "The quick brown fox jumps over the lazy dog."


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


def post(client: TestClient, **body):
    return client.post("/v1/embeddings", headers=AUTH, json=body)


def embeddings(client: TestClient, **body) -> list:
    response = post(client, **body)
    assert response.status_code == 200, response.text
    return [item["embedding"] for item in response.json()["data"]]


def norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def assert_refused(response, param: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["param"] == param


def test_single_input_answer_is_a_valid_list_of_one_unit_vector(client):
    response = post(client, model=MODEL, input=TEXT)
    assert response.status_code == 200
    body = response.json()
    assert schema_errors("CreateEmbeddingResponse", body) == []
    assert body["object"] == "list" and body["model"] == MODEL
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0)]
    vector = body["data"][0]["embedding"]
    assert len(vector) == 4096
    assert abs(norm(vector) - 1) < 1e-6
    tokens = len(vectors.words(TEXT)) + 1  # nine words and the full stop
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_batch_is_in_input_order_and_each_vector_is_its_input_alone(client):
    texts = ["The cat sat on the mat.", "A cat was sitting on the mat.", "Quarterly revenue grew by twelve percent."]
    batch = embeddings(client, model=MODEL, input=texts)
    assert batch == [embeddings(client, model=MODEL, input=text)[0] for text in texts]


def test_vectors_are_deterministic_and_model_specific(client):
    assert embeddings(client, model=MODEL, input=TEXT) == embeddings(client, model=MODEL, input=TEXT)
    fixed = embeddings(client, model=FIXED, input=TEXT)[0]
    assert len(fixed) == 3584
    assert abs(vectors.cosine(fixed, embeddings(client, model=MODEL, input=TEXT, dimensions=3584)[0])) < 0.1


def test_base64_is_little_endian_float32_of_the_float_answer(client):
    floats = embeddings(client, model=MODEL, input=[TEXT, "Hello"], encoding_format="float")
    packed = embeddings(client, model=MODEL, input=[TEXT, "Hello"], encoding_format="base64")
    for value, expected in zip(packed, floats):
        raw = base64.b64decode(value, validate=True)
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == expected


def test_float_values_are_float32_exact(client):
    vector = embeddings(client, model=MODEL, input=TEXT)[0]
    assert all(struct.unpack("<f", struct.pack("<f", x))[0] == x for x in vector)


@pytest.mark.parametrize("size", [32, 256, 4095, 4096])
def test_dimensions_is_the_renormalised_prefix_of_the_full_vector(client, size):
    full = embeddings(client, model=MODEL, input=TEXT)[0]
    shortened = embeddings(client, model=MODEL, input=TEXT, dimensions=size)[0]
    assert len(shortened) == size
    assert abs(norm(shortened) - 1) < 1e-6
    assert vectors.cosine(shortened, full[:size]) > 0.999999


def test_the_fixed_size_model_accepts_only_its_size(client):
    assert len(embeddings(client, model=FIXED, input=TEXT, dimensions=3584)[0]) == 3584
    assert_refused(post(client, model=FIXED, input=TEXT, dimensions=1024), "dimensions")


def test_a_paraphrase_is_closer_than_an_unrelated_text(client):
    anchor, paraphrase, unrelated = embeddings(
        client, model=MODEL, input=["The cat sat on the mat.", "A cat was sitting on the mat.", "Quarterly revenue grew by twelve percent."]
    )
    assert vectors.cosine(anchor, paraphrase) > 0.8 > 0.2 > vectors.cosine(anchor, unrelated)


def test_texts_without_content_words_still_get_distinct_unit_vectors(client):
    the, bang = embeddings(client, model=MODEL, input=["the", "!!!"])
    assert abs(norm(the) - 1) < 1e-6 and abs(norm(bang) - 1) < 1e-6
    assert the != bang


@pytest.mark.parametrize(
    "body, param",
    [
        ({"model": MODEL, "input": ""}, "input"),
        ({"model": MODEL, "input": ["ok", ""]}, "input[1]"),
        ({"model": MODEL, "input": []}, "input"),
        ({"model": MODEL, "input": [1, 2]}, "input[0]"),
        ({"model": MODEL, "input": {"text": "x"}}, "input"),
        ({"model": MODEL}, "input"),
        ({"input": TEXT}, "model"),
        ({"model": 7, "input": TEXT}, "model"),
        ({"model": MODEL, "input": TEXT, "encoding_format": "base32"}, "encoding_format"),
        ({"model": MODEL, "input": TEXT, "dimensions": 0}, "dimensions"),
        ({"model": MODEL, "input": TEXT, "dimensions": 31}, "dimensions"),
        ({"model": MODEL, "input": TEXT, "dimensions": 4097}, "dimensions"),
        ({"model": MODEL, "input": TEXT, "dimensions": "64"}, "dimensions"),
        ({"model": MODEL, "input": ["x"] * 2049}, "input"),
    ],
)
def test_invalid_requests_are_refused_naming_the_parameter(client, body, param):
    assert_refused(client.post("/v1/embeddings", headers=AUTH, json=body), param)


def test_unknown_and_chat_models_are_refused(client):
    assert_refused(post(client, model="no-such-model", input=TEXT), "model", status=404)
    response = post(client, model="mistral-small-3.2-24b-instruct-2506", input=TEXT)
    assert_refused(response, "model")
    assert response.json()["error"]["code"] == "model_not_supported"


def test_prefix_property_holds_in_the_vector_model():
    full = vectors.embed(MODEL, TEXT, 4096)
    assert vectors.embed(MODEL, TEXT, 64) == pytest.approx(vectors.normalise(full[:64]), abs=1e-6)


def test_synonyms_share_a_concept_and_stems_drop_suffixes():
    assert "c:cat" in vectors.features("kittens") and "c:cat" in vectors.features("a cat")
    assert [vectors.stem(w) for w in ("oceans", "berries", "glass", "sorted", "is")] == ["ocean", "berry", "glass", "sort", "is"]
