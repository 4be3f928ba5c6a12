"""Checks on non-streamed Responses: the response object, output items, usage, truncation, JSON, tools, refusals.

Protocol, not model: a model may run into max_output_tokens whatever it was asked. Then status
"incomplete" with reason "max_output_tokens" is the right answer (a fail only when usage shows
the output below the limit), and what the cut answer lacks — a message after the reasoning, text,
finished JSON — is the model's doing: a semantic finding. Under tool_choice "auto" whether and
what the model calls is semantic too; "required" or a named function makes the call protocol.
"""

from __future__ import annotations

import copy
import json

import jsonschema

from ..transport import ApiRequest
from ..vocabulary import UNSUPPORTED_OK
from . import Failure, Skip, check, json_object, recommend, require, require_semantic, short
from .chat import normalise
from .errors import _refused
from .tools import check_arguments, forced, named_function, semantic_later, tool_choice_mode

STATUSES = ("completed", "failed", "in_progress", "cancelled", "queued", "incomplete")
CALL_STATUSES = ("in_progress", "completed", "incomplete")


def response_of(ex) -> dict:
    body = json_object(ex)
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


def output_limit(ex) -> int | None:
    limit = (ex.request.body or {}).get("max_output_tokens") if isinstance(ex.request.body, dict) else None
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def output_tokens(body: dict) -> int | None:
    usage = body.get("usage")
    made = usage.get("output_tokens") if isinstance(usage, dict) else None
    return made if isinstance(made, int) and not isinstance(made, bool) else None


def cut_short(ex, body: dict) -> bool:
    """The response was cut by max_output_tokens: status "incomplete" for that reason — a
    :class:`Failure` when usage shows the output below the limit (then nothing was cut)."""
    details = body.get("incomplete_details")
    if body.get("status") != "incomplete" or not isinstance(details, dict) or details.get("reason") != "max_output_tokens":
        return False
    limit, made = output_limit(ex), output_tokens(body)
    require(limit is None or made is None or made >= limit, f'status "incomplete" (max_output_tokens) but usage.output_tokens {made} is below max_output_tokens {limit}')
    return True


def limit_text(ex, body: dict) -> str:
    made, limit = output_tokens(body), output_limit(ex)
    return f"{made if made is not None else '?'} of max_output_tokens {limit if limit is not None else '(none)'}"


def text_or_semantic(ex, body: dict, what: str) -> str:
    """The output text; no message item at all is a fail unless the answer was cut at
    max_output_tokens first (the model spent them, e.g. reasoning): then a semantic finding."""
    if not message_items(body) and cut_short(ex, body):
        raise Failure(f"{what}: no message item before max_output_tokens ({limit_text(ex, body)} tokens; output types {[i.get('type') for i in output_items(body)]})", semantic=True)
    return output_text(body)


def request_schema(ex) -> dict:
    fmt = (((ex.request.body or {}).get("text") or {}).get("format")) or {}
    schema = fmt.get("schema")
    require(isinstance(schema, dict), "the request carries no text.format.schema")
    return schema


@check("responses.response.schema", source="openapi: #/components/schemas/Response")
def response_schema(ctx, ex):
    """The response body is valid against the OpenAPI Response schema."""
    ctx.require_schema("Response", ex.json)


@check("responses.response.object", source="openapi: #/components/schemas/Response (object response, id, created_at, model, status, output)")
def response_object(ctx, ex):
    """The body is a response: object "response", an id "resp_…", a created_at timestamp, the model, a known status, an output array."""
    body = response_of(ex)
    require(body.get("object") == "response", f'object is {short(body.get("object"))}, expected "response"')
    require(isinstance(body.get("id"), str) and body["id"], f'id must be a non-empty string, got {short(body.get("id"))}')
    # the prefix is OpenAI's habit (Response.id has no pattern; openai-python types it str)
    recommend(body["id"].startswith("resp_"), f'id {short(body["id"])} does not start with "resp_" (what OpenAI sends)')
    created = body.get("created_at")
    require(isinstance(created, (int, float)) and not isinstance(created, bool) and created > 0, f"created_at must be a Unix timestamp, got {short(created)}")
    require(isinstance(body.get("model"), str) and body["model"], f"model must be a non-empty string, got {short(body.get('model'))}")
    require(body.get("status") in STATUSES, f"status {short(body.get('status'))} is not one of {STATUSES}")
    output_items(body)


@check("responses.output.message", source="openapi: #/components/schemas/OutputMessage (id, role assistant, status, output_text parts with annotations)")
def output_message(ctx, ex):
    """The output holds an assistant message item (id, status, role "assistant") whose output_text parts carry text (non-empty: semantic) and annotations."""
    body = response_of(ex)
    messages = message_items(body)
    text_or_semantic(ex, body, "the output")
    for i, item in enumerate(messages):
        where = f"message item {i}"
        require(isinstance(item.get("id"), str) and item["id"], f"{where}.id must be a non-empty string, got {short(item.get('id'))}")
        require(item.get("role") == "assistant", f'{where}.role is {short(item.get("role"))}, expected "assistant"')
        require(item.get("status") in CALL_STATUSES, f"{where}.status {short(item.get('status'))} is not one of {CALL_STATUSES}")
        require(text_parts(item, where), f"{where} has no output_text part")
    require_semantic(output_text(body).strip(), f"the message's output_text is empty (status {short(body.get('status'))})")


@check("responses.output.follows_instruction", semantic=True, source="profile: endpoints.responses.features core (the output follows the prompt)")
def follows_instruction(ctx, ex):
    """The output text contains what the prompt asked for (a model-quality check)."""
    expected = ctx.params["expected"]
    text = output_text(response_of(ex))
    require(normalise(expected) in normalise(text), f"output text {short(text)} does not contain {expected!r}")


@check("responses.status.completed", source="openapi: #/components/schemas/Response/allOf/2/properties/status (completed, with incomplete_details null)")
def status_completed(ctx, ex):
    """A short answer that ends naturally has status "completed", incomplete_details null, and a completed message item (incomplete at max_output_tokens: the model did not end, semantic)."""
    body = response_of(ex)
    if cut_short(ex, body):
        for i, item in enumerate(message_items(body)):
            require(item.get("status") in ("incomplete", "completed"), f'message item {i} status is {short(item.get("status"))} in an incomplete response')
        require_semantic(False, f'status "incomplete": the answer ran to max_output_tokens ({limit_text(ex, body)} tokens) — right for the server, the model did not end')
    require(body.get("status") == "completed", f'status is {short(body.get("status"))}, expected "completed"')
    require(body.get("incomplete_details") is None, f"incomplete_details must be null when completed, got {short(body.get('incomplete_details'))}")
    for i, item in enumerate(message_items(body)):
        require(item.get("status") == "completed", f'message item {i} status is {short(item.get("status"))}, expected "completed"')


@check("responses.usage.consistent", source="openapi: #/components/schemas/ResponseUsage (input, output and total tokens with their details)")
def usage_consistent(ctx, ex):
    """usage has integer input/output/total tokens (total = input + output, both positive) and the token details."""
    body = response_of(ex)
    require("usage" in body, "the response has no usage object")
    given, made = usage_numbers(body["usage"])
    require(given > 0, "usage.input_tokens is 0 for a non-empty input")
    items = output_items(body)
    texts = [part.get("text") for item in items if item.get("type") == "message" for part in item.get("content") or [] if isinstance(part, dict)]
    said = any(item.get("type") not in ("message", None) for item in items) or any(isinstance(t, str) and t for t in texts)
    # a model may end at once (an empty answer): only an output that says something must count tokens
    require(made > 0 or not said, "usage.output_tokens is 0 for a non-empty answer")


@check("responses.max_output_tokens.incomplete", source="openapi: #/components/schemas/CreateResponse/allOf/2/properties/max_output_tokens (an upper bound; status incomplete, incomplete_details.reason max_output_tokens)")
def max_output_tokens_incomplete(ctx, ex):
    """A long answer cut by max_output_tokens has at most that many output tokens and, when it reached the limit, status "incomplete" with reason "max_output_tokens" (a model ending earlier: semantic)."""
    limit = ctx.params["limit"]
    body = response_of(ex)
    messages = message_items(body)
    if messages:
        words = len(output_text(body).split())
        require(words <= limit, f"the output text has {words} words, more than the {limit} tokens allowed")
    usage = body.get("usage")
    made = None
    if usage is not None:
        _, made = usage_numbers(usage)
        require(made <= limit, f"usage.output_tokens is {made}, more than max_output_tokens {limit}")
    details = body.get("incomplete_details")
    reason = details.get("reason") if isinstance(details, dict) else None
    said = f'status {short(body.get("status"))}, incomplete_details {short(details)}'
    if made is None or made >= limit:
        require(body.get("status") == "incomplete", f'status is {short(body.get("status"))}, expected "incomplete" for a truncated answer')
        require(reason == "max_output_tokens", f'incomplete_details is {short(details)}, expected reason "max_output_tokens"')
    else:
        cut_short(ex, body)  # "incomplete" for max_output_tokens below the limit is a fail
        require_semantic(False, f"the model ended after {made} of {limit} output tokens ({said}): nothing was cut, so the limit could not be observed")
    require_semantic(output_items(body), "the truncated response has no output at all")


@check("responses.structured.json_object", source="openapi: #/components/schemas/TextResponseFormatConfiguration (json_object: the output is JSON)")
def structured_json_object(ctx, ex):
    """With text.format json_object a completed output text parses as a JSON object (cut at max_output_tokens: it begins as one)."""
    body = response_of(ex)
    _judge_json(ex, body, None)


@check("responses.structured.schema_valid", source="openapi: #/components/schemas/TextResponseFormatJsonSchema (the output matches the schema)")
def structured_schema_valid(ctx, ex):
    """With text.format json_schema a completed output text parses and validates against the schema (cut at max_output_tokens: it begins as JSON)."""
    body = response_of(ex)
    _judge_json(ex, body, request_schema(ex))


def _judge_json(ex, body: dict, schema: dict | None) -> None:
    """A completed answer's JSON is the server's guarantee; one cut at max_output_tokens may stop
    mid-document (the model's length): then only its first character is judged, the rest is semantic."""
    text = text_or_semantic(ex, body, "the JSON answer")
    if not cut_short(ex, body):
        parse_json_text(text.strip(), schema)
        return
    wants_object = schema is None or schema.get("type") == "object" or "properties" in schema
    require(not wants_object or text.lstrip()[:1] in ("", "{"), f"the output text was cut at max_output_tokens but does not begin as a JSON object: {short(text)}")
    try:
        parse_json_text(text.strip(), schema)
    except Failure as exc:
        raise Failure(f"{exc} — the answer was cut at max_output_tokens ({limit_text(ex, body)} tokens), so its JSON may be unfinished", semantic=True) from None


@check("responses.tools.function_call_shape", source="openapi: #/components/schemas/FunctionToolCall (call_id, name and JSON arguments)")
def function_call_shape(ctx, ex):
    """function_call items have call_id, a declared name, arguments (a JSON string valid against a strict function's parameters), and a valid id and status when sent; that the model calls (the function wanted) is semantic under tool_choice "auto"."""
    body = response_of(ex)
    calls = function_call_items(body)
    mode = tool_choice_mode(ex.request.body)
    is_forced = forced(ex.request.body)
    cut = cut_short(ex, body)
    if not calls:
        found = f"no function_call item; output types are {[i.get('type') for i in output_items(body)]}"
        require(not is_forced or cut, f"{found}, although tool_choice is {short(ex.request.body.get('tool_choice'))}")
        require_semantic(False, f"{found} (tool_choice {mode}{', cut at max_output_tokens' if cut else ''}: the model answered without a call)")
    functions = declared_functions(ex.request.body)
    wanted = named_function(ex.request.body) if mode == "named" else ctx.params.get("function")
    later: list[str] = []
    for i, call in enumerate(calls):
        where = f"function_call item {i}"
        require(isinstance(call.get("call_id"), str) and call["call_id"], f"{where}.call_id must be a non-empty string, got {short(call.get('call_id'))}")
        # FunctionToolCall requires only type, call_id, name and arguments: id and status when sent
        if call.get("id") is not None:
            require(isinstance(call["id"], str) and call["id"], f"{where}.id must be a non-empty string, got {short(call.get('id'))}")
        if call.get("status") is not None:
            require(call["status"] in CALL_STATUSES, f"{where}.status {short(call.get('status'))} is not one of {CALL_STATUSES}")
        name = call.get("name")
        if name not in functions:
            unknown = f"{where}.name {short(name)} is not one of the declared tools {sorted(functions)}"
            require(not (is_forced or all(f.get("strict") for f in functions.values())), unknown)
            later.append(unknown + " (tool_choice auto: the model named it)")
            require(isinstance(call.get("arguments"), str), f"{where}.arguments must be a JSON string, got {short(call.get('arguments'))}")
            continue
        if wanted is not None and name != wanted:
            require(mode != "named", f"{where} calls {name!r}, expected {wanted!r} (tool_choice names it)")
            later.append(f"{where} calls {name!r}, expected {wanted!r} (tool_choice {mode}: the model chose)")
        check_arguments(call.get("arguments"), functions[name], where, cut=cut, later=later)
    ids = [call["call_id"] for call in calls]
    require(len(set(ids)) == len(ids), f"call_ids repeat: {ids}")
    semantic_later(later)


@check("responses.tools.not_called", source="openapi: #/components/schemas/ToolChoiceOptions (none: no tool is called, a message is generated)")
def not_called(ctx, ex):
    """With tool_choice "none" no function is called: the answer is a message (its text non-empty: semantic)."""
    body = response_of(ex)
    calls = function_call_items(body)
    require(not calls, f"tool_choice none, yet {len(calls)} function_call item(s): {short(calls)}")
    text = text_or_semantic(ex, body, "the answer")
    require_semantic(text.strip(), f"the text answer is empty (status {short(body.get('status'))})")


def _followup(ctx, ex, via: str):
    """Answer the target's own function calls with the result, and send the conversation back.

    ``via`` "function_call_output": the calls echoed as items, each answered by a
    function_call_output item. "user_message": Scaleway's workaround, the call told as an
    assistant message and the result as a role user message.
    """
    body = response_of(ex)
    calls = function_call_items(body)
    if not calls:
        require(not forced(ex.request.body) or cut_short(ex, body), f"no function_call item to answer, although tool_choice is {short(ex.request.body.get('tool_choice'))}")
        raise Skip(f"no function_call item to answer (tool_choice {tool_choice_mode(ex.request.body)}: the model answered without a call)")
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


@check("responses.tools.output_item_accepted", source="openapi: #/components/schemas/FunctionCallOutputItemParam (a function_call_output item with the call's call_id)")
def output_item_accepted(ctx, ex):
    """The tool result sent back as a function_call_output item (the call's call_id) is accepted and answered (with text: semantic, the model may call again)."""
    other = _followup(ctx, ex, "function_call_output")
    body = response_of(other)
    if not message_items(body) and function_call_items(body):
        require_semantic(False, f"the model called again instead of answering after the function_call_output: {short(body.get('output'))}")
    text = text_or_semantic(other, body, "the answer after the function_call_output")
    require_semantic(text.strip(), f"no text answer after the function_call_output: output is {short(body.get('output'))}")


@check("responses.tools.result_used", semantic=True, source="profile: endpoints.responses.notes (tool results sent back as function_call_output items or role user messages)")
def result_used(ctx, ex):
    """The final answer after the tool result (sent as params.via says) uses it: it mentions the value the tool returned."""
    other = _followup(ctx, ex, ctx.params.get("via", "function_call_output"))
    text = output_text(response_of(other))
    expected = ctx.params["expect"]
    require(normalise(expected) in normalise(text), f"the answer {short(text)} does not use the tool result ({expected!r})")


@check("responses.tools.builtin_refused", passing_status=UNSUPPORTED_OK, source="profile: endpoints.responses.properties.tool_types (a built-in tool type not listed is refused; the case runs only where the list exists)")
def builtin_refused(ctx, ex):
    """A built-in or custom tool (only function tools are supported) is refused with a 4xx, never run or ignored."""
    _refused(ex, None, f"a {ctx.params.get('what', 'non-function')} tool")
    return f"refused with {ex.status}"


@check("responses.input.custom_tool_items_refused", passing_status=UNSUPPORTED_OK, source="profile: endpoints.responses.properties.tool_types (custom not listed: custom_tool_call items are refused)")
def custom_tool_items_refused(ctx, ex):
    """custom_tool_call / custom_tool_call_output input items (unsupported) are refused with a 4xx."""
    _refused(ex, None, "custom_tool_call input items")
    return f"refused with {ex.status}"
