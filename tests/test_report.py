"""conformance.report: build_report totals and outcome, transport differences, schema validation, JSON + HTML output, escaping, redaction."""

from __future__ import annotations

import html
import json

import jsonschema
import pytest

from conformance import redact as redact_module
from conformance.paths import PACKAGE_DIR
from conformance.redact import register_secret
from conformance.report import build_report, outcome, validate_report, write_report
from conformance.vocabulary import STATUSES

XSS = "<script>alert(1)</script>"
SECRET = "sk-report-secret-abcdef123"
TARGET = {
    "base_url": "https://api.example.test/v1",
    "profile": "scaleway",
    "profile_title": "Scaleway Generative APIs",
    "models": {"chat": "model-a"},
    "embedded": False,
    "api_key_source": "OPENAI_API_KEY",
}
USAGE = {"requests": 5, "prompt_tokens": 40, "completion_tokens": 12, "retries": 1}


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch):
    monkeypatch.setattr(redact_module, "_SECRETS", set())


def verdict(check="http.status_success", case="chat.basic", transport="http", status="pass", *, endpoint="chat", feature="core", message="", evidence=None, semantic=False, level="required"):
    """A verdict dict shaped like conformance.runner.Verdict.as_dict()."""
    return {
        "level": level,
        "source": "wire: RFC 9110",
        "check": check,
        "case": case,
        "endpoint": endpoint,
        "feature": feature,
        "transport": transport,
        "status": status,
        "message": message,
        "semantic": semantic,
        "description": f"what {check} asserts",
        "duration_ms": 1.5,
        "evidence": evidence if evidence is not None else {},
    }


def report_of(results):
    return build_report(target=TARGET, started="2025-01-01T10:00:00+00:00", finished="2025-01-01T10:01:00+00:00", duration_s=60.123, results=results, usage=USAGE)


RESULTS = [
    verdict("http.status_success", "chat.basic", "http", "pass"),
    verdict("http.status_success", "chat.basic", "openai", "pass"),
    verdict("sdk.accepts_response", "chat.basic", "http", "pass"),
    verdict("sdk.accepts_response", "chat.basic", "openai", "fail", message="the openai client failed"),
    verdict("chat.stream.framing", "chat.stream.basic", "http", "error", feature="streaming", message="could not judge"),
    verdict("chat.stream.framing", "chat.stream.basic", "openai", "error", feature="streaming"),
    verdict("unsupported.parameter_refused", "chat.unsupported.user", "http", "unsupported-ok", feature="unsupported-params"),
    verdict("models.list.shape", "models.list", "openai", "skip", endpoint="models", message="not claimed"),
]


def test_matches_the_runner_verdict_shape():
    from conformance.runner import Verdict

    real = Verdict(check="a.b", case="c", endpoint="chat", feature="core", transport="http", status="pass").as_dict()
    assert set(real) == set(verdict())


def test_totals_and_by_transport():
    report = report_of(RESULTS)
    assert report["totals"] == {"fail": 1, "warn": 0, "error": 2, "pass": 3, "unsupported-ok": 1, "skip": 1, "total": 8}
    assert report["by_transport"]["http"] == {"fail": 0, "warn": 0, "error": 1, "pass": 2, "unsupported-ok": 1, "skip": 0, "total": 4}
    assert report["by_transport"]["openai"] == {"fail": 1, "warn": 0, "error": 1, "pass": 1, "unsupported-ok": 0, "skip": 1, "total": 4}
    assert set(report["by_transport"]) == {"http", "openai"}
    assert report["outcome"] == "fail"
    assert report["usage"] == USAGE
    assert report["target"] == TARGET
    assert report["duration_s"] == 60.12
    validate_report(report)


@pytest.mark.parametrize(
    "statuses, expected",
    [
        (["pass", "error", "fail", "skip"], "fail"),
        (["fail"], "fail"),
        (["pass", "error", "skip"], "error"),
        (["error", "unsupported-ok"], "error"),
        (["pass", "unsupported-ok", "skip"], "pass"),
        (["skip"], "pass"),
        (["warn", "pass"], "pass"),
        (["warn", "error"], "error"),
        ([], "pass"),
    ],
)
def test_outcome_fail_beats_error_beats_pass(statuses, expected):
    results = [verdict(check=f"x.c{i}", status=s) for i, s in enumerate(statuses)]
    report = report_of(results)
    assert report["outcome"] == expected
    assert outcome(report["results"]) == expected
    validate_report(report)


def test_results_are_sorted():
    report = report_of(list(reversed(RESULTS)))
    keys = [(r["endpoint"], r["case"], r["check"], r["transport"]) for r in report["results"]]
    assert keys == sorted(keys)


def test_transport_differences():
    report = report_of(RESULTS)
    assert report["transport_differences"] == [
        {"case": "chat.basic", "check": "sdk.accepts_response", "statuses": {"http": "pass", "openai": "fail"}}
    ]


def test_no_transport_differences_when_verdicts_agree_or_one_transport_ran():
    results = [verdict(transport="http"), verdict(transport="openai"), verdict(check="a.only_http", status="fail")]
    assert report_of(results)["transport_differences"] == []


def test_written_report_validates_against_the_schema(tmp_path):
    json_path, html_path = write_report(report_of(RESULTS), tmp_path / "out")
    assert json_path == tmp_path / "out" / "report.json"
    assert html_path == tmp_path / "out" / "report.html"
    written = json.loads(json_path.read_text())
    schema = json.loads((PACKAGE_DIR / "schemas" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(written)
    assert written == report_of(RESULTS)


def test_html_has_the_matrix_and_every_check(tmp_path):
    _, html_path = write_report(report_of(RESULTS), tmp_path)
    page = html_path.read_text()
    assert "<h2>Matrix</h2>" in page
    assert "<th>http</th>" in page and "<th>openai</th>" in page
    for endpoint, feature in {(r["endpoint"], r["feature"]) for r in RESULTS}:
        assert f'id="{endpoint}--{feature}"' in page
        assert f'href="#{endpoint}--{feature}"' in page
    for check in {r["check"] for r in RESULTS}:
        assert f"<code>{check}</code>" in page
    assert "Transport differences" in page
    assert "FAIL" in page


def test_html_escapes_server_controlled_text(tmp_path):
    results = [
        verdict(status="fail", message=f"server said {XSS}", evidence={"response": {"status": 400, "body": f'{{"error": "{XSS}"}}'}}),
        verdict(check="errors.envelope", case=f"case-{XSS}", status="fail", message="x"),
    ]
    _, html_path = write_report(report_of(results), tmp_path)
    page = html_path.read_text()
    assert XSS not in page
    assert page.lower().count("<script") == 1  # the page's own (evidence links), none from the report
    assert html.escape(XSS, quote=False) in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # message, evidence, case


def test_registered_secret_is_absent_from_both_files(tmp_path):
    register_secret(SECRET)
    results = [
        verdict(status="fail", message=f"the key {SECRET} was refused", evidence={"request": {"headers": {"authorization": f"Bearer {SECRET}"}}, "response": {"body": f"invalid key: {SECRET}"}}),
        verdict(case="chat.other", message="Authorization: Bearer sk-never-registered-777"),
    ]
    json_path, html_path = write_report(report_of(results), tmp_path)
    for path in (json_path, html_path):
        text = path.read_text()
        assert SECRET not in text, path.name
        assert "sk-never-registered-777" not in text, path.name
        assert "[REDACTED]" in text


def test_evidence_is_stored_once_and_every_result_points_at_it(tmp_path):
    shared = {"request": {"method": "POST", "url": "http://x/v1/chat/completions"}, "response": {"status": 200, "body": "{}"}}
    results = [
        verdict(check="http.status_success", evidence=shared),
        verdict(check="chat.response.schema", evidence=dict(shared)),
        verdict(check="chat.tools.result_accepted", evidence={**shared, "followups": [shared]}),
        verdict(check="http.json_body", case="chat.skipped", status="skip", evidence={}),
    ]
    report = report_of(results)
    by_check = {r["check"]: r for r in report["results"]}
    assert by_check["http.status_success"]["evidence_id"] == by_check["chat.response.schema"]["evidence_id"]
    assert by_check["chat.tools.result_accepted"]["evidence_id"] != by_check["http.status_success"]["evidence_id"]
    assert "evidence_id" not in by_check["http.json_body"]
    assert len(report["evidence"]) == 2
    assert all(r["evidence_id"] in report["evidence"] for r in report["results"] if "evidence_id" in r)
    _, html_path = write_report(report, tmp_path)
    page = html_path.read_text()
    for evidence_id in report["evidence"]:
        assert page.count(f'id="{evidence_id}"') == 1
        assert f'href="#{evidence_id}"' in page
    assert "(+1 follow-up)" in page


def test_validate_report_rejects_an_unknown_status(tmp_path):
    report = report_of([verdict(status="maybe")])
    with pytest.raises(jsonschema.ValidationError):
        validate_report(report)
    with pytest.raises(jsonschema.ValidationError):
        write_report(report, tmp_path / "out")
    assert not (tmp_path / "out" / "report.json").exists()
    assert not (tmp_path / "out" / "report.html").exists()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.update(outcome="maybe"),
        lambda r: r["results"][0].update(transport="grpc"),
        lambda r: r["results"][0].update(endpoint="telepathy"),
        lambda r: r.pop("evidence"),
        lambda r: r["target"].update(api_key="sk-leak"),
        lambda r: r["totals"].pop("skip"),
        lambda r: r.update(report_version="1.0"),
    ],
    ids=["outcome", "transport", "endpoint", "no-evidence", "key-in-target", "totals", "version"],
)
def test_validate_report_rejects_malformed_reports(mutate):
    report = report_of(RESULTS)
    mutate(report)
    with pytest.raises(jsonschema.ValidationError):
        validate_report(report)


def test_counts_cover_every_status():
    report = report_of(RESULTS)
    assert set(report["totals"]) == set(STATUSES) | {"total"}
