"""Checks on structured output: JSON mode and json_schema answers, streamed or not."""

from __future__ import annotations

import json

import jsonschema

from . import Failure, check, require, short
from .chat import first_content
from .stream import streamed_text


def _request_schema(ex) -> dict:
    body = ex.request.body or {}
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema")
    require(isinstance(schema, dict), "the request carries no response_format.json_schema.schema")
    return schema


def _parse_object(text: str, where: str):
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Failure(f"{where} is not JSON ({exc.msg} at {exc.pos}): {short(text)}") from None
    return value


def _validate(value, schema: dict, where: str) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        raise Failure(f"{where} does not match the requested schema at {first.json_path}: {first.message[:200]}")


@check("chat.structured.json_object")
def json_object(ctx, ex):
    """With response_format json_object the answer's content parses as a JSON object."""
    value = _parse_object(first_content(ex).strip(), "the content")
    require(isinstance(value, dict), f"the content is JSON but a {type(value).__name__}, not an object: {short(value)}")


@check("chat.structured.schema_valid")
def schema_valid(ctx, ex):
    """With response_format json_schema the content parses and validates against the schema."""
    schema = _request_schema(ex)
    _validate(_parse_object(first_content(ex).strip(), "the content"), schema, "the content")


@check("chat.structured.stream_schema_valid")
def stream_schema_valid(ctx, ex):
    """Streamed json_schema deltas concatenate to JSON valid against the schema."""
    schema = _request_schema(ex)
    text = streamed_text(ex)
    require(text.strip(), "the stream carried no content")
    _validate(_parse_object(text.strip(), "the streamed content"), schema, "the streamed content")
