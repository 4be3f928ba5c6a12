"""Checks on structured output: JSON mode and json_schema answers, streamed or not.

Protocol, not model: a *completed* answer under response_format is the server's guarantee — JSON
(an object for json_object), valid against a json_schema. An answer cut at max_tokens
(finish_reason "length" with the output at the limit) may stop mid-document: the model chose to
say that much (OpenAI's docs warn of JSON mode running on in whitespace), so an unparseable or
incomplete document is then a semantic finding. What a cut answer must still show is that it is
JSON being written: its first non-blank character opens an object when an object is asked for.
"""

from __future__ import annotations

import json

import jsonschema

from . import Failure, check, require, short
from .chat import choices, cut_at_limit, first_content, limit_text
from .stream import content_chunks, streamed_text


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


def _judge(text: str, schema: dict | None, where: str, cut: bool, ex) -> None:
    """``text`` is a JSON object (``schema`` None) or valid against ``schema``; when the answer was
    cut at max_tokens only its beginning is the server's, the rest a semantic finding."""
    if cut:
        wants_object = schema is None or schema.get("type") == "object" or "properties" in schema
        start = text.lstrip()[:1]
        require(not wants_object or start in ("", "{"), f"{where} was cut at max_tokens but does not begin as a JSON object: {short(text)}")
    try:
        value = _parse_object(text.strip(), where)
        if schema is None:
            require(isinstance(value, dict), f"{where} is JSON but a {type(value).__name__}, not an object: {short(value)}")
        else:
            _validate(value, schema, where)
    except Failure as exc:
        if not cut:
            raise
        raise Failure(f"{exc} — the answer was cut at max_tokens ({limit_text(ex)} tokens), so its JSON may be unfinished", semantic=True) from None


def _stream_finish_reason(ex) -> str | None:
    reasons = [c.get("finish_reason") for chunk in content_chunks(ex) for c in chunk.get("choices") or [] if isinstance(c, dict) and c.get("index", 0) == 0 and c.get("finish_reason")]
    return reasons[-1] if reasons else None


@check("chat.structured.json_object", source="openapi: #/components/schemas/CreateChatCompletionRequest/allOf/1/properties/response_format (json_object: JSON mode, the message is valid JSON)")
def json_object(ctx, ex):
    """With response_format json_object a completed answer's content parses as a JSON object (cut at max_tokens: it begins as one)."""
    cut = cut_at_limit(ex, choices(ex)[0].get("finish_reason"))
    _judge(first_content(ex), None, "the content", cut, ex)


@check("chat.structured.schema_valid", source="openapi: #/components/schemas/CreateChatCompletionRequest/allOf/1/properties/response_format (json_schema: Structured Outputs match the supplied schema)")
def schema_valid(ctx, ex):
    """With response_format json_schema a completed answer's content parses and validates against the schema (cut at max_tokens: it begins as JSON)."""
    schema = _request_schema(ex)
    cut = cut_at_limit(ex, choices(ex)[0].get("finish_reason"))
    _judge(first_content(ex), schema, "the content", cut, ex)


@check("chat.structured.stream_schema_valid", source="openapi: #/components/schemas/CreateChatCompletionRequest/allOf/1/properties/response_format (json_schema: Structured Outputs match the supplied schema, streamed too)")
def stream_schema_valid(ctx, ex):
    """Streamed json_schema deltas of a completed answer concatenate to JSON valid against the schema (cut at max_tokens: it begins as JSON)."""
    schema = _request_schema(ex)
    text = streamed_text(ex)
    cut = cut_at_limit(ex, _stream_finish_reason(ex))
    if not text.strip():
        require(cut, "the stream carried no content")
        raise Failure(f"the stream carried no content before max_tokens ({limit_text(ex)} tokens)", semantic=True)
    _judge(text, schema, "the streamed content", cut, ex)
