"""Checks on function tools: whether a call happens as asked, its shape, results, streamed deltas."""

from __future__ import annotations

import copy
import json
import re

import jsonschema

from ..transport import ApiRequest
from ..vocabulary import UNSUPPORTED_OK
from . import Failure, check, require, short
from .chat import choices, normalise
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


def check_arguments(arguments, function: dict, where: str) -> dict:
    """The call's arguments: a JSON string holding an object valid against the function's parameters."""
    require(isinstance(arguments, str), f"{where}.arguments must be a JSON string, got a {type(arguments).__name__}: {short(arguments)}")
    try:
        args = json.loads(arguments)
    except ValueError:
        raise Failure(f"{where}.arguments is not valid JSON: {short(arguments)}") from None
    require(isinstance(args, dict), f"{where}.arguments is not a JSON object: {short(args)}")
    schema = function.get("parameters")
    if schema:
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(args))
        if errors:
            raise Failure(f"{where} arguments {short(args)} do not match {function['name']}'s parameters: {errors[0].message[:160]}")
    return args


@check("chat.tools.called")
def called(ctx, ex):
    """The model calls a tool when tool_choice requires it (or the prompt calls for it), and the function asked for when one is named."""
    calls = tool_calls(ex)
    require(calls, f"no tool call; the answer was {short(_message(ex).get('content'))}")
    wanted = ctx.params.get("function")
    if wanted:
        names = [((c or {}).get("function") or {}).get("name") for c in calls]
        require(all(n == wanted for n in names), f"tool_choice named {wanted!r} but the call(s) went to {names}")


@check("chat.tools.not_called")
def not_called(ctx, ex):
    """With tool_choice "none" no tool is called: a text answer with finish_reason "stop"."""
    calls = tool_calls(ex)
    require(not calls, f"tool_choice none, yet {len(calls)} tool call(s): {short(calls)}")
    message = _message(ex)
    require(isinstance(message.get("content"), str) and message["content"].strip(), f"no text answer: {short(message.get('content'))}")
    reason = choices(ex)[0].get("finish_reason")
    require(reason == "stop", f'finish_reason is {short(reason)}, expected "stop" for a text answer')


@check("chat.tools.call_shape")
def call_shape(ctx, ex):
    """Each tool call has an id, type "function", a declared function name and arguments as a JSON string valid against its parameters; content is null or absent."""
    calls = tool_calls(ex)
    require(calls, "no tool call to inspect")
    functions = _tools_by_name(ex)
    for i, call in enumerate(calls):
        where = f"tool_calls[{i}]"
        require(isinstance(call, dict), f"{where} is not an object")
        require(isinstance(call.get("id"), str) and call["id"], f"{where}.id must be a non-empty string, got {short(call.get('id'))}")
        require(call.get("type") == "function", f'{where}.type is {short(call.get("type"))}, expected "function"')
        function = call.get("function")
        require(isinstance(function, dict), f"{where}.function is not an object")
        name = function.get("name")
        require(name in functions, f"{where}.function.name {short(name)} is not one of the declared tools {sorted(functions)}")
        check_arguments(function.get("arguments"), functions[name], f"{where}.function")
    content = _message(ex).get("content")
    require(content is None or content == "", f"content must be null or absent beside tool calls, got {short(content)}")


@check("chat.tools.finish_reason")
def finish_reason(ctx, ex):
    """An answer made of tool calls has finish_reason "tool_calls"."""
    reason = choices(ex)[0].get("finish_reason")
    require(reason == "tool_calls", f'finish_reason is {short(reason)}, expected "tool_calls" with tool calls')


@check("chat.tools.parallel_calls")
def parallel_calls(ctx, ex):
    """A request needing several calls gets them in one answer: distinct ids and distinct arguments."""
    calls = tool_calls(ex)
    wanted = ctx.params.get("min_calls", 2)
    require(len(calls) >= wanted, f"expected at least {wanted} tool calls, got {len(calls)}")
    ids = [c.get("id") for c in calls]
    require(len(set(ids)) == len(ids), f"tool call ids repeat: {ids}")
    args = [((c.get("function") or {}).get("arguments")) for c in calls]
    require(len(set(map(str, args))) == len(args), f"the calls carry identical arguments: {short(args)}")


def _followup(ctx, ex):
    """Answer the target's own tool calls with results and send the conversation back."""
    calls = tool_calls(ex)
    require(calls, "no tool call to answer")
    body = copy.deepcopy(ex.request.body)
    body.pop("tool_choice", None)
    body["messages"].append({"role": "assistant", "content": None, "tool_calls": calls})
    for call in calls:
        body["messages"].append({"role": "tool", "tool_call_id": call["id"], "content": ctx.params["result"]})
    return ctx.followup(ApiRequest("POST", ex.request.path, body=body), "sending the tool result back")


@check("chat.tools.result_accepted")
def result_accepted(ctx, ex):
    """The tool result sent back (role "tool" with the call's id) is accepted and answered with text."""
    other = _followup(ctx, ex)
    message = _message(other)
    require(isinstance(message.get("content"), str) and message["content"].strip(), f"no text answer after the tool result: {short(message)}")


@check("chat.tools.answer_uses_result", semantic=True)
def answer_uses_result(ctx, ex):
    """The final answer after a tool result uses it (mentions the value the tool returned)."""
    other = _followup(ctx, ex)
    content = _message(other).get("content") or ""
    expected = ctx.params["expect"]
    require(normalise(expected) in normalise(content), f"the answer {short(content)} does not use the tool result ({expected!r})")


@check("chat.tools.stream_deltas")
def stream_deltas(ctx, ex):
    """Streamed tool calls: every delta has an index; id, type and name come first; argument fragments concatenate to valid JSON."""
    functions = _tools_by_name(ex)
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
                    require(function.get("name") in functions, f"chunk {n}: the first delta of tool call {index} names {short(function.get('name'))}, not a declared tool")
                    calls[index] = {"name": function["name"], "id": delta["id"], "arguments": ""}
                elif delta.get("id") not in (None, calls[index]["id"]):
                    raise Failure(f"chunk {n}: tool call {index} changes id mid-stream")
                fragment = function.get("arguments")
                if fragment is not None:
                    require(isinstance(fragment, str), f"chunk {n}: argument fragment is a {type(fragment).__name__}, not a string")
                    calls[index]["arguments"] += fragment
    require(calls, "the stream carried no tool call deltas")
    require(sorted(calls) == list(range(len(calls))), f"tool call indexes are {sorted(calls)}, expected 0..{len(calls) - 1}")
    for index, call in sorted(calls.items()):
        check_arguments(call["arguments"], functions[call["name"]], f"streamed tool call {index}")
    require(finish == "tool_calls", f'the stream finished with {short(finish)}, expected "tool_calls"')


@check("chat.tools.custom_refused", passing_status=UNSUPPORTED_OK)
def custom_refused(ctx, ex):
    """A tool of a type other than "function" (e.g. custom) is refused with a 4xx that says so."""
    _refused(ex, None, "a custom tool")
    err = error_object(ex) or {}
    text = f"{err.get('param')} {err.get('message')}".lower()
    require(re.search(r"custom|tools|type", text), f"refused, but the error does not say the tool type is the problem: {short(err)}")
    return f"refused with {ex.status}"
