"""The reference server's structured output (response_format json_object / json_schema) and its
deterministic JSON Schema instance generator (docs/REFERENCE_MODEL.md, "Structured output")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import create_app
from conformance.server.model import tokenize
from conformance.server.schema_instance import (
    SchemaInstanceError,
    generate,
    pattern_string,
)

KEY = "sk-test-structured"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "mistral-small-3.2-24b-instruct-2506"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "structured"


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


def chat(client, content="Hello there", model=MODEL, **params):
    body = {"model": model, "messages": [{"role": "user", "content": content}], **params}
    return client.post("/v1/chat/completions", headers=AUTH, json=body)


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors("CreateChatCompletionResponse", body) == []
    return body


def content(response) -> str:
    return ok(response)["choices"][0]["message"]["content"]


def json_schema_format(schema, name="answer", **extra):
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, **extra}}


def stream_chunks(client, content, **params) -> list[dict]:
    response = chat(client, content, stream=True, **params)
    assert response.status_code == 200, response.text
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        assert schema_errors("CreateChatCompletionStreamResponse", chunk) == []
    return chunks


def assert_error(response, code: str, param: str, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error"), error
    assert param in error["message"]
    return error


def validate(value, schema) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(value)


# --- json_object ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt, expected",
    [
        ('Return this object: {"city": "Paris", "n": [1, 2.5, true, null]} thanks', {"city": "Paris", "n": [1, 2.5, True, None]}),
        ('Ignore {not json} and [1, 2]; use {"k": {"nested": "v"}}', {"k": {"nested": "v"}}),
        ('Two: {"first": 1} {"second": 2}', {"first": 1}),
        ('{"a": NaN} is not JSON, {"b": 1} is', {"b": 1}),
    ],
)
def test_json_object_is_the_first_object_literal_of_the_input(client, prompt, expected):
    text = content(chat(client, prompt, response_format={"type": "json_object"}))
    assert text == json.dumps(expected)
    assert json.loads(text) == expected


@pytest.mark.parametrize(
    "prompt, reply",
    [
        ("Describe a cat: its name and the sound it makes.", "You said: Describe a cat: its name and the sound it makes."),
        ("Reply with exactly: hello there", "hello there"),
        ("Count from 1 to 3 [1, 2]", "1 2 3"),
    ],
)
def test_json_object_falls_back_to_the_text_reply(client, prompt, reply):
    body = ok(chat(client, prompt, response_format={"type": "json_object"}))
    choice = body["choices"][0]
    assert choice["message"]["content"] == json.dumps({"answer": reply})
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == len(tokenize(json.dumps({"answer": reply})))


def test_response_format_text_is_the_text_rules(client):
    assert content(chat(client, "Count from 1 to 3", response_format={"type": "text"})) == "1 2 3"


def test_json_object_uses_the_last_user_message(client):
    messages = [
        {"role": "system", "content": 'System: {"ignored": true}'},
        {"role": "user", "content": '{"old": 1}'},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "Now"}, {"type": "text", "text": '{"new": 2}'}]},
    ]
    body = {"model": MODEL, "messages": messages, "response_format": {"type": "json_object"}}
    assert content(client.post("/v1/chat/completions", headers=AUTH, json=body)) == '{"new": 2}'


# --- json_schema -----------------------------------------------------------------------------------

ADDRESS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["city", "zip"],
    "properties": {"city": {"type": "string"}, "zip": {"type": "string", "pattern": r"^\d{5}$"}},
}

SCHEMAS = {
    "nested-objects": {
        "type": "object",
        "required": ["title", "author"],
        "properties": {
            "title": {"type": "string"},
            "author": {
                "type": "object",
                "required": ["name", "born"],
                "properties": {"name": {"type": "string"}, "born": {"type": "integer", "minimum": 1800}},
            },
        },
    },
    "array-bounds": {
        "type": "object",
        "required": ["colours", "scores"],
        "properties": {
            "colours": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 3},
            "scores": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 5}, "minItems": 4, "uniqueItems": True},
        },
    },
    "enum-const": {
        "type": "object",
        "required": ["answer", "kind"],
        "properties": {"answer": {"enum": ["yes", "no"]}, "kind": {"const": "status-report"}, "level": {"type": "integer", "enum": [3, 5]}},
    },
    "anyof": {
        "type": "object",
        "required": ["value"],
        "properties": {"value": {"anyOf": [{"type": "number", "minimum": 10}, {"type": "string", "minLength": 1}]}},
    },
    "oneof-overlapping": {
        "type": "object",
        "required": ["n"],
        "properties": {"n": {"oneOf": [{"type": "integer"}, {"type": "number"}]}},
    },
    "oneof-tagged": {
        "type": "object",
        "required": ["shape"],
        "properties": {
            "shape": {
                "oneOf": [
                    {"type": "object", "required": ["kind", "radius"], "properties": {"kind": {"const": "circle"}, "radius": {"type": "number", "exclusiveMinimum": 0}}, "additionalProperties": False},
                    {"type": "object", "required": ["kind", "side"], "properties": {"kind": {"const": "square"}, "side": {"type": "number"}}, "additionalProperties": False},
                ]
            }
        },
    },
    "ref-defs": {
        "type": "object",
        "$defs": {"address": ADDRESS},
        "required": ["home", "work"],
        "properties": {"home": {"$ref": "#/$defs/address"}, "work": {"$ref": "#/$defs/address"}},
        "additionalProperties": False,
    },
    "recursive-ref": {
        "$defs": {
            "node": {
                "type": "object",
                "required": ["name", "children"],
                "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
            }
        },
        "$ref": "#/$defs/node",
    },
    "pattern": {
        "type": "object",
        "required": ["code", "flight", "tag"],
        "properties": {
            "code": {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"},
            "flight": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{3,4}$"},
            "tag": {"type": "string", "pattern": r"^(?:red|green)_[a-z]+\.v\d+$", "minLength": 12},
        },
    },
    "numeric-bounds": {
        "type": "object",
        "required": ["rating", "year", "price", "temp", "step"],
        "properties": {
            "rating": {"type": "number", "minimum": 0, "maximum": 10},
            "year": {"type": "integer", "exclusiveMinimum": 1900, "maximum": 2100},
            "price": {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01},
            "temp": {"type": "integer", "maximum": -10, "multipleOf": 4},
            "step": {"type": "number", "exclusiveMinimum": 0.25, "exclusiveMaximum": 0.5},
        },
    },
    "nullable": {
        "type": "object",
        "required": ["first", "middle", "age"],
        "properties": {
            "first": {"type": "string"},
            "middle": {"type": ["string", "null"]},
            "age": {"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 0}]},
            "never": {"type": "null"},
        },
    },
    "additional-properties-false": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "sound"],
        "properties": {"name": {"type": "string"}, "sound": {"type": "string"}, "optional": {"type": "boolean"}},
    },
    "allof": {
        "allOf": [
            {"type": "object", "required": ["a"], "properties": {"a": {"type": "string", "maxLength": 3}}},
            {"required": ["b"], "properties": {"b": {"type": "integer", "minimum": 7}}},
        ]
    },
    "formats": {
        "type": "object",
        "required": ["day", "at", "email", "site", "id"],
        "properties": {
            "day": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "email": {"type": "string", "format": "email"},
            "site": {"type": "string", "format": "uri"},
            "id": {"type": "string", "format": "uuid"},
        },
    },
    "string-lengths": {
        "type": "object",
        "required": ["short", "long"],
        "properties": {"short": {"type": "string", "maxLength": 3}, "long": {"type": "string", "minLength": 12}},
    },
    "tuple": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}], "items": False},
}


@pytest.mark.parametrize("strict", [True, False])
@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_json_schema_output_parses_and_validates(client, name, strict):
    schema = SCHEMAS[name]
    prompt = "Describe a trip from Paris to Tokyo, with a stop in Lyon."
    params = {"response_format": json_schema_format(schema, name=name.replace("-", "_"), strict=strict), "max_tokens": 300}
    body = ok(chat(client, prompt, **params))
    text = body["choices"][0]["message"]["content"]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert text == json.dumps(json.loads(text))  # json.dumps, default separators
    validate(json.loads(text), schema)
    assert content(chat(client, prompt, **params)) == text  # deterministic
    assert body["usage"]["completion_tokens"] == len(tokenize(text))


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_suite_structured_fixtures_validate_within_their_max_tokens(client, path):
    entry = json.loads(path.read_text())
    fmt = json_schema_format(entry["schema"], name=entry["name"], strict=entry.get("strict", True))
    body = ok(chat(client, entry["prompt"], response_format=fmt, max_tokens=200, temperature=0))
    assert body["choices"][0]["finish_reason"] == "stop"
    validate(json.loads(body["choices"][0]["message"]["content"]), entry["schema"])


def test_json_schema_values_follow_the_contract(client):
    schema = {
        "type": "object",
        "required": ["from", "to", "via", "code", "unit", "kind"],
        "properties": {
            "from": {"type": "string"},
            "to": {"type": "string"},
            "via": {"type": "string"},
            "code": {"type": "string", "pattern": r"^[A-Z]{3}-\d{4}$"},
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "kind": {"const": "trip"},
        },
    }
    text = content(chat(client, "A trip from Paris to Tokyo, stopping in Lyon and then in Paris again", response_format=json_schema_format(schema)))
    # place names: "in Lyon", "in Paris" (deduplicated, in order of appearance); then "example"
    assert json.loads(text) == {"from": "Lyon", "to": "Paris", "via": "example", "code": "AAA-0000", "unit": "celsius", "kind": "trip"}
    assert list(json.loads(text)) == ["from", "to", "via", "code", "unit", "kind"]  # declared order


def test_json_schema_every_declared_property_is_present(client):
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}, "c": {"type": "boolean"}}}
    assert json.loads(content(chat(client, "hi", response_format=json_schema_format(schema)))) == {"a": "example", "b": 0, "c": True}


def test_json_schema_streamed_deltas_concatenate_to_the_same_json(client):
    fmt = json_schema_format(SCHEMAS["ref-defs"])
    prompt = "Give the home and work addresses of a person who lives in Paris and works in Lyon."
    plain = ok(chat(client, prompt, response_format=fmt))
    chunks = stream_chunks(client, prompt, response_format=fmt, stream_options={"include_usage": True})
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    text = "".join(d.get("content") or "" for d in deltas)
    assert text == plain["choices"][0]["message"]["content"]
    assert [d["content"] for d in deltas[1:-1]] == tokenize(text)  # token by token
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == plain["usage"]
    validate(json.loads(text), SCHEMAS["ref-defs"])


def test_json_with_max_tokens_is_truncated_with_length(client):
    fmt = json_schema_format(SCHEMAS["nested-objects"])
    full = content(chat(client, "Describe Dune", response_format=fmt))
    body = ok(chat(client, "Describe Dune", response_format=fmt, max_tokens=5))
    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "".join(tokenize(full)[:5])
    assert body["usage"]["completion_tokens"] == 5


def test_json_schema_with_n_gives_identical_choices(client):
    body = ok(chat(client, "hi", response_format=json_schema_format(SCHEMAS["enum-const"]), n=3))
    assert len({c["message"]["content"] for c in body["choices"]}) == 1
    assert body["usage"]["completion_tokens"] == 3 * len(tokenize(body["choices"][0]["message"]["content"]))


# --- invalid response_format ---------------------------------------------------------------------------

INVALID_FORMATS = [
    ({"type": "xml"}, "invalid_value", "response_format.type"),
    ({"type": 3}, "invalid_type", "response_format.type"),
    ({}, "missing_required_parameter", "response_format.type"),
    ("json", "invalid_type", "response_format"),
    ({"type": "json_schema"}, "missing_required_parameter", "response_format.json_schema"),
    ({"type": "json_schema", "json_schema": "s"}, "invalid_type", "response_format.json_schema"),
    ({"type": "json_schema", "json_schema": {"name": "nothing"}}, "missing_required_parameter", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}, "missing_required_parameter", "response_format.json_schema.name"),
    ({"type": "json_schema", "json_schema": {"name": "has space", "schema": {}}}, "invalid_value", "response_format.json_schema.name"),
    ({"type": "json_schema", "json_schema": {"name": "x" * 65, "schema": {}}}, "invalid_value", "response_format.json_schema.name"),
    ({"type": "json_schema", "json_schema": {"name": "", "schema": {}}}, "invalid_value", "response_format.json_schema.name"),
    ({"type": "json_schema", "json_schema": {"name": 7, "schema": {}}}, "invalid_type", "response_format.json_schema.name"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {}, "strict": "yes"}}, "invalid_type", "response_format.json_schema.strict"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": "object"}}, "invalid_type", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "strin"}}}, "invalid_value", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"minLength": -1}}}, "invalid_value", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"pattern": "(unclosed"}}}, "invalid_value", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"$ref": "#/$defs/missing"}}}, "invalid_value", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"$ref": "https://example.com/s.json"}}}, "invalid_value", "response_format.json_schema.schema"),
    # valid JSON Schemas without any instance
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "string", "minLength": 5, "maxLength": 2}}}, "invalid_value", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object", "additionalProperties": False, "required": ["x"]}}}, "invalid_value", "response_format.json_schema.schema"),
    ({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "array", "items": {"enum": [1, 2]}, "uniqueItems": True, "minItems": 3}}}, "invalid_value", "response_format.json_schema.schema"),
]


@pytest.mark.parametrize("fmt, code, param", INVALID_FORMATS, ids=[f"{p}:{json.dumps(f)[:60]}" for f, _, p in INVALID_FORMATS])
def test_invalid_response_format_is_400_naming_the_parameter(client, fmt, code, param):
    assert_error(chat(client, response_format=fmt), code, param)


def test_unknown_type_message_names_the_type(client):
    error = assert_error(chat(client, response_format={"type": "xml"}), "invalid_value", "response_format.type")
    assert "xml" in error["message"]


def test_response_format_validation_order(client):
    bad = {"type": "xml"}
    # type checks of other parameters first
    assert_error(chat(client, response_format=bad, n="2"), "invalid_type", "n")
    # then response_format, before the model lookup
    assert_error(chat(client, response_format=bad, model="no-such-model"), "invalid_value", "response_format.type")
    # a valid format with an unknown model: the model lookup
    assert_error(chat(client, response_format={"type": "json_object"}, model="no-such-model"), "model_not_found", "model", 404)


def test_null_response_format_is_absent(client):
    assert content(chat(client, "Count from 1 to 2", response_format=None)) == "1 2"


@pytest.mark.parametrize(
    "value",
    [None, True, 0, "", [], {}, {"type": None}, {"type": "json_schema", "json_schema": None},
     {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": ["array", "null"], "items": {"$ref": "#"}}}},
     {"type": "json_schema", "json_schema": {"name": "n", "schema": {"$ref": "#"}}},
     {"type": "json_schema", "json_schema": {"name": "n", "schema": {"not": {}}}},
     {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "string", "pattern": "(?=a)b"}}},
     {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "integer", "minimum": 1e308, "multipleOf": 7}}},
     {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "array", "minItems": 100000}}},
     {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "string", "minLength": 100000000}}}],
)  # fmt: skip
def test_no_response_format_makes_a_500(client, value):
    response = chat(client, response_format=value)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert schema_errors("CreateChatCompletionResponse", response.json()) == []


# --- the instance generator -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern, expected",
    [
        (r"^[A-Z]{3}-\d{4}$", "AAA-0000"),
        ("^[A-Z]{2}[0-9]{3,4}$", "AA000"),
        (r"^\w+@\w+\.com$", "A@A.com"),
        (r"^(ab|cd)+x?$", "ab"),
        (r"^[^a-c]\s.$", "A a"),
        (r"^(?P<q>['\"])x(?P=q)$", "'x'"),
        (r"^\d*$", ""),
    ],
)
def test_pattern_strings(pattern, expected):
    text = pattern_string(pattern)
    assert text == expected
    assert re.search(pattern, text)


def test_pattern_strings_grow_to_min_length_and_vary():
    text = pattern_string(r"^[a-z]+\d*$", min_length=6)
    assert len(text) >= 6 and re.search(r"^[a-z]+\d*$", text)
    variants = {pattern_string(r"^[A-Z]{2}\d$", variant=v) for v in range(12)}
    assert len(variants) == 12


def test_generator_uses_hints_in_order_and_reports_them():
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string", "maxLength": 3}, "c": {"type": "string"}}}
    instance = generate(schema, ["Paris", "Tokyo"])
    assert instance.value == {"a": "Paris", "b": "exa", "c": "Tokyo"}  # "Tokyo" does not fit b
    assert instance.hints_used == 2
    assert generate({"type": "string", "enum": ["x"]}, ["Paris"]).hints_used == 0


def test_generator_one_of_matches_exactly_one_branch():
    schema = {"oneOf": [{"type": "integer"}, {"type": "number"}]}
    value = generate(schema).value
    validate(value, schema)
    assert not isinstance(value, int)


def test_generator_unique_items():
    schema = {"type": "array", "items": {"type": "object", "properties": {"k": {"const": "c"}, "r": {"type": "number"}}}, "uniqueItems": True, "minItems": 3}
    value = generate(schema).value
    validate(value, schema)
    assert len(value) == 3


@pytest.mark.parametrize(
    "schema",
    [{"type": "string", "minLength": 3, "maxLength": 1}, {"enum": []}, {"allOf": [{"type": "string"}, {"type": "integer"}]}, False,
     {"type": "number", "minimum": 1, "maximum": 0}, {"$ref": "other.json"}],
)  # fmt: skip
def test_generator_refuses_schemas_without_instance(schema):
    with pytest.raises(SchemaInstanceError):
        generate(schema)


def test_generator_gives_up_on_huge_or_explosive_schemas():
    nested: dict = {"type": "integer", "minimum": 5, "maximum": 4}
    for _ in range(6):  # every level: 3 branches x retries, none with an instance
        nested = {"oneOf": [nested, nested, {"allOf": [nested, {"type": "integer"}]}]}
    with pytest.raises(SchemaInstanceError):
        generate(nested)
    with pytest.raises(SchemaInstanceError):
        generate({"type": "string", "pattern": r"^(\w{1000}){1000}$"})
