"""Golden files: how shapes are made and compared, that every golden case has its file, that the
files hold what the documentation shows (levels from the OpenAPI schema), and that a correct
server differing from the reference server where the spec allows is not failed."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest

from conformance.cases import static_cases
from conformance.checks import CheckContext, Failure
from conformance.checks import golden as golden_module
from conformance.checks.golden import ONE_OF, annotate, compare, differences, golden_dir, shape, shape_matches, split_key, strip_levels
from conformance.settings import resolve
from conformance.transport import ApiRequest, Exchange
from conformance.vocabulary import RECOMMENDED

COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1771335694,
    "model": "m",
    "system_fingerprint": None,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Bonjour", "refusal": None}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 19, "completion_tokens": 6, "total_tokens": 25},
}


def test_shape_keeps_constants_and_types_only():
    assert shape(COMPLETION) == {
        "choices": [{"finish_reason": "<string>", "index": "<integer>", "message": {"content": "<string>", "role": "assistant"}}],
        "created": "<integer>",
        "id": "<string>",
        "model": "<string>",
        "object": "chat.completion",
        "usage": {"completion_tokens": "<integer>", "prompt_tokens": "<integer>", "total_tokens": "<integer>"},
    }
    assert shape({"embedding": [0.1, -0.2, 0.3]}) == {"embedding": ["<number>"]}
    assert shape([{"a": 1}, {"a": 2}, {"a": "x"}]) == [{"a": "<integer>"}, {"a": "<string>"}]
    # what the model or the timing chooses is not a constant
    assert shape({"status": "incomplete", "finish_reason": "length", "type": "message"}) == {"finish_reason": "<string>", "status": "<string>", "type": "message"}


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda b: b, None),
        (lambda b: {**b, "prompt_logprobs": None, "kv_transfer_params": {"x": 1}}, None),  # extra fields are fine
        (lambda b: {k: v for k, v in b.items() if k != "usage"}, "$.usage: missing"),
        (lambda b: {**b, "created": "2026-01-01"}, "$.created: type '<string>'"),
        (lambda b: {**b, "object": "text_completion"}, "$.object: value 'text_completion'"),
        (lambda b: {**b, "choices": [{**b["choices"][0], "finish_reason": 3}]}, "finish_reason: type '<integer>'"),
        (lambda b: {**b, "usage": {**b["usage"], "total_tokens": None}}, "$.usage.total_tokens: missing"),
    ],
)
def test_differences(change, expected):
    golden = shape(COMPLETION)  # no level suffixes: every field required
    found = differences(golden, shape(change(json.loads(json.dumps(COMPLETION)))))
    if expected is None:
        assert found == []
    else:
        assert any(expected in f for f in found), found


def test_an_integral_number_matches_a_number():
    assert differences({"score": "<number>"}, {"score": "<integer>"}) == []
    assert differences({"n": "<integer>"}, {"n": "<number>"})


def test_levels_optional_recommended_and_alternatives():
    golden = {"id": "<string>", "usage?": {"seconds": "<number>", "type": "duration"}, "cache~": "<integer>"}
    assert compare(golden, {"id": "<string>", "cache": "<integer>"}) == ([], [])  # optional: absent is fine
    assert compare(golden, {"id": "<string>"}) == ([], ["$.cache: missing (required only by the newest spec)"])
    fails, _ = compare(golden, {"id": "<string>", "cache": "<integer>", "usage": {"seconds": "<string>", "type": "duration"}})
    assert fails == ["$.usage.seconds: type '<string>', the documented example has '<number>'"]  # sent: its type must match
    assert compare(golden, {"cache": "<integer>"})[0] == ["$.id: missing (null or absent)"]
    either = {ONE_OF: [{"type": "tokens", "input_tokens": "<integer>"}, {"type": "duration", "seconds": "<number>"}]}
    assert differences(either, {"type": "duration", "seconds": "<integer>"}) == []
    assert differences(either, {"type": "tokens", "input_tokens": "<integer>"}) == []
    assert differences(either, {"type": "words"})
    assert split_key("usage?") == ("usage", "optional") and split_key("cache~") == ("cache", RECOMMENDED)


def test_annotate_derives_levels_from_the_schema():
    chat = annotate(shape(COMPLETION), "CreateChatCompletionResponse")
    assert chat["choices"][0]["finish_reason"] == "<string>"  # required, never null
    assert "usage?" in chat and "content?" in chat["choices"][0]["message"]  # optional; nullable
    assert "role" in chat["choices"][0]["message"]
    usage = annotate({"input_tokens_details": {"cached_tokens": "<integer>", "cache_write_tokens": "<integer>"}}, "ResponseUsage")
    assert usage == {"input_tokens_details": {"cached_tokens": "<integer>", "cache_write_tokens~": "<integer>"}}  # specs/openapi/recommended.yaml
    assert annotate({"created_at": "<integer>"}, "Response") == {"created_at": "<number>"}  # a unixtime number
    forced = annotate({"usage": {"total_tokens": "<integer>"}}, "CreateChatCompletionStreamResponse", {"$.usage"})
    assert forced == {"usage": {"total_tokens": "<integer>"}}


def _golden_cases():
    cases = [c for c in static_cases() if c.feature == "golden"]
    out = []
    for case in cases:
        (params,) = [p for name, p in case.checks if name == "golden.shape.matches"]
        out.append((case, params))
    return out


def test_every_golden_case_has_its_file():
    cases = _golden_cases()
    assert {c.endpoint for c, _ in cases} == {"models", "chat", "responses", "embeddings", "rerank", "transcriptions", "batches"}
    for case, params in cases:
        record = json.loads((golden_dir() / params["golden"]).read_text())
        assert record["kind"] in ("json", "stream") and record["shape"] and 200 <= record["status"] < 300, case.id
        assert "sk-" not in json.dumps(record)


@pytest.mark.parametrize("name", sorted(p["golden"] for _, p in _golden_cases()))
def test_golden_files_say_where_they_come_from_and_follow_the_schema(name):
    """Each file names its documented examples and its schema; its levels are the schema's
    (optional unless required and not nullable), but for the paths the request forces."""
    record = json.loads((golden_dir() / name).read_text())
    source = record["source"]
    assert source["examples"] and all(isinstance(e, str) and e for e in source["examples"]), name
    forced = source.get("forced", {})
    assert all(isinstance(why, str) and why for why in forced.values()), name
    assert annotate(strip_levels(record["shape"]), source["schema"], forced) == record["shape"], name
    # a forced path is one the schema alone would not demand
    for path in forced:
        assert annotate(strip_levels(record["shape"]), source["schema"], set(forced) - {path}) != record["shape"], (name, path)


# --- the false verdicts of goldens captured from the reference server (issue 10 §2) ------------


@pytest.fixture(autouse=True)
def _api_key(_no_real_target, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-golden-test")


def _ctx(golden: str, update_goldens: bool = False) -> CheckContext:
    settings = resolve(base_url="http://127.0.0.1:9/v1", profile="scaleway", model_specs=["chat=my-model"], report_dir="/tmp", update_goldens=update_goldens)
    return CheckContext(settings=settings, transport=None, counter=None, params={"golden": golden})


def _exchange(body, path: str = "/chat/completions") -> Exchange:
    return Exchange(request=ApiRequest("POST", path, body={"model": "my-model"}), transport="http", url="u", status=200, headers={"content-type": "application/json"}, raw=json.dumps(body).encode(), json=body)


def _stream(chunks) -> Exchange:
    raw = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return Exchange(request=ApiRequest("POST", "/chat/completions", body={"model": "my-model", "stream": True}), transport="http", url="u", status=200, headers={"content-type": "text/event-stream"}, raw=raw.encode(), json=None)


#: A Responses answer of a correct server that is not ours: no background, completed_at,
#: reasoning.effort, store, truncation or text; cut short by max_output_tokens.
RESPONSE = {
    "id": "resp_1", "object": "response", "created_at": 1741477868.25, "status": "incomplete",
    "incomplete_details": {"reason": "max_output_tokens"}, "error": None, "instructions": None,
    "model": "gpt-oss-120b", "parallel_tool_calls": True, "tool_choice": "auto", "tools": [],
    "temperature": 1.0, "top_p": 1.0, "metadata": None, "reasoning": None,
    "output": [
        {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text", "text": "The user wants"}]},
        {"type": "message", "id": "msg_1", "status": "incomplete", "role": "assistant", "content": [{"type": "output_text", "text": "Bonj", "annotations": []}]},
    ],
    "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0}, "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 290}, "total_tokens": 312},
}


def _chunk(choices, **extra):
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": choices, **extra}


#: llama.cpp-style stream: the first chunk carries the role and `content: null`; the model stops at max_tokens.
STREAM = [
    _chunk([{"index": 0, "delta": {"role": "assistant", "content": None}, "finish_reason": None}]),
    _chunk([{"index": 0, "delta": {"content": "Bon"}, "finish_reason": None}]),
    _chunk([{"index": 0, "delta": {}, "finish_reason": "length"}]),
    _chunk([], usage={"prompt_tokens": 9, "completion_tokens": 16, "total_tokens": 25}),
]

RERANK = {"id": "rerank-1", "model": "m", "results": [{"index": 1, "relevance_score": 0.64}, {"index": 0, "relevance_score": 0.6}], "usage": {"total_tokens": 99}}


@pytest.mark.parametrize(
    "golden, exchange",
    [
        pytest.param("responses/basic.json", lambda: _exchange(RESPONSE, "/responses"), id="responses-without-background-completed_at-effort-incomplete"),
        pytest.param("chat/stream.json", lambda: _stream(STREAM), id="stream-first-chunk-without-content-finish-length"),
        pytest.param("chat/completion.json", lambda: _exchange({**COMPLETION, "choices": [{**COMPLETION["choices"][0], "finish_reason": "length"}]}), id="completion-finish-length"),
        pytest.param("chat/completion.json", lambda: _exchange({k: v for k, v in COMPLETION.items() if k != "usage"}), id="completion-without-usage"),
        pytest.param("chat/tool_call.json", lambda: _exchange({**COMPLETION, "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_flight_schedule", "arguments": "{}"}}]}}]}), id="forced-tool-call-finish-stop"),
        pytest.param("rerank/example.json", lambda: _exchange(RERANK, "/rerank"), id="rerank-without-document"),
        pytest.param("transcriptions/json.json", lambda: _exchange({"text": "I would like a cup of coffee"}, "/audio/transcriptions"), id="transcription-without-usage"),
        pytest.param("transcriptions/json.json", lambda: _exchange({"text": "hi", "usage": {"type": "tokens", "input_tokens": 14, "output_tokens": 45, "total_tokens": 59}}, "/audio/transcriptions"), id="transcription-token-usage"),
        pytest.param("transcriptions/verbose_json.json", lambda: _exchange({"language": "english", "duration": 2.1, "text": "hi"}, "/audio/transcriptions"), id="verbose-without-task-segments-usage"),
        pytest.param("batches/create.json", lambda: _exchange({"id": "b1", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "https://s3/one.jsonl", "completion_window": "24h", "status": "in_progress", "created_at": 1}, "/batches"), id="batch-in-progress-without-counts"),
        pytest.param("models/retrieve.json", lambda: _exchange({"id": "m", "object": "model", "created": 1, "owned_by": "me"}, "/models/m"), id="model"),
    ],
)
def test_a_correct_answer_that_differs_from_the_reference_server_passes(golden, exchange):
    assert shape_matches(_ctx(golden), exchange()) is None


@pytest.mark.parametrize(
    "golden, exchange, message",
    [
        pytest.param("responses/basic.json", lambda: _exchange({**RESPONSE, "completed_at": "soon"}, "/responses"), "$.completed_at: type", id="optional-field-of-the-wrong-type"),
        pytest.param("responses/basic.json", lambda: _exchange({**RESPONSE, "created_at": "2026-01-01"}, "/responses"), "$.created_at: type '<string>'", id="wrong-type"),
        pytest.param("responses/basic.json", lambda: _exchange({k: v for k, v in RESPONSE.items() if k != "output"}, "/responses"), "$.output: missing", id="required-missing"),
        pytest.param("responses/basic.json", lambda: _exchange({**RESPONSE, "object": "chat.completion"}, "/responses"), "$.object: value", id="wrong-constant"),
        pytest.param("chat/completion.json", lambda: _exchange({**COMPLETION, "usage": {**COMPLETION["usage"], "prompt_tokens": "19"}}), "$.usage.prompt_tokens: type '<string>'", id="usage-sent-with-a-wrong-type"),
        pytest.param("chat/stream.json", lambda: _stream(STREAM[:3]), "no chunk of the documented shape", id="include_usage-without-a-usage-chunk"),
        pytest.param("chat/stream.json", lambda: _stream([_chunk([{"index": 0, "delta": {"content": 5}}]), *STREAM[2:]]), "delta.content: type '<integer>'", id="stream-content-of-the-wrong-type"),
        pytest.param("chat/tool_call.json", lambda: _exchange(COMPLETION), "tool_calls: missing", id="forced-tool-call-missing"),
        pytest.param("rerank/example.json", lambda: _exchange({**RERANK, "results": [{"index": 0, "relevance_score": "high"}]}, "/rerank"), "relevance_score: type '<string>'", id="rerank-score-string"),
        pytest.param("rerank/example.json", lambda: _exchange({**RERANK, "results": [{"index": 0, "relevance_score": 0.5, "document": "text"}]}, "/rerank"), "document", id="rerank-document-not-an-object"),
        pytest.param("transcriptions/json.json", lambda: _exchange({"text": "hi", "usage": {"type": "duration", "seconds": "2"}}, "/audio/transcriptions"), "seconds: type '<string>'", id="transcription-usage-wrong-type"),
    ],
)
def test_a_wrong_answer_still_fails(golden, exchange, message):
    with pytest.raises(Failure) as info:
        shape_matches(_ctx(golden), exchange())
    assert message in str(info.value) and info.value.level is None


def test_a_field_only_the_newest_spec_requires_is_a_warn():
    body = copy.deepcopy(RESPONSE)
    del body["usage"]["input_tokens_details"]["cache_write_tokens"]
    with pytest.raises(Failure, match="cache_write_tokens") as info:
        shape_matches(_ctx("responses/basic.json"), _exchange(body, "/responses"))
    assert info.value.level == RECOMMENDED


# --- --update-goldens ----------------------------------------------------------------------------


def test_update_refreshes_only_what_the_golden_shows(tmp_path, monkeypatch):
    """Against a server with extras (ours), an update keeps the documented fields only."""
    monkeypatch.setattr(golden_module, "golden_dir", lambda: tmp_path / "golden")
    (tmp_path / "golden" / "responses").mkdir(parents=True)
    documented = json.loads((golden_dir() / "responses" / "basic.json").read_text())
    (tmp_path / "golden" / "responses" / "basic.json").write_text(json.dumps(documented))
    ours = copy.deepcopy({**RESPONSE, "status": "completed", "background": False, "completed_at": 1741477869, "reasoning": {"effort": "low"}, "service_tier": "default", "max_output_tokens": 300})
    ours["output"] = ours["output"][1:]  # no reasoning item: the documented one stays
    del ours["output"][0]["content"][0]["annotations"]  # a documented field the target lacks stays documented
    assert "golden updated" in shape_matches(_ctx("responses/basic.json", update_goldens=True), _exchange(ours, "/responses"))
    record = json.loads((tmp_path / "golden" / "responses" / "basic.json").read_text())
    assert record["shape"] == documented["shape"] and record["source"] == documented["source"]
    assert "background?" not in record["shape"] and "service_tier?" not in record["shape"] and "max_output_tokens?" not in record["shape"]


def test_update_writes_a_new_file_with_schema_levels_and_a_comparison_reads_it(tmp_path, monkeypatch):
    monkeypatch.setattr(golden_module, "golden_dir", lambda: tmp_path / "golden")
    ctx = dataclasses.replace(_ctx("chat/x.json", update_goldens=True), params={"golden": "chat/x.json", "schema": "CreateChatCompletionResponse"})
    assert "golden updated" in shape_matches(ctx, _exchange(COMPLETION))
    record = json.loads((tmp_path / "golden" / "chat" / "x.json").read_text())
    assert record["request"]["body"]["model"] == "$model"
    assert record["source"]["schema"] == "CreateChatCompletionResponse" and record["source"]["examples"] == []
    assert "usage?" in record["shape"] and "id" in record["shape"]  # usage is optional in the schema
    compare_ctx = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, update_goldens=False))
    assert shape_matches(compare_ctx, _exchange(COMPLETION)) is None
    assert shape_matches(compare_ctx, _exchange({k: v for k, v in COMPLETION.items() if k != "usage"})) is None
    with pytest.raises(Failure, match=r"\$\.id: missing"):
        shape_matches(compare_ctx, _exchange({k: v for k, v in COMPLETION.items() if k != "id"}))
    with pytest.raises(Failure, match="--update-goldens"):
        shape_matches(_ctx("chat/none.json"), _exchange(COMPLETION))
