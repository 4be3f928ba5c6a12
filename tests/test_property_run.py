"""The property-based runner's own contract: generation by the spec, validity, reproducibility, curl."""

from __future__ import annotations

import dataclasses

import pytest

from conformance.profiles import load_profile
from conformance.property_run import _generate, curl_command, generate, quick_kind
from conformance.propspec import NEGATIVE, POSITIVE, contract_errors, generation_document, load_operations, operations_for
from conformance.redact import register_secret
from conformance.settings import Settings, resolve
from conformance.transport import ApiRequest

KEY = "sk-property-test-key-123456"


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    import os

    os.environ.setdefault("OPENAI_API_KEY", KEY)
    return resolve(base_url="http://127.0.0.1:9/v1", profile="scaleway", model_specs=[], report_dir=tmp_path_factory.mktemp("r"), api_key_env="OPENAI_API_KEY")


def _op(endpoint: str, mode: str = POSITIVE):
    return operations_for(endpoint, mode)[0]


def test_every_operation_is_in_the_spec_with_its_components():
    from conformance.openapi import component_names, load_document

    paths = load_document()["paths"]
    for op in load_operations():
        assert op.method.lower() in paths[op.path], op.label
        if op.request:
            assert op.request in component_names()
        components = op.response.get("values", {}).values() if isinstance(op.response, dict) else [op.response]
        assert {c for c in components if c} <= set(component_names()), op.label


def test_generation_document_forces_the_model_and_leaves_out_unsupported_parameters(settings):
    op = _op("chat")
    profile = load_profile("scaleway")
    endpoints = {**profile.endpoints, "chat": {**profile.endpoints["chat"], "unsupported_parameters": ["seed", "n"]}}
    narrowed = dataclasses.replace(profile, endpoints=endpoints)
    doc = generation_document(op, narrowed, "my-model", ["my-model"], POSITIVE)
    schema = doc["paths"]["/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["model"] == {"const": "my-model"}
    assert "seed" not in schema["properties"] and "n" not in schema["properties"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"model", "messages", "max_tokens"}


def test_positive_mode_leaves_out_parameters_of_unclaimed_features(settings):
    op = _op("chat")
    profile = load_profile("scaleway")
    endpoints = {**profile.endpoints, "chat": {**profile.endpoints["chat"], "features": ["core"]}}
    bare = dataclasses.replace(profile, endpoints=endpoints)
    positive = generation_document(op, bare, "m", ["m"], POSITIVE)["paths"]["/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    negative = generation_document(op, bare, "m", ["m"], NEGATIVE)["paths"]["/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "logprobs" not in positive["properties"] and "response_format" not in positive["properties"]
    assert "logprobs" in negative["properties"]  # an invalid logprobs must be refused whatever the claims


def test_validity_is_the_spec_s_not_the_narrowing():
    op = _op("chat")
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert contract_errors(op, body={**base, "max_tokens": 9999}) == []  # above the narrowing, valid by the spec
    assert contract_errors(op, body={**base, "temperature": 2.5})  # above the spec's maximum
    assert contract_errors(op, body={**base, "response_format": None}) == []  # null reads as "not given"
    assert contract_errors(op, body={**base, "model": None})  # ... so a null required one is missing
    assert contract_errors(op, body=[base])


def test_multipart_and_query_values_are_read_as_the_spec_types_them():
    transcriptions = _op("transcriptions")
    form = {"model": "whisper", "file": "<binary>"}
    assert contract_errors(transcriptions, form={**form, "temperature": "0.5"}) == []
    assert contract_errors(transcriptions, form={**form, "temperature": "warm"})
    assert contract_errors(transcriptions, form={**form, "temperature": ""}) == []  # empty reads as not given
    listing = next(op for op in operations_for("batches", POSITIVE) if op.method == "GET")
    assert contract_errors(listing, params={"limit": "20"}) == []
    assert contract_errors(listing, params={"limit": "twenty"})


@pytest.mark.parametrize("endpoint", sorted({op.endpoint for op in load_operations()}))
def test_generated_requests_are_of_their_mode_and_reproducible(settings, endpoint):
    for mode in (POSITIVE, NEGATIVE):
        for op in operations_for(endpoint, mode):
            first = generate(op, settings, mode, depth="quick", examples=3, seed=42, with_probes=True)
            again = _generate(op, settings, mode, depth="quick", examples=3, seed=42, with_probes=True)  # not the cached list
            assert [g.key() for g in first] == [g.key() for g in again], "same seed, same requests"
            for item in first:
                if mode == POSITIVE:
                    assert not item.why_invalid, (item.origin, item.why_invalid)
                    assert not item.protocol_probe
                else:
                    assert item.why_invalid, item.origin
            assert len({g.key() for g in first}) == len(first), "no request is sent twice"


def test_model_is_forced_in_every_positive_request(settings):
    for item in generate(_op("embeddings"), settings, POSITIVE, depth="quick", examples=5, seed=3, with_probes=False):
        assert item.request.body["model"] == settings.model_for("embeddings")


def test_transcription_requests_carry_real_audio(settings):
    items = generate(_op("transcriptions"), settings, POSITIVE, depth="quick", examples=2, seed=1, with_probes=False)
    assert items
    for item in items:
        name, data, content_type = item.request.files["file"]
        assert data[:4] == b"RIFF" and content_type == "audio/wav"


def test_deep_depth_sends_at_least_what_quick_does(settings):
    op = _op("embeddings", NEGATIVE)
    quick = generate(op, settings, NEGATIVE, depth="quick", examples=0, seed=1, with_probes=True)
    deep = generate(op, settings, NEGATIVE, depth="deep", examples=0, seed=1, with_probes=True)
    assert {g.key() for g in quick} <= {g.key() for g in deep}
    assert len(deep) > len(quick)


@pytest.mark.parametrize(
    "origin, kind",
    [
        ("coverage: Object with valid 'max_tokens' value: Maximum value", "max_tokens|Maximum value"),
        ("coverage: Object with valid 'max_tokens' value: Near-boundary number", None),
        ("coverage: temperature: Value greater than maximum", "temperature|Value greater than maximum"),
        ("coverage: messages -> Array with invalid items: role: Incorrect type", "messages|Incorrect type"),
        ("coverage: Object with all required properties and 'seed'", None),
    ],
)
def test_quick_depth_keeps_one_case_per_kind(origin, kind):
    assert quick_kind(origin) == kind


def test_curl_command_never_contains_the_key():
    register_secret(KEY)
    request = ApiRequest("POST", "/chat/completions", body={"model": "m", "messages": [{"role": "user", "content": f"it's {KEY}"}], "max_tokens": 1})
    command = curl_command(request, "https://user:pw@example.test/v1")
    assert KEY not in command and "pw" not in command
    assert '"Authorization: Bearer $OPENAI_API_KEY"' in command
    assert command.startswith("curl -sS -X POST https://example.test/v1/chat/completions")
    assert '"max_tokens": 1' in command  # nothing "sanitized" away, unlike schemathesis' own output
    form = ApiRequest("POST", "/audio/transcriptions", form={"model": "whisper"}, files={"file": ("hello.wav", b"RIFF", "audio/wav")})
    assert "-F model=whisper" in curl_command(form, "http://h/v1")
    assert "file=@fixtures/audio/hello.wav;type=audio/wav" in curl_command(form, "http://h/v1")


def test_the_http_run_sends_every_case_through_schemathesis_and_httpx(tmp_path, monkeypatch):
    from conformance.property_run import run_property
    from conformance.server import ServerThread
    from conformance.transport import Counter, make_transport
    from tests.faulty import API_KEY, Fault, FaultyApp

    agents: list[str] = []

    def record(req):
        if req.path == "/embeddings":
            agents.append(req.headers.get("user-agent", ""))
        return None

    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    with ServerThread(FaultyApp(Fault(name="spy", description="", breaks=frozenset(), on_request=record))) as server:
        settings = resolve(base_url=server.base_url, profile="scaleway", model_specs=[], report_dir=tmp_path, property_seed=1)
        transport = make_transport("http", settings.base_url, settings.api_key, settings.timeout)
        counter = Counter()
        try:
            verdict = run_property("embeddings", POSITIVE, settings, transport, counter)
        finally:
            transport.close()
    assert verdict.status == "pass", verdict.message
    assert verdict.evidence["senders"] == ["schemathesis (requests)", "httpx"]
    by_schemathesis = [a for a in agents if a.startswith("python-requests/")]  # case.call on our session
    assert by_schemathesis and len(by_schemathesis) == len(agents) - len(by_schemathesis) == verdict.evidence["sent"]
    assert counter.requests == len(agents)
