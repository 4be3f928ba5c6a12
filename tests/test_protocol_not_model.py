"""Protocol, not model: a check judges what the server must guarantee whatever the model said.

A tiny random-weight model runs into max_tokens (finish_reason "length"), emits control
characters, ignores instructions and calls tools when it likes. None of that is the server's
fault: such findings are ``semantic`` (counted as ``--semantic`` says) or the check cannot judge
(``skip``). What the server itself must guarantee stays a ``fail``.

Each exchange is built by hand; the verdict comes from the runner's own status policy.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from conformance.checks import CheckContext, Failure, Skip, load_all
from conformance.runner import failure_status
from conformance.transport import ApiRequest, Counter, Exchange
from conformance.transport.base import decode_stream

CHECKS = load_all()
SETTINGS = SimpleNamespace(semantic="fail", strict=False)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["city", "unit"], "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}}
GOOD_ARGS = '{"city": "Paris", "unit": "celsius"}'
NOISE = "\x07\x00\u2028 zq\x1b"  # what a random-weight model says


def verdict(check_id: str, ex: Exchange, **params) -> str:
    """pass | fail | semantic | skip | warn: what the runner records for this check (--semantic fail)."""
    spec = CHECKS[check_id]
    ctx = CheckContext(settings=SETTINGS, transport=None, counter=Counter(), params=params)
    try:
        spec.fn(ctx, ex)
    except Skip:
        return "skip"
    except Failure as exc:
        status, _, semantic = failure_status(spec, exc, SETTINGS)
        return "semantic" if semantic else status
    return "pass"


def exchange(path: str, request: dict, response, *, content_type: str = "application/json", transport: str = "http") -> Exchange:
    if content_type == "text/event-stream":
        raw = "".join(f"data: {json.dumps(c)}\n\n" for c in response) + "data: [DONE]\n\n"
        ex = Exchange(ApiRequest("POST", path, body=request), transport, "http://t/v1" + path, 200, {"content-type": content_type}, raw.encode())
        ex.sse, ex.chunks = decode_stream(ex.raw)
        return ex
    return Exchange(ApiRequest("POST", path, body=request), transport, "http://t/v1" + path, 200, {"content-type": content_type}, json.dumps(response).encode(), json=response)


def chat(request: dict, *messages: dict, finish: str | list = "stop", completion: int | None = 5) -> Exchange:
    finishes = finish if isinstance(finish, list) else [finish] * len(messages)
    body = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "m",
        "choices": [{"index": i, "message": {"role": "assistant", **m}, "finish_reason": f, "logprobs": None} for i, (m, f) in enumerate(zip(messages, finishes))],
    }
    if completion is not None:
        body["usage"] = {"prompt_tokens": 10, "completion_tokens": completion, "total_tokens": 10 + completion}
    return exchange("/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}], **request}, body)


def call(name: str = "get_weather", arguments: str = GOOD_ARGS, call_id: str = "call_1") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tools_request(tool_choice, **extra) -> dict:
    return {"tools": [WEATHER, TIME], "tool_choice": tool_choice, "max_tokens": 80, **extra}


# -- chat: finish_reason "length" when the model ran into max_tokens ---------------------------------
def test_finish_reason_length_at_max_tokens_is_the_model_not_the_server():
    ex = chat({"max_tokens": 24}, {"content": NOISE}, finish="length", completion=24)
    assert verdict("chat.finish_reason.stop", ex) == "semantic"


def test_finish_reason_length_below_max_tokens_or_unknown_is_still_a_fail():
    assert verdict("chat.finish_reason.stop", chat({"max_tokens": 24}, {"content": "x"}, finish="length", completion=3)) == "fail"
    assert verdict("chat.finish_reason.stop", chat({"max_tokens": 24}, {"content": "x"}, finish="eos")) == "fail"
    assert verdict("chat.finish_reason.stop", chat({"max_tokens": 24}, {"content": "x"})) == "pass"


def test_stop_honoured_when_the_model_ran_to_max_tokens_without_the_stop_sequence():
    ex = chat({"stop": [" 5"], "max_tokens": 30}, {"content": "7 7 7 7 7 7 7"}, finish="length", completion=30)
    assert verdict("chat.stop.honoured", ex, stop=[" 5"]) == "pass"


def test_stop_honoured_keeps_what_the_server_must_guarantee():
    stop = {"stop": [" 5"], "max_tokens": 30}
    assert verdict("chat.stop.honoured", chat(stop, {"content": "1 2 3 4 5 6"}), stop=[" 5"]) == "fail"  # the stop sequence was returned
    assert verdict("chat.stop.honoured", chat(stop, {"content": "1 2 3 4"}, completion=30), stop=[" 5"]) == "fail"  # "stop" though it ran to the limit
    assert verdict("chat.stop.honoured", chat(stop, {"content": "1 2"}, finish="length", completion=4), stop=[" 5"]) == "fail"  # "length" below the limit
    assert verdict("chat.stop.honoured", chat(stop, {"content": "1 2 3 4"}), stop=[" 5"]) == "pass"
    assert verdict("chat.stop.honoured", chat(stop, {"content": ""}, completion=1), stop=[" 5"]) == "semantic"  # the model began with " 5"


def test_role_and_content_empty_content_is_the_models_choice_a_missing_string_is_not():
    assert verdict("chat.message.role_and_content", chat({"max_tokens": 2}, {"content": ""}, finish="length", completion=2)) == "semantic"
    assert verdict("chat.message.role_and_content", chat({}, {"content": NOISE})) == "pass"
    assert verdict("chat.message.role_and_content", chat({}, {"content": None})) == "fail"
    assert verdict("chat.message.role_and_content", chat({}, {"role": "bot", "content": "x"})) == "fail"


def test_usage_counts_no_completion_tokens_for_an_empty_answer():
    assert verdict("chat.usage.arithmetic", chat({}, {"content": ""}, completion=0)) == "pass"
    assert verdict("chat.usage.arithmetic", chat({}, {"content": "hello"}, completion=0)) == "fail"


def test_max_tokens_honoured_when_the_model_ends_early_is_semantic_a_mislabelled_cut_is_a_fail():
    assert verdict("chat.max_tokens.honoured", chat({"max_tokens": 5}, {"content": "1 2"}, completion=2), limit=5) == "semantic"
    assert verdict("chat.max_tokens.honoured", chat({"max_tokens": 5}, {"content": "1 2 3 4 5"}, completion=5), limit=5) == "fail"  # cut, reported "stop"
    assert verdict("chat.max_tokens.honoured", chat({"max_tokens": 5}, {"content": "1 2 3 4 5"}, finish="length", completion=5), limit=5) == "pass"
    assert verdict("chat.max_tokens.honoured", chat({"max_tokens": 5}, {"content": NOISE}, finish="length", completion=5), limit=5) == "pass"
    assert verdict("chat.max_tokens.honoured", chat({"max_tokens": 5}, {"content": " \n"}, finish="length", completion=5), limit=5) == "semantic"
    assert verdict("chat.max_tokens.honoured", chat({"max_tokens": 5}, {"content": "1 2 3 4 5 6 7"}, finish="length", completion=7), limit=5) == "fail"


def test_logprobs_tokens_spell_the_content_by_their_bytes():
    content = "é!"
    entries = [
        {"token": "bytes:\\xc3", "logprob": -1.0, "bytes": [0xC3], "top_logprobs": []},
        {"token": "bytes:\\xa9", "logprob": -1.0, "bytes": [0xA9], "top_logprobs": []},
        {"token": "!", "logprob": -0.5, "bytes": [0x21], "top_logprobs": []},
    ]
    ex = chat({"logprobs": True}, {"content": content})
    ex.json["choices"][0]["logprobs"] = {"content": entries}
    assert verdict("chat.logprobs.shape", ex) == "pass"
    entries[2]["bytes"] = [0x3F]
    assert verdict("chat.logprobs.shape", ex) == "fail"


# -- chat tools -------------------------------------------------------------------------------------
def test_not_called_accepts_length_and_refuses_a_tool_calls_finish():
    assert verdict("chat.tools.not_called", chat(tools_request("none"), {"content": NOISE}, finish="length", completion=80)) == "pass"
    assert verdict("chat.tools.not_called", chat(tools_request("none"), {"content": "Sunny."})) == "pass"
    assert verdict("chat.tools.not_called", chat(tools_request("none"), {"content": "Sunny."}, finish="tool_calls")) == "fail"
    assert verdict("chat.tools.not_called", chat(tools_request("none"), {"content": None, "tool_calls": [call()]}, finish="tool_calls")) == "fail"
    assert verdict("chat.tools.not_called", chat(tools_request("none"), {"content": ""}, finish="stop", completion=1)) == "semantic"


def test_under_tool_choice_auto_whether_and_which_tool_is_called_is_semantic():
    text = chat(tools_request("auto"), {"content": "It is sunny."})
    assert verdict("chat.tools.called", text, function="get_weather") == "semantic"
    other = chat(tools_request("auto"), {"content": None, "tool_calls": [call("get_time", '{"city": "Paris"}')]}, finish="tool_calls")
    assert verdict("chat.tools.called", other, function="get_weather") == "semantic"
    assert verdict("chat.tools.call_shape", text) == "skip"
    assert verdict("chat.tools.finish_reason", text) == "skip"
    assert verdict("chat.tools.result_accepted", text, result="21") == "skip"
    assert verdict("chat.tools.answer_uses_result", text, result="21", expect="21") == "skip"


def test_under_required_or_named_tool_choice_the_call_is_protocol():
    text = chat(tools_request("required"), {"content": "hello"})
    assert verdict("chat.tools.called", text) == "fail"
    assert verdict("chat.tools.call_shape", text) == "fail"
    named = tools_request({"type": "function", "function": {"name": "get_time"}})
    assert verdict("chat.tools.called", chat(named, {"content": None, "tool_calls": [call()]}, finish="tool_calls"), function="get_time") == "fail"
    assert verdict("chat.tools.called", chat(named, {"content": None, "tool_calls": [call("get_time", '{"city": "x"}')]}, finish="tool_calls"), function="get_time") == "pass"
    # cut at max_tokens before the forced call could be emitted: the model's length, not the server
    assert verdict("chat.tools.called", chat(tools_request("required"), {"content": '[{"name": "get_wea'}, finish="length", completion=80)) == "semantic"


def test_parallel_calls_count_is_the_models_choice_repeated_ids_are_not():
    one = chat(tools_request("auto", parallel_tool_calls=True), {"content": None, "tool_calls": [call()]}, finish="tool_calls")
    assert verdict("chat.tools.parallel_calls", one, min_calls=2) == "semantic"
    same_ids = chat(tools_request("auto"), {"content": None, "tool_calls": [call(), call(arguments='{"city": "Tokyo", "unit": "celsius"}')]}, finish="tool_calls")
    assert verdict("chat.tools.parallel_calls", same_ids, min_calls=2) == "fail"
    two = chat(tools_request("auto"), {"content": None, "tool_calls": [call(), call(arguments='{"city": "Tokyo", "unit": "celsius"}', call_id="call_2")]}, finish="tool_calls")
    assert verdict("chat.tools.parallel_calls", two, min_calls=2) == "pass"
    serial = chat(tools_request("auto", parallel_tool_calls=False), two.json["choices"][0]["message"], finish="tool_calls")
    assert verdict("chat.tools.parallel_calls", serial, min_calls=2) == "fail"


def test_call_shape_arguments_the_model_wrote_are_semantic_unless_strict():
    loose = chat(tools_request("auto"), {"content": None, "tool_calls": [call(arguments='{"city": 3}')]}, finish="tool_calls")
    assert verdict("chat.tools.call_shape", loose) == "semantic"
    strict = {**WEATHER, "function": {**WEATHER["function"], "strict": True}}
    ex = chat({**tools_request("auto"), "tools": [strict]}, {"content": None, "tool_calls": [call(arguments='{"city": 3}')]}, finish="tool_calls")
    assert verdict("chat.tools.call_shape", ex) == "fail"
    cut = chat({**tools_request("required"), "tools": [strict]}, {"content": None, "tool_calls": [call(arguments='{"city": "Pa')]}, finish="length", completion=80)
    assert verdict("chat.tools.call_shape", cut) == "semantic"
    as_object = chat(tools_request("auto"), {"content": None, "tool_calls": [{**call(), "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}, finish="tool_calls")
    assert verdict("chat.tools.call_shape", as_object) == "fail"


def test_text_beside_a_call_is_the_models_under_auto_and_the_servers_when_forced():
    message = {"content": "Let me look that up.", "tool_calls": [call()]}
    assert verdict("chat.tools.call_shape", chat(tools_request("auto"), message, finish="tool_calls")) == "semantic"
    assert verdict("chat.tools.call_shape", chat(tools_request("required"), message, finish="tool_calls")) == "fail"


def test_tool_finish_reason():
    calls = {"content": None, "tool_calls": [call()]}
    assert verdict("chat.tools.finish_reason", chat(tools_request("auto"), calls, finish="tool_calls")) == "pass"
    assert verdict("chat.tools.finish_reason", chat(tools_request("auto"), calls, finish="stop")) == "fail"
    assert verdict("chat.tools.finish_reason", chat(tools_request("auto"), calls, finish="length", completion=80)) == "semantic"
    assert verdict("chat.tools.finish_reason", chat(tools_request("auto"), calls, finish="length", completion=9)) == "fail"


def _chunk(delta: dict, finish=None, usage=None) -> dict:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **({"usage": usage} if usage else {})}


def test_stream_deltas_without_a_call_under_auto_cannot_be_judged():
    chunks = [_chunk({"role": "assistant", "content": "Sunny"}), _chunk({}, "stop")]
    ex = exchange("/chat/completions", {"model": "m", "stream": True, **tools_request("auto")}, chunks, content_type="text/event-stream")
    assert verdict("chat.tools.stream_deltas", ex) == "skip"
    chunks = [_chunk({"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": GOOD_ARGS}}]}), _chunk({}, "tool_calls")]
    ex = exchange("/chat/completions", {"model": "m", "stream": True, **tools_request("auto")}, chunks, content_type="text/event-stream")
    assert verdict("chat.tools.stream_deltas", ex) == "fail"  # no index


# -- chat structured output ---------------------------------------------------------------------------
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "country"], "properties": {"name": {"type": "string"}, "country": {"type": "string"}}}


def _structured(content: str, finish: str = "stop", completion: int = 20) -> Exchange:
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "strict": True, "schema": SCHEMA}}
    return chat({"response_format": fmt, "max_tokens": 120}, {"content": content}, finish=finish, completion=completion)


def test_json_cut_at_max_tokens_is_not_a_schema_fail():
    cut = _structured('{"name": "\\u0007zzzzzzzzzzzzzzzzzz', finish="length", completion=120)
    assert verdict("chat.structured.schema_valid", cut) == "semantic"
    assert verdict("chat.structured.json_object", cut) == "semantic"


def test_json_that_completed_must_be_valid_and_a_cut_answer_must_still_be_json():
    assert verdict("chat.structured.schema_valid", _structured('{"name": "Paris"}')) == "fail"
    assert verdict("chat.structured.schema_valid", _structured('{"name": "Paris", "country": "France"}')) == "pass"
    assert verdict("chat.structured.schema_valid", _structured("Paris is a city in", finish="length", completion=120)) == "fail"  # prose, not JSON
    assert verdict("chat.structured.schema_valid", _structured('{"name": "Pa', finish="length", completion=7)) == "fail"  # "length" below the limit


def test_streamed_json_cut_at_max_tokens_is_not_a_schema_fail():
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    chunks = [_chunk({"role": "assistant", "content": '{"name": "'}), _chunk({"content": "zzzz"}), _chunk({}, "length")]
    ex = exchange("/chat/completions", {"model": "m", "stream": True, "max_tokens": 120, "response_format": fmt}, chunks, content_type="text/event-stream")
    assert verdict("chat.structured.stream_schema_valid", ex) == "semantic"
    chunks[-1] = _chunk({}, "stop")
    ex = exchange("/chat/completions", ex.request.body, chunks, content_type="text/event-stream")
    assert verdict("chat.structured.stream_schema_valid", ex) == "fail"


# -- responses ----------------------------------------------------------------------------------------
def response(request: dict, *, status: str = "completed", output: list | None = None, output_tokens: int = 5, reason: str | None = None) -> Exchange:
    body = {
        "id": "resp_1", "object": "response", "created_at": 1700000000, "model": "m", "status": status,
        "incomplete_details": {"reason": reason} if reason else None, "output": output if output is not None else [],
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 10 + output_tokens},
    }
    return exchange("/responses", {"model": "m", "input": "hi", **request}, body)


def message(text: str, status: str = "completed") -> dict:
    return {"type": "message", "id": "msg_1", "role": "assistant", "status": status, "content": [{"type": "output_text", "text": text, "annotations": []}]}


def function_call(name: str = "get_weather", arguments: str = GOOD_ARGS) -> dict:
    return {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": name, "arguments": arguments, "status": "completed"}


FLAT_TOOLS = [{"type": "function", "name": t["function"]["name"], "strict": True, "parameters": t["function"]["parameters"]} for t in (WEATHER, TIME)]


def test_incomplete_at_max_output_tokens_is_not_a_status_fault():
    ex = response({"max_output_tokens": 300}, status="incomplete", reason="max_output_tokens", output=[message(NOISE, "incomplete")], output_tokens=300)
    assert verdict("responses.status.completed", ex) == "semantic"
    assert verdict("responses.output.message", ex) == "pass"
    below = response({"max_output_tokens": 300}, status="incomplete", reason="max_output_tokens", output=[message("x", "incomplete")], output_tokens=12)
    assert verdict("responses.status.completed", below) == "fail"
    assert verdict("responses.status.completed", response({}, status="in_progress", output=[message("x")])) == "fail"


def test_reasoning_only_output_cut_at_max_output_tokens_is_semantic_otherwise_a_fail():
    reasoning = {"type": "reasoning", "id": "rs_1", "summary": []}
    cut = response({"max_output_tokens": 300}, status="incomplete", reason="max_output_tokens", output=[reasoning], output_tokens=300)
    assert verdict("responses.output.message", cut) == "semantic"
    assert verdict("responses.output.message", response({"max_output_tokens": 300}, output=[reasoning], output_tokens=40)) == "fail"


def test_max_output_tokens_incomplete():
    ask = {"max_output_tokens": 16}
    assert verdict("responses.max_output_tokens.incomplete", response(ask, status="incomplete", reason="max_output_tokens", output=[message("1 2 3", "incomplete")], output_tokens=16), limit=16) == "pass"
    assert verdict("responses.max_output_tokens.incomplete", response(ask, output=[message("1 2 3")], output_tokens=16), limit=16) == "fail"  # cut, said completed
    assert verdict("responses.max_output_tokens.incomplete", response(ask, output=[message("1 2")], output_tokens=3), limit=16) == "semantic"  # ended early


def test_responses_json_cut_at_max_output_tokens_is_not_a_schema_fail():
    fmt = {"text": {"format": {"type": "json_schema", "name": "city", "strict": True, "schema": SCHEMA}}, "max_output_tokens": 400}
    cut = response(fmt, status="incomplete", reason="max_output_tokens", output=[message('{"name": "zz', "incomplete")], output_tokens=400)
    assert verdict("responses.structured.schema_valid", cut) == "semantic"
    assert verdict("responses.structured.schema_valid", response(fmt, output=[message('{"name": "zz"}')])) == "fail"
    json_mode = {"text": {"format": {"type": "json_object"}}, "max_output_tokens": 300}
    assert verdict("responses.structured.json_object", response(json_mode, status="incomplete", reason="max_output_tokens", output=[message('{"a": "', "incomplete")], output_tokens=300)) == "semantic"
    assert verdict("responses.structured.json_object", response(json_mode, output=[message("The sky is blue")])) == "fail"


def test_responses_tools_under_auto_and_none():
    auto = {"tools": FLAT_TOOLS, "tool_choice": "auto", "max_output_tokens": 400}
    text = response(auto, output=[message("Sunny.")])
    assert verdict("responses.tools.function_call_shape", text, function="get_weather") == "semantic"
    assert verdict("responses.tools.function_call_shape", response(auto, output=[function_call("get_time", '{"city": "x"}')]), function="get_weather") == "semantic"
    assert verdict("responses.tools.output_item_accepted", text, result="21") == "skip"
    assert verdict("responses.tools.result_used", text, result="21", expect="21") == "skip"
    named = {**auto, "tool_choice": {"type": "function", "name": "get_time"}}
    assert verdict("responses.tools.function_call_shape", response(named, output=[message("Sunny.")]), function="get_time") == "fail"
    assert verdict("responses.tools.function_call_shape", response(named, output=[function_call()]), function="get_time") == "fail"
    assert verdict("responses.tools.function_call_shape", response(auto, output=[function_call(arguments='{"city": 1}')]), function="get_weather") == "fail"  # strict tools
    none = {**auto, "tool_choice": "none"}
    cut = response(none, status="incomplete", reason="max_output_tokens", output=[message(NOISE, "incomplete")], output_tokens=400)
    assert verdict("responses.tools.not_called", cut) == "pass"
    assert verdict("responses.tools.not_called", response(none, output=[message("")])) == "semantic"
    assert verdict("responses.tools.not_called", response(none, output=[function_call()])) == "fail"
