"""Faults of /v1/responses: each breaks one contract of the Responses API and names the checks that catch it."""

from __future__ import annotations

import json

from . import Req, Resp, error, fault

#: The follow-ups that send a tool result back.
_FOLLOWUP = frozenset({"responses.tools.output_item_accepted", "responses.tools.result_used"})


def _is_responses(req: Req) -> bool:
    return req.method == "POST" and req.path == "/responses"


def _body(req: Req) -> dict | None:
    """The JSON body of a /responses request, or None."""
    body = req.json
    return body if _is_responses(req) and isinstance(body, dict) else None


def _response(req: Req, resp: Resp) -> dict | None:
    """The body of a successful non-streamed response, or None."""
    if _is_responses(req) and resp.status == 200 and not resp.is_stream:
        return resp.json
    return None


def _events(req: Req, resp: Resp) -> list[tuple[str, dict]] | None:
    """The (event name, data) pairs of a successful Responses stream, or None."""
    if not (_is_responses(req) and resp.status == 200 and resp.is_stream):
        return None
    out = []
    for block in resp.body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if ": " in line)
        if "data" in fields:
            out.append((fields.get("event", ""), json.loads(fields["data"])))
    return out


def _set_events(resp: Resp, events: list[tuple[str, dict]]) -> None:
    resp.body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def _items(body: dict, kind: str) -> list[dict]:
    return [item for item in body.get("output") or [] if item.get("type") == kind]


# -- the response object --------------------------------------------------------------------------------
@fault("responses_object_wrong", {"responses.response.object", "responses.response.schema"})
def responses_object_wrong(req, resp):
    """The response says object "responses" and its id is "chatcmpl-…"."""
    body = _response(req, resp)
    if body:
        body["object"] = "responses"
        body["id"] = "chatcmpl-" + body["id"][5:]
        resp.set_json(body)


@fault("responses_output_text_typed_text", {"responses.output.message", "responses.response.schema"}, collateral={"responses.tools.output_item_accepted", "responses.tools.result_used"})
def responses_output_text_typed_text(req, resp):
    """Message content parts are typed "text" (the chat name) instead of "output_text"."""
    body = _response(req, resp)
    if body:
        for item in _items(body, "message"):
            for part in item["content"]:
                part["type"] = "text"
        resp.set_json(body)


@fault("responses_message_first_only", {"responses.output.message", "responses.output.follows_instruction"}, collateral={"responses.structured.json_object", "responses.structured.schema_valid", "responses.tools.function_call_shape", "responses.tools.not_called"})
def responses_message_first_only(req, resp):
    """The message item is dropped whenever a reasoning item comes first: only reasoning is returned."""
    body = _response(req, resp)
    if body and body["output"] and body["output"][0]["type"] == "reasoning":
        body["output"] = body["output"][:1]
        resp.set_json(body)


@fault("responses_status_in_progress", "responses.status.completed")
def responses_status_in_progress(req, resp):
    """A finished response says status "in_progress"."""
    body = _response(req, resp)
    if body and body["status"] == "completed":
        body["status"] = "in_progress"
        resp.set_json(body)


@fault("responses_ignores_prompt", "responses.output.follows_instruction")
def responses_ignores_prompt(req, resp):
    """Every plain-text answer is the same canned sentence (a model that ignores the input)."""
    body = _response(req, resp)
    request = req.json or {}
    if body and not request.get("tools") and not request.get("text") and body["status"] == "completed":
        for item in _items(body, "message"):
            item["content"][0]["text"] = "I am a helpful assistant."
        resp.set_json(body)


@fault("responses_usage_total_wrong", "responses.usage.consistent", collateral={"responses.max_output_tokens.incomplete"})
def responses_usage_total_wrong(req, resp):
    """usage.total_tokens is not input_tokens + output_tokens."""
    body = _response(req, resp)
    if body and body.get("usage"):
        body["usage"]["total_tokens"] += 3
        resp.set_json(body)


@fault("responses_usage_no_details", {"responses.usage.consistent", "responses.response.schema"})
def responses_usage_no_details(req, resp):
    """usage lacks input_tokens_details and output_tokens_details."""
    body = _response(req, resp)
    if body and body.get("usage"):
        body["usage"].pop("input_tokens_details")
        body["usage"].pop("output_tokens_details")
        resp.set_json(body)


# -- max_output_tokens ------------------------------------------------------------------------------------
@fault("responses_max_output_tokens_ignored", {"responses.max_output_tokens.incomplete", "responses.stream.terminal_event"})
def responses_max_output_tokens_ignored(req):
    """max_output_tokens is dropped: long answers are never cut."""
    body = _body(req)
    if body and isinstance(body.get("max_output_tokens"), int):
        body.pop("max_output_tokens")
        req.set_json(body)


@fault("responses_truncated_reported_completed", {"responses.max_output_tokens.incomplete", "responses.stream.terminal_event"})
def responses_truncated_reported_completed(req, resp):
    """Truncated answers say status "completed" (and the stream ends with response.completed)."""
    body = _response(req, resp)
    if body and body["status"] == "incomplete":
        body["status"], body["incomplete_details"] = "completed", None
        resp.set_json(body)
    events = _events(req, resp)
    if events and events[-1][0] == "response.incomplete":
        data = events[-1][1]
        data["type"] = "response.completed"
        data["response"]["status"], data["response"]["incomplete_details"] = "completed", None
        events[-1] = ("response.completed", data)
        _set_events(resp, events)


# -- structured output --------------------------------------------------------------------------------------
@fault("responses_json_schema_prose", "responses.structured.schema_valid")
def responses_json_schema_prose(req):
    """text.format json_schema is ignored: the answer is prose."""
    body = _body(req)
    if body and ((body.get("text") or {}).get("format") or {}).get("type") == "json_schema":
        body.pop("text")
        req.set_json(body)


@fault("responses_json_object_prose", "responses.structured.json_object")
def responses_json_object_prose(req):
    """text.format json_object is ignored: the answer is prose."""
    body = _body(req)
    if body and ((body.get("text") or {}).get("format") or {}).get("type") == "json_object":
        body.pop("text")
        req.set_json(body)


# -- function tools -------------------------------------------------------------------------------------------
@fault("responses_arguments_object", "responses.tools.function_call_shape")
def responses_arguments_object(req, resp):
    """function_call arguments are a JSON object instead of a JSON string."""
    body = _response(req, resp)
    if body:
        for item in _items(body, "function_call"):
            item["arguments"] = json.loads(item["arguments"])
        resp.set_json(body)


@fault(
    "responses_call_id_missing",
    {"responses.tools.function_call_shape", "responses.stream.function_call_arguments"},
)
def responses_call_id_missing(req, resp):
    """function_call items carry no call_id (non-streamed and streamed)."""
    body = _response(req, resp)
    if body:
        for item in _items(body, "function_call"):
            item.pop("call_id")
        resp.set_json(body)
    events = _events(req, resp)
    if events:
        for _, data in events:
            for item in [data.get("item")] + ((data.get("response") or {}).get("output") or []):
                if isinstance(item, dict) and item.get("type") == "function_call":
                    item.pop("call_id", None)
        _set_events(resp, events)


@fault("responses_call_output_refused", _FOLLOWUP)
def responses_call_output_refused(req):
    """A tool result sent back as a function_call_output item (answering a call of the input) is refused with 400."""
    body = _body(req)
    if body and isinstance(body.get("input"), list):
        calls = {i.get("call_id") for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call"}
        if any(isinstance(i, dict) and i.get("type") == "function_call_output" and i.get("call_id") in calls for i in body["input"]):
            return error(400, "Unsupported input item type 'function_call_output'.", param="input")
    return None


@fault("responses_call_output_ignored", "responses.tools.result_used")
def responses_call_output_ignored(req):
    """function_call_output items answering a call of the input are silently dropped: the answer ignores the result."""
    body = _body(req)
    if body and isinstance(body.get("input"), list):
        calls = {i.get("call_id") for i in body["input"] if isinstance(i, dict) and i.get("type") == "function_call"}
        kept = [i for i in body["input"] if not (isinstance(i, dict) and i.get("type") == "function_call_output" and i.get("call_id") in calls)]
        if len(kept) != len(body["input"]):
            body["input"] = kept
            req.set_json(body)


@fault("responses_tool_choice_none_ignored", "responses.tools.not_called")
def responses_tool_choice_none_ignored(req):
    """tool_choice "none" is treated as "auto": the tool is called anyway."""
    body = _body(req)
    if body and body.get("tool_choice") == "none":
        body["tool_choice"] = "auto"
        req.set_json(body)


@fault("responses_web_search_accepted", "responses.tools.builtin_refused")
def responses_web_search_accepted(req):
    """The built-in web_search tool is silently dropped and the request served."""
    body = _body(req)
    if body and isinstance(body.get("tools"), list) and any(isinstance(t, dict) and t.get("type") == "web_search" for t in body["tools"]):
        body["tools"] = [t for t in body["tools"] if not (isinstance(t, dict) and t.get("type") == "web_search")]
        req.set_json(body)


@fault("responses_custom_items_accepted", "responses.input.custom_tool_items_refused")
def responses_custom_items_accepted(req):
    """custom_tool_call / custom_tool_call_output items are served as if they were function calls."""
    body = _body(req)
    if body and isinstance(body.get("input"), list):
        renamed = {"custom_tool_call": "function_call", "custom_tool_call_output": "function_call_output"}
        for item in body["input"]:
            if isinstance(item, dict) and item.get("type") in renamed:
                item["type"] = renamed[item["type"]]
                if "input" in item:
                    item["arguments"] = json.dumps({"input": item.pop("input")})
        req.set_json(body)


# -- refusals ---------------------------------------------------------------------------------------------------
@fault("responses_instructions_accepted", "unsupported.parameter_refused")
def responses_instructions_accepted(req):
    """`instructions` (documented unsupported) is silently dropped and the request served."""
    body = _body(req)
    if body and "instructions" in body:
        body.pop("instructions")
        req.set_json(body)


@fault("responses_unknown_model_served", "errors.unknown_model_rejected")
def responses_unknown_model_served(req):
    """A Responses request naming an unknown model is silently served by the default model."""
    body = _body(req)
    if body and body.get("model") == "conformance-no-such-model":
        body["model"] = "gpt-oss-120b"
        req.set_json(body)


# -- streaming ----------------------------------------------------------------------------------------------------
@fault(
    "responses_stream_no_completed",
    "responses.stream.terminal_event",
)
def responses_stream_no_completed(req, resp):
    """A text stream ends right after its last output_text delta: no done events, no response.completed."""
    events = _events(req, resp)
    deltas = [i for i, (name, _) in enumerate(events or []) if name == "response.output_text.delta"]
    if deltas:
        _set_events(resp, events[: deltas[-1] + 1])


@fault("responses_stream_event_names_mismatch", "responses.stream.event_names_match_types")
def responses_stream_event_names_mismatch(req, resp):
    """Delta events are named `response.output_text` while their data type is response.output_text.delta."""
    events = _events(req, resp)
    if events:
        _set_events(resp, [("response.output_text" if name == "response.output_text.delta" else name, data) for name, data in events])


@fault("responses_stream_unnamed_events", "responses.stream.event_names_match_types")
def responses_stream_unnamed_events(req, resp):
    """The stream sends bare `data:` lines with no `event:` names (chat-style framing)."""
    events = _events(req, resp)
    if events:
        resp.body = "".join(f"data: {json.dumps(data)}\n\n" for _, data in events).encode()


@fault("responses_stream_delta_lost", "responses.stream.deltas_concatenate")
def responses_stream_delta_lost(req, resp):
    """The second output_text delta is never sent: the deltas do not make the final text."""
    events = _events(req, resp)
    deltas = [i for i, (name, _) in enumerate(events or []) if name == "response.output_text.delta"]
    if len(deltas) >= 2:
        del events[deltas[1]]
        _set_events(resp, events)


@fault("responses_stream_sequence_repeats", "responses.stream.sequence_numbers")
def responses_stream_sequence_repeats(req, resp):
    """Every delta repeats the sequence_number of the event before it."""
    events = _events(req, resp)
    if events:
        for i, (name, data) in enumerate(events):
            if name.endswith(".delta") and i:
                data["sequence_number"] = events[i - 1][1]["sequence_number"]
        _set_events(resp, events)


@fault("responses_stream_item_done_early", "responses.stream.order")
def responses_stream_item_done_early(req, resp):
    """A message's response.output_item.done comes before its response.content_part.done."""
    events = _events(req, resp)
    parts = [i for i, (name, _) in enumerate(events or []) if name == "response.content_part.done"]
    if parts and events[parts[0] + 1][0] == "response.output_item.done":
        i = parts[0]
        (first, a), (second, b) = events[i], events[i + 1]
        a["sequence_number"], b["sequence_number"] = b["sequence_number"], a["sequence_number"]
        events[i], events[i + 1] = (second, b), (first, a)
        _set_events(resp, events)


@fault("responses_stream_item_without_role", "responses.stream.event_schema")
def responses_stream_item_without_role(req, resp):
    """response.output_item.added announces a message item without role and status."""
    events = _events(req, resp)
    if events:
        for name, data in events:
            if name == "response.output_item.added" and data["item"]["type"] == "message":
                data["item"].pop("role")
                data["item"].pop("status")
        _set_events(resp, events)


@fault("responses_stream_arguments_differ", "responses.stream.function_call_arguments")
def responses_stream_arguments_differ(req, resp):
    """The last function_call_arguments delta is dropped, so the deltas do not make the arguments."""
    events = _events(req, resp)
    deltas = [i for i, (name, _) in enumerate(events or []) if name == "response.function_call_arguments.delta"]
    if deltas:
        del events[deltas[-1]]
        _set_events(resp, events)


@fault("responses_text_format_misreported", "golden.shape.matches")
def text_format_misreported(req, resp):
    """A plain-text Response reports text.format json_object (the request asked for no format)."""
    if req.method == "POST" and req.path == "/responses" and resp.status == 200 and not resp.is_stream:
        body = resp.json
        if isinstance(body, dict) and ((body.get("text") or {}).get("format") or {}).get("type") == "text":
            body["text"]["format"] = {"type": "json_object"}
            resp.set_json(body)
