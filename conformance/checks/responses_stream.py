"""Checks on streamed Responses: named events, sequence numbers, event order, deltas, the terminal event."""

from __future__ import annotations

import functools
import json

from ..openapi import load_document
from . import Failure, check, require, short
from .responses import declared_functions, output_items, text_parts
from .tools import check_arguments
from .stream import stream_of

TERMINAL = ("response.completed", "response.incomplete", "response.failed")
#: The terminal event that carries each final status.
TERMINAL_FOR_STATUS = {"completed": "response.completed", "incomplete": "response.incomplete", "failed": "response.failed"}
LIFECYCLE = ("response.created", "response.in_progress", "response.queued")


def events_of(ex) -> list[dict]:
    """The stream's events as the client yields them, each a JSON object with a string type."""
    _, chunks = stream_of(ex)
    require(chunks, "the stream carried no events")
    for i, event in enumerate(chunks):
        require(isinstance(event, dict) and "__unparseable__" not in event, f"event {i} is not a JSON object: {short(event)}")
        require(isinstance(event.get("type"), str), f"event {i} has no string type: {short(event)}")
    return chunks


def _terminal(events: list[dict]) -> dict:
    found = [e for e in events if e["type"] in TERMINAL]
    require(found, f"no terminal event ({', '.join(TERMINAL)}); the stream ended with {events[-1]['type']!r}")
    response = found[-1].get("response")
    require(isinstance(response, dict), f"{found[-1]['type']} carries no response object")
    return response


def _final_item(events: list[dict], item_id: str) -> dict | None:
    for item in output_items(_terminal(events)):
        if item.get("id") == item_id:
            return item
    return None


@functools.cache
def _event_components() -> dict[str, str]:
    """Event type -> the OpenAPI component describing it (components whose ``type`` is one constant)."""
    out = {}
    for name, schema in load_document()["components"]["schemas"].items():
        enum = (((schema or {}).get("properties") or {}).get("type") or {}).get("enum")
        if name.endswith("Event") and isinstance(enum, list) and len(enum) == 1:
            out.setdefault(enum[0], name)
    return out


@check("responses.stream.event_names_match_types", level="recommended", source="observed: OpenAI names each Responses SSE event after its data's type (event: response.created); openai-python's Stream reads only the data")
def event_names_match_types(ctx, ex):
    """Every SSE event has an `event:` name and JSON data whose type equals that name."""
    sse, _ = stream_of(ex)
    require(not sse.bad_lines, f"lines that are not SSE fields: {short(sse.bad_lines[:3])}")
    require(sse.terminated, f"the stream ends inside an event (no blank line after {short(sse.trailing)})")
    require(sse.events, "the stream holds no events")
    for i, event in enumerate(sse.events):
        if event.data.strip() == "[DONE]" and i == len(sse.events) - 1:
            continue
        try:
            data = json.loads(event.data)
        except ValueError:
            raise Failure(f"event {i} data is not JSON: {short(event.data)}") from None
        kind = data.get("type") if isinstance(data, dict) else None
        require(event.event not in (None, "", "message"), f"event {i} has no `event:` name (data type {kind!r})")
        require(kind == event.event, f"event {i} is named {event.event!r} but its data type is {kind!r}")


@check("responses.stream.sequence_numbers", level="recommended", source="observed: OpenAI numbers a stream's events 0, 1, 2, ...; #/components/schemas/ResponseStreamEvent says only 'the sequence number for this event'")
def sequence_numbers(ctx, ex):
    """Every event carries an integer sequence_number, strictly increasing through the stream."""
    previous = None
    for i, event in enumerate(events_of(ex)):
        number = event.get("sequence_number")
        require(isinstance(number, int) and not isinstance(number, bool), f"event {i} ({event['type']}) has sequence_number {short(number)}, expected an integer")
        require(previous is None or number > previous, f"event {i} ({event['type']}) has sequence_number {number} after {previous}")
        previous = number


@check("responses.stream.event_schema", source="openapi: #/components/schemas/ResponseStreamEvent")
def event_schema(ctx, ex):
    """Every event is valid against the OpenAPI schema of its type (ResponseStreamEvent for unlisted types)."""
    components = _event_components()
    for i, event in enumerate(events_of(ex)):
        component = components.get(event["type"], "ResponseStreamEvent")
        ctx.require_schema(component, event, f"event {i} ({event['type']})")


@check("responses.stream.order", source="sdk: openai.lib.streaming.responses._responses.ResponseStreamState.accumulate_event (RuntimeError without response.created first, for an event before its output_item.added, for unfinished items at completion)")
def order(ctx, ex):
    """Events come in a legal order: created first; each item added, then its parts, deltas and done events, then item done; the terminal event last."""
    events = events_of(ex)
    require(events[0]["type"] == "response.created", f"the first event is {events[0]['type']!r}, expected response.created")
    added: list[int] = []
    done: set[int] = set()
    parts: dict[tuple[int, int], str] = {}  # (output_index, content_index) -> "open" | "text_done" | "closed"
    for n, event in enumerate(events):
        kind = event["type"]
        at = f"event {n} ({kind})"
        index = event.get("output_index")
        if kind in LIFECYCLE:
            require(n == 0 and kind == "response.created" or not added, f"{at} after output items began")
            continue
        if kind in TERMINAL:
            require(n == len(events) - 1, f"{at} is followed by {len(events) - 1 - n} more event(s)")
            continue
        if kind == "response.output_item.added":
            require(index == len(added), f"{at} adds output_index {short(index)}, expected {len(added)}")
            added.append(index)
            continue
        if index is None:
            continue  # an event about no output item (e.g. an error): nothing to order
        require(index in added, f"{at} for output_index {short(index)} before its response.output_item.added")
        require(index not in done, f"{at} for output_index {index} after its response.output_item.done")
        if kind == "response.output_item.done":
            open_parts = [key for key, state in parts.items() if key[0] == index and state != "closed"]
            require(not open_parts, f"{at} while content part(s) {open_parts} are not done")
            done.add(index)
            continue
        key = (index, event.get("content_index"))
        state = parts.get(key)
        if kind == "response.content_part.added":
            require(state is None, f"{at}: content part {key} added twice")
            parts[key] = "open"
        elif kind == "response.output_text.delta":
            require(state == "open", f"{at} for content part {key} that is {state or 'not added'}")
        elif kind == "response.output_text.done":
            require(state == "open", f"{at} for content part {key} that is {state or 'not added'}")
            parts[key] = "text_done"
        elif kind == "response.content_part.done":
            require(state in ("open", "text_done"), f"{at} for content part {key} that is {state or 'not added'}")
            parts[key] = "closed"
    missing = [index for index in added if index not in done]
    require(not missing, f"output item(s) {missing} never got response.output_item.done")


@check("responses.stream.deltas_concatenate", source="sdk: openai.lib.streaming.responses._responses.ResponseStreamState.accumulate_event (appends each output_text delta to its content part's text)")
def deltas_concatenate(ctx, ex):
    """The output_text deltas of each part concatenate to its done text, its part, its item and the terminal response's text."""
    events = events_of(ex)
    texts: dict[tuple, str] = {}
    done: dict[tuple, str] = {}
    for event in events:
        key = (event.get("item_id"), event.get("output_index"), event.get("content_index"))
        if event["type"] == "response.output_text.delta":
            require(isinstance(event.get("delta"), str), f"an output_text delta is not a string: {short(event.get('delta'))}")
            texts[key] = texts.get(key, "") + event["delta"]
        elif event["type"] == "response.output_text.done":
            done[key] = event.get("text")
        elif event["type"] == "response.content_part.done":
            part = event.get("part") or {}
            if part.get("type") not in (None, "output_text"):
                continue  # a reasoning_text or refusal part (OutputContent): its deltas are other events
            require(key in texts, f"content part {key} is done but carried no output_text deltas")
            require(part.get("text") == texts[key], f"content_part.done text {short(part.get('text'))} != the deltas {short(texts[key])}")
    require(texts, "the stream carried no response.output_text.delta")
    for key, text in texts.items():
        require(key in done, f"content part {key} has deltas but no response.output_text.done")
        require(done[key] == text, f"output_text.done text {short(done[key])} != the concatenated deltas {short(text)}")
        item_id, _, content_index = key
        item = next((e["item"] for e in events if e["type"] == "response.output_item.done" and (e.get("item") or {}).get("id") == item_id), None)
        require(item is not None, f"message {item_id!r} never got response.output_item.done")
        for where, found in (("output_item.done", item), ("the terminal response", _final_item(events, item_id))):
            require(found is not None, f"{where} lacks message {item_id!r}")
            content = found.get("content")
            text_parts(found, f"{where} message {item_id}")
            require(isinstance(content_index, int) and content_index < len(content), f"{where} message {item_id} lacks content_index {content_index}")
            got = content[content_index].get("text")
            require(got == text, f"{where} text {short(got)} != the concatenated deltas {short(text)}")


@check("responses.stream.terminal_event", source="sdk: openai.lib.streaming.responses._responses.ResponseStream.get_final_response (RuntimeError without a response.completed event)")
def terminal_event(ctx, ex):
    """The stream ends with exactly one terminal event (response.completed, or response.incomplete when cut) whose response status matches it."""
    events = events_of(ex)
    expected = ctx.params.get("expect", "response.completed")
    terminals = [e["type"] for e in events if e["type"] in TERMINAL]
    require(terminals, f"no terminal event: the stream ended with {events[-1]['type']!r}")
    require(len(terminals) == 1, f"{len(terminals)} terminal events: {terminals}")
    last = events[-1]
    require(last["type"] in TERMINAL, f"the last event is {last['type']!r}, not the terminal event")
    require(last["type"] == expected, f"the stream ended with {last['type']}, expected {expected}")
    response = _terminal(events)
    status = response.get("status")
    require(TERMINAL_FOR_STATUS.get(status) == last["type"], f"{last['type']} carries a response with status {short(status)}")


@check("responses.stream.function_call_arguments", source="sdk: openai.lib.streaming.responses._responses.ResponseStreamState.accumulate_event (appends each function_call_arguments delta to the item's arguments)")
def function_call_arguments(ctx, ex):
    """Streamed function calls: argument deltas concatenate to the .done arguments, the item's and the terminal response's, valid against the parameters."""
    events = events_of(ex)
    functions = declared_functions(ex.request.body)
    deltas: dict[str, str] = {}
    finished: dict[str, dict] = {}
    for event in events:
        item_id = event.get("item_id")
        if event["type"] == "response.function_call_arguments.delta":
            require(isinstance(event.get("delta"), str), f"an arguments delta is not a string: {short(event.get('delta'))}")
            deltas[item_id] = deltas.get(item_id, "") + event["delta"]
        elif event["type"] == "response.function_call_arguments.done":
            finished[item_id] = event
    items = [e["item"] for e in events if e["type"] == "response.output_item.done" and (e.get("item") or {}).get("type") == "function_call"]
    require(items, "the stream carried no finished function_call item")
    for item in items:
        item_id = item.get("id")
        where = f"function_call {item_id!r}"
        require(item_id in deltas, f"{where} got no response.function_call_arguments.delta")
        require(item_id in finished, f"{where} got no response.function_call_arguments.done")
        streamed = deltas[item_id]
        require(finished[item_id].get("arguments") == streamed, f"{where}: .done arguments {short(finished[item_id].get('arguments'))} != the deltas {short(streamed)}")
        require(item.get("arguments") == streamed, f"{where}: output_item.done arguments {short(item.get('arguments'))} != the deltas {short(streamed)}")
        require(isinstance(item.get("call_id"), str) and item["call_id"], f"{where} has no call_id")
        require(item.get("name") in functions, f"{where} names {short(item.get('name'))}, not a declared tool")
        check_arguments(streamed, functions[item["name"]], where)
        final = _final_item(events, item_id)
        require(final is not None and final.get("arguments") == streamed, f"the terminal response's {where} differs from the streamed one: {short(final)}")
