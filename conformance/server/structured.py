"""Structured output (``response_format``): its validation, and the JSON text the model answers with.

``text`` (or no response_format) keeps the text rules. ``json_object`` answers with the first JSON
object literal of the input, else ``{"answer": <the text-rule reply>}``. ``json_schema`` answers
with a deterministic instance of the schema (see ``schema_instance``) whose unconstrained strings
take the input's place names in order. Both are serialised with ``json.dumps`` (default separators).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import APIError, describe, invalid_value, missing_required
from .schema_instance import SchemaInstanceError, check_schema, generate
from .validation import (
    expect_bool,
    expect_choice,
    expect_object,
    expect_string,
    optional,
)

TEXT = "text"
JSON_OBJECT = "json_object"
JSON_SCHEMA = "json_schema"
TYPES = (TEXT, JSON_OBJECT, JSON_SCHEMA)
#: ``json_schema.name`` (and function names): letters, digits, ``_`` and ``-``, at most 64.
NAME_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@dataclass(frozen=True)
class ResponseFormat:
    type: str
    name: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool = False


def check_name(value: Any, param: str) -> str:
    """A string matching ``^[a-zA-Z0-9_-]{1,64}$``, else ``invalid_type`` / ``invalid_value``."""
    name = expect_string(value, param)
    if not NAME_PATTERN.fullmatch(name):
        raise invalid_value(
            param, f"expected 1 to 64 letters, digits, '_' or '-' (^[a-zA-Z0-9_-]{{1,64}}$), got {describe(name)}."
        )
    return name


def schema_error(param: str, error: SchemaInstanceError) -> APIError:
    return invalid_value(param, f"{error}.")


def parse_response_format(value: Any, param: str = "response_format") -> ResponseFormat:
    """Validate a sent ``response_format``; errors name the exact sub-parameter."""
    fmt = expect_object(value, param)
    if fmt.get("type") is None:
        raise missing_required(f"{param}.type")
    kind = expect_choice(fmt["type"], f"{param}.type", TYPES)
    if kind != JSON_SCHEMA:
        return ResponseFormat(kind)
    if fmt.get("json_schema") is None:
        raise missing_required(f"{param}.json_schema")
    spec = expect_object(fmt["json_schema"], f"{param}.json_schema")
    schema_param = f"{param}.json_schema.schema"
    if spec.get("schema") is None:
        raise missing_required(schema_param)
    if spec.get("name") is None:
        raise missing_required(f"{param}.json_schema.name")
    name = check_name(spec["name"], f"{param}.json_schema.name")
    optional(spec, "description", expect_string, param=f"{param}.json_schema.description")
    strict = optional(spec, "strict", expect_bool, default=False, param=f"{param}.json_schema.strict")
    schema = expect_object(spec["schema"], schema_param)
    try:
        check_schema(schema)
    except SchemaInstanceError as exc:
        raise schema_error(schema_param, exc) from None
    return ResponseFormat(kind, name=name, schema=schema, strict=strict)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def first_object_literal(text: str) -> dict[str, Any] | None:
    """The first ``{...}`` in ``text`` that parses as a JSON object, if any."""
    start = text.find("{")
    while start >= 0:
        try:
            value, _end = _DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def answer(fmt: ResponseFormat | None, prompt: str, text_reply: str, hints: Sequence[str]) -> str | None:
    """The JSON text to answer with, or None when the text rules apply (no format, or ``text``).

    ``text_reply`` is the text-rule reply (json_object's fallback); ``hints`` are the input's
    place names. A json_schema with no producible instance is a 400 on the schema.
    """
    if fmt is None or fmt.type == TEXT:
        return None
    if fmt.type == JSON_OBJECT:
        found = first_object_literal(prompt)
        return json.dumps(found if found is not None else {"answer": text_reply})
    assert fmt.schema is not None
    try:
        return json.dumps(generate(fmt.schema, hints).value)
    except SchemaInstanceError as exc:
        raise schema_error("response_format.json_schema.schema", exc) from None
