"""Profiles: every shipped one loads and is honest about models; extends; the schema rejects unknown
and unread keys; every parameter a profile lists has a sample value and becomes a case."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conformance.cases import all_cases, unsupported_cases, unsupported_values_table
from conformance.paths import PACKAGE_DIR
from conformance.profiles import NOT_INHERITED, ProfileError, available_profiles, load_profile, overlay

SHIPPED = available_profiles()
SCHEMA = json.loads((PACKAGE_DIR / "schemas" / "profile.schema.json").read_text())
#: The servers issue 11 asks for, beside Scaleway.
EXPECTED = {"openai", "vllm", "llama-cpp", "llama-cpp-python", "ollama", "litellm", "tgi", "tei", "infinity", "transformers-serve", "scaleway"}


from .test_settings_profiles import write_profile as write


BASE = """\
    profile_version: 1
    name: base
    title: Base
    hosted: true
    sources: [base docs]
    endpoints:
      chat:
        features: [core, streaming, unsupported-params]
        unsupported_parameters: [user]
        notes: base notes
      embeddings:
        features: [core, normalized-vectors]
        properties: {normalized: true}
    status_codes: {model_not_found: [404, 422]}
    error_envelope: {code_types: [string, integer]}
    limits: {images_per_request: 4}
    models: {chat: base-chat}
    model_exceptions: {base-chat: {lacks: [streaming]}}
    """


# -- the shipped profiles ------------------------------------------------------------------------
def test_every_server_of_the_issue_has_a_profile():
    assert EXPECTED <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_loads_and_cites_its_sources(name):
    profile = load_profile(name)
    assert profile.name == name
    data = __import__("yaml").safe_load(Path(profile.path).read_text())
    assert data.get("sources"), f"{name}: a profile says where its claims come from"
    assert any(re.search(r"https?://|\w\.(md|mdx|py|go|rs|txt)\b", source) for source in data["sources"]), f"{name}: name a page or a file: {data['sources']}"


@pytest.mark.parametrize("name", SHIPPED)
def test_self_hosted_profiles_have_no_default_models(name):
    """A self-hosted server serves whatever its operator loaded: the user names the models."""
    profile = load_profile(name)
    if not profile.hosted:
        assert profile.models == {}, f"{name}: a self-hosted profile names no models (use --model)"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_generates_its_cases(name):
    profile = load_profile(name)
    cases = all_cases(profile)
    ids = {case.id for case in cases}
    for endpoint in profile.endpoints:
        for parameter in profile.unsupported(endpoint):
            assert f"{endpoint}.unsupported.{parameter}" in ids
        for parameter in profile.ignored(endpoint):
            assert f"{endpoint}.ignored.{parameter}" in ids


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_runs_resolve(name, tmp_path, monkeypatch):
    """`conformance run --profile NAME` gets past settings (the models it names, or none)."""
    from conformance.settings import resolve

    monkeypatch.setenv("OPENAI_API_KEY", "sk-profile-test")
    settings = resolve("http://127.0.0.1:9/v1", name, ["chat=m"], tmp_path)
    assert settings.profile.name == name
    assert settings.model_for("chat") == "m"


def test_a_self_hosted_capability_without_a_model_is_skipped_with_the_reason(tmp_path, monkeypatch):
    from conformance.runner import applicable
    from conformance.settings import resolve

    monkeypatch.setenv("OPENAI_API_KEY", "sk-profile-test")
    settings = resolve("http://127.0.0.1:9/v1", "vllm", ["chat=m"], tmp_path)
    embeddings = next(case for case in all_cases(settings.profile) if case.endpoint == "embeddings" and case.feature == "core")
    assert applicable(embeddings, settings) == "no model configured for capability 'embeddings' (use --model embeddings=NAME)"


# -- extends -------------------------------------------------------------------------------------
def test_overlay_merges_mappings_replaces_lists_and_null_removes():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2, "c": 3}
    assert overlay(base, {"a": {"y": [3]}, "c": None}) == {"a": {"x": 1, "y": [3]}, "b": 2}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2, "c": 3}, "the base is not changed"


def test_extends_inherits_the_contract_not_the_identity(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    child = write(tmp_path, """\
        profile_version: 1
        name: child
        title: Child
        extends: base
        endpoints:
          chat:
            features: [core, unsupported-params]
          embeddings: null
        """)
    profile = load_profile(str(child))
    assert profile.bases == ("base",)
    assert profile.endpoints == {"chat": {"features": ["core", "unsupported-params"], "unsupported_parameters": ["user"], "notes": "base notes"}}
    assert profile.accepted_statuses("model_not_found") == (404, 422)
    assert profile.code_types == ("string", "integer")
    assert profile.limits == {"images_per_request": 4}
    # who the base is, and its model catalogue, are not inherited
    assert (profile.hosted, profile.models, profile.model_lacks) == (False, {}, {})
    assert {"name", "title", "hosted", "models", "model_exceptions", "sources", "description"} <= NOT_INHERITED


def test_extends_a_shipped_profile_by_name(tmp_path):
    child = write(tmp_path, "profile_version: 1\nname: eu\ntitle: EU\nextends: scaleway\n")
    profile = load_profile(str(child))
    assert profile.bases == ("scaleway",)
    assert profile.endpoints == load_profile("scaleway").endpoints


def test_extends_chains_and_records_them(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    write(tmp_path, "profile_version: 1\nname: middle\ntitle: M\nextends: base\n", "middle.yaml")
    leaf = write(tmp_path, "profile_version: 1\nname: leaf\ntitle: L\nextends: middle\n", "leaf.yaml")
    assert load_profile(str(leaf)).bases == ("middle", "base")


def test_extends_cycle_and_unknown_base_are_refused(tmp_path):
    write(tmp_path, "profile_version: 1\nname: a\ntitle: A\nextends: b\nendpoints: {}\n", "a.yaml")
    b = write(tmp_path, "profile_version: 1\nname: b\ntitle: B\nextends: a\nendpoints: {}\n", "b.yaml")
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(str(b))
    orphan = write(tmp_path, "profile_version: 1\nname: o\ntitle: O\nextends: nobody\n", "o.yaml")
    with pytest.raises(ProfileError, match="unknown profile 'nobody'"):
        load_profile(str(orphan))


def test_the_merged_profile_is_what_is_validated(tmp_path):
    write(tmp_path, BASE, "base.yaml")
    child = write(tmp_path, "profile_version: 1\nname: c\ntitle: C\nextends: base\nendpoints: {chat: {features: [core]}}\n")
    with pytest.raises(ProfileError, match="does not claim feature 'unsupported-params'"):
        load_profile(str(child))  # it kept the base's unsupported_parameters but dropped the feature


# -- unknown and unread keys ---------------------------------------------------------------------
MINIMAL = "profile_version: 1\nname: x\ntitle: t\n"


@pytest.mark.parametrize(
    "extra, where",
    [
        ("endpoints: {chat: {features: [core], surprise: 1}}\n", "endpoints/chat"),
        ("endpoints: {embeddings: {features: [core], properties: {file_types: [wav]}}}\n", "endpoints/embeddings/properties"),
        ("endpoints: {chat: {features: [core], properties: {normalized: true}}}\n", "endpoints/chat/properties"),
        ("endpoints: {batches: {features: [core], properties: {endpoint: [/v1/chat/completions]}}}\n", "endpoints/batches/properties"),
        ("endpoints: {}\nlimits: {max_file_bytes_transcription: 26214400}\n", "limits"),
        ("endpoints: {}\nstatus_codes: {model_not_fuond: [404]}\n", "status_codes"),
        ("endpoints: {}\nerror_envelope: {code_type: [string]}\n", "error_envelope"),
        ("endpoints: {}\nmodels: {speech: m}\n", "models"),
        ("endpoints: {}\nextends: 5\n", "extends"),
    ],
    ids=["endpoint-key", "embeddings-property", "chat-property", "batches-property", "unread-limit", "status-typo", "envelope-typo", "capability-typo", "extends-type"],
)
def test_unknown_or_unread_keys_are_refused(tmp_path, extra, where):
    with pytest.raises(ProfileError) as info:
        load_profile(str(write(tmp_path, MINIMAL + extra)))
    assert where in str(info.value) or "extends must name one profile" in str(info.value)


def _schema_keys(node, path=()):
    """Every key path the profile schema allows (``*`` for free-named keys such as endpoints or models)."""
    if not isinstance(node, dict):
        return
    for ref in [node] + node.get("allOf", []):
        if "$ref" in ref:
            yield from _schema_keys(SCHEMA["$defs"][ref["$ref"].rsplit("/", 1)[-1]], path)
    for key, sub in node.get("properties", {}).items():
        yield path + (key,)
        yield from _schema_keys(sub, path + (key,))
    if isinstance(node.get("additionalProperties"), dict):
        yield from _schema_keys(node["additionalProperties"], path + ("*",))


#: Keys only people read (they say where a claim comes from and what it means).
FOR_READERS = {"profile_version", "name", "title", "description", "sources", "notes", "source"}


def test_every_schema_key_is_read_by_the_suite():
    """The schema allows no key the suite ignores: each key name is read somewhere in conformance/
    (as a string literal), except those only people read."""
    code = "\n".join(p.read_text() for p in PACKAGE_DIR.rglob("*.py") if "server" not in p.parts)
    unread = sorted({path[-1] for path in _schema_keys(SCHEMA)} - FOR_READERS - {"*"})
    missing = [key for key in unread if f'"{key}"' not in code]
    assert not missing, f"profile keys nothing in conformance/ reads: {missing}"


def test_these_tests_exercise_every_schema_key():
    """Each key the schema allows appears in a profile these tests load (the fixtures above, or a shipped one)."""
    shipped = "\n".join(Path(load_profile(name).path).read_text() for name in SHIPPED)
    text = Path(__file__).read_text() + shipped
    keys = sorted({path[-1] for path in _schema_keys(SCHEMA)} - {"*"})
    assert not [key for key in keys if not re.search(rf"\b{re.escape(key)}:", text)]


# -- parameters and their sample values ----------------------------------------------------------
def test_a_parameter_without_a_sample_value_is_refused_at_load(tmp_path):
    path = write(tmp_path, MINIMAL + "endpoints: {chat: {features: [core, unsupported-params], unsupported_parameters: [telepathy]}}\n")
    with pytest.raises(ProfileError, match="no sample value for chat parameter 'telepathy'"):
        load_profile(str(path))


def test_models_takes_no_parameters(tmp_path):
    path = write(tmp_path, MINIMAL + "endpoints: {models: {features: [core, unsupported-params], unsupported_parameters: [limit]}}\n")
    with pytest.raises(ProfileError, match="no sample value for models parameter 'limit'"):
        load_profile(str(path))


def test_a_parameter_cannot_be_both_refused_and_ignored(tmp_path):
    path = write(tmp_path, MINIMAL + "endpoints: {chat: {features: [core, unsupported-params], unsupported_parameters: [user], ignored_parameters: [user]}}\n")
    with pytest.raises(ProfileError, match="both unsupported and ignored"):
        load_profile(str(path))


def _everything(tmp_path):
    """A profile listing every sample value of the table, refused on even rows and ignored on odd ones."""
    endpoints = {}
    for endpoint, section in unsupported_values_table().items():
        names = list(section["values"])
        endpoints[endpoint] = {"features": ["core", "unsupported-params"], "unsupported_parameters": names[::2], "ignored_parameters": names[1::2]}
    text = MINIMAL + "endpoints: " + json.dumps(endpoints) + "\n"
    return load_profile(str(write(tmp_path, text)))


def test_every_sample_value_becomes_a_buildable_case_on_every_endpoint(tmp_path):
    profile = _everything(tmp_path)
    cases = unsupported_cases(profile)
    table = unsupported_values_table()
    assert len(cases) == sum(len(section["values"]) for section in table.values())
    assert {case.endpoint for case in cases} == set(table) == {"chat", "responses", "embeddings", "rerank", "transcriptions", "batches"}
    for case in cases:
        parameter = case.common_params["parameter"]
        request = case.build_request("m")
        control = case.common_params["control"]
        assert case.expect == ("refusal" if ".unsupported." in case.id else "success")
        if request.form is not None:
            sent = {name.removesuffix("[]") for name in request.form}
            assert parameter in sent and parameter not in {n.removesuffix("[]") for n in control["form"]}
            assert all(isinstance(v, (str, list)) for v in request.form.values())
        else:
            head = parameter.split(".")[0]
            assert head in request.body
            assert head not in control["body"] or parameter in (table[case.endpoint].get("companions") or {}) or "." in parameter


def test_transcription_list_values_are_repeated_array_fields(tmp_path):
    profile = _everything(tmp_path)
    case = next(c for c in unsupported_cases(profile) if c.endpoint == "transcriptions" and c.id.endswith(".include"))
    assert case.build_request("m").form["include[]"] == ["logprobs"]
    companion = next(c for c in unsupported_cases(profile) if c.id.endswith(".timestamp_granularities"))
    assert companion.common_params["control"]["form"]["response_format"] == "verbose_json"


def test_the_reference_server_enforces_the_scaleway_profile_lists():
    """The reference server reads its unsupported lists from specs/profiles/scaleway.yaml."""
    from conformance.server import batch_jobs, batches, chat, responses, speech, transcriptions, vision

    scaleway = load_profile("scaleway")
    assert chat.UNSUPPORTED_PARAMETERS == tuple(scaleway.unsupported("chat"))
    assert set(scaleway.unsupported("responses")) <= set(responses.UNSUPPORTED_PARAMETERS)
    assert transcriptions.UNSUPPORTED_PARAMETERS == tuple(scaleway.unsupported("transcriptions"))
    assert batches.UNSUPPORTED == tuple(scaleway.unsupported("batches"))
    assert batch_jobs.ENDPOINTS == tuple(scaleway.endpoint_property("batches", "endpoints"))
    assert speech.FILE_TYPES == tuple(scaleway.endpoint_property("transcriptions", "file_types"))
    assert vision.MAX_IMAGES == scaleway.limits["images_per_request"]


def test_batch_cases_follow_the_documented_batch_endpoints(tmp_path, monkeypatch):
    from conformance.runner import applicable
    from conformance.settings import resolve

    monkeypatch.setenv("OPENAI_API_KEY", "sk-profile-test")
    text = MINIMAL + "endpoints: {batches: {features: [core, errors], properties: {endpoints: [/v1/rerank]}}}\n"
    settings = resolve("http://127.0.0.1:9/v1", str(write(tmp_path, text)), ["chat=m"], tmp_path)
    cases = {case.id: case for case in all_cases(settings.profile) if case.endpoint == "batches"}
    outside = next(c for c in cases.values() if (c.request.get("body") or {}).get("endpoint") == "/v1/rerank")
    assert "lists /v1/rerank as a batch endpoint" in applicable(outside, settings)
    chat_batch = next(c for c in cases.values() if c.feature == "core" and (c.request.get("body") or {}).get("endpoint") == "/v1/chat/completions")
    assert "does not list /v1/chat/completions" in applicable(chat_batch, settings)
    scaleway = resolve("http://127.0.0.1:9/v1", "scaleway", None, tmp_path)
    assert applicable(outside, scaleway) is None or "S3" in applicable(outside, scaleway) or "object storage" in applicable(outside, scaleway)


def test_refusals_of_other_tool_types_follow_the_documented_tool_types(tmp_path, monkeypatch):
    from conformance.runner import applicable
    from conformance.settings import resolve

    monkeypatch.setenv("OPENAI_API_KEY", "sk-profile-test")

    def settings_for(properties: str):
        endpoints = f"endpoints: {{chat: {{features: [core, tools]{properties}}}, responses: {{features: [core, tools]{properties}}}}}\n"
        return resolve("http://127.0.0.1:9/v1", str(write(tmp_path, MINIMAL + endpoints)), ["chat=m"], tmp_path)

    cases = {case.id: case for case in all_cases(settings_for("").profile)}
    refusals = [cases[i] for i in ("chat.tools.custom", "responses.tools.web_search", "responses.tools.custom", "responses.input.custom_tool_call")]
    undocumented = settings_for("")
    for case in refusals:
        assert "does not list the tool types" in applicable(case, undocumented), case.id
    only_functions = settings_for(", properties: {tool_types: [function]}")
    for case in refusals:
        assert applicable(case, only_functions) is None, case.id
    custom_too = settings_for(", properties: {tool_types: [function, custom]}")
    assert "lists custom among the chat tool types" in applicable(cases["chat.tools.custom"], custom_too)
    assert "lists custom" in applicable(cases["responses.input.custom_tool_call"], custom_too)
    assert applicable(cases["responses.tools.web_search"], custom_too) is None
    assert applicable(cases["chat.tools.auto"], undocumented) is None, "function tools are not a refusal case"
    # the reference server accepts only function tools: the Scaleway profile says so
    scaleway = load_profile("scaleway")
    assert scaleway.endpoint_property("chat", "tool_types") == scaleway.endpoint_property("responses", "tool_types") == ["function"]
