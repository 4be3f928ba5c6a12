"""The embedded reference server (conformance.server): auth, models, chat completions, streaming."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema
import pytest
from starlette.testclient import TestClient

from conformance.server import ServerThread, create_app
from conformance.server import catalog
from conformance.server.model import tokenize

KEY = "sk-test-reference"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT_MODEL = "mistral-small-3.2-24b-instruct-2506"
SERVER_DIR = Path(__file__).resolve().parent.parent / "conformance" / "server"

# Required fields and types of OpenAI's CreateChatCompletionResponse / ...StreamResponse (openapi.yaml).
TOKEN_LOGPROB = {
    "type": "object",
    "required": ["token", "logprob", "bytes", "top_logprobs"],
    "properties": {
        "token": {"type": "string"},
        "logprob": {"type": "number"},
        "bytes": {"type": ["array", "null"], "items": {"type": "integer"}},
        "top_logprobs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["token", "logprob", "bytes"],
                "properties": {
                    "token": {"type": "string"},
                    "logprob": {"type": "number"},
                    "bytes": {"type": ["array", "null"], "items": {"type": "integer"}},
                },
            },
        },
    },
}
LOGPROBS = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["content", "refusal"],
            "properties": {
                "content": {"type": ["array", "null"], "items": TOKEN_LOGPROB},
                "refusal": {"type": ["array", "null"], "items": TOKEN_LOGPROB},
            },
        },
    ]
}
FINISH = ["stop", "length", "tool_calls", "content_filter", "function_call"]
USAGE = {
    "type": "object",
    "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
}
CHAT_COMPLETION = {
    "type": "object",
    "required": ["id", "choices", "created", "model", "object"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "system_fingerprint": {"type": "string"},
        "usage": USAGE,
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["finish_reason", "index", "message", "logprobs"],
                "properties": {
                    "finish_reason": {"enum": FINISH},
                    "index": {"type": "integer"},
                    "logprobs": LOGPROBS,
                    "message": {
                        "type": "object",
                        "required": ["role", "content", "refusal"],
                        "properties": {
                            "role": {"const": "assistant"},
                            "content": {"type": ["string", "null"]},
                            "refusal": {"type": ["string", "null"]},
                        },
                    },
                },
            },
        },
    },
}
CHAT_CHUNK = {
    "type": "object",
    "required": ["id", "choices", "created", "model", "object"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion.chunk"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "system_fingerprint": {"type": "string"},
        "usage": {"anyOf": [{"type": "null"}, USAGE]},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["delta", "finish_reason", "index"],
                "properties": {
                    "delta": {
                        "type": "object",
                        "properties": {
                            "content": {"type": ["string", "null"]},
                            "role": {"enum": ["developer", "system", "user", "assistant", "tool"]},
                        },
                    },
                    "finish_reason": {"enum": [*FINISH, None]},
                    "index": {"type": "integer"},
                    "logprobs": LOGPROBS,
                },
            },
        },
    },
}
ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY, "sk-second-key"]))


def chat(client: TestClient, content: str = "Hello there", **params):
    body = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": content}], **params}
    return client.post("/v1/chat/completions", headers=AUTH, json=body)


def post_raw(client: TestClient, body, headers=None):
    return client.post("/v1/chat/completions", headers={**AUTH, **(headers or {})}, content=body)


def assert_error(response, status: int, code: str, param: str | None = None, type: str = "invalid_request_error"):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    jsonschema.validate(body, ERROR_ENVELOPE)
    error = body["error"]
    assert (error["code"], error["type"], error["param"]) == (code, type, param), error
    if param is not None:
        assert param in error["message"]
    return error


def sse_events(response) -> list[str]:
    """The data of each SSE event, checking the ``data: ...\\n\\n`` framing."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.text
    assert text.endswith("\n\n")
    events = text.split("\n\n")[:-1]
    assert all(event.startswith("data: ") and "\n" not in event for event in events), events
    return [event[len("data: ") :] for event in events]


def stream(client: TestClient, content: str = "Hello there", **params) -> list[dict]:
    events = sse_events(chat(client, content, stream=True, **params))
    assert events[-1] == "[DONE]"
    assert "[DONE]" not in events[:-1]
    chunks = [json.loads(event) for event in events[:-1]]
    for chunk in chunks:
        jsonschema.validate(chunk, CHAT_CHUNK)
    assert len({chunk["id"] for chunk in chunks}) == 1
    return chunks


def streamed_text(chunks: list[dict], index: int = 0) -> str:
    return "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"] and c["choices"][0]["index"] == index
    )


# --- auth, routing, envelope --------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": f"Basic {KEY}"}, {"Authorization": "Bearer"}, {"Authorization": KEY}],
)
def test_missing_or_malformed_authorization_is_missing_api_key(client, headers):
    assert_error(client.get("/v1/models", headers=headers), 401, "missing_api_key", type="authentication_error")


def test_wrong_key_is_invalid_api_key(client):
    response = client.get("/v1/models", headers={"Authorization": "Bearer sk-wrong"})
    assert_error(response, 401, "invalid_api_key", type="authentication_error")


def test_any_configured_key_works_and_scheme_is_case_insensitive(client):
    assert client.get("/v1/models", headers={"Authorization": "Bearer sk-second-key"}).status_code == 200
    assert client.get("/v1/models", headers={"Authorization": f"bearer {KEY}"}).status_code == 200


def test_auth_is_checked_before_routing_and_parsing(client):
    assert_error(client.get("/v1/nope"), 401, "missing_api_key", type="authentication_error")
    response = client.post("/v1/chat/completions", content=b"{not json")
    assert_error(response, 401, "missing_api_key", type="authentication_error")


@pytest.mark.parametrize("path", ["/v1/nope", "/", "/v2/models", "/v1", "/v1/chat/completions/extra"])
def test_unknown_route_is_404_envelope(client, path):
    assert_error(client.get(path, headers=AUTH), 404, "unknown_route")


def test_wrong_method_is_405_envelope(client):
    assert_error(client.get("/v1/chat/completions", headers=AUTH), 405, "method_not_allowed")
    assert_error(client.delete("/v1/models", headers=AUTH), 405, "method_not_allowed")


def test_create_app_rejects_bad_keys():
    with pytest.raises(ValueError):
        create_app("sk-a-string-not-a-list")
    with pytest.raises(ValueError):
        create_app([""])


# --- models -----------------------------------------------------------------------------------


def test_list_models(client):
    response = client.get("/v1/models", headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == [info.id for info in catalog.MODELS]
    assert {"mistral-small-3.2-24b-instruct-2506", "whisper-large-v3", "qwen3-embedding-8b"} <= set(ids)
    for model in body["data"]:
        assert set(model) == {"id", "object", "created", "owned_by"}
        assert model["object"] == "model" and model["owned_by"] == "scaleway"
        assert isinstance(model["created"], int) and not isinstance(model["created"], bool)


def test_retrieve_model(client):
    response = client.get("/v1/models/gemma-3-27b-it", headers=AUTH)
    assert response.status_code == 200
    listed = {m["id"]: m for m in client.get("/v1/models", headers=AUTH).json()["data"]}
    assert response.json() == listed["gemma-3-27b-it"]


def test_retrieve_unknown_model_is_404(client):
    error = assert_error(client.get("/v1/models/gpt-4o", headers=AUTH), 404, "model_not_found", "model")
    assert "gpt-4o" in error["message"]


def test_catalog_capabilities():
    assert catalog.get("whisper-large-v3").capabilities == {"transcription"}
    assert catalog.get("qwen3-embedding-8b").dimensions == (32, 4096)
    assert catalog.get("bge-multilingual-gemma2").dimensions == (3584, 3584)
    assert catalog.get("gpt-oss-120b").supports("responses")
    chat_models = [info.id for info in catalog.MODELS if info.supports("chat")]
    assert len(chat_models) == 7


# --- the rule-based model -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Hello, world!", "  leading and trailing  ", "a\nb\tc", "x=1; y=(2)", "", "été ü"])
def test_tokens_concatenate_to_text_minus_trailing_whitespace(text):
    assert "".join(tokenize(text)) == text.rstrip()


def test_tokenizer_splits_words_and_punctuation():
    assert tokenize("Hi, you there!") == ["Hi", ",", " you", " there", "!"]


# --- chat completions -----------------------------------------------------------------------------


def test_basic_chat_completion(client):
    response = chat(client, "Hello,   how are\nyou?")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    jsonschema.validate(body, CHAT_COMPLETION)
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == CHAT_MODEL
    [choice] = body["choices"]
    assert choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": "You said: Hello, how are you?", "refusal": None}
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    # prompt: 6 tokens + 4 per message + 2; completion: You| said|:| Hello|,| how| are| you|?
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}


def test_prompt_tokens_count_every_message(client):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "One"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": None},
        {"role": "developer", "content": "Dev note"},
    ]
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": CHAT_MODEL, "messages": messages})
    assert response.status_code == 200, response.text
    body = response.json()
    # (3+4) + (2+4) + (0+4) + (2+4) + 2; the last *user* message (text parts joined by "\n") is echoed
    assert body["usage"]["prompt_tokens"] == 25
    assert body["choices"][0]["message"]["content"] == "You said: One two"


def test_reply_with_exactly(client):
    response = chat(client, "Please follow this.\nreply WITH exactly:   The answer is 42.  \nThanks")
    assert response.json()["choices"][0]["message"]["content"] == "The answer is 42."


def test_echo_is_cut_to_fifty_words(client):
    words = [f"w{i}" for i in range(80)]
    content = chat(client, " ".join(words)).json()["choices"][0]["message"]["content"]
    assert content == "You said: " + " ".join(words[:50])


def test_count_with_max_tokens_is_truncated_with_length(client):
    full = chat(client, "Count from 1 to 10").json()
    assert full["choices"][0]["message"]["content"] == "1 2 3 4 5 6 7 8 9 10"
    assert full["choices"][0]["finish_reason"] == "stop"
    assert full["usage"]["completion_tokens"] == 10

    body = chat(client, "count from 1 to 10", max_tokens=4).json()
    assert body["choices"][0]["message"]["content"] == "1 2 3 4"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 4
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 4


def test_max_tokens_equal_to_length_is_not_truncated(client):
    body = chat(client, "Count from 1 to 10", max_completion_tokens=10).json()
    assert body["choices"][0]["finish_reason"] == "stop"


def test_smaller_of_max_tokens_and_max_completion_tokens_wins(client):
    body = chat(client, "Count from 1 to 10", max_tokens=7, max_completion_tokens=3).json()
    assert body["choices"][0]["message"]["content"] == "1 2 3"
    body = chat(client, "Count from 1 to 10", max_tokens=2, max_completion_tokens=3).json()
    assert body["choices"][0]["message"]["content"] == "1 2"


def test_count_is_capped_at_1000_numbers(client):
    content = chat(client, "Count from 5 to 999999").json()["choices"][0]["message"]["content"]
    numbers = content.split(" ")
    assert len(numbers) == 1000 and numbers[0] == "5" and numbers[-1] == "1004"


def test_stop_cuts_before_earliest_stop_string(client):
    body = chat(client, "Count from 1 to 10", stop=["7", " 4"]).json()
    assert body["choices"][0]["message"]["content"] == "1 2 3"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 3
    single = chat(client, "Count from 1 to 10", stop="5").json()
    assert single["choices"][0]["message"]["content"] == "1 2 3 4"


def test_stop_applies_before_max_tokens(client):
    body = chat(client, "Count from 1 to 10", stop=" 6", max_tokens=3).json()
    assert body["choices"][0]["message"]["content"] == "1 2 3"
    assert body["choices"][0]["finish_reason"] == "length"
    body = chat(client, "Count from 1 to 10", stop=" 3", max_tokens=3).json()
    assert body["choices"][0]["message"]["content"] == "1 2"
    assert body["choices"][0]["finish_reason"] == "stop"


def test_n_returns_identical_choices(client):
    body = chat(client, "Count from 1 to 3", n=3).json()
    jsonschema.validate(body, CHAT_COMPLETION)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in body["choices"]} == {"1 2 3"}
    assert body["usage"]["completion_tokens"] == 9  # summed over choices


def test_sampling_parameters_do_not_change_output(client):
    plain = chat(client, "Count from 1 to 5").json()["choices"][0]["message"]
    tuned = chat(
        client, "Count from 1 to 5", temperature=2, top_p=0.1, seed=7, presence_penalty=-2, frequency_penalty=2.0,
        reasoning_effort="low",
    ).json()["choices"][0]["message"]
    assert plain == tuned


def test_logprobs(client):
    body = chat(client, "Reply with exactly: Hello, world!", logprobs=True, top_logprobs=3).json()
    jsonschema.validate(body, CHAT_COMPLETION)
    choice = body["choices"][0]
    logprobs = choice["logprobs"]
    assert logprobs["refusal"] is None
    entries = logprobs["content"]
    assert "".join(e["token"] for e in entries) == choice["message"]["content"] == "Hello, world!"
    assert len(entries) == body["usage"]["completion_tokens"]
    for entry in entries:
        assert entry["logprob"] <= 0
        assert entry["bytes"] == list(entry["token"].encode())
        top = entry["top_logprobs"]
        assert len(top) == 3
        assert top[0] == {"token": entry["token"], "logprob": entry["logprob"], "bytes": entry["bytes"]}
        assert len({t["token"] for t in top}) == 3
        assert all(t["logprob"] < entry["logprob"] for t in top[1:])
        assert all(t["bytes"] == list(t["token"].encode()) for t in top)
    again = chat(client, "Reply with exactly: Hello, world!", logprobs=True, top_logprobs=3).json()
    assert again["choices"][0]["logprobs"] == logprobs  # deterministic


def test_logprobs_without_top_logprobs(client):
    body = chat(client, "Count from 1 to 3", logprobs=True).json()
    assert [e["top_logprobs"] for e in body["choices"][0]["logprobs"]["content"]] == [[], [], []]
    top20 = chat(client, "Count from 1 to 3", logprobs=True, top_logprobs=20).json()
    assert all(len(e["top_logprobs"]) == 20 for e in top20["choices"][0]["logprobs"]["content"])


def test_logprobs_false_gives_null(client):
    assert chat(client, logprobs=False).json()["choices"][0]["logprobs"] is None


# --- streaming ----------------------------------------------------------------------------------


def test_stream_chunk_sequence(client):
    chunks = stream(client, "Count from 1 to 4")
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "1"}, None),
        ({"content": " 2"}, None),
        ({"content": " 3"}, None),
        ({"content": " 4"}, None),
        ({}, "stop"),
    ]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == CHAT_MODEL for c in chunks)
    assert all("usage" not in c for c in chunks)
    assert all(c["choices"][0]["logprobs"] is None for c in chunks)


def test_stream_include_usage(client):
    chunks = stream(client, "Count from 1 to 4", max_tokens=2, stream_options={"include_usage": True})
    *content_chunks, last = chunks
    assert all(c["usage"] is None and len(c["choices"]) == 1 for c in content_chunks)
    assert last["choices"] == []
    assert content_chunks[-1]["choices"][0]["finish_reason"] == "length"
    plain = chat(client, "Count from 1 to 4", max_tokens=2).json()
    assert last["usage"] == plain["usage"] == {"prompt_tokens": 11, "completion_tokens": 2, "total_tokens": 13}


def test_stream_include_usage_false_has_no_usage(client):
    chunks = stream(client, stream_options={"include_usage": False})
    assert all("usage" not in c for c in chunks) and all(c["choices"] for c in chunks)


@pytest.mark.parametrize(
    "content, params",
    [
        ("Hello,   there!  How are you?", {}),
        ("Count from 3 to 12", {"stop": " 9"}),
        ("Reply with exactly: naïve café — ok", {"max_tokens": 4}),
        ("Reply with exactly:", {}),
    ],
)
def test_streamed_text_equals_non_streamed(client, content, params):
    plain = chat(client, content, **params).json()
    chunks = stream(client, content, stream_options={"include_usage": True}, **params)
    assert streamed_text(chunks) == plain["choices"][0]["message"]["content"]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == [plain["choices"][0]["finish_reason"]]
    assert chunks[-1]["usage"] == plain["usage"]


def test_stream_n_interleaves_choices(client):
    chunks = stream(client, "Count from 1 to 2", n=2)
    order = [(c["choices"][0]["index"], c["choices"][0]["delta"].get("content"), c["choices"][0]["finish_reason"]) for c in chunks]
    assert order == [(0, "", None), (1, "", None), (0, "1", None), (1, "1", None), (0, " 2", None), (1, " 2", None), (0, None, "stop"), (1, None, "stop")]


def test_stream_logprobs(client):
    plain = chat(client, "Count from 1 to 3", logprobs=True, top_logprobs=2).json()
    chunks = stream(client, "Count from 1 to 3", logprobs=True, top_logprobs=2)
    streamed = [e for c in chunks if c["choices"][0]["logprobs"] for e in c["choices"][0]["logprobs"]["content"]]
    assert streamed == plain["choices"][0]["logprobs"]["content"]


# --- validation -----------------------------------------------------------------------------------


UNSUPPORTED = [
    ("audio", {"voice": "alloy", "format": "mp3"}),
    ("metadata", {"k": "v"}),
    ("modalities", ["text"]),
    ("prediction", {"type": "content", "content": "x"}),
    ("prompt_cache_key", "abc"),
    ("user", "user-1"),
    ("safety_identifier", "id"),
    ("service_tier", "auto"),
    ("store", False),
    ("system_fingerprint", "fp"),
    ("web_search_options", {}),
]


@pytest.mark.parametrize("name, value", UNSUPPORTED, ids=[name for name, _ in UNSUPPORTED])
def test_unsupported_parameter_is_rejected(client, name, value):
    error = assert_error(chat(client, **{name: value}), 400, "unsupported_parameter", name)
    assert error["message"] == f"Unsupported parameter: '{name}' is not supported by this API."


def test_nested_unsupported_include_obfuscation(client):
    response = chat(client, stream=True, stream_options={"include_usage": True, "include_obfuscation": False})
    assert_error(response, 400, "unsupported_parameter", "stream_options.include_obfuscation")


def test_null_unsupported_parameter_counts_as_absent(client):
    assert chat(client, user=None, metadata=None, stream_options=None).status_code == 200


def test_unknown_parameters_are_ignored(client):
    assert chat(client, some_vendor_extension={"x": 1}, logit_bias={"50256": -100}).status_code == 200


WRONG_TYPES = [
    ("temperature", "0.5"),
    ("temperature", True),
    ("top_p", [1]),
    ("max_tokens", 1.5),
    ("max_tokens", 2.5),
    ("max_tokens", "10"),
    ("max_completion_tokens", False),
    ("stop", 5),
    ("stop", ["ok", 3]),
    ("n", "2"),
    ("seed", 1.2),
    ("presence_penalty", "high"),
    ("frequency_penalty", {}),
    ("logprobs", "true"),
    ("logprobs", 1),
    ("stream", "yes"),
    ("stream", 0),
    ("reasoning_effort", 3),
    ("model", 42),
    ("messages", "hi"),
    ("messages", {"role": "user"}),
]


@pytest.mark.parametrize("name, value", WRONG_TYPES, ids=[f"{n}={v!r}" for n, v in WRONG_TYPES])
def test_wrong_type_is_400_invalid_type(client, name, value):
    error = assert_error(chat(client, **{name: value}), 400, "invalid_type", name)
    assert error["message"].startswith(f"Invalid type for '{name}'")


def test_integral_number_is_an_integer(client):
    """JSON Schema counts 2.0 as an integer (vLLM's pydantic accepts it too)."""
    response = chat(client, max_tokens=2.0, n=1.0)
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["completion_tokens"] <= 2


def test_wrong_type_message_names_expected_and_actual_type(client):
    error = assert_error(chat(client, temperature="hot"), 400, "invalid_type", "temperature")
    assert error["message"] == "Invalid type for 'temperature': expected a number, got string."


@pytest.mark.parametrize(
    "params, param",
    [
        ({"stream": True, "stream_options": "usage"}, "stream_options"),
        ({"stream": True, "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
        ({"logprobs": True, "top_logprobs": 2.5}, "top_logprobs"),
    ],
)
def test_nested_wrong_type(client, params, param):
    assert_error(chat(client, **params), 400, "invalid_type", param)


OUT_OF_RANGE = [
    ("temperature", -0.1),
    ("temperature", 2.01),
    ("top_p", 1.5),
    ("top_p", -1),
    ("max_tokens", 0),
    ("max_completion_tokens", -5),
    ("n", 0),
    ("n", 9),
    ("presence_penalty", -2.5),
    ("frequency_penalty", 3),
    ("stop", ["a", "b", "c", "d", "e"]),
    ("stop", []),
    ("seed", 2**63),
    ("messages", []),
]


@pytest.mark.parametrize("name, value", OUT_OF_RANGE, ids=[f"{n}={v!r}" for n, v in OUT_OF_RANGE])
def test_out_of_range_is_400_invalid_value(client, name, value):
    assert_error(chat(client, **{name: value}), 400, "invalid_value", name)


def test_top_logprobs_range_and_dependency(client):
    assert_error(chat(client, logprobs=True, top_logprobs=21), 400, "invalid_value", "top_logprobs")
    assert_error(chat(client, top_logprobs=2), 400, "invalid_value", "top_logprobs")
    assert_error(chat(client, logprobs=False, top_logprobs=2), 400, "invalid_value", "top_logprobs")
    assert chat(client, logprobs=True, top_logprobs=0).status_code == 200


def test_stream_options_requires_stream(client):
    assert_error(chat(client, stream_options={"include_usage": True}), 400, "invalid_value", "stream_options")
    assert_error(chat(client, stream=False, stream_options={}), 400, "invalid_value", "stream_options")


@pytest.mark.parametrize(
    "messages, code, param",
    [
        ([{"content": "hi"}], "missing_required_parameter", "messages[0].role"),
        ([{"role": "robot", "content": "hi"}], "invalid_value", "messages[0].role"),
        ([{"role": 1, "content": "hi"}], "invalid_type", "messages[0].role"),
        (["hi"], "invalid_type", "messages[0]"),
        ([{"role": "system", "content": "x"}, {"role": "user"}], "missing_required_parameter", "messages[1].content"),
        ([{"role": "user", "content": None}], "missing_required_parameter", "messages[0].content"),
        ([{"role": "user", "content": 5}], "invalid_type", "messages[0].content"),
        ([{"role": "user", "content": []}], "invalid_value", "messages[0].content"),
        ([{"role": "user", "content": ["hi"]}], "invalid_type", "messages[0].content[0]"),
        ([{"role": "user", "content": [{"text": "hi"}]}], "missing_required_parameter", "messages[0].content[0].type"),
        ([{"role": "user", "content": [{"type": "video", "text": "hi"}]}], "invalid_value", "messages[0].content[0].type"),
        ([{"role": "user", "content": [{"type": "text"}]}], "missing_required_parameter", "messages[0].content[0].text"),
        ([{"role": "user", "content": [{"type": "text", "text": 1}]}], "invalid_type", "messages[0].content[0].text"),
        ([{"role": "user", "content": "hi", "name": 3}], "invalid_type", "messages[0].name"),
        ([{"role": "tool", "content": "42"}], "missing_required_parameter", "messages[0].tool_call_id"),
    ],
)
def test_invalid_messages(client, messages, code, param):
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": CHAT_MODEL, "messages": messages})
    assert_error(response, 400, code, param)


def test_valid_message_roles(client):
    messages = [
        {"role": "developer", "content": "d"},
        {"role": "system", "content": [{"type": "text", "text": "s"}]},
        {"role": "user", "content": "u", "name": "alice"},
        {"role": "assistant", "content": "a"},
        {"role": "tool", "content": "t", "tool_call_id": "call_1"},
        {"role": "assistant"},
    ]
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": CHAT_MODEL, "messages": messages})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("missing", ["model", "messages"])
def test_missing_required_parameter(client, missing):
    body = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    del body[missing]
    response = client.post("/v1/chat/completions", headers=AUTH, json=body)
    assert_error(response, 400, "missing_required_parameter", missing)
    body[missing] = None
    response = client.post("/v1/chat/completions", headers=AUTH, json=body)
    assert_error(response, 400, "missing_required_parameter", missing)


def test_unknown_model_is_404(client):
    response = client.post(
        "/v1/chat/completions", headers=AUTH, json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    )
    error = assert_error(response, 404, "model_not_found", "model")
    assert "gpt-4o" in error["message"]


@pytest.mark.parametrize("model", ["whisper-large-v3", "qwen3-embedding-8b", "bge-multilingual-gemma2"])
def test_model_without_chat_is_model_not_supported(client, model):
    response = client.post(
        "/v1/chat/completions", headers=AUTH, json={"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )
    error = assert_error(response, 400, "model_not_supported", "model")
    assert model in error["message"]


@pytest.mark.parametrize("model", [info.id for info in catalog.MODELS if info.supports("chat")])
def test_every_chat_model_answers(client, model):
    response = client.post(
        "/v1/chat/completions", headers=AUTH, json={"model": model, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 200
    assert response.json()["model"] == model


def test_validation_order(client):
    # unsupported before required
    response = client.post("/v1/chat/completions", headers=AUTH, json={"user": "u"})
    assert_error(response, 400, "unsupported_parameter", "user")
    # required before types
    response = client.post("/v1/chat/completions", headers=AUTH, json={"model": CHAT_MODEL, "temperature": "x"})
    assert_error(response, 400, "missing_required_parameter", "messages")
    # types before model lookup, model lookup before capability
    body = {"model": "nope", "messages": [{"role": "user", "content": "hi"}], "n": "2"}
    assert_error(client.post("/v1/chat/completions", headers=AUTH, json=body), 400, "invalid_type", "n")
    body = {"model": "whisper-large-v3", "messages": [{"role": "user", "content": "hi"}], "n": 99}
    assert_error(client.post("/v1/chat/completions", headers=AUTH, json=body), 400, "invalid_value", "n")


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"   ", b'{"model": "x",}', b"\xff\xfe\x00", b'{"temperature": NaN}', b"[" * 100000],
    ids=["garbage", "empty", "blank", "trailing-comma", "bad-utf8", "nan", "deep-nesting"],
)
def test_malformed_json_is_400_invalid_json(client, raw):
    assert_error(post_raw(client, raw, {"Content-Type": "application/json"}), 400, "invalid_json")


def test_non_json_content_type_is_invalid_json(client):
    body = json.dumps({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert_error(post_raw(client, body, {"Content-Type": "text/plain"}), 400, "invalid_json")
    assert_error(post_raw(client, "model=x", {"Content-Type": "application/x-www-form-urlencoded"}), 400, "invalid_json")
    assert post_raw(client, body, {"Content-Type": "application/json; charset=utf-8"}).status_code == 200


def test_missing_content_type_is_parsed_as_json(client):
    body = json.dumps({"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]})
    assert post_raw(client, body).status_code == 200


def test_unexpected_exception_is_500_envelope(client, monkeypatch):
    from conformance.server import chat as chat_module

    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(chat_module.model, "complete", boom)
    assert_error(chat(client), 500, "internal_error", type="server_error")


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"42", b"null", b"true"])
def test_body_not_an_object_is_400(client, raw):
    assert_error(post_raw(client, raw, {"Content-Type": "application/json"}), 400, "invalid_type")


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -1, 1e308, "", "x" * 10000, [], [None], {}, {"a": {"b": []}}, [[1]], -(2**70)],
)
@pytest.mark.parametrize(
    "name",
    ["model", "messages", "temperature", "top_p", "max_tokens", "stop", "n", "seed", "logprobs", "top_logprobs",
     "stream", "stream_options", "reasoning_effort", "presence_penalty"],
)
def test_no_value_makes_a_500(client, name, value):
    response = chat(client, **{name: value})
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code != 200:
        jsonschema.validate(response.json(), ERROR_ENVELOPE)


# --- isolation and real serving ------------------------------------------------------------------


def test_server_package_imports_only_stdlib_and_its_few_dependencies():
    allowed_third_party = {"starlette", "uvicorn", "jsonschema", "PIL", "pocketsphinx", "miniaudio", "boto3", "botocore", "yaml"}
    stdlib = set(sys.stdlib_module_names)
    for path in SERVER_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.name} needs a purpose docstring"
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0:
                continue  # relative: inside conformance.server
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in allowed_third_party or name == "__future__", f"{path.name} imports {name}"


def test_server_thread_serves_on_localhost_and_stops():
    with ServerThread(create_app([KEY])) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.base_url.endswith("/v1")
        with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=5) as http:
            assert http.get("/models").json()["object"] == "list"
            with http.stream(
                "POST", "/chat/completions",
                json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": "Count from 1 to 3"}], "stream": True},
            ) as response:
                lines = [line for line in response.iter_lines() if line]
            assert lines[-1] == "data: [DONE]"
            assert http.get("/models", headers={"Authorization": "Bearer nope"}).status_code == 401
        base_url = server.base_url
    assert not server._thread.is_alive()
    with pytest.raises(RuntimeError):
        server.base_url  # noqa: B018
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/models", headers=AUTH, timeout=2)


def test_server_thread_runs_wrapped_apps():
    inner = create_app([KEY])

    async def wrapped(scope, receive, send):
        async def tagging_send(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"x-wrapped", b"1")]}
            await send(message)

        await inner(scope, receive, tagging_send)

    with ServerThread(wrapped) as server:
        response = httpx.get(f"{server.base_url}/models", headers=AUTH, timeout=5)
        assert response.headers["x-wrapped"] == "1"


def test_server_thread_reports_bind_failure():
    with ServerThread(create_app([KEY])) as first:
        with pytest.raises(RuntimeError):
            ServerThread(create_app([KEY]), port=first.port).start()


def test_module_entry_point_serves():
    command = [sys.executable, "-m", "conformance.server", "--port", "0", "--api-key", KEY]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=SERVER_DIR.parent.parent) as process:
        try:
            line = process.stdout.readline().strip()
            assert line.startswith("Serving http://127.0.0.1:"), line
            base_url = line.removeprefix("Serving ")
            assert httpx.get(f"{base_url}/models", headers=AUTH, timeout=5).status_code == 200
        finally:
            process.terminate()
            process.wait(timeout=10)
