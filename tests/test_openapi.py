"""The cut-down OpenAPI document (specs/openapi/openapi.yaml) and conformance.openapi."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conformance import openapi

KEPT = {
    ("/chat/completions", "post"),
    ("/responses", "post"),
    ("/embeddings", "post"),
    ("/audio/transcriptions", "post"),
    ("/batches", "get"),
    ("/batches", "post"),
    ("/batches/{batch_id}", "get"),
    ("/batches/{batch_id}/cancel", "post"),
    ("/models", "get"),
    ("/models/{model}", "get"),
    ("/rerank", "post"),
}
REPO_ROOT = Path(__file__).resolve().parents[1]
CUT_SCRIPT = REPO_ROOT / "specs" / "tools" / "cut_openapi.py"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _walk(node, pointer="#"):
    """Yield (pointer, dict) for every mapping in the document."""
    if isinstance(node, dict):
        yield pointer, node
        for key, value in node.items():
            yield from _walk(value, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{pointer}/{i}")


def _resolve(doc, ref):
    node = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node):
    return [m["$ref"] for _, m in _walk(node) if isinstance(m.get("$ref"), str)]


def chat_completion(**message):
    return {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help?", "refusal": None, "annotations": []}
                | message,
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 19,
            "completion_tokens": 10,
            "total_tokens": 29,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
    }


def chunk(delta, finish_reason=None, usage=None, choices=True):
    body = {
        "id": "chatcmpl-123",
        "object": "chat.completion.chunk",
        "created": 1694268190,
        "model": "mistral-small-3.2-24b-instruct-2506",
        "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}] if choices else [],
    }
    if usage is not None:
        body["usage"] = usage
    return body


RERANK = {
    "id": "rerank-a89e",
    "model": "qwen3-embedding-8b",
    "usage": {"total_tokens": 99},
    "results": [
        {"index": 1, "document": {"text": "Oceans can be sorted by size", "multi_modal": None}, "relevance_score": 0.6456},
        {"index": 2, "document": None, "relevance_score": 0.6264},
        {"index": 0, "relevance_score": 0.606},
    ],
}


# --- the document ----------------------------------------------------------------------------


def test_document_loads():
    doc = openapi.load_document()
    assert doc["openapi"].startswith("3.1")
    assert "derived" in doc["info"]["title"]
    assert doc["servers"] == [{"url": "https://api.scaleway.ai/v1", "description": "Scaleway Generative APIs (fr-par)"}]
    assert "ApiKeyAuth" in doc["components"]["securitySchemes"]
    assert openapi.load_document() is doc  # cached


def test_generated_file_is_up_to_date():
    spec = importlib.util.spec_from_file_location("cut_openapi", CUT_SCRIPT)
    cut_openapi = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cut_openapi)
    if not cut_openapi.DEFAULT_UPSTREAM.is_file():
        pytest.skip(f"upstream spec not found at {cut_openapi.DEFAULT_UPSTREAM}")
    expected = cut_openapi.dump(cut_openapi.cut(cut_openapi.load_upstream(cut_openapi.DEFAULT_UPSTREAM)))
    assert (REPO_ROOT / "specs" / "openapi" / "openapi.yaml").read_text(encoding="utf-8") == expected


def test_every_ref_resolves():
    doc = openapi.load_document()
    refs = _refs(doc)
    assert len(refs) > 500
    for ref in refs:
        assert ref.startswith("#/"), ref
        assert isinstance(_resolve(doc, ref), dict), ref


def test_only_the_kept_operations():
    paths = openapi.load_document()["paths"]
    assert {(p, m) for p, item in paths.items() for m in item if m in HTTP_METHODS} == KEPT


def test_only_referenced_components():
    doc = openapi.load_document()
    seen, stack = set(), _refs(doc["paths"])
    while stack:
        ref = stack.pop()
        if ref not in seen:
            seen.add(ref)
            stack.extend(_refs(_resolve(doc, ref)))
    defined = {
        f"#/components/{section}/{name}"
        for section, members in doc["components"].items()
        if section != "securitySchemes"
        for name in members
    }
    assert defined == seen


def test_schemas_are_plain_draft_2020_12():
    doc = openapi.load_document()
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    leftovers = [
        (pointer, key)
        for pointer, node in _walk(doc)
        if "/x-" not in pointer
        for key in ("nullable", "$recursiveRef", "$recursiveAnchor")
        if key in node and not isinstance(node[key], dict)
    ]
    assert leftovers == []


def test_component_names():
    names = openapi.component_names()
    for name in (
        "CreateChatCompletionRequest",
        "CreateChatCompletionResponse",
        "CreateChatCompletionStreamResponse",
        "CreateResponse",
        "Response",
        "ResponseStreamEvent",
        "CreateEmbeddingResponse",
        "CreateTranscriptionResponseJson",
        "Batch",
        "ListBatchesResponse",
        "ListModelsResponse",
        "Model",
        "Error",
        "ErrorResponse",
        "RerankRequest",
        "RerankResponse",
        "RerankResult",
        "RerankDocument",
    ):
        assert name in names
    assert "CreateImageRequest" not in names


def test_request_and_response_schemas():
    ref = "#/components/schemas/"
    assert openapi.request_schema("/chat/completions", "post") == {"$ref": ref + "CreateChatCompletionRequest"}
    assert openapi.request_schema("/audio/transcriptions", "POST") == {"$ref": ref + "CreateTranscriptionRequest"}
    assert openapi.request_schema("/rerank", "post") == {"$ref": ref + "RerankRequest"}
    assert openapi.request_schema("/models", "get") is None
    assert openapi.request_schema("/images/generations", "post") is None
    assert openapi.response_schema("/chat/completions", "post") == {"$ref": ref + "CreateChatCompletionResponse"}
    assert openapi.response_schema("/chat/completions", "post", media_type="text/event-stream") == {
        "$ref": ref + "CreateChatCompletionStreamResponse"
    }
    assert openapi.response_schema("/responses", "post", media_type="text/event-stream") == {
        "$ref": ref + "ResponseStreamEvent"
    }
    assert openapi.response_schema("/models/{model}", "get") == {"$ref": ref + "Model"}
    assert openapi.response_schema("/batches", "get") == {"$ref": ref + "ListBatchesResponse"}
    assert openapi.response_schema("/rerank", "post") == {"$ref": ref + "RerankResponse"}
    # 429 is a $ref to components/responses, followed.
    assert openapi.response_schema("/chat/completions", "post", "429") == {"$ref": ref + "ErrorResponse"}
    assert openapi.response_schema("/chat/completions", "post", "404") is None
    assert openapi.response_schema("/models", "get", media_type="text/event-stream") is None
    transcription = openapi.response_schema("/audio/transcriptions", "post")
    assert {"$ref": ref + "CreateTranscriptionResponseJson"} in transcription["oneOf"]


# --- validation ------------------------------------------------------------------------------


def test_chat_completion_validates():
    assert openapi.schema_errors("CreateChatCompletionResponse", chat_completion()) == []
    tool_call = {
        "content": None,
        "tool_calls": [
            {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    }
    body = chat_completion(**tool_call)
    body["choices"][0]["finish_reason"] = "tool_calls"
    assert openapi.schema_errors("CreateChatCompletionResponse", body) == []


def test_chat_completion_wrong_role_names_the_path():
    errors = openapi.schema_errors("CreateChatCompletionResponse", chat_completion(role="bot"))
    assert errors[0] == "$.choices[0].message.role: 'bot' is not one of ['assistant']"


def test_errors_are_ordered_capped_and_prefixed():
    body = chat_completion()
    del body["id"]
    body["choices"] = [{"index": str(i), "message": {}, "finish_reason": "nope"} for i in range(10)]
    errors = openapi.schema_errors("CreateChatCompletionResponse", body)
    assert 0 < len(errors) <= openapi.MAX_ERRORS
    assert errors[0] == "$: 'id' is a required property"  # shallowest first
    assert all(e.startswith("$") for e in errors)
    assert len(set(errors)) == len(errors)


def test_unknown_component_is_a_key_error():
    with pytest.raises(KeyError):
        openapi.schema_errors("NoSuchSchema", {})


def test_vllm_style_nulls_are_reported():
    """Upstream types these fields without null; vLLM-based servers (e.g. Scaleway) send null."""
    body = chat_completion(function_call=None, annotations=None, audio=None, tool_calls=[])
    body["system_fingerprint"] = None
    body["usage"]["prompt_tokens_details"] = None
    errors = openapi.schema_errors("CreateChatCompletionResponse", body)
    assert sorted(errors) == [
        "$.choices[0].message.annotations: None is not of type 'array'",
        "$.choices[0].message.function_call: None is not of type 'object'",
        "$.system_fingerprint: None is not of type 'string'",
        "$.usage.prompt_tokens_details: None is not of type 'object'",
    ]


def test_stream_chunks_validate():
    usage = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    for body in (
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        chunk({}, finish_reason="stop", usage=None),
        chunk({}, finish_reason="stop") | {"usage": None},
        chunk({}, usage=usage, choices=False),
    ):
        assert openapi.schema_errors("CreateChatCompletionStreamResponse", body) == [], body
    bad = chunk({"content": "x"}, finish_reason="done")
    assert openapi.schema_errors("CreateChatCompletionStreamResponse", bad)[0].startswith(
        "$.choices[0].finish_reason: 'done' is not one of"
    )


def test_models_validate():
    model = {"id": "mistral-small-3.2-24b-instruct-2506", "object": "model", "created": 1686935002, "owned_by": "scaleway"}
    assert openapi.schema_errors("Model", model) == []
    assert openapi.schema_errors("ListModelsResponse", {"object": "list", "data": [model, model]}) == []
    assert openapi.schema_errors("Model", {k: v for k, v in model.items() if k != "owned_by"}) == [
        "$: 'owned_by' is a required property"
    ]
    assert openapi.schema_errors("ListModelsResponse", {"data": []}) == ["$: 'object' is a required property"]


def test_rerank_validates():
    assert openapi.schema_errors("RerankResponse", RERANK) == []
    assert openapi.schema_errors("RerankResponse", {"results": []}) == []
    broken = copy.deepcopy(RERANK)
    del broken["results"][0]["relevance_score"]
    assert openapi.schema_errors("RerankResponse", broken) == ["$.results[0]: 'relevance_score' is a required property"]
    request = {"model": "qwen3-embedding-8b", "query": "q", "documents": ["a", {"text": "b"}], "top_n": 1}
    assert openapi.schema_errors("RerankRequest", request) == []
    assert openapi.schema_errors("RerankRequest", request | {"documents": []})
    assert openapi.schema_errors("RerankRequest", request | {"top_n": 0})


def test_error_shapes():
    error = {"message": "Invalid model", "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    assert openapi.schema_errors("Error", error) == []
    assert openapi.schema_errors("ErrorResponse", {"error": error}) == []
    assert openapi.schema_errors("ErrorResponse", {"error": error | {"param": None, "code": None}}) == []
    # Upstream types `code` as string|null: a numeric HTTP status there is rejected.
    assert openapi.schema_errors("ErrorResponse", {"error": error | {"code": 400}})[0].startswith("$.error.code: 400")
    # The flat legacy vLLM shape is not an ErrorResponse.
    flat = {"object": "error", "message": "bad", "type": "BadRequestError", "param": None, "code": 400}
    assert openapi.schema_errors("ErrorResponse", flat) == ["$: 'error' is a required property"]


def test_other_endpoints_validate():
    embeddings = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
        "model": "bge-multilingual-gemma2",
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    assert openapi.schema_errors("CreateEmbeddingResponse", embeddings) == []
    assert openapi.schema_errors("CreateTranscriptionResponseJson", {"text": "Bonjour"}) == []
    batch = {
        "id": "batch_1",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "https://bucket.s3.fr-par.scw.cloud/input.jsonl",
        "completion_window": "24h",
        "status": "validating",
        "created_at": 1711471533,
    }
    assert openapi.schema_errors("Batch", batch) == []
    assert openapi.schema_errors("ListBatchesResponse", {"object": "list", "data": [batch], "has_more": False}) == []


def test_responses_api_validates():
    message = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "Hi", "annotations": [], "logprobs": []}],
    }
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1741476542,
        "status": "completed",
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "model": "gpt-oss-120b",
        "output": [{"type": "reasoning", "id": "rs_1", "summary": []}, message],
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "metadata": {},
        "usage": {
            "input_tokens": 36,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 87,
            "output_tokens_details": {"reasoning_tokens": 12},
            "total_tokens": 123,
        },
    }
    assert openapi.schema_errors("Response", response) == []
    delta = {
        "type": "response.output_text.delta",
        "item_id": "msg_1",
        "output_index": 1,
        "content_index": 0,
        "delta": "Hi",
        "sequence_number": 4,
        "logprobs": [],
    }
    completed = {"type": "response.completed", "response": response, "sequence_number": 9}
    for event in (delta, completed):
        assert openapi.schema_errors("ResponseStreamEvent", event) == []
    # Errors inside the event union point at the branch chosen by the event's `type`.
    del delta["logprobs"]
    assert openapi.schema_errors("ResponseStreamEvent", delta) == ["$: 'logprobs' is a required property"]


def test_documented_vllm_nulls_pass_when_the_profile_allows_optional_nulls():
    """Scaleway's documented chat body validates with optional_nulls; a wrong role still does not."""
    from conformance.openapi import schema_errors

    body = {
        "id": "chatcmpl-7a38", "object": "chat.completion", "created": 1771335694, "model": "voxtral-small-24b-2507",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bonjour", "refusal": None, "annotations": None,
                     "audio": None, "function_call": None, "tool_calls": [], "reasoning_content": None},
                     "logprobs": None, "finish_reason": "stop", "stop_reason": None}],
        "service_tier": None, "system_fingerprint": None,
        "usage": {"prompt_tokens": 19, "total_tokens": 25, "completion_tokens": 6, "prompt_tokens_details": None},
    }
    assert schema_errors("CreateChatCompletionResponse", body)
    assert schema_errors("CreateChatCompletionResponse", body, optional_nulls=True) == []
    body["choices"][0]["message"]["role"] = "bot"
    assert schema_errors("CreateChatCompletionResponse", body, optional_nulls=True)


# -- the fast validator (jsonschema-rs) never passes what jsonschema would not -----------------------
_RECORDED_COMPONENTS = {
    ("POST", "/v1/chat/completions"): "CreateChatCompletionResponse",
    ("POST", "/v1/responses"): "Response",
    ("POST", "/v1/embeddings"): "CreateEmbeddingResponse",
    ("GET", "/v1/models"): "ListModelsResponse",
    ("POST", "/v1/audio/transcriptions"): "CreateTranscriptionResponseJson",
}


def _recorded_bodies():
    """(component, body) of the real peers' recorded JSON answers, and of errors under ErrorResponse."""
    import json

    for path in sorted((Path(__file__).parent / "recordings").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if "key" not in record or not isinstance(record.get("body"), str):
                continue
            method, where = json.loads(record["key"])[:2]
            try:
                body = json.loads(record["body"])
            except ValueError:
                continue  # a stream or plain text
            component = _RECORDED_COMPONENTS.get((method, where)) if record["status"] == 200 else "ErrorResponse"
            if component and isinstance(body, dict):
                yield component, body


def _mutations(body: dict):
    """The body, and each top-level member removed, nulled or of another type."""
    yield body
    for key in body:
        yield {k: v for k, v in body.items() if k != key}
        for other in (None, "x", 1.5, -1, True, [], {}, 2**70):
            yield {**body, key: other}


def test_the_fast_validator_never_passes_what_jsonschema_would_not():
    bodies = list(_recorded_bodies())
    assert len(bodies) > 150, "the recordings hold the peers' answers"
    compared, passed = 0, 0
    for component, body in bodies:
        for instance in _mutations(body):
            for variant in ((True, True), (True, False), (False, False)):
                if openapi._surely_valid(component, instance, *variant):
                    errors = list(openapi._validator(component, *variant).iter_errors(instance))
                    assert not errors, f"{component} {variant}: jsonschema-rs passed {str(instance)[:300]}; jsonschema: {errors[0].message}"
                    passed += 1
                compared += 1
    assert compared > 10_000 and 1000 < passed < compared, (compared, passed)  # both kinds met
