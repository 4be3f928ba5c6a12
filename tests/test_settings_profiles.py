"""conformance.settings.resolve and conformance.profiles: usage errors, model resolution, URL hygiene, profile loading."""

from __future__ import annotations

import textwrap

import pytest

from conformance import redact as redact_module
from conformance.profiles import DEFAULT_STATUS_CODES, Profile, ProfileError, available_profiles, load_profile
from conformance.redact import MASK, redact
from conformance.settings import EMBEDDED_KEY_VAR, UsageError, public_url, resolve
from conformance.vocabulary import CAPABILITIES, CHAT_LIKE

URL = "https://api.example.test/v1"
KEY = "sk-settings-test-key-123"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("OPENAI_API_KEY", "SCW_SECRET_KEY", "OPENAI_BASE_URL", EMBEDDED_KEY_VAR):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(redact_module, "_SECRETS", set())


@pytest.fixture
def with_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def run(tmp_path, base_url=URL, profile="scaleway", models=None, **kwargs):
    return resolve(base_url, profile, models, tmp_path / "reports", **kwargs)


def write_profile(tmp_path, text, name="custom.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


MINIMAL = """\
    profile_version: 1
    name: minimal
    title: A minimal profile
    endpoints:
      chat:
        features: [core, streaming]
      models:
        features: [core]
    models:
      chat: profile-chat
      embeddings: profile-embed
    """


# -- usage errors --------------------------------------------------------------------------------
def test_no_url(tmp_path, with_key):
    with pytest.raises(UsageError, match="no base URL"):
        run(tmp_path, base_url=None)


def test_url_from_environment(tmp_path, with_key, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    settings = run(tmp_path, base_url=None)
    assert settings.base_url == "http://127.0.0.1:9/v1"


@pytest.mark.parametrize("url", ["ftp://api.example.test/v1", "api.example.test/v1", "file:///etc/passwd", "http://", "https:///v1"])
def test_non_http_url(tmp_path, with_key, url):
    with pytest.raises(UsageError, match="http"):
        run(tmp_path, base_url=url)


def test_trailing_slash_is_stripped(tmp_path, with_key):
    assert run(tmp_path, base_url=URL + "/").base_url == URL


def test_unknown_profile_lists_known_ones(tmp_path, with_key):
    with pytest.raises(UsageError) as info:
        run(tmp_path, profile="no-such-provider")
    message = str(info.value)
    assert "no-such-provider" in message
    for name in available_profiles():
        assert name in message
    assert "scaleway" in message


@pytest.mark.parametrize(
    "text, where",
    [
        ("profile_version: 1\nname: 5\ntitle: t\nendpoints: {}\n", "name"),
        ("profile_version: 1\nname: x\ntitle: t\nendpoints: [chat]\n", "endpoints"),
        ("profile_version: 2\nname: x\ntitle: t\nendpoints: {}\n", "profile_version"),
        ("profile_version: 1\nname: x\ntitle: t\nendpoints: {telepathy: {features: [core]}}\n", "endpoints"),
        ("profile_version: 1\nname: x\ntitle: t\nendpoints: {}\nsurprise: true\n", "(top level)"),
        ("profile_version: 1\nname: x\ntitle: t\nendpoints: {chat: {features: core}}\n", "endpoints/chat/features"),
        ("- just\n- a list\n", "(top level)"),
    ],
    ids=["name-int", "endpoints-list", "version", "unknown-endpoint", "extra-key", "features-string", "not-a-mapping"],
)
def test_invalid_profile_file_wrong_type(tmp_path, with_key, text, where):
    path = write_profile(tmp_path, text, "bad.yaml")
    with pytest.raises(UsageError, match="invalid at") as info:
        run(tmp_path, profile=str(path))
    assert where in str(info.value)
    assert str(path) in str(info.value)


def test_invalid_profile_unknown_feature(tmp_path, with_key):
    path = write_profile(tmp_path, "profile_version: 1\nname: x\ntitle: t\nendpoints: {chat: {features: [core, teleportation]}}\n")
    with pytest.raises(UsageError, match="unknown feature 'teleportation'"):
        run(tmp_path, profile=str(path))


def test_invalid_profile_not_yaml(tmp_path, with_key):
    path = write_profile(tmp_path, "name: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        run(tmp_path, profile=str(path))


def test_no_api_key(tmp_path):
    with pytest.raises(UsageError, match="no API key") as info:
        run(tmp_path)
    assert "OPENAI_API_KEY" in str(info.value)
    assert "--api-key-env" in str(info.value)


def test_empty_default_key_counts_as_unset(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "")
    with pytest.raises(UsageError, match="no API key"):
        run(tmp_path)


def test_api_key_env_unset(tmp_path, with_key):
    with pytest.raises(UsageError, match="CONFORMANCE_TEST_UNSET_VAR"):
        run(tmp_path, api_key_env="CONFORMANCE_TEST_UNSET_VAR")


def test_api_key_env_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("CONFORMANCE_TEST_EMPTY_VAR", "")
    with pytest.raises(UsageError, match="CONFORMANCE_TEST_EMPTY_VAR"):
        run(tmp_path, api_key_env="CONFORMANCE_TEST_EMPTY_VAR")


def test_api_key_env_named_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_PROVIDER_KEY", "sk-named-variable-key")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings = run(tmp_path, api_key_env="MY_PROVIDER_KEY")
    assert settings.api_key == "sk-named-variable-key"
    assert settings.api_key_source == "MY_PROVIDER_KEY"


def test_default_key_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("SCW_SECRET_KEY", "scw-secret-key-value")
    settings = run(tmp_path)
    assert (settings.api_key, settings.api_key_source) == ("scw-secret-key-value", "SCW_SECRET_KEY")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    settings = run(tmp_path)
    assert (settings.api_key, settings.api_key_source) == (KEY, "OPENAI_API_KEY")


def test_embedded_run_takes_its_key_from_the_embedded_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(EMBEDDED_KEY_VAR, "embedded-generated-key")
    settings = resolve(None, "scaleway", None, tmp_path, embedded_url="http://127.0.0.1:1234/v1")
    assert settings.embedded
    assert settings.api_key == "embedded-generated-key"
    assert settings.base_url == "http://127.0.0.1:1234/v1"


@pytest.mark.parametrize(
    "spec, match",
    [
        ("chat", "CAPABILITY=NAME"),
        ("chat=", "CAPABILITY=NAME"),
        ("chat=  ", "CAPABILITY=NAME"),
        ("telepathy=some-model", "unknown capability 'telepathy'"),
        ("=some-model", "unknown capability ''"),
    ],
)
def test_bad_model_specs(tmp_path, with_key, spec, match):
    with pytest.raises(UsageError, match=match):
        run(tmp_path, models=[spec])


def test_unknown_capability_message_lists_the_capabilities(tmp_path, with_key):
    with pytest.raises(UsageError) as info:
        run(tmp_path, models=["telepathy=m"])
    for capability in CAPABILITIES:
        assert capability in str(info.value)


@pytest.mark.parametrize("timeout", [0, -1.5])
def test_non_positive_timeout(tmp_path, with_key, timeout):
    with pytest.raises(UsageError, match="timeout"):
        run(tmp_path, timeout=timeout)


def test_usage_error_is_a_value_error():
    assert issubclass(UsageError, ValueError)


# -- model resolution ----------------------------------------------------------------------------
def test_profile_defaults_when_no_model_given(tmp_path, with_key):
    settings = run(tmp_path)
    assert settings.models == load_profile("scaleway").models


def test_explicit_chat_model_propagates_to_chat_like(tmp_path, with_key):
    settings = run(tmp_path, models=["chat=my-chat"])
    profile = load_profile("scaleway")
    for capability in CHAT_LIKE:
        assert settings.model_for(capability) == "my-chat"
    for capability in set(CAPABILITIES) - CHAT_LIKE - {"chat"}:
        assert settings.model_for(capability) == profile.models[capability]
    assert settings.model_for("chat") == "my-chat"


def test_explicit_chat_like_model_wins_over_the_chat_model(tmp_path, with_key):
    settings = run(tmp_path, models=["chat=my-chat", "vision=my-vision", " audio = my-audio "])
    assert settings.model_for("vision") == "my-vision"
    assert settings.model_for("audio") == "my-audio"
    assert settings.model_for("tools") == "my-chat"
    assert settings.model_for("responses") == "my-chat"


def test_explicit_non_chat_model_keeps_profile_chat_like_defaults(tmp_path, with_key):
    settings = run(tmp_path, models=["embeddings=my-embed"])
    profile = load_profile("scaleway")
    assert settings.model_for("embeddings") == "my-embed"
    for capability in CHAT_LIKE | {"chat"}:
        assert settings.model_for(capability) == profile.models[capability]


def test_later_model_spec_wins(tmp_path, with_key):
    assert run(tmp_path, models=["chat=a", "chat=b"]).model_for("chat") == "b"


def test_chat_like_capabilities_fall_back_to_the_profile_chat_model(tmp_path, with_key):
    path = write_profile(tmp_path, MINIMAL)
    settings = run(tmp_path, profile=str(path))
    for capability in CHAT_LIKE:
        assert settings.model_for(capability) == "profile-chat"
    assert settings.model_for("embeddings") == "profile-embed"
    assert settings.model_for("rerank") is None
    assert settings.model_for("transcription") is None


def test_no_chat_model_means_no_chat_like_models(tmp_path, with_key):
    path = write_profile(tmp_path, "profile_version: 1\nname: bare\ntitle: Bare\nendpoints: {models: {features: [core]}}\n")
    settings = run(tmp_path, profile=str(path))
    assert settings.models == {}
    settings = run(tmp_path, profile=str(path), models=["tools=just-tools"])
    assert settings.models == {"tools": "just-tools"}


# -- URL hygiene and redaction -------------------------------------------------------------------
@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://user:secret-pw@api.example.test/v1", "https://api.example.test/v1"),
        ("https://user@api.example.test:8443/v1?api_key=secret-q#frag", "https://api.example.test:8443/v1"),
        ("http://127.0.0.1:8000/v1?token=abc", "http://127.0.0.1:8000/v1"),
        ("https://api.example.test/v1", "https://api.example.test/v1"),
    ],
)
def test_public_url_strips_credentials_and_query(url, expected):
    assert public_url(url) == expected


def test_public_url_keeps_ipv6_brackets():
    assert public_url("http://user:pw@[::1]:8080/v1?k=v") == "http://[::1]:8080/v1"


def test_display_url_has_no_credentials(tmp_path, with_key):
    settings = run(tmp_path, base_url="https://alice:hunter22@api.example.test/v1?key=q-secret")
    assert settings.display_url == "https://api.example.test/v1"
    assert "hunter22" not in settings.display_url and "q-secret" not in settings.display_url


def test_key_is_registered_for_redaction(tmp_path, with_key):
    settings = run(tmp_path)
    assert settings.api_key == KEY
    assert redact(f"the key is {KEY}.") == f"the key is {MASK}."


def test_key_is_not_in_settings_repr(tmp_path, with_key):
    assert KEY not in repr(run(tmp_path))


def test_report_dir_and_timeout(tmp_path, with_key):
    settings = run(tmp_path, timeout=12.5)
    assert settings.report_dir == tmp_path / "reports"
    assert settings.timeout == 12.5
    assert settings.embedded is False


# -- profiles ------------------------------------------------------------------------------------
def test_scaleway_by_name():
    profile = load_profile("scaleway")
    assert isinstance(profile, Profile)
    assert profile.name == "scaleway"
    assert profile.path.endswith("scaleway.yaml")
    assert profile.claims_endpoint("chat")
    assert profile.claims("chat", "streaming")
    assert profile.claims("responses", "streaming")
    assert not profile.claims("rerank", "streaming")
    assert profile.endpoint_property("embeddings", "normalized") is True
    assert profile.endpoint_property("rerank", "normalized", "absent") == "absent"
    assert profile.model_lacks_feature("llama-3.3-70b-instruct", "parallel-tools")
    assert not profile.model_lacks_feature("mistral-small-3.2-24b-instruct-2506", "parallel-tools")
    assert not profile.claims("no-such-endpoint", "core")
    assert "metadata" in profile.unsupported("chat")
    assert profile.unsupported("models") == []
    assert profile.code_types == ("string", "integer", "null")


def test_available_profiles_includes_scaleway():
    assert "scaleway" in available_profiles()


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_profile_by_path(tmp_path, suffix):
    path = write_profile(tmp_path, MINIMAL, "minimal" + suffix)
    profile = load_profile(str(path))
    assert profile.name == "minimal"
    assert profile.path == str(path)
    assert profile.endpoints["chat"]["features"] == ["core", "streaming"]
    assert profile.models == {"chat": "profile-chat", "embeddings": "profile-embed"}
    assert profile.code_types == ("string", "null")
    assert profile.limits == {}


def test_profile_by_missing_path_is_unknown(tmp_path):
    with pytest.raises(ProfileError, match="unknown profile"):
        load_profile(str(tmp_path / "absent.yaml"))


def test_accepted_statuses_defaults(tmp_path):
    profile = load_profile(str(write_profile(tmp_path, MINIMAL)))
    for situation, statuses in DEFAULT_STATUS_CODES.items():
        assert profile.accepted_statuses(situation) == statuses
    assert profile.accepted_statuses("model_not_found") == (404,)
    assert profile.accepted_statuses("missing_key") == (401,)
    assert profile.accepted_statuses("wrong_key") == (401, 403)


def test_accepted_statuses_profile_overrides_one_situation(tmp_path):
    path = write_profile(tmp_path, textwrap.dedent(MINIMAL) + "status_codes:\n  model_not_found: [404, 422]\n")
    profile = load_profile(str(path))
    assert profile.accepted_statuses("model_not_found") == (404, 422)
    assert profile.accepted_statuses("wrong_key") == (401, 403)


def test_scaleway_accepted_statuses():
    profile = load_profile("scaleway")
    assert profile.accepted_statuses("model_not_found") == (404, 422)
    assert profile.accepted_statuses("missing_key") == (401,)
    assert profile.accepted_statuses("wrong_key") == (401, 403)


# -- per-model exceptions ------------------------------------------------------------------------
def test_a_model_the_profile_says_lacks_a_feature_skips_those_cases(tmp_path, with_key):
    from conformance.cases import all_cases
    from conformance.runner import applicable

    settings = run(tmp_path, models=["tools=llama-3.3-70b-instruct"])
    cases = {case.id: case for case in all_cases(settings.profile)}
    parallel = [case for case in cases.values() if case.feature == "parallel-tools"]
    assert parallel, "the scaleway profile claims parallel-tools on chat: some case must exercise it"
    for case in parallel:
        assert applicable(case, settings) == "profile 'scaleway' says model llama-3.3-70b-instruct lacks feature 'parallel-tools'"
    assert applicable(cases["chat.tools.auto"], settings) is None
    default = run(tmp_path)
    assert all(applicable(case, default) is None for case in parallel)


def test_model_exceptions_must_name_known_features(tmp_path, with_key):
    path = write_profile(tmp_path, MINIMAL.rstrip(" ") + "    model_exceptions:\n      profile-chat: {lacks: [telepathy]}\n")
    with pytest.raises(UsageError, match="lacks unknown feature 'telepathy'"):
        run(tmp_path, profile=str(path))


def test_batch_input_file_form_is_checked_at_load(tmp_path, with_key):
    path = write_profile(tmp_path, "profile_version: 1\nname: x\ntitle: t\nendpoints: {batches: {features: [core], properties: {input_file: ftp-url}}}\n")
    with pytest.raises(UsageError, match="endpoints/batches/properties/input_file: 'ftp-url' is not one of"):
        run(tmp_path, profile=str(path))


def test_a_providers_rate_limits_apply_to_it_not_to_a_local_server_under_the_default_profile(tmp_path, with_key):
    scaleway = (300, 50, 200000)
    limits = lambda s: (s.limits.rpm, s.limits.concurrency, s.limits.tpm)  # noqa: E731
    assert limits(run(tmp_path)) == scaleway  # the provider, its profile named
    assert limits(run(tmp_path, profile=None)) == scaleway  # a remote target under the default profile
    assert limits(run(tmp_path, base_url="http://127.0.0.1:8000/v1", profile=None)) == (None, None, None)  # a local server: not Scaleway's
    assert limits(run(tmp_path, base_url="http://localhost:8000/v1")) == scaleway  # named: its limits, wherever it runs
    assert limits(run(tmp_path, base_url="http://127.0.0.1:8000/v1", profile=None, rpm=60)) == (60, None, None)  # an option always counts


def test_default_workers_follow_the_requests_needed_and_the_slots(tmp_path, with_key):
    from conformance.cli import REQUESTS_PER_WORKER, default_workers
    from conformance.plan import need

    small = run(tmp_path, endpoints=["models"], property_depth="off")
    assert need(small).requests < 2 * REQUESTS_PER_WORKER and default_workers(small, None) == "0"  # starting workers would cost more
    assert default_workers(run(tmp_path), None) == "4"  # a whole run
    assert default_workers(run(tmp_path, concurrency=2), None) == "2"  # never more than the slots
    assert default_workers(run(tmp_path), "http://127.0.0.1:1/v1") == "0"  # the embedded server
