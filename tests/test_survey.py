"""The parameter survey: it finds the reference server's unsupported lists, and tells a server that
ignores or crashes on a parameter from one that refuses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.profiles import load_profile
from conformance.server import ServerThread
from conformance.survey import BROKEN, HONOURED, NO_EFFECT, REFUSED, REJECTED, REJECTED_VALUE, classify, effect_seen, parameters, probe_request
from conformance.transport import ApiRequest, Exchange
from tests.conftest import _REAL_TARGET_VARS
from tests.faulty import API_KEY, Fault, FaultyApp, Resp

SCALEWAY = load_profile("scaleway")


def survey(tmp_path: Path, *args: str, env: dict[str, str] | None = None, command: str = "survey") -> tuple[subprocess.CompletedProcess, dict | None]:
    full_env = {k: v for k, v in os.environ.items() if k not in _REAL_TARGET_VARS}
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "conformance", command, "--report-dir", str(tmp_path / "reports"), *args], capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=300)
    path = tmp_path / "reports" / "survey.json"
    return proc, json.loads(path.read_text()) if path.exists() else None


def rejected(result: dict) -> set[str]:
    return {f["parameter"] for f in result["parameters"] if f["classification"] == REJECTED}


def test_survey_of_the_reference_server_reproduces_the_scaleway_profile(tmp_path):
    draft = tmp_path / "draft.yaml"
    proc, report = survey(tmp_path, "--write-profile", str(draft), "--name", "surveyed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert report is not None
    for endpoint in ("chat", "responses", "embeddings", "rerank", "transcriptions", "batches"):
        result = report["endpoints"][endpoint]
        assert "parameters" in result, result
        assert rejected(result) == set(SCALEWAY.unsupported(endpoint)), endpoint
        assert not [f for f in result["parameters"] if f["classification"] == BROKEN], endpoint
    profile = load_profile(str(draft))
    assert profile.name == "surveyed"
    for endpoint in ("chat", "responses", "transcriptions", "batches"):
        assert set(profile.unsupported(endpoint)) == set(SCALEWAY.unsupported(endpoint))
    assert profile.claims("chat", "streaming") and profile.claims("chat", "n") and profile.claims("embeddings", "embedding-dimensions")
    assert "sk-" not in draft.read_text()


def test_run_with_profile_none_surveys_instead(tmp_path):
    proc, report = survey(tmp_path, "--profile", "none", "--endpoint", "embeddings", command="run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "surveying" in proc.stderr
    assert set(report["endpoints"]) == {"embeddings"}


def test_survey_of_an_unreachable_host_is_one_line_and_exit_2(tmp_path):
    proc, report = survey(tmp_path, "--base-url", "http://127.0.0.1:9/v1", env={"OPENAI_API_KEY": "sk-x"})
    assert proc.returncode == 2
    assert report is None
    assert len(proc.stderr.strip().splitlines()) == 1


def _faulty(on_request) -> FaultyApp:
    return FaultyApp(Fault(name="survey", description="", breaks=frozenset(), on_request=on_request))


def test_survey_tells_ignored_and_crashing_parameters_from_refused_ones(tmp_path):
    def fault(req):
        body = req.json if req.method == "POST" and req.path == "/chat/completions" else None
        if isinstance(body, dict) and "user" in body:  # documented-unsupported, silently dropped
            del body["user"]
            req.set_json(body)
        if isinstance(body, dict) and "seed" in body:
            return Resp(500, {"content-type": "text/plain"}, b"Internal Server Error")
        if isinstance(body, dict) and "n" in body:  # n ignored: one choice
            body["n"] = 1
            req.set_json(body)
        return None

    with ServerThread(_faulty(fault)) as server:
        proc, report = survey(tmp_path, "--base-url", server.base_url, "--endpoint", "chat", env={"OPENAI_API_KEY": API_KEY})
    assert proc.returncode == 0, proc.stderr[-2000:]
    findings = {f["parameter"]: f for f in report["endpoints"]["chat"]["parameters"]}
    assert findings["user"]["classification"] == NO_EFFECT
    assert findings["seed"]["classification"] == BROKEN
    assert findings["n"]["classification"] == NO_EFFECT  # accepted, but one choice, not two
    assert findings["metadata"]["classification"] == REJECTED
    assert findings["logprobs"]["classification"] == HONOURED
    assert API_KEY not in json.dumps(report) + proc.stdout + proc.stderr


def _ex(status: int, body, content_type: str = "application/json") -> Exchange:
    raw = json.dumps(body).encode()
    return Exchange(request=ApiRequest("POST", "/chat/completions"), transport="http", url="u", status=status, headers={"content-type": content_type}, raw=raw, json=body)


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (400, {"error": {"message": "Unsupported parameter: 'store'", "param": "store", "code": "unsupported_parameter"}}, REJECTED),
        (400, {"error": {"message": "Unrecognized request argument supplied: store", "param": None, "code": None}}, REJECTED),
        (400, {"error": {"message": "store must be a boolean", "param": "store", "code": "invalid_type"}}, REJECTED_VALUE),
        (400, {"error": {"message": "bad request", "param": None, "code": None}}, REFUSED),
        (422, {"object": "error", "message": "store: extra fields not permitted", "type": "BadRequestError", "code": 422}, REJECTED),
        (500, {"error": {"message": "boom"}}, BROKEN),
    ],
)
def test_refusals_are_classified_by_what_they_say(status, body, expected):
    base = _ex(200, {"choices": [{"message": {"content": "ok"}}]})
    assert classify("store", _ex(status, body), base, None)[0] == expected


def test_acceptance_is_judged_by_effect_or_by_a_changed_answer():
    base = _ex(200, {"id": "a", "choices": [{"message": {"content": "ok"}}], "usage": {"completion_tokens": 3}})
    same = _ex(200, {"id": "b", "choices": [{"message": {"content": "ok"}}], "usage": {"completion_tokens": 3}})
    other = _ex(200, {"id": "c", "choices": [{"message": {"content": "o"}}], "usage": {"completion_tokens": 1}})
    assert classify("temperature", same, base, None)[0] == NO_EFFECT
    assert classify("temperature", other, base, None)[0] == HONOURED
    assert classify("max_tokens", other, base, {"at_most": {"path": "usage.completion_tokens", "value": 1}})[0] == HONOURED
    assert classify("max_tokens", same, base, {"at_most": {"path": "usage.completion_tokens", "value": 1}})[0] == NO_EFFECT
    assert effect_seen({"count": {"path": "choices", "value": 1}}, same)
    assert effect_seen({"json_text": "choices.0.message.content"}, _ex(200, {"choices": [{"message": {"content": '{"a": 1}'}}]}))


def test_every_spec_parameter_and_every_documented_unsupported_one_is_surveyed():
    chat = parameters("chat")
    assert {"n", "logprobs", "tools", "system_fingerprint", "stream_options.include_obfuscation"} <= set(chat)
    assert "messages" not in chat and "model" not in chat
    assert "file" not in parameters("transcriptions")
    assert probe_request("chat", "top_logprobs", 2)["body"]["logprobs"] is True  # its companion
    assert probe_request("transcriptions", "include", ["logprobs"])["form"]["include[]"] == ["logprobs"]
