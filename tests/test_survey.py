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
    # the local servers have no rate limits (the default profile's are Scaleway's)
    proc = subprocess.run([sys.executable, "-m", "conformance", command, "--report-dir", str(tmp_path / "reports"), "--rpm", "0", "--tpm", "0", *args], capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=300)
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
    flaky: list[int] = []

    def fault(req):
        body = req.json if req.method == "POST" and req.path == "/chat/completions" else None
        if isinstance(body, dict) and "user" in body:  # documented-unsupported, silently dropped
            del body["user"]
            req.set_json(body)
        if isinstance(body, dict) and "seed" in body:
            return Resp(500, {"content-type": "text/plain"}, b"Internal Server Error")
        if isinstance(body, dict) and "top_p" in body and len(flaky) < 2:  # 500 twice (the retry too), then answered: not broken
            flaky.append(1)
            return Resp(500, {"content-type": "text/plain"}, b"Internal Server Error")
        if isinstance(body, dict) and "n" in body:  # n ignored: one choice
            body["n"] = 1
            req.set_json(body)
        return None

    with ServerThread(_faulty(fault)) as server:
        proc, report = survey(tmp_path, "--base-url", server.base_url, "--endpoint", "chat", "--model", "chat=mistral-small-3.2-24b-instruct-2506", env={"OPENAI_API_KEY": API_KEY})
    assert proc.returncode == 0, proc.stderr[-2000:]
    findings = {f["parameter"]: f for f in report["endpoints"]["chat"]["parameters"]}
    assert findings["user"]["classification"] == NO_EFFECT
    from conformance.transport import policy

    attempts = (1 + policy.SERVER_ERROR_RETRIES) * (1 + policy.REPRODUCE_ATTEMPTS)  # retried, then sent again (and retried)
    assert findings["seed"]["classification"] == BROKEN and f"on {attempts} attempt(s)" in findings["seed"]["message"]
    assert flaky and findings["top_p"]["classification"] != BROKEN, findings["top_p"]
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


@pytest.mark.parametrize(
    "body",
    [
        {"detail": "Unexpected fields in the request: {'store'}"},
        {"detail": [{"loc": ["body", "store"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}]},
    ],
    ids=["fastapi-string", "fastapi-list"],
)
def test_a_fastapi_unexpected_field_refusal_is_read_as_unsupported(body):
    """transformers serve / FastAPI servers: a 422 about an unexpected field names it as unsupported."""
    base = _ex(200, {"choices": [{"message": {"content": "ok"}}]})
    assert classify("store", _ex(422, body), base, None)[0] == REJECTED


def test_stream_usage_is_an_effect_of_the_usage_chunk_not_of_the_content_type():
    chunks = b'data: {"choices": [{"delta": {"content": "ok"}}]}\n\ndata: [DONE]\n\n'
    with_usage = b'data: {"choices": []}\n\ndata: {"choices": [], "usage": {"total_tokens": 3}}\n\ndata: [DONE]\n\n'

    def stream(raw):
        return Exchange(request=ApiRequest("POST", "/chat/completions"), transport="http", url="u", status=200, headers={"content-type": "text/event-stream"}, raw=raw, json=None)

    assert not effect_seen({"stream_usage": True}, stream(chunks))
    assert effect_seen({"stream_usage": True}, stream(with_usage))


def _survey_doc(findings, base=None):
    return {"target": {"base_url": "http://127.0.0.1:1/v1", "models": {}}, "endpoints": {"chat": {"base": base or {"status": 200}, "parameters": findings}}}


def test_the_draft_claims_a_feature_only_from_its_own_effect_and_uses_the_name():
    from conformance.survey import EFFECT_SEEN, draft_profile

    findings = [
        {"parameter": "parallel_tool_calls", "classification": HONOURED, "message": "accepted; the answer differs from the base answer", "status": 200},
        {"parameter": "stop", "classification": HONOURED, "message": f"{EFFECT_SEEN} (present)", "status": 200},
    ]
    text = draft_profile(_survey_doc(findings, {"status": 200, "note": "the base request (without stream) was answered as an SSE stream"}), "mypeer")
    data = __import__("yaml").safe_load(text)
    assert data["title"].startswith("mypeer")
    assert "parallel-tools" not in data["endpoints"]["chat"]["features"]
    assert "stop" in data["endpoints"]["chat"]["features"]
    assert "auth" not in data["endpoints"]["chat"]["features"], "no key probes in this survey: auth not claimed"
    assert "parallel-tools: not determined" in text and "SSE stream" in text


def test_the_survey_uses_only_the_models_the_user_gave(tmp_path, monkeypatch):
    from conformance.settings import resolve
    from conformance.survey import usable_models

    monkeypatch.setenv("OPENAI_API_KEY", "sk-survey-test")
    none_given = resolve("http://127.0.0.1:9/v1", None, None, tmp_path)  # the default profile, not named
    assert usable_models(none_given) == {}, "Scaleway's catalogue is not this target's"
    named = resolve("http://127.0.0.1:9/v1", "scaleway", None, tmp_path)  # surveying Scaleway itself
    assert usable_models(named)["chat"] == named.models["chat"]
    given = resolve("http://127.0.0.1:9/v1", None, ["chat=mine"], tmp_path)
    assert usable_models(given)["chat"] == "mine" and usable_models(given)["tools"] == "mine"
    assert "embeddings" not in usable_models(given)


def _fastapi_server(on_request=None) -> FaultyApp:
    """A server that checks no key, answers an unknown model 400 and its own errors FastAPI-style,
    and has no GET /models/{id} (several real peers: infinity, llama-cpp-python, transformers serve)."""
    def fault(req):
        req.headers["authorization"] = f"Bearer {API_KEY}"  # any key, or none, is let through
        if req.method == "GET" and req.path.startswith("/models/"):
            return Resp(404, {"content-type": "application/json"}, b'{"detail":"Not Found"}')
        body = req.json if req.method == "POST" else None
        if isinstance(body, dict) and body.get("model") == "conformance-no-such-model":
            return Resp(400, {"content-type": "application/json"}, b'{"detail":"Invalid model"}')
        return None

    return _faulty(fault)


def test_the_survey_probes_keys_unknown_models_and_models_retrieval(tmp_path):
    draft = tmp_path / "draft.yaml"
    with ServerThread(_fastapi_server()) as server:
        proc, report = survey(tmp_path, "--base-url", server.base_url, "--endpoint", "chat,models", "--model", "chat=mistral-small-3.2-24b-instruct-2506", "--write-profile", str(draft), env={"OPENAI_API_KEY": API_KEY})
    assert proc.returncode == 0, proc.stderr[-2000:]
    chat = report["endpoints"]["chat"]["probes"]
    assert chat["missing_key"]["status"] == 200 and chat["wrong_key"]["status"] == 200
    assert chat["model_not_found"]["status"] == 400 and chat["model_not_found"]["envelope"].startswith('error body lacks an "error" object')
    models = report["endpoints"]["models"]
    assert models["retrieve"]["status"] == 404 and not models["retrieve"]["ok"]
    assert "unknown model → 400 (not the OpenAI envelope)" in proc.stdout
    data = __import__("yaml").safe_load(draft.read_text())
    text = draft.read_text()
    for endpoint in ("chat", "models"):
        assert "auth" not in data["endpoints"][endpoint]["features"], endpoint
        assert "errors" not in data["endpoints"][endpoint]["features"], endpoint
    assert "auth not claimed: without a key 200" in text and "errors not claimed" in text
    assert "GET /models/mistral-small-3.2-24b-instruct-2506 answered 404" in text
    assert data["status_codes"] == {"model_not_found": [400]}  # no retrieve route: its 404 for an unknown id says nothing
    load_profile(str(draft))  # a valid profile
    assert API_KEY not in json.dumps(report) + proc.stdout + text


def test_the_reference_server_survey_claims_auth_and_errors_from_the_probes(tmp_path):
    draft = tmp_path / "draft.yaml"
    proc, report = survey(tmp_path, "--endpoint", "embeddings,models", "--write-profile", str(draft))
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = __import__("yaml").safe_load(draft.read_text())
    for endpoint in ("embeddings", "models"):
        assert {"core", "auth", "errors"} <= set(data["endpoints"][endpoint]["features"]), endpoint
    assert report["endpoints"]["models"]["retrieve"]["ok"]
    assert "status_codes" not in data and "error_envelope" not in data, "OpenAI's statuses and code types: nothing to document"


def test_observed_statuses_and_code_types_go_into_the_draft():
    from conformance.survey import draft_profile

    def refusal(status, code):
        return {"status": status, "envelope": "ok", "code_type": code}

    doc = _survey_doc([], None)
    doc["endpoints"]["chat"]["probes"] = {"missing_key": refusal(403, "integer"), "wrong_key": refusal(401, "integer"), "model_not_found": refusal(404, "null")}
    data = __import__("yaml").safe_load(draft_profile(doc))
    assert {"auth", "errors"} <= set(data["endpoints"]["chat"]["features"])
    assert data["status_codes"] == {"missing_key": [403]}
    assert data["error_envelope"] == {"code_types": ["integer", "null"]}
    doc["endpoints"]["chat"]["probes"]["model_not_found"] = {"status": 200}
    text = draft_profile(doc)
    assert "unknown model (conformance-no-such-model) was answered 200" in text


def test_probes_that_could_not_be_judged_claim_nothing_and_code_types_come_from_every_refusal():
    from conformance.survey import draft_profile

    doc = _survey_doc([{"parameter": "user", "classification": REJECTED, "message": "400: unknown parameter", "status": 400, "envelope": "ok", "code_type": "integer"}])
    doc["endpoints"]["chat"]["probes"] = {"missing_key": {"status": 429, "error": "status 429: could not judge"}, "wrong_key": {"status": 429, "error": "status 429: could not judge"}, "model_not_found": {"status": 200}}
    text = draft_profile(doc)
    data = __import__("yaml").safe_load(text)
    assert "auth" not in data["endpoints"]["chat"]["features"] and "auth not determined" in text
    assert "status_codes" not in data, "a 429 is no documented refusal status"
    assert "errors" in data["endpoints"]["chat"]["features"] and data["error_envelope"] == {"code_types": ["integer"]}


def test_a_draft_claiming_nothing_is_still_a_valid_profile(tmp_path):
    from conformance.survey import draft_profile

    doc = {"target": {"base_url": "http://127.0.0.1:1/v1", "models": {}}, "endpoints": {"chat": {"skipped": "no model configured"}}}
    path = tmp_path / "draft.yaml"
    path.write_text(draft_profile(doc))
    assert load_profile(str(path)).endpoints == {}


def test_an_effect_the_answer_shows_without_the_parameter_is_not_its_own(tmp_path):
    """A server that ends every stream with a usage chunk (transformers serve) does not honour
    stream_options: the control (stream without it) shows the same chunk."""
    usage = b'data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'

    def always_usage(req, resp):
        if resp.is_stream and b"data: [DONE]" in resp.body and b'"usage": {' not in resp.body and b'"usage":{' not in resp.body:
            resp.body = resp.body.replace(b"data: [DONE]", usage + b"data: [DONE]")

    app = FaultyApp(Fault(name="survey", description="", breaks=frozenset(), on_response=always_usage))
    draft = tmp_path / "draft.yaml"
    with ServerThread(app) as server:
        proc, report = survey(tmp_path, "--base-url", server.base_url, "--endpoint", "chat", "--model", "chat=mistral-small-3.2-24b-instruct-2506", "--write-profile", str(draft), env={"OPENAI_API_KEY": API_KEY})
    assert proc.returncode == 0, proc.stderr[-2000:]
    findings = {f["parameter"]: f for f in report["endpoints"]["chat"]["parameters"]}
    assert findings["stream_options"]["classification"] == NO_EFFECT, findings["stream_options"]
    assert "not its own" in findings["stream_options"]["message"]
    assert findings["stream"]["classification"] == HONOURED, "an effect the base answer lacks is still the parameter's"
    data = __import__("yaml").safe_load(draft.read_text())
    assert "stream-usage" not in data["endpoints"]["chat"]["features"] and "streaming" in data["endpoints"]["chat"]["features"]
