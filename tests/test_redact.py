"""conformance.redact: registered secrets and bearer tokens are masked in text, headers and JSON-like data."""

from __future__ import annotations

import pytest

from conformance import redact as redact_module
from conformance.redact import MASK, redact, redact_headers, redact_obj, register_secret

SECRET = "sk-redact-test-0123456789"


@pytest.fixture(autouse=True)
def fresh_secrets(monkeypatch):
    """Each test starts with an empty secret registry and leaves the global one untouched."""
    monkeypatch.setattr(redact_module, "_SECRETS", set())


@pytest.mark.parametrize(
    "template",
    [
        "{s}",
        "key={s}",
        "prefix{s}suffix",
        '{{"api_key": "{s}"}}',
        "https://host/v1?key={s}&x=1",
        "line one\n{s}\nline three {s}",
    ],
)
def test_registered_secret_is_masked_anywhere(template):
    register_secret(SECRET)
    text = template.format(s=SECRET)
    out = redact(text)
    assert SECRET not in out
    assert MASK in out
    assert out == text.replace(SECRET, MASK)


def test_unregistered_text_is_unchanged():
    register_secret(SECRET)
    assert redact("nothing secret here: sk-other") == "nothing secret here: sk-other"


def test_longer_secret_is_masked_before_its_prefix():
    register_secret("abcd")
    register_secret("abcdefgh")
    out = redact("abcdefgh and abcd")
    assert out == f"{MASK} and {MASK}"
    assert "efgh" not in out


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer sk-never-registered-123",
        "authorization: bearer sk-never-registered-123",
        "BEARER   sk-never-registered-123",
        '{"Authorization": "Bearer sk-never-registered-123"}',
        "{'authorization': 'Bearer sk-never-registered-123'}",
    ],
)
def test_bearer_token_is_masked_even_when_unregistered(text):
    out = redact(text)
    assert "sk-never-registered-123" not in out
    assert MASK in out


def test_bearer_mask_keeps_surrounding_json_intact():
    assert redact('{"h": "Bearer tok-1234", "n": 1}') == '{"h": "Bearer ' + MASK + '", "n": 1}'


@pytest.mark.parametrize("value", [None, "", "a", "ab", "abc"])
def test_short_secrets_are_not_registered(value):
    register_secret(value)
    assert redact_module._SECRETS == set()
    assert redact("a ab abc") == "a ab abc"


def test_four_character_secret_is_registered():
    register_secret("wxyz")
    assert redact("key wxyz") == f"key {MASK}"


@pytest.mark.parametrize("name", ["Authorization", "authorization", "AUTHORIZATION", "Proxy-Authorization"])
def test_redact_headers_masks_authorization_keeping_the_scheme(name):
    out = redact_headers({name: "Bearer sk-header-secret-99", "Content-Type": "application/json"})
    assert out[name] == f"Bearer {MASK}"
    assert out["Content-Type"] == "application/json"


def test_redact_headers_basic_scheme():
    assert redact_headers({"Authorization": "Basic dXNlcjpwYXNz"}) == {"Authorization": f"Basic {MASK}"}


@pytest.mark.parametrize("name", ["api-key", "X-Api-Key", "x-api-key"])
def test_redact_headers_masks_api_key_headers(name):
    assert redact_headers({name: "sk-bare-key-42"}) == {name: MASK}


def test_redact_headers_returns_a_copy():
    headers = {"Authorization": "Bearer sk-abc-123"}
    redact_headers(headers)
    assert headers == {"Authorization": "Bearer sk-abc-123"}


def test_redact_headers_redacts_other_values_too():
    register_secret(SECRET)
    out = redact_headers({"x-request-id": f"req-{SECRET}", "location": "https://x/?t=Bearer abcd1234"})
    assert SECRET not in out["x-request-id"]
    assert "abcd1234" not in out["location"]


def test_redact_headers_masks_whole_cookie():
    out = redact_headers({"Cookie": "session=cookie-secret-value; theme=dark"})
    assert "cookie-secret-value" not in out["Cookie"]


def test_redact_obj_recurses_into_dicts_and_lists():
    register_secret(SECRET)
    obj = {
        "message": f"bad key {SECRET}",
        "nested": {"list": [SECRET, {"deep": [f"Bearer {SECRET}"]}, 3, None, True, 1.5]},
        "headers": {"authorization": "Bearer sk-unregistered-zzz"},
        "count": 7,
    }
    out = redact_obj(obj)
    assert SECRET not in repr(out)
    assert "sk-unregistered-zzz" not in repr(out)
    assert out["message"] == f"bad key {MASK}"
    assert out["nested"]["list"][0] == MASK
    assert out["nested"]["list"][2:] == [3, None, True, 1.5]
    assert out["count"] == 7
    # The input is left untouched.
    assert obj["message"] == f"bad key {SECRET}"


@pytest.mark.parametrize("value", [None, 0, 1.25, False, []])
def test_redact_obj_passes_non_strings_through(value):
    assert redact_obj(value) == value
