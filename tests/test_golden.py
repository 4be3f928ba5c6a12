"""Golden files: how shapes are made and compared, and that every golden case has its file."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conformance.cases import static_cases
from conformance.checks import CheckContext, Failure
from conformance.checks import golden as golden_module
from conformance.checks.golden import differences, golden_dir, shape, shape_matches
from conformance.settings import resolve
from conformance.transport import ApiRequest, Exchange

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
        "choices": [{"finish_reason": "stop", "index": "<integer>", "message": {"content": "<string>", "role": "assistant"}}],
        "created": "<integer>",
        "id": "<string>",
        "model": "<string>",
        "object": "chat.completion",
        "usage": {"completion_tokens": "<integer>", "prompt_tokens": "<integer>", "total_tokens": "<integer>"},
    }
    assert shape({"embedding": [0.1, -0.2, 0.3]}) == {"embedding": ["<number>"]}
    assert shape([{"a": 1}, {"a": 2}, {"a": "x"}]) == [{"a": "<integer>"}, {"a": "<string>"}]


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda b: b, None),
        (lambda b: {**b, "prompt_logprobs": None, "kv_transfer_params": {"x": 1}}, None),  # extra fields are fine
        (lambda b: {k: v for k, v in b.items() if k != "usage"}, "$.usage: missing"),
        (lambda b: {**b, "created": "2026-01-01"}, "$.created: type '<string>'"),
        (lambda b: {**b, "object": "text_completion"}, "$.object: value 'text_completion'"),
        (lambda b: {**b, "choices": [{**b["choices"][0], "finish_reason": "length"}]}, "finish_reason: value 'length'"),
        (lambda b: {**b, "usage": {**b["usage"], "total_tokens": None}}, "$.usage.total_tokens: missing"),
    ],
)
def test_differences(change, expected):
    golden = shape(COMPLETION)
    found = differences(golden, shape(change(json.loads(json.dumps(COMPLETION)))))
    if expected is None:
        assert found == []
    else:
        assert any(expected in f for f in found), found


def test_an_integral_number_matches_a_number():
    assert differences({"score": "<number>"}, {"score": "<integer>"}) == []
    assert differences({"n": "<integer>"}, {"n": "<number>"})


def test_every_golden_case_has_its_file():
    cases = [c for c in static_cases() if c.feature == "golden"]
    assert {c.endpoint for c in cases} == {"models", "chat", "responses", "embeddings", "rerank", "transcriptions", "batches"}
    for case in cases:
        (params,) = [p for name, p in case.checks if name == "golden.shape.matches"]
        record = json.loads((golden_dir() / params["golden"]).read_text())
        assert record["kind"] in ("json", "stream") and record["shape"] and 200 <= record["status"] < 300, case.id
        assert "sk-" not in json.dumps(record)


def _exchange(body) -> Exchange:
    return Exchange(request=ApiRequest("POST", "/chat/completions", body={"model": "my-model", "messages": []}), transport="http", url="u", status=200, headers={"content-type": "application/json"}, raw=json.dumps(body).encode(), json=body)


def test_update_writes_the_shape_and_a_comparison_reads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-golden-test")
    settings = resolve(base_url="http://127.0.0.1:9/v1", profile="scaleway", model_specs=["chat=my-model"], report_dir=tmp_path, update_goldens=True)
    monkeypatch.setattr(golden_module, "golden_dir", lambda: tmp_path / "golden")
    ctx = CheckContext(settings=settings, transport=None, counter=None, params={"golden": "chat/x.json"})
    assert "golden updated" in shape_matches(ctx, _exchange(COMPLETION))
    record = json.loads((tmp_path / "golden" / "chat" / "x.json").read_text())
    assert record["request"]["body"]["model"] == "$model"
    compare = CheckContext(settings=dataclasses.replace(settings, update_goldens=False), transport=None, counter=None, params={"golden": "chat/x.json"})
    assert shape_matches(compare, _exchange(COMPLETION)) is None
    with pytest.raises(Failure, match="usage"):
        shape_matches(compare, _exchange({k: v for k, v in COMPLETION.items() if k != "usage"}))
    with pytest.raises(Failure, match="--update-goldens"):
        shape_matches(CheckContext(settings=compare.settings, transport=None, counter=None, params={"golden": "chat/none.json"}), _exchange(COMPLETION))
