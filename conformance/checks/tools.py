"""Checks on function tools: whether a call happens as asked, its shape, results, streamed deltas.

Protocol, not model: under tool_choice "auto" whether the model calls a tool, which one, how many
times and with what arguments is its choice (semantic findings); with "required" or a named
function the call itself is the server's guarantee, and so are arguments valid against the
parameters of a ``strict`` function (unless the answer was cut at max_tokens). A check with no
call to look at under "auto" cannot judge (skip).
"""

from __future__ import annotations

import copy
import json
import re

import jsonschema

from ..transport import ApiRequest
from ..vocabulary import UNSUPPORTED_OK
from . import Failure, Skip, check, recommend, require, require_semantic, short
from .chat import choices, cut_at_limit, normalise
from .errors import _refused, error_object
from .stream import content_chunks


def _tools_by_name(ex) -> dict[str, dict]:
    tools = (ex.request.body or {}).get("tools") or []
    return {t["function"]["name"]: t["function"] for t in tools if t.get("type") == "function"}


def _message(ex) -> dict:
    message = choices(ex)[0].get("message")
    require(isinstance(message, dict), f"choices[0].message is not an object: {short(message)}")
    return message


def tool_calls(ex) -> list:
    calls = _message(ex).get("tool_calls")
    return calls if isinstance(calls, list) else []


def tool_choice_mode(request_body) -> str:
    """How the request constrains calls: "none", "required", "named" or "auto" (the default with tools)."""
    choice = (request_body if isinstance(request_body, dict) else {}).get("tool_choice", "auto")
    if isinstance(choice, dict):
        return "named"
    return choice if choice in ("none", "required") else "auto"


def named_function(request_body) -> str | None:
    """The function a named tool_choice names (chat {function: {name}} or Responses {name})."""
    choice = (request_body if isinstance(request_body, dict) else {}).get("tool_choice")
    if not isinstance(choice, dict):
        return None
    return (choice.get("function") or {}).get("name") if isinstance(choice.get("function"), dict) else choice.get("name")


def forced(request_body) -> bool:
    """tool_choice makes a call the server's guarantee ("required" or a named function)."""
    return tool_choice_mode(request_body) in ("required", "named")


def semantic_later(problems: list[str]) -> None:
    """Raise the semantic findings gathered while the protocol was checked (after it passed)."""
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    require_semantic(not problems, "; ".join(problems[:3]) + more)


def check_arguments(arguments, function: dict, where: str, *, cut: bool = False, later: list[str] | None = None):
    """The call's arguments: a JSON string (always the server's) holding an object valid against the function's parameters.

    That content is guaranteed only for a ``strict`` function whose answer was not cut at
    max_tokens; otherwise it is what the model wrote: a semantic finding, raised at once or
    appended to ``later``. Returns the arguments, or None when they are not a JSON object.
    """
    require(isinstance(arguments, str), f"{where}.arguments must be a JSON string, got a {type(arguments).__name__}: {short(arguments)}")
    guaranteed = bool(function.get("strict")) and not cut
    note = "" if guaranteed else (" (cut at max_tokens)" if cut else " (not a strict function: the model wrote them)")

    def problem(message: str) -> None:
        if guaranteed:
            raise Failure(message)
        if later is None:
            raise Failure(message + note, semantic=True)
        later.append(message + note)

    try:
        args = json.loads(arguments)
    except ValueError:
        problem(f"{where}.arguments is not valid JSON: {short(arguments)}")
        return None
    if not isinstance(args, dict):
        problem(f"{where}.arguments is not a JSON object: {short(args)}")
        return None
    schema = function.get("parameters")
    if schema:
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(args))
        if errors:
            problem(f"{where} arguments {short(args)} do not match {function.get('name')}'s parameters: {errors[0].message[:160]}")
    return args


def no_call(ex, what: str):
    """There is no tool call to judge: a fail when tool_choice forces one (and the answer was not
    cut at max_tokens first), else the check cannot judge."""
    reason = choices(ex)[0].get("finish_reason")
    cut = cut_at_limit(ex, reason)
    if forced(ex.request.body) and not cut:
        raise Failure(f"{what}: no tool call although tool_choice is {short(ex.request.body.get('tool_choice'))}")
    why = "the answer was cut at max_tokens first" if cut else f"tool_choice {tool_choice_mode(ex.request.body)}: the model answered without one"
    raise Skip(f"{what}: there is no tool call ({why})")


@check("chat.tools.called", source="openapi: #/components/schemas/ChatCompletionToolChoiceOption (required: one or more tools are called; a named function forces that tool)")
def called(ctx, ex):
    """A tool is called when tool_choice requires one, the named function when one is named (under "auto": a semantic finding, the model chooses)."""
    calls = tool_calls(ex)
    mode = tool_choice_mode(ex.request.body)
    if not calls:
        reason = choices(ex)[0].get("finish_reason")
        said = f"the answer was {short(_message(ex).get('content'))} (finish_reason {short(reason)})"
        if forced(ex.request.body) and not cut_at_limit(ex, reason):
            raise Failure(f"no tool call although tool_choice is {short(ex.request.body.get('tool_choice'))}; {said}")
        require_semantic(False, f"no tool call under tool_choice {mode}: {said}")
    wanted = named_function(ex.request.body) if mode == "named" else ctx.params.get("function")
    if wanted:
        names = [((c or {}).get("function") or {}).get("name") if isinstance(c, dict) else None for c in calls]
        judge = require if mode == "named" else require_semantic
        judge(all(n == wanted for n in names), f"expected a call to {wanted!r} (tool_choice {mode}), but the call(s) went to {names}")


@check("chat.tools.not_called", source="openapi: #/components/schemas/ChatCompletionToolChoiceOption (none: no tool is called, a message is generated)")
def not_called(ctx, ex):
    """With tool_choice "none" no tool is called: a text answer whose finish_reason is not "tool_calls" ("length" at max_tokens is fine)."""
    calls = tool_calls(ex)
    require(not calls, f"tool_choice none, yet {len(calls)} tool call(s): {short(calls)}")
    message = _message(ex)
    reason = choices(ex)[0].get("finish_reason")
    require(reason not in ("tool_calls", "function_call"), f"finish_reason is {short(reason)} without a tool call (tool_choice none)")
    cut_at_limit(ex, reason)
    content = message.get("content")
    require(isinstance(content, str), f"the answer without tool calls has no string content: {short(content)}")
    require_semantic(content.strip(), f"the text answer is empty (finish_reason {short(reason)})")


@check("chat.tools.call_shape", source="openapi: #/components/schemas/ChatCompletionMessageToolCall (id, type function, the function's name and JSON arguments)")
def call_shape(ctx, ex):
    """Each tool call has an id, type "function", a declared function name and arguments as a JSON string (valid against a strict function's parameters); content is null or absent when tool_choice forces the call."""
    calls = tool_calls(ex)
    if not calls:
        no_call(ex, "no tool call to inspect")
    functions = _tools_by_name(ex)
    is_forced = forced(ex.request.body)
    cut = cut_at_limit(ex, choices(ex)[0].get("finish_reason"))
    later: list[str] = []
    for i, call in enumerate(calls):
        where = f"tool_calls[{i}]"
        require(isinstance(call, dict), f"{where} is not an object")
        require(isinstance(call.get("id"), str) and call["id"], f"{where}.id must be a non-empty string, got {short(call.get('id'))}")
        require(call.get("type") == "function", f'{where}.type is {short(call.get("type"))}, expected "function"')
        function = call.get("function")
        require(isinstance(function, dict), f"{where}.function is not an object")
        name = function.get("name")
        if name not in functions:
            unknown = f"{where}.function.name {short(name)} is not one of the declared tools {sorted(functions)}"
            require(not (is_forced or all(f.get("strict") for f in functions.values())), unknown)
            later.append(unknown + " (tool_choice auto: the model named it)")
            require(isinstance(function.get("arguments"), str), f"{where}.function.arguments must be a JSON string, got {short(function.get('arguments'))}")
            continue
        check_arguments(function.get("arguments"), functions[name], f"{where}.function", cut=cut, later=later)
    content = _message(ex).get("content")
    beside = f"content must be null or absent beside tool calls, got {short(content)}"
    if is_forced:
        require(content is None or content == "", beside)
    elif not (content is None or content == ""):
        later.append(f"the model wrote text beside its tool call(s) under tool_choice auto: {short(content)}")
    semantic_later(later)


@check("chat.tools.finish_reason", source="openapi: #/components/schemas/CreateChatCompletionResponse/properties/choices/items/properties/finish_reason (tool_calls if the model called a tool)")
def finish_reason(ctx, ex):
    """An answer made of tool calls has finish_reason "tool_calls" ("length" at max_tokens: the model ran out inside its call, semantic)."""
    if not tool_calls(ex):
        no_call(ex, "no tool call whose finish_reason to check")
    reason = choices(ex)[0].get("finish_reason")
    if cut_at_limit(ex, reason):
        require_semantic(False, 'finish_reason is "length": the model ran to max_tokens inside its tool call')
    require(reason == "tool_calls", f'finish_reason is {short(reason)}, expected "tool_calls" with tool calls')


@check("chat.tools.parallel_calls", source="profile: endpoints.chat.features parallel-tools (several tool calls in one answer)")
def parallel_calls(ctx, ex):
    """Several calls in one answer have distinct ids (none beyond one with parallel_tool_calls false); that the model makes several, with distinct arguments, is semantic."""
    calls = [c for c in tool_calls(ex) if isinstance(c, dict)]
    wanted = ctx.params.get("min_calls", 2)
    ids = [c.get("id") for c in calls]
    require(len(set(ids)) == len(ids), f"tool call ids repeat: {ids}")
    if (ex.request.body or {}).get("parallel_tool_calls") is False:
        require(len(calls) <= 1, f"parallel_tool_calls is false, yet {len(calls)} tool calls in one answer")
    require_semantic(len(calls) >= wanted, f"expected at least {wanted} tool calls, got {len(calls)} (how many calls to make is the model's choice)")
    args = [((c.get("function") or {}).get("arguments")) for c in calls]
    require_semantic(len(set(map(str, args))) == len(args), f"the calls carry identical arguments: {short(args)}")


def _followup(ctx, ex):
    """Answer the target's own tool calls with results and send the conversation back."""
    calls = tool_calls(ex)
    if not calls:
        no_call(ex, "no tool call to answer")
    body = copy.deepcopy(ex.request.body)
    body.pop("tool_choice", None)
    body["messages"].append({"role": "assistant", "content": None, "tool_calls": calls})
    for call in calls:
        body["messages"].append({"role": "tool", "tool_call_id": call["id"], "content": ctx.params["result"]})
    return ctx.followup(ApiRequest("POST", ex.request.path, body=body), "sending the tool result back")


@check("chat.tools.result_accepted", source="openapi: #/components/schemas/ChatCompletionRequestToolMessage (role tool with the call's tool_call_id)")
def result_accepted(ctx, ex):
    """The tool result sent back (role "tool" with the call's id) is accepted and answered (with text: a semantic finding, the model may call again)."""
    other = _followup(ctx, ex)
    message = _message(other)
    content = message.get("content")
    require(content is None or isinstance(content, str), f"the answer after the tool result has content {short(content)}, not a string")
    require(isinstance(content, str) or message.get("tool_calls"), f"the answer after the tool result has neither content nor tool calls: {short(message)}")
    require_semantic(isinstance(content, str) and content.strip(), f"no text answer after the tool result: {short(message)}")


@check("chat.tools.answer_uses_result", semantic=True, source="profile: endpoints.chat.features tools (the answer uses the tool result)")
def answer_uses_result(ctx, ex):
    """The final answer after a tool result uses it (mentions the value the tool returned)."""
    other = _followup(ctx, ex)
    content = _message(other).get("content") or ""
    expected = ctx.params["expect"]
    require(normalise(expected) in normalise(content), f"the answer {short(content)} does not use the tool result ({expected!r})")


@check("chat.tools.stream_deltas", source="sdk: openai.lib.streaming._deltas.accumulate_delta (merges tool_calls deltas by their integer index; RuntimeError without one)")
def stream_deltas(ctx, ex):
    """Streamed tool calls: every delta has an index; id and name come first; argument fragments concatenate to a JSON string (valid for a strict function)."""
    functions = _tools_by_name(ex)
    is_forced = forced(ex.request.body)
    later: list[str] = []
    calls: dict[int, dict] = {}
    finish = None
    for n, chunk in enumerate(content_chunks(ex)):
        for choice in chunk["choices"]:
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            for delta in (choice.get("delta") or {}).get("tool_calls") or []:
                require(isinstance(delta, dict), f"chunk {n}: a tool_calls delta is not an object")
                index = delta.get("index")
                require(isinstance(index, int) and not isinstance(index, bool), f"chunk {n}: tool_calls delta without an integer index: {short(delta)}")
                function = delta.get("function") or {}
                if index not in calls:
                    require(isinstance(delta.get("id"), str) and delta["id"], f"chunk {n}: the first delta of tool call {index} has no id")
                    name = function.get("name")
                    if name not in functions:
                        unknown = f"chunk {n}: the first delta of tool call {index} names {short(name)}, not a declared tool"
                        require(isinstance(name, str) and not (is_forced or all(f.get("strict") for f in functions.values())), unknown)
                        later.append(unknown + " (tool_choice auto: the model named it)")
                    calls[index] = {"name": name, "id": delta["id"], "arguments": ""}
                elif delta.get("id") not in (None, calls[index]["id"]):
                    raise Failure(f"chunk {n}: tool call {index} changes id mid-stream")
                fragment = function.get("arguments")
                if fragment is not None:
                    require(isinstance(fragment, str), f"chunk {n}: argument fragment is a {type(fragment).__name__}, not a string")
                    calls[index]["arguments"] += fragment
    if not calls:
        if is_forced and not cut_at_limit(ex, finish):
            raise Failure(f"the stream carried no tool call deltas although tool_choice is {short(ex.request.body.get('tool_choice'))}")
        raise Skip(f"the stream carried no tool call (tool_choice {tool_choice_mode(ex.request.body)}, finish_reason {short(finish)}): nothing to judge")
    require(sorted(calls) == list(range(len(calls))), f"tool call indexes are {sorted(calls)}, expected 0..{len(calls) - 1}")
    cut = cut_at_limit(ex, finish)
    for index, call in sorted(calls.items()):
        if call["name"] in functions:
            check_arguments(call["arguments"], functions[call["name"]], f"streamed tool call {index}", cut=cut, later=later)
    if cut:
        later.append('the stream finished with "length": the model ran to max_tokens inside its tool call')
    else:
        require(finish == "tool_calls", f'the stream finished with {short(finish)}, expected "tool_calls"')
    semantic_later(later)


@check("chat.tools.custom_refused", passing_status=UNSUPPORTED_OK, source="profile: endpoints.chat.properties.tool_types (a tool type not listed is refused; the case runs only where the list exists)")
def custom_refused(ctx, ex):
    """A tool of a type other than "function" (e.g. custom) is refused with a 4xx that says so."""
    _refused(ex, None, "a custom tool")
    err = error_object(ex) or {}
    text = f"{err.get('param')} {err.get('message')}".lower()
    recommend(re.search(r"custom|tools|type", text), f"refused, but the error does not say the tool type is the problem: {short(err)}")
    return f"refused with {ex.status}"
