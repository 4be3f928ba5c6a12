"""Faults only the openai Node SDK trips on: raw HTTP and the Python SDK read these answers, a Node application does not.

Each is registered with ``transports=("openai-node",), only=True``: the run goes through every
transport, the named checks must fail through openai-node and must not fail through http or openai.
"""

from __future__ import annotations

from . import fault
from .faults import _chunks, _set_chunks, _stream
from .faults_responses import _events, _set_events

NODE_ONLY = {"transports": ("openai-node",), "only": True}


@fault("node_tool_call_deltas_without_type", "sdk.accepts_response", scope=("chat",), **NODE_ONLY)
def node_tool_call_deltas_without_type(req, resp):
    """Streamed tool_calls deltas never carry "type" (the OpenAPI document's
    ChatCompletionMessageToolCallChunk requires only "index"; the Python SDK accumulates them):
    the Node SDK's ChatCompletionStream throws "tool call snapshot missing `type`"."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                for choice in chunk["choices"]:
                    for delta in (choice.get("delta") or {}).get("tool_calls") or []:
                        delta.pop("type", None)
        _set_chunks(resp, chunks)


@fault("node_reasoning_part_never_added", "sdk.accepts_response", scope=("responses",), **NODE_ONLY)
def node_reasoning_part_never_added(req, resp):
    """A Responses stream's reasoning_text deltas come without the response.content_part.added that
    announces their reasoning_text part (the Python SDK's ResponseStreamState does not look): the
    Node SDK's ResponseStream throws "missing content at index 0"."""
    events = _events(req, resp)
    if events:
        reasoning = {data["item"]["id"] for _, data in events if data.get("type") == "response.output_item.added" and data["item"].get("type") == "reasoning"}
        kept = [
            (name, data)
            for name, data in events
            if not (data.get("type") in ("response.content_part.added", "response.content_part.done") and data.get("item_id") in reasoning)
        ]
        for number, (_, data) in enumerate(kept):
            data["sequence_number"] = number
        _set_events(resp, kept)


@fault("node_json_media_type_capitalised", "sdk.accepts_response", scope=("models", "embeddings"), **NODE_ONLY)
def node_json_media_type_capitalised(req, resp):
    """JSON answers say "Content-Type: Application/JSON" (a media type is case-insensitive, RFC 9110
    §8.3.1; the Python SDK parses it): the Node SDK's response parser only recognises the lower-case
    "application/json" and hands the application the body as a string."""
    if resp.status == 200 and resp.headers.get("content-type", "").startswith("application/json"):
        resp.headers["content-type"] = "Application/JSON"


@fault("node_chunks_carry_empty_error", "sdk.accepts_response", scope=("chat",), **NODE_ONLY)
def node_chunks_carry_empty_error(req, resp):
    """Every streamed chat chunk carries "error": {} (an empty object: a server serialising an
    empty error struct; the Python SDK tests the field's truth, and an empty dict is false): the Node
    SDK's Stream throws an APIError on any chunk whose "error" is truthy, and {} is truthy in JavaScript."""
    if _stream(req, resp):
        chunks = _chunks(resp)
        for chunk in chunks:
            if isinstance(chunk, dict):
                chunk["error"] = {}
        _set_chunks(resp, chunks)
