"""Causes: the verdicts that did not hold, grouped by reason and listed worst first."""

from __future__ import annotations

import shlex

from conformance.report import build_report, cause_lines, validate_report
from conformance.report.causes import curl, normalised

from .test_report import TARGET, USAGE, verdict


def report_of(results):
    return build_report(target=TARGET, started="2025-01-01T10:00:00+00:00", finished="2025-01-01T10:01:00+00:00", duration_s=1.0, results=results, usage=USAGE)


def exchange(path: str, status: int = 400, body=None, auth: str = "valid") -> dict:
    return {"request": {"method": "POST", "url": f"https://api.example.test/v1{path}", "auth": auth, "body": body if body is not None else {"model": "m", "n": 7}},
            "response": {"status": status, "headers": {}, "body": '{"detail": "bad"}', "attempts": 1, "elapsed_ms": 3.0}}


def envelope_defect(count: int) -> list[dict]:
    """A server whose every refusal lacks OpenAI's error envelope: one failing verdict per refusal case."""
    endpoints = ["chat", "responses", "embeddings", "rerank"]
    return [
        verdict("errors.envelope", f"{endpoints[i % 4]}.unsupported.p{i}", ("http", "openai")[i % 2], "fail", endpoint=endpoints[i % 4], feature="errors",
                message=f"the error body has no error object: {{'detail': 'parameter p{i} is not supported (value {i * 3})'}}",
                evidence=exchange(f"/{endpoints[i % 4]}", body={"model": "m", f"p{i}": i}))
        for i in range(count)
    ]


def test_one_envelope_defect_is_one_cause_first():
    results = envelope_defect(120) + [
        verdict("chat.response.object", "chat.basic", "http", "warn", level="recommended", message="created is a float", evidence=exchange("/chat/completions", 200)),
        verdict("chat.tools.called", "chat.tools", "http", "fail", semantic=True, message="the model called no tool", evidence=exchange("/chat/completions", 200, {"tools": []})),
        verdict("http.status_success", "chat.basic", "http", "pass"),
    ]
    report = report_of(results)
    validate_report(report)
    first = report["causes"][0]
    assert first["id"] == "c1" and first["checks"] == ["errors.envelope"]
    assert first["count"] == 120 and first["cases"] == 120
    assert first["endpoints"] == ["chat", "embeddings", "rerank", "responses"]
    assert first["transports"] == ["http", "openai"]
    assert first["status"] == "fail" and first["level"] == "required" and first["unexpected"]
    assert [c["checks"][0] for c in report["causes"]] == ["errors.envelope", "chat.tools.called", "chat.response.object"]  # semantic after protocol, warn last
    assert first["evidence_id"] in report["evidence"]
    lines = cause_lines(report)
    assert lines[0] == "causes (3, worst first):"
    assert lines[1].startswith("  c1 FAIL [required] ×120 errors.envelope · chat, embeddings, rerank, responses: the error body has no error object")


def test_checks_failing_on_the_same_exchanges_are_one_cause():
    broken = exchange("/embeddings", 200)
    results = [
        verdict("embeddings.response.shape", "embeddings.basic", "http", "fail", endpoint="embeddings", message="data is missing", evidence=broken),
        verdict("sdk.accepts_response", "embeddings.basic", "http", "fail", endpoint="embeddings", message="ValidationError: data", evidence=broken),
        verdict("embeddings.response.shape", "embeddings.batch", "http", "fail", endpoint="embeddings", message="data is missing", evidence=exchange("/embeddings", 200, {"input": ["a", "b"]})),
    ]
    causes = report_of(results)["causes"]
    # the shape check broke on two exchanges, the SDK on one of them: two causes, not one chain
    assert [(c["checks"], c["count"]) for c in causes] == [(["embeddings.response.shape"], 2), (["sdk.accepts_response"], 1)]
    alone = report_of(results[:2])["causes"]
    assert [(c["checks"], c["count"]) for c in alone] == [(["embeddings.response.shape", "sdk.accepts_response"], 2)]


def test_expected_verdicts_rank_after_unexpected_ones():
    results = envelope_defect(4)
    for r in results:
        r["expected"] = ["fail"]
    results.append(verdict("models.list.shape", "models.list", "http", "error", endpoint="models", message="could not judge: 429 after 3 attempts"))
    causes = report_of(results)["causes"]
    assert [c["checks"][0] for c in causes] == ["models.list.shape", "errors.envelope"]
    assert causes[1]["unexpected"] is False


def test_messages_differing_only_in_values_normalise_alike():
    assert normalised("'p1' was accepted (200) at https://x.test/v1/a") == normalised("'other' was accepted (201) at https://y.test/v1/b")
    assert normalised("batch batch_0123456789ab not found") == normalised("batch batch_fedcba987654 not found")
    assert normalised("created is missing") != normalised("id is missing")


def test_curl_reproduces_the_request_without_the_key():
    command = curl(exchange("/chat/completions", body={"model": "m", "messages": [{"role": "user", "content": "it's"}]}))
    assert command.startswith("curl -sS -X POST https://api.example.test/v1/chat/completions")
    assert '"Authorization: Bearer $OPENAI_API_KEY"' in command
    words = shlex.split(command)
    assert words[words.index("--data-binary") + 1] == '{"model": "m", "messages": [{"role": "user", "content": "it\'s"}]}'
    assert "Authorization" not in curl(exchange("/models", auth="none"))
    assert curl({"mode": "positive", "sent": 3}) is None


def test_a_clean_run_has_no_causes():
    report = report_of([verdict("http.status_success", "chat.basic", "http", "pass")])
    assert report["causes"] == [] and cause_lines(report) == []


def test_the_servers_own_words_in_a_message_do_not_split_a_cause():
    first = """error body lacks an "error" object: {'detail': "Invalid value for 'completion_window': only '24h'"}"""
    second = """error body lacks an "error" object: {'detail': 'Invalid API key provided.'}"""
    assert normalised(first) == normalised(second)


def test_the_html_lists_the_causes_before_the_matrix(tmp_path):
    from conformance.report import write_report

    report = report_of(envelope_defect(3))
    _, html_path = write_report(report, tmp_path)
    page = html_path.read_text()
    assert page.index('id="causes"') < page.index("<h2>Matrix</h2>")
    assert 'id="cause-c1"' in page and "reproduce with curl" in page and "$OPENAI_API_KEY" in page


def test_one_reason_failing_some_cases_and_warning_in_others_is_one_cause():
    results = envelope_defect(3)
    results[2] = {**results[2], "status": "warn", "level": "recommended"}
    causes = report_of(results)["causes"]
    assert len(causes) == 1 and causes[0]["status"] == "fail" and causes[0]["by_status"] == {"fail": 2, "warn": 1}
    assert "×3 (2 fail, 1 warn) errors.envelope" in cause_lines(report_of(results))[1]


def test_messages_say_what_came_where_a_json_object_was_expected():
    from conformance.checks import what_came
    from conformance.sse import parse_sse
    from conformance.transport import ApiRequest, Exchange

    def answer(raw: bytes, content_type: str, **parsed) -> Exchange:
        return Exchange(ApiRequest("POST", "/chat/completions"), "http", "u", 200, {"content-type": content_type}, raw, **parsed)

    stream = b'data: {"id": "x"}\n\ndata: [DONE]\n\n'
    assert what_came(answer(stream, "text/event-stream", sse=parse_sse(stream))).startswith("an SSE stream (text/event-stream, 2 events) was answered where a JSON object was expected")
    assert what_came(answer(b"", "application/json")).startswith("an empty body was answered (200")
    assert "the body is not JSON (Expecting value" in what_came(answer(b"<html>", "text/html", json_error="Expecting value: line 1 column 1"))
    assert what_came(answer(b"[1]", "application/json", json=[1])) == "expected a JSON object, got an array: [1]"


def test_markdown_and_badge_are_rendered_from_the_report():
    from conformance.report.markdown import badge, render_markdown

    results = envelope_defect(4) + [
        verdict("chat.tools.called", "chat.tools", "http", "fail", semantic=True, message="the model called | no tool"),
        verdict("http.status_success", "chat.basic", "openai", "pass"),
    ]
    report = report_of(results)
    text = render_markdown(report)
    assert text.startswith("## Conformance: FAIL — https://api.example.test/v1")
    assert "| c1 fail [required] | 4 | `errors.envelope` |" in text
    assert "the model called \\| no tool" in text  # a pipe cannot break the table
    assert "| chat | core | ❌ fail (semantic) | ✅ pass |" in text  # warn and semantic are told apart
    assert "```sh\ncurl -sS -X POST" in text
    assert badge(report) == {"schemaVersion": 1, "label": "OpenAI compatibility", "message": "fail · 1/6", "color": "red"}
    clean = report_of([verdict("http.status_success", "chat.basic", "http", "pass")])
    assert "Causes" not in render_markdown(clean) and badge(clean)["color"] == "brightgreen"
