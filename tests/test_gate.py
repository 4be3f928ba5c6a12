"""The CI gate: levels and warn, --strict/--semantic, the 5xx rule, expectations, baselines, diff, --repeat, the options model."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from conformance import expectations as exp
from conformance.checks import CheckSpec, Failure
from conformance.options import OPTIONS, PYTEST_PREFIX
from conformance.runner import Verdict, combine_repeats, failure_status, server_error_status
from conformance.settings import UsageError, resolve
from conformance.transport import ApiRequest, Exchange, retries_for

URL = "https://api.example.test/v1"


@pytest.fixture
def settings(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-gate-test-key")
    return resolve(base_url=URL)


def spec(level="required", semantic=False):
    return CheckSpec("a.b", lambda ctx, ex: None, "asserts a", semantic=semantic, level=level, source="openapi: #/x")


# -- levels and the status policy ---------------------------------------------------------------
@pytest.mark.parametrize(
    "check_level, finding_level, case_level, strict, expected",
    [
        ("required", None, "required", False, ("fail", "required")),
        ("recommended", None, "required", False, ("warn", "recommended")),
        ("recommended", None, "required", True, ("fail", "recommended")),
        ("required", "recommended", "required", False, ("warn", "recommended")),
        ("required", None, "recommended", False, ("warn", "recommended")),
        # a finding that names its level beats the case's (a crash on any input stays a fail)
        ("required", "required", "recommended", False, ("fail", "required")),
    ],
)
def test_failure_status_maps_levels(settings, check_level, finding_level, case_level, strict, expected):
    status, level, semantic = failure_status(spec(check_level), Failure("x", level=finding_level), replace(settings, strict=strict), case_level)
    assert (status, level) == expected
    assert semantic is False


@pytest.mark.parametrize("mode, expected", [("fail", "fail"), ("warn", "warn"), ("off", "skip")])
def test_semantic_findings_count_as_semantic_says(settings, mode, expected):
    s = replace(settings, semantic=mode)
    assert failure_status(spec(semantic=True), Failure("x"), s)[0] == expected
    assert failure_status(spec(), Failure("x", semantic=True), s) == (expected, "required", True)


def test_observed_source_cannot_be_required():
    from conformance.checks import check

    with pytest.raises(ValueError, match="recommended-level at most"):
        check("gate.test.observed_required", source="observed: OpenAI does it")(lambda ctx, ex: None)
    with pytest.raises(ValueError, match="must start with one of"):
        check("gate.test.bad_source", source="folklore: everyone does it")(lambda ctx, ex: None)


def test_a_field_only_the_newest_spec_requires_is_a_recommended_finding():
    from conformance.openapi import schema_findings

    usage = {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 5}
    errors, recommended = schema_findings("ResponseUsage", usage)
    assert errors == [] and recommended and "cache_write_tokens" in recommended[0]
    errors, _ = schema_findings("ResponseUsage", {**usage, "input_tokens": "3"})
    assert errors, "a wrong type stays an error"
    assert schema_findings("ResponseUsage", {**usage, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0}}) == ([], [])


def test_optional_properties_may_be_null_for_every_profile():
    from conformance.openapi import schema_findings

    model = {"id": "m", "object": "model", "created": 1, "owned_by": "me"}
    assert schema_findings("Model", model) == ([], [])
    assert schema_findings("Model", {**model, "owned_by": None})[0], "a required property is never nullable"


# -- a reproducible 5xx on a valid request ------------------------------------------------------
def _ex(status: int, path="/chat/completions") -> Exchange:
    return Exchange(request=ApiRequest("POST", path), transport="http", url=URL + path, status=status, headers={}, raw=b'{"error": {"message": "boom"}}', json={"error": {"message": "boom"}}, attempts=2)


def test_a_5xx_while_the_control_is_answered_is_a_fail():
    status, message = server_error_status(_ex(500), _ex(200))
    assert status == "fail" and "breaks on this valid request" in message


@pytest.mark.parametrize("control", [None, 500, 503])
def test_a_5xx_while_the_control_fails_too_is_an_error(control):
    status, _ = server_error_status(_ex(500), _ex(control) if control else None)
    assert status == "error"


def test_a_server_error_is_retried_once_gateway_trouble_twice():
    assert retries_for(500, 2) == 1 and retries_for(500) == 1
    assert retries_for(503, 2) == 2 and retries_for(429, 2) == 2
    assert retries_for(400, 2) == 0 and retries_for(200, 2) == 0


# -- --repeat -----------------------------------------------------------------------------------
def _v(status, check="a.b"):
    return Verdict(check=check, case="c", endpoint="chat", feature="core", transport="http", status=status)


def test_repeats_that_agree_give_one_verdict_and_those_that_differ_are_intermittent():
    same = combine_repeats([[_v("pass")], [_v("pass")]])
    assert same[0].status == "pass" and "intermittent" not in same[0].as_dict()
    mixed = combine_repeats([[_v("pass")], [_v("fail")], [_v("pass")]])[0].as_dict()
    assert mixed["status"] == "fail" and mixed["intermittent"] is True and mixed["statuses"] == ["fail", "pass"]


# -- expectations -------------------------------------------------------------------------------
def r(check, status, case="c1", transport="http", message="m", **extra):
    return {"check": check, "case": case, "transport": transport, "status": status, "message": message, "endpoint": "chat", "feature": "core", **extra}


def test_expectations_parse_and_the_most_specific_entry_wins():
    entries = exp.parse({"version": 1, "expectations": {
        "a.b": [{"status": "fail", "reason": "known everywhere"}, {"case": "c2*", "transport": "openai", "status": ["warn"], "reason": "narrow"}],
    }})
    results = [r("a.b", "fail"), r("a.b", "warn", case="c2x", transport="openai"), r("x.y", "fail")]
    summary = exp.apply(results, entries)
    assert results[0]["expected"] == ["fail"] and results[1]["expected"] == ["warn"]
    assert [exp.is_unexpected(x) for x in results] == [False, False, True]
    assert summary["matched"] == 2 and summary["stale"] == []


def test_an_expectation_whose_check_now_passes_is_stale():
    entries = exp.parse({"version": 1, "expectations": {"a.b": {"status": "fail", "reason": "was broken"}}})
    results = [r("a.b", "pass")]
    summary = exp.apply(results, entries)
    assert [e["check"] for e in summary["stale"]] == ["a.b"]
    assert not exp.is_unexpected(results[0])


def test_an_intermittent_verdict_needs_every_status_expected():
    entries = exp.parse({"version": 1, "expectations": {"a.b": {"status": ["pass", "fail"], "reason": "flaky"}}})
    ok = [r("a.b", "fail", statuses=["fail", "pass"], intermittent=True)]
    exp.apply(ok, entries)
    assert not exp.is_unexpected(ok[0])
    strict = exp.parse({"version": 1, "expectations": {"a.b": {"status": "fail", "reason": "always"}}})
    flaky = [r("a.b", "fail", statuses=["fail", "error"], intermittent=True)]
    exp.apply(flaky, strict)
    assert exp.is_unexpected(flaky[0])


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"expectations": {}}, "version: 1"),
        ({"version": 1, "expectations": {"a.b": {"status": "broken", "reason": "x"}}}, "status must be one of"),
        ({"version": 1, "expectations": {"a.b": {"status": "fail"}}}, "needs a reason"),
        ({"version": 1, "expectations": {"a.b": {"status": "fail", "reason": "x", "transprot": "http"}}}, "unknown key"),
        ({"version": 1, "expectations": {"a.b": {"status": "fail", "reason": "x", "transport": "grpc"}}}, "unknown transport"),
    ],
)
def test_bad_expectations_are_refused(doc, message):
    with pytest.raises(exp.ExpectationsError, match=message):
        exp.parse(doc)


def test_written_expectations_make_the_same_report_pass():
    report = {"target": {"base_url": URL, "profile": "p"}, "finished": "now", "results": [
        r("a.b", "fail"), r("a.b", "fail", transport="openai"),
        r("c.d", "fail", case="c1"), r("c.d", "pass", case="c2"),
        r("e.f", "warn", case="c1"), r("e.f", "pass", case="c1", transport="openai"),
        r("g.h", "error"), r("i.j", "pass"),
    ]}
    text = exp.write(report)
    entries = exp.parse(yaml.safe_load(text))
    results = [dict(x) for x in report["results"]]
    summary = exp.apply(results, entries)
    assert not any(exp.is_unexpected(x) for x in results)
    assert summary["stale"] == []
    doc = yaml.safe_load(text)["expectations"]
    assert doc["a.b"] == {"status": "fail", "reason": "m"}, "a check failing everywhere is one entry"
    assert doc["c.d"] == [{"case": "c1", "status": "fail", "reason": "m"}]
    assert doc["e.f"] == [{"case": "c1", "transport": "http", "status": "warn", "reason": "m"}]
    assert "i.j" not in doc


def test_a_baseline_allows_what_failed_before_and_nothing_else():
    old = {"results": [r("a.b", "fail"), r("c.d", "pass"), r("e.f", "error")]}
    entries = exp.from_baseline(old)
    new = [r("a.b", "fail"), r("c.d", "fail"), r("e.f", "error"), r("n.w", "fail")]
    exp.apply(new, entries)
    assert [x["check"] for x in new if exp.is_unexpected(x)] == ["c.d", "n.w"]


def test_diff_names_regressions_fixes_new_and_removed():
    old = {"results": [r("a.b", "pass"), r("c.d", "fail"), r("e.f", "pass"), r("gone.x", "pass")]}
    new = {"results": [r("a.b", "fail"), r("c.d", "pass"), r("e.f", "warn"), r("n.w", "pass")]}
    d = exp.diff(old, new)
    assert [x["check"] for x in d["regressions"]] == ["a.b", "e.f"]
    assert [x["check"] for x in d["fixes"]] == ["c.d"]
    assert [x["check"] for x in d["new"]] == ["n.w"] and [x["check"] for x in d["removed"]] == ["gone.x"]
    assert any("a.b" in line for line in exp.diff_lines(d))


# -- settings: models, options ------------------------------------------------------------------
def test_only_given_models_are_configured(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    default = resolve(base_url=URL)  # profile not named: its defaults just run the cases
    assert default.models["chat"] and default.configured_models() == []
    given = resolve(base_url=URL, model_specs=["chat=my-chat", "embeddings=my-emb"])
    assert given.configured_models() == ["my-chat", "my-emb"]
    assert given.model_origins["chat"] == "given" and given.model_origins["tools"] == "chat-fallback"
    assert given.model_origins["rerank"] == "profile-default"
    scoped = resolve(base_url=URL, model_specs=["chat=my-chat", "embeddings=my-emb"], endpoints=["chat"])
    assert scoped.configured_models() == ["my-chat"], "models of endpoints not selected are not looked for"
    hosted = resolve(base_url=URL, profile="scaleway")
    assert "qwen3-embedding-8b" in hosted.configured_models(), "a hosted profile named explicitly: its catalogue counts"


@pytest.mark.parametrize("kwargs, message", [({"semantic": "maybe"}, "--semantic"), ({"repeat": 0}, "--repeat"), ({"property_seed": -1}, "--seed")])
def test_bad_gate_options_are_usage_errors(monkeypatch, kwargs, message):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(UsageError, match=message):
        resolve(base_url=URL, **kwargs)


def test_a_missing_expectations_file_or_baseline_is_a_usage_error(monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with pytest.raises(UsageError, match="--expectations"):
        resolve(base_url=URL, expectations=str(tmp_path / "nope.yaml"))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UsageError, match="--baseline"):
        resolve(base_url=URL, baseline=str(tmp_path / "bad.json"))


def test_every_option_is_declared_once_and_reaches_cli_pytest_and_settings():
    import inspect

    import conformance.cli as cli

    parameters = set(inspect.signature(resolve).parameters)
    assert {o.field for o in OPTIONS} <= parameters, "every option is a resolve() keyword"
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS)
    run = cli._parser()._subparsers._group_actions[0].choices["run"]
    flags = {s for action in run._actions for s in action.option_strings}
    assert {o.cli_flag for o in OPTIONS if "run" in o.commands and not o.internal} <= flags
    assert all(o.pytest_flag.startswith(PYTEST_PREFIX) for o in OPTIONS)


def test_the_pytest_plugin_declares_every_option():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], capture_output=True, text=True).stdout
    missing = [o.pytest_flag for o in OPTIONS if o.pytest_flag not in out]
    assert not missing


def test_report_json_records_the_gate(tmp_path):
    from conformance.report import build_report, validate_report

    results = [r("a.b", "fail", level="required", expected=["fail"], expectation="known"), r("c.d", "warn", level="recommended")]
    report = build_report(target={"base_url": URL, "profile": "p", "models": {}, "embedded": False}, started="2026-01-01T00:00:00+00:00", finished="2026-01-01T00:00:01+00:00",
                          duration_s=1, results=results, usage={"requests": 1, "prompt_tokens": 0, "completion_tokens": 0},
                          gate={"strict": False, "semantic": "fail", "expectations": "x.yaml", "baseline": None, "entries": 1, "matched": 1, "stale": []})
    validate_report(report)
    assert report["outcome"] == "pass", "an expected fail and a warn do not fail the run"
    assert report["gate"]["unexpected"]["fail"] == 0
    assert json.dumps(report)
