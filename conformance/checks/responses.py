"""Checks on non-streamed Responses: the response object, output items, usage, truncation, JSON, tools, refusals."""

from __future__ import annotations

import copy
import json

import jsonschema

from ..transport import ApiRequest
from ..vocabulary import UNSUPPORTED_OK
from . import Failure, check, require, short
from .chat import normalise
from .errors import _refused
from .tools import check_arguments

STATUSES = ("completed", "failed", "in_progress", "cancelled", "queued", "incomplete")
CALL_STATUSES = ("in_progress", "completed", "incomplete")


def response_of(ex) -> dict:
    body = ex.json
    require(isinstance(body, dict), f"expected a JSON object, got {short(body)}")
    return body


def output_items(body: dict) -> list[dict]:
    items = body.get("output")
    require(isinstance(items, list), f"output must be an array, got {short(items)}")
    for i, item in enumerate(items):
        require(isinstance(item, dict), f"output[{i}] is not an object: {short(item)}")
    return items


def message_items(body: dict) -> list[dict]:
    """The output items of type "message" (a reasoning item may come first: never assume output[0])."""
    return [item for item in output_items(body) if item.get("type") == "message"]


def text_parts(item: dict, where: str) -> list[dict]:
    """A message item's output_text parts, each checked: type, string text, annotations array."""
    content = item.get("content")
    require(isinstance(content, list) and content, f"{where}.content must be a non-empty array, got {short(content)}")
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        require(isinstance(part, dict), f"{at} is not an object")
        require(part.get("type") in ("output_text", "refusal"), f'{at}.type is {short(part.get("type"))}, expected "output_text"')
        if part["type"] == "output_text":
            require(isinstance(part.get("text"), str), f"{at}.text must be a string, got {short(part.get('text'))}")
            require(isinstance(part.get("annotations"), list), f"{at}.annotations must be an array, got {short(part.get('annotations'))}")
    return [part for part in content if part["type"] == "output_text"]


def output_text(body: dict) -> str:
    """The text of the message items' output_text parts, concatenated (what the SDK's output_text gives)."""
    messages = message_items(body)
    require(messages, f"no output item of type \"message\"; output types are {[i.get('type') for i in output_items(body)]}")
    parts = []
    for i, item in enumerate(messages):
        parts.extend(part["text"] for part in text_parts(item, f"message item {i}"))
    return "".join(parts)


def usage_numbers(usage) -> tuple[int, int]:
    """(input_tokens, output_tokens), after checking the integers, the details and total = input + output."""
    require(isinstance(usage, dict), f"usage must be an object, got {short(usage)}")
    values = {}
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        value = usage.get(key)
        require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, f"usage.{key} must be a non-negative integer, got {short(value)}")
        values[key] = value
    total, given, made = values["total_tokens"], values["input_tokens"], values["output_tokens"]
    require(total == given + made, f"usage.total_tokens {total} != input_tokens {given} + output_tokens {made}")
    for detail, key, bound in (("input_tokens_details", "cached_tokens", given), ("output_tokens_details", "reasoning_tokens", made)):
        value = (usage.get(detail) or {}).get(key) if isinstance(usage.get(detail), dict) else None
        require(isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= bound, f"usage.{detail}.{key} must be an integer between 0 and {bound}, got {short(value)}")
    return given, made


def declared_functions(request_body) -> dict[str, dict]:
    tools = (request_body or {}).get("tools") or []
    return {t["name"]: t for t in tools if isinstance(t, dict) and t.get("type") == "function"}


def function_call_items(body: dict) -> list[dict]:
    return [item for item in output_items(body) if item.get("type") == "function_call"]


def parse_json_text(text: str, schema: dict | None) -> object:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Failure(f"the output text is not JSON ({exc.msg} at {exc.pos}): {short(text)}") from None
    if schema is None:
        require(isinstance(value, dict), f"the output text is JSON but a {type(value).__name__}, not an object: {short(value)}")
        return value
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        raise Failure(f"the output text does not match the requested schema at {errors[0].json_path}: {errors[0].message[:200]}")
    return value


def request_schema(ex) -> dict:
    fmt = (((ex.request.body or {}).get("text") or {}).get("format")) or {}
    schema = fmt.get("schema")
    require(isinstance(schema, dict), "the request carries no text.format.schema")
    return schema


@check("responses.response.schema")
def response_schema(ctx, ex):
    """The response body is valid against the OpenAPI Response schema."""
    ctx.require_schema("Response", ex.json)


@check("responses.response.object")
def response_object(ctx, ex):
    """The body is a response: object "response", an id "resp_…", a created_at timestamp, the model, a known status, an output array."""
    body = response_of(ex)
    require(body.get("object") == "response", f'object is {short(body.get("object"))}, expected "response"')
    require(isinstance(body.get("id"), str) and body["id"].startswith("resp_"), f'id must be a string starting with "resp_", got {short(body.get("id"))}')
    created = body.get("created_at")
    require(isinstance(created, (int, float)) and not isinstance(created, bool) and created > 0, f"created_at must be a Unix timestamp, got {short(created)}")
    require(isinstance(body.get("model"), str) and body["model"], f"model must be a non-empty string, got {short(body.get('model'))}")
    require(body.get("status") in STATUSES, f"status {short(body.get('status'))} is not one of {STATUSES}")
    output_items(body)


@check("responses.output.message")
def output_message(ctx, ex):
    """The output holds an assistant message item (id, status, role "assistant") whose output_text parts carry non-empty text and annotations."""
    body = response_of(ex)
    messages = message_items(body)
    require(messages, f"no output item of type \"message\"; output types are {[i.get('type') for i in output_items(body)]}")
    for i, item in enumerate(messages):
        where = f"message item {i}"
        require(isinstance(item.get("id"), str) and item["id"], f"{where}.id must be a non-empty string, got {short(item.get('id'))}")
        require(item.get("role") == "assistant", f'{where}.role is {short(item.get("role"))}, expected "assistant"')
        require(item.get("status") in CALL_STATUSES, f"{where}.status {short(item.get('status'))} is not one of {CALL_STATUSES}")
        require(text_parts(item, where), f"{where} has no output_text part")
    require(output_text(body).strip(), "the message's output_text is empty")


@check("responses.output.follows_instruction", semantic=True)
def follows_instruction(ctx, ex):
    """The output text contains what the prompt asked for (a model-quality check)."""
    expected = ctx.params["expected"]
    text = output_text(response_of(ex))
    require(normalise(expected) in normalise(text), f"output text {short(text)} does not contain {expected!r}")


@check("responses.status.completed")
def status_completed(ctx, ex):
    """A short answer that ends naturally has status "completed", incomplete_details null, and a completed message item."""
    body = response_of(ex)
    require(body.get("status") == "completed", f'status is {short(body.get("status"))}, expected "completed"')
    require(body.get("incomplete_details") is None, f"incomplete_details must be null when completed, got {short(body.get('incomplete_details'))}")
    for i, item in enumerate(message_items(body)):
        require(item.get("status") == "completed", f'message item {i} status is {short(item.get("status"))}, expected "completed"')


@check("responses.usage.consistent")
def usage_consistent(ctx, ex):
    """usage has integer input/output/total tokens (total = input + output, both positive) and the token details."""
    body = response_of(ex)
    require("usage" in body, "the response has no usage object")
    given, made = usage_numbers(body["usage"])
    require(given > 0, "usage.input_tokens is 0 for a non-empty input")
    require(made > 0, "usage.output_tokens is 0 for a non-empty answer")


@check("responses.max_output_tokens.incomplete")
def max_output_tokens_incomplete(ctx, ex):
    """A long answer cut by max_output_tokens has status "incomplete", reason "max_output_tokens", and at most that many output tokens."""
    limit = ctx.params["limit"]
    body = response_of(ex)
    require(output_items(body), "the truncated response has no output at all")
    messages = message_items(body)
    if messages:
        words = len(output_text(body).split())
        require(words <= limit, f"the output text has {words} words, more than the {limit} tokens allowed")
    usage = body.get("usage")
    if usage is not None:
        _, made = usage_numbers(usage)
        require(made <= limit, f"usage.output_tokens is {made}, more than max_output_tokens {limit}")
    require(body.get("status") == "incomplete", f'status is {short(body.get("status"))}, expected "incomplete" for a truncated answer')
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    require(reason == "max_output_tokens", f'incomplete_details is {short(details)}, expected reason "max_output_tokens"')


@check("responses.structured.json_object")
def structured_json_object(ctx, ex):
    """With text.format json_object the output text parses as a JSON object."""
    parse_json_text(output_text(response_of(ex)).strip(), None)


@check("responses.structured.schema_valid")
def structured_schema_valid(ctx, ex):
    """With text.format json_schema the output text parses and validates against the schema."""
    parse_json_text(output_text(response_of(ex)).strip(), request_schema(ex))


@check("responses.tools.function_call_shape")
def function_call_shape(ctx, ex):
    """The answer calls a declared function: function_call items with id, call_id, name, arguments (a JSON string valid against the parameters), status."""
    body = response_of(ex)
    calls = function_call_items(body)
    require(calls, f"no function_call item; output types are {[i.get('type') for i in output_items(body)]}")
    functions = declared_functions(ex.request.body)
    wanted = ctx.params.get("function")
    for i, call in enumerate(calls):
        where = f"function_call item {i}"
        require(isinstance(call.get("call_id"), str) and call["call_id"], f"{where}.call_id must be a non-empty string, got {short(call.get('call_id'))}")
        require(isinstance(call.get("id"), str) and call["id"], f"{where}.id must be a non-empty string, got {short(call.get('id'))}")
        require(call.get("status") in CALL_STATUSES, f"{where}.status {short(call.get('status'))} is not one of {CALL_STATUSES}")
        name = call.get("name")
        require(name in functions, f"{where}.name {short(name)} is not one of the declared tools {sorted(functions)}")
        require(wanted is None or name == wanted, f"{where} calls {name!r}, expected {wanted!r}")
        check_arguments(call.get("arguments"), functions[name], where)
    ids = [call["call_id"] for call in calls]
    require(len(set(ids)) == len(ids), f"call_ids repeat: {ids}")


@check("responses.tools.not_called")
def not_called(ctx, ex):
    """With tool_choice "none" no function is called: the answer is a message."""
    body = response_of(ex)
    calls = function_call_items(body)
    require(not calls, f"tool_choice none, yet {len(calls)} function_call item(s): {short(calls)}")
    require(output_text(body).strip(), "no text answer")


def _followup(ctx, ex, via: str):
    """Answer the target's own function calls with the result, and send the conversation back.

    ``via`` "function_call_output": the calls echoed as items, each answered by a
    function_call_output item. "user_message": Scaleway's workaround, the call told as an
    assistant message and the result as a role user message.
    """
    body = response_of(ex)
    calls = function_call_items(body)
    require(calls, "no function_call item to answer")
    result = ctx.params["result"]
    request = copy.deepcopy(ex.request.body)
    request.pop("tool_choice", None)
    history = request["input"] if isinstance(request["input"], list) else [{"role": "user", "content": request["input"]}]
    if via == "function_call_output":
        for call in calls:
            history.append({"type": "function_call", "call_id": call.get("call_id"), "name": call.get("name"), "arguments": call.get("arguments")})
        history.extend({"type": "function_call_output", "call_id": call.get("call_id"), "output": result} for call in calls)
    else:
        for call in calls:
            history.append({"role": "assistant", "content": f"I called {call.get('name')} with {call.get('arguments')}."})
            history.append({"role": "user", "content": f"The {call.get('name')} tool returned: {result}\nUse this result to answer my question."})
    request["input"] = history
    return ctx.followup(ApiRequest("POST", ex.request.path, body=request), f"sending the tool result back ({via})")


@check("responses.tools.output_item_accepted")
def output_item_accepted(ctx, ex):
    """The tool result sent back as a function_call_output item (the call's call_id) is accepted and answered with a message."""
    other = _followup(ctx, ex, "function_call_output")
    body = response_of(other)
    require(output_text(body).strip(), f"no text answer after the function_call_output: output is {short(body.get('output'))}")


@check("responses.tools.result_used", semantic=True)
def result_used(ctx, ex):
    """The final answer after the tool result (sent as params.via says) uses it: it mentions the value the tool returned."""
    other = _followup(ctx, ex, ctx.params.get("via", "function_call_output"))
    text = output_text(response_of(other))
    expected = ctx.params["expect"]
    require(normalise(expected) in normalise(text), f"the answer {short(text)} does not use the tool result ({expected!r})")


@check("responses.tools.builtin_refused", passing_status=UNSUPPORTED_OK)
def builtin_refused(ctx, ex):
    """A built-in or custom tool (only function tools are supported) is refused with a 4xx, never run or ignored."""
    _refused(ex, None, f"a {ctx.params.get('what', 'non-function')} tool")
    return f"refused with {ex.status}"


@check("responses.input.custom_tool_items_refused", passing_status=UNSUPPORTED_OK)
def custom_tool_items_refused(ctx, ex):
    """custom_tool_call / custom_tool_call_output input items (unsupported) are refused with a 4xx."""
    _refused(ex, None, "custom_tool_call input items")
    return f"refused with {ex.status}"
