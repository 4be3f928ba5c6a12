"""The reference server's function tools: validation, the decide-to-call rule, arguments, parallel
calls, tool results, and streamed tool calls (docs/REFERENCE_MODEL.md, "Tools")."""

from __future__ import annotations

import copy
import json
import re

import jsonschema
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import catalog, create_app
from conformance.server.model import count_tokens, tokenize
from conformance.server.tools import place_names

KEY = "sk-test-tools"
AUTH = {"Authorization": f"Bearer {KEY}"}
PARALLEL_MODEL = "mistral-small-3.2-24b-instruct-2506"
SERIAL_MODEL = "llama-3.3-70b-instruct"
NO_TOOLS_MODEL = "gemma-3-27b-it"
WEATHER_PROMPT = "What is the weather in Paris?"
TWO_CITIES = "What is the weather in Paris and in Tokyo?"
CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")

GET_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "additionalProperties": False,
            "required": ["city", "unit"],
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        },
    },
}
GET_TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current local time in a city.",
        "parameters": {"type": "object", "additionalProperties": False, "required": ["city"], "properties": {"city": {"type": "string"}}},
    },
}
TOOLS = [GET_WEATHER, GET_TIME]


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


def post(client, messages, model=PARALLEL_MODEL, **params):
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return client.post("/v1/chat/completions", headers=AUTH, json={"model": model, "messages": messages, **params})


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    body = response.json()
    assert schema_errors("CreateChatCompletionResponse", body) == []
    ChatCompletion.model_validate(body)
    return body


def calls_of(body: dict, index: int = 0) -> list[dict]:
    return body["choices"][index]["message"]["tool_calls"]


def arguments(call: dict) -> dict:
    return json.loads(call["function"]["arguments"])


def assert_tool_answer(body: dict, names: list[str]) -> list[dict]:
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    calls = calls_of(body)
    assert [c["function"]["name"] for c in calls] == names
    for call in calls:
        assert set(call) == {"id", "type", "function"} and call["type"] == "function"
        assert CALL_ID.match(call["id"]), call["id"]
        assert call["function"]["arguments"] == json.dumps(arguments(call))
    assert len({c["id"] for c in calls}) == len(calls)
    return calls


def assert_text_answer(body: dict) -> str:
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    return choice["message"]["content"]


def assert_error(response, code: str, param: str | None, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error"), error
    if param:
        assert param in error["message"]
    return error


def stream_chunks(client, messages, **params) -> list[dict]:
    response = post(client, messages, stream=True, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    for chunk in chunks:
        assert schema_errors("CreateChatCompletionStreamResponse", chunk) == []
    assert len({c["id"] for c in chunks}) == 1
    return chunks


# --- deciding to call --------------------------------------------------------------------------------


def test_auto_calls_the_triggered_tool_with_place_name_and_first_enum(client):
    body = ok(post(client, WEATHER_PROMPT, tools=TOOLS, tool_choice="auto"))
    [call] = assert_tool_answer(body, ["get_weather"])
    assert arguments(call) == {"city": "Paris", "unit": "celsius"}
    assert call["function"]["arguments"] == '{"city": "Paris", "unit": "celsius"}'
    assert body["choices"][0]["logprobs"] is None
    jsonschema.validate(arguments(call), GET_WEATHER["function"]["parameters"])


def test_absent_tool_choice_is_auto(client):
    body = ok(post(client, WEATHER_PROMPT, tools=TOOLS))
    assert_tool_answer(body, ["get_weather"])


def test_tool_call_usage_counts_arguments_plus_three_per_call(client):
    body = ok(post(client, WEATHER_PROMPT, tools=TOOLS))
    [call] = calls_of(body)
    expected = count_tokens(call["function"]["arguments"]) + 3
    plain = ok(post(client, WEATHER_PROMPT))
    assert body["usage"] == {
        "prompt_tokens": plain["usage"]["prompt_tokens"],  # tools do not add prompt tokens
        "completion_tokens": expected,
        "total_tokens": plain["usage"]["prompt_tokens"] + expected,
    }


def test_auto_with_an_unrelated_prompt_answers_in_text(client):
    body = ok(post(client, "Count from 1 to 3", tools=TOOLS, tool_choice="auto"))
    assert assert_text_answer(body) == "1 2 3"


def test_none_answers_in_text(client):
    body = ok(post(client, WEATHER_PROMPT, tools=TOOLS, tool_choice="none"))
    assert assert_text_answer(body) == "You said: What is the weather in Paris?"


def test_required_with_an_unrelated_prompt_calls_the_first_tool(client):
    body = ok(post(client, "Reply with exactly: hello", tools=TOOLS, tool_choice="required"))
    [call] = assert_tool_answer(body, ["get_weather"])
    assert arguments(call) == {"city": "example", "unit": "celsius"}


def test_required_calls_the_triggered_tool(client):
    body = ok(post(client, "What time is it in Tokyo?", tools=TOOLS, tool_choice="required"))
    [call] = assert_tool_answer(body, ["get_time"])
    assert arguments(call) == {"city": "Tokyo"}


def test_named_tool_choice_calls_that_function(client):
    body = ok(post(client, WEATHER_PROMPT, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_time"}}))
    [call] = assert_tool_answer(body, ["get_time"])
    assert arguments(call) == {"city": "Paris"}


def test_unknown_named_function_is_400_tool_choice(client):
    response = post(client, WEATHER_PROMPT, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "launch_rocket"}})
    error = assert_error(response, "invalid_value", "tool_choice")
    assert "launch_rocket" in error["message"]


@pytest.mark.parametrize(
    "name, prompt, called",
    [
        ("lookup-stock_price", "What is the price of ACME?", True),
        ("lookup-stock_price", "Tell me about the stock market", True),
        ("lookup-stock_price", "Lookup something", False),  # verbs are not trigger words
        ("getWeather", "What is the weather?", False),  # no camelCase split
        ("get_weather", "WEATHER report please", True),  # case-insensitive
        ("get_weather", "weatherproof boots", False),  # a whole word
    ],
)
def test_trigger_words(client, name, prompt, called):
    tool = {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {}}}}
    body = ok(post(client, prompt, tools=[tool]))
    assert ("tool_calls" in body["choices"][0]["message"]) is called


def test_tool_without_parameters_gets_empty_arguments(client):
    tool = {"type": "function", "function": {"name": "get_weather"}}
    [call] = assert_tool_answer(ok(post(client, WEATHER_PROMPT, tools=[tool])), ["get_weather"])
    assert call["function"]["arguments"] == "{}"


def test_arguments_follow_the_schema_generator(client):
    parameters = {
        "type": "object",
        "$defs": {"day": {"type": "string", "format": "date"}},
        "required": ["origin", "destination", "when", "passengers"],
        "properties": {
            "origin": {"type": "string"},
            "destination": {"type": "string"},
            "when": {"$ref": "#/$defs/day"},
            "passengers": {"type": "integer", "minimum": 1, "maximum": 9},
            "code": {"type": "string", "pattern": r"^[A-Z]{3}$"},
        },
    }
    tool = {"type": "function", "function": {"name": "book_flight", "parameters": parameters}}
    body = ok(post(client, "Book a flight for Alice at Orly to Nice", model=SERIAL_MODEL, tools=[tool]))
    [call] = assert_tool_answer(body, ["book_flight"])
    assert arguments(call) == {"origin": "Alice", "destination": "Orly", "when": "2025-01-01", "passengers": 1, "code": "AAA"}


def test_tools_with_response_format_call_first_else_answer_json(client):
    fmt = {"type": "json_object"}
    assert_tool_answer(ok(post(client, WEATHER_PROMPT, tools=TOOLS, response_format=fmt)), ["get_weather"])
    body = ok(post(client, WEATHER_PROMPT, tools=TOOLS, tool_choice="none", response_format=fmt))
    assert json.loads(assert_text_answer(body)) == {"answer": "You said: What is the weather in Paris?"}


def test_place_names():
    assert place_names("Weather in Paris, at Saint-Malo and for New York; in Paris again, in tokyo") == ["Paris", "Saint-Malo", "New"]
    assert place_names("In Paris") == []


# --- parallel calls -------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", [m.id for m in catalog.MODELS if m.supports("parallel_tools")])
def test_parallel_calls_one_per_place_name(client, model):
    body = ok(post(client, TWO_CITIES + " Use one call per city.", model=model, tools=TOOLS, parallel_tool_calls=True))
    calls = assert_tool_answer(body, ["get_weather", "get_weather"])
    assert [arguments(c) for c in calls] == [{"city": "Paris", "unit": "celsius"}, {"city": "Tokyo", "unit": "celsius"}]
    assert body["usage"]["completion_tokens"] == sum(count_tokens(c["function"]["arguments"]) + 3 for c in calls)


def test_parallel_tool_calls_false_gives_one_call(client):
    body = ok(post(client, TWO_CITIES, tools=TOOLS, parallel_tool_calls=False))
    [call] = assert_tool_answer(body, ["get_weather"])
    assert arguments(call) == {"city": "Paris", "unit": "celsius"}


def test_model_without_parallel_tools_gives_one_call(client):
    assert not catalog.get(SERIAL_MODEL).supports("parallel_tools")
    body = ok(post(client, TWO_CITIES, model=SERIAL_MODEL, tools=TOOLS, parallel_tool_calls=True))
    [call] = assert_tool_answer(body, ["get_weather"])
    assert arguments(call) == {"city": "Paris", "unit": "celsius"}


def test_no_parallel_calls_without_a_string_property_for_places(client):
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"unit": {"enum": ["c", "f"]}}}}}
    [call] = assert_tool_answer(ok(post(client, TWO_CITIES, tools=[tool])), ["get_weather"])
    assert arguments(call) == {"unit": "c"}


def test_n_choices_have_their_own_call_ids(client):
    body = ok(post(client, TWO_CITIES, tools=TOOLS, n=2))
    first, second = calls_of(body, 0), calls_of(body, 1)
    assert [c["function"] for c in first] == [c["function"] for c in second]
    assert len({c["id"] for c in first + second}) == 4
    assert body["usage"]["completion_tokens"] == 2 * sum(count_tokens(c["function"]["arguments"]) + 3 for c in first)


# --- tool results -------------------------------------------------------------------------------------------


def followup(body: dict, request_messages: list, results: list[str]) -> list:
    calls = calls_of(body)
    messages = [*request_messages, {"role": "assistant", "content": None, "tool_calls": calls}]
    messages += [{"role": "tool", "tool_call_id": call["id"], "content": result} for call, result in zip(calls, results, strict=True)]
    return messages


def test_tool_result_is_answered_in_text(client):
    messages = [{"role": "user", "content": WEATHER_PROMPT}]
    first = ok(post(client, messages, tools=TOOLS, tool_choice="auto", max_tokens=80))
    result = '{"temperature": 21, "sky": "cloudy"}'
    body = ok(post(client, followup(first, messages, [result]), tools=TOOLS, max_tokens=80))
    text = assert_text_answer(body)
    assert text == 'Tool get_weather returned: {"temperature": 21, "sky": "cloudy"}'
    assert body["usage"]["completion_tokens"] == len(tokenize(text))


def test_tool_result_answer_needs_no_tools_parameter_and_normalises_content(client):
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_x", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_x", "content": [{"type": "text", "text": "Sunny,\n\n  21"}, {"type": "text", "text": " ".join(["w"] * 80)}]},
    ]
    text = assert_text_answer(ok(post(client, messages)))
    assert text == "Tool get_weather returned: Sunny, 21 " + " ".join(["w"] * 58)


def test_parallel_results_answer_the_last_tool_message(client):
    messages = [{"role": "user", "content": TWO_CITIES}]
    first = ok(post(client, messages, tools=TOOLS))
    body = ok(post(client, followup(first, messages, ["18 C", "25 C"]), tools=TOOLS))
    assert assert_text_answer(body) == "Tool get_weather returned: 25 C"


def test_tool_result_streamed(client):
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "noon"},
    ]
    chunks = stream_chunks(client, messages, tools=TOOLS)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "Tool get_time returned: noon"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(
    "messages, param",
    [
        (
            [{"role": "user", "content": "q"},
             {"role": "assistant", "content": None, "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "call_unknown", "content": "r"}],
            "messages[2].tool_call_id",
        ),
        (
            [{"role": "user", "content": "q"},
             {"role": "assistant", "content": None, "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "call_a", "content": "r"},
             {"role": "tool", "tool_call_id": "call_b", "content": "r"}],
            "messages[3].tool_call_id",
        ),
        ([{"role": "user", "content": "q"}, {"role": "tool", "tool_call_id": "call_a", "content": "r"}], "messages[1].tool_call_id"),
        ([{"role": "tool", "tool_call_id": "call_a", "content": "r"}], "messages[0].tool_call_id"),
        (
            [{"role": "user", "content": "q"}, {"role": "assistant", "content": "no calls"}, {"role": "tool", "tool_call_id": "call_a", "content": "r"}],
            "messages[2].tool_call_id",
        ),
    ],
)  # fmt: skip
def test_tool_message_must_answer_a_call_of_the_assistant_message_before_it(client, messages, param):
    error = assert_error(post(client, messages, tools=TOOLS), "invalid_value", param)
    assert "does not match" in error["message"]


def test_unknown_tool_call_id_after_a_real_call_is_400(client):
    messages = [{"role": "user", "content": WEATHER_PROMPT}]
    first = ok(post(client, messages, tools=TOOLS))
    bad = followup(first, messages, ["21"])
    bad[-1]["tool_call_id"] = "call_000000000000000000000000"
    assert_error(post(client, bad, tools=TOOLS), "invalid_value", "messages[2].tool_call_id")


@pytest.mark.parametrize(
    "tool_calls, code, param",
    [
        ("call", "invalid_type", "messages[1].tool_calls"),
        (["call"], "invalid_type", "messages[1].tool_calls[0]"),
        ([{"type": "function", "function": {"name": "f", "arguments": "{}"}}], "missing_required_parameter", "messages[1].tool_calls[0].id"),
        ([{"id": 5, "type": "function", "function": {"name": "f", "arguments": "{}"}}], "invalid_type", "messages[1].tool_calls[0].id"),
        ([{"id": "c", "type": "custom", "function": {"name": "f", "arguments": "{}"}}], "invalid_value", "messages[1].tool_calls[0].type"),
        ([{"id": "c", "type": "function"}], "missing_required_parameter", "messages[1].tool_calls[0].function"),
        ([{"id": "c", "type": "function", "function": {"arguments": "{}"}}], "missing_required_parameter", "messages[1].tool_calls[0].function.name"),
        ([{"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}], "invalid_type", "messages[1].tool_calls[0].function.arguments"),
    ],
)  # fmt: skip
def test_malformed_assistant_tool_calls_are_400(client, tool_calls, code, param):
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": None, "tool_calls": tool_calls}, {"role": "user", "content": "again"}]
    assert_error(post(client, messages), code, param)


# --- streaming -------------------------------------------------------------------------------------------


def test_streamed_tool_call_chunk_sequence(client):
    plain = ok(post(client, WEATHER_PROMPT, tools=TOOLS))
    [plain_call] = calls_of(plain)
    chunks = stream_chunks(client, WEATHER_PROMPT, tools=TOOLS, stream_options={"include_usage": True})
    *choice_chunks, usage_chunk = chunks
    deltas = [c["choices"][0]["delta"] for c in choice_chunks]
    finishes = [c["choices"][0]["finish_reason"] for c in choice_chunks]
    assert deltas[0] == {"role": "assistant", "content": None}
    opening = deltas[1]["tool_calls"]
    assert len(opening) == 1 and CALL_ID.match(opening[0]["id"])
    assert opening == [{"index": 0, "id": opening[0]["id"], "type": "function", "function": {"name": "get_weather", "arguments": ""}}]
    fragments = [d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:-1]]
    assert all(d["tool_calls"] == [{"index": 0, "function": {"arguments": f}}] for d, f in zip(deltas[2:-1], fragments, strict=True))
    assert all(0 < len(f) <= 8 for f in fragments)
    assert "".join(fragments) == plain_call["function"]["arguments"]
    assert deltas[-1] == {} and finishes == [None] * (len(deltas) - 1) + ["tool_calls"]
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == plain["usage"]
    assert all(c["usage"] is None for c in choice_chunks)


def test_streamed_parallel_calls_accumulate_in_the_sdk(client):
    strict_tools = copy.deepcopy(TOOLS)
    for tool in strict_tools:
        tool["function"]["strict"] = True  # the SDK parses the arguments of strict tools
    chunks = stream_chunks(client, TWO_CITIES, tools=strict_tools)
    indexes = [d["index"] for c in chunks for d in c["choices"][0]["delta"].get("tool_calls") or []]
    assert indexes == sorted(indexes) and set(indexes) == {0, 1}
    state = ChatCompletionStreamState(input_tools=strict_tools)
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.get_final_completion()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert [c.function.name for c in calls] == ["get_weather", "get_weather"]
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris", "unit": "celsius"}, {"city": "Tokyo", "unit": "celsius"}]
    assert [c.function.parsed_arguments for c in calls] == [{"city": "Paris", "unit": "celsius"}, {"city": "Tokyo", "unit": "celsius"}]
    assert all(CALL_ID.match(c.id) for c in calls)


def test_streamed_tool_call_with_construct(client):
    chunks = stream_chunks(client, WEATHER_PROMPT, tools=TOOLS)
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.construct(**chunk))
    [call] = state.get_final_completion().choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "unit": "celsius"}


def test_streamed_tool_calls_with_n_interleave_choices(client):
    chunks = stream_chunks(client, WEATHER_PROMPT, tools=TOOLS, n=2)
    order = [c["choices"][0]["index"] for c in chunks]
    assert order == [0, 1] * (len(chunks) // 2)
    ids = {i: [d["id"] for c in chunks if c["choices"][0]["index"] == i for d in c["choices"][0]["delta"].get("tool_calls") or [] if "id" in d] for i in (0, 1)}
    assert len(ids[0]) == len(ids[1]) == 1 and ids[0] != ids[1]


# --- validation ------------------------------------------------------------------------------------------


def test_custom_tool_is_400_naming_the_type(client):
    custom = {"type": "custom", "custom": {"name": "haiku", "format": {"type": "grammar", "grammar": {"syntax": "lark", "definition": "start: /[a-z ]+/"}}}}
    error = assert_error(post(client, "Write a haiku.", tools=[custom], max_tokens=40), "invalid_value", "tools[0].type")
    assert "custom" in error["message"]
    assert_error(post(client, "Write a haiku.", tools=[GET_WEATHER, custom]), "invalid_value", "tools[1].type")


@pytest.mark.parametrize("model", [NO_TOOLS_MODEL, *(m.id for m in catalog.MODELS if m.supports("chat") and not m.supports("tools"))])
def test_model_without_tools_capability_is_model_not_supported(client, model):
    error = assert_error(post(client, WEATHER_PROMPT, model=model, tools=TOOLS), "model_not_supported", "model")
    assert model in error["message"] and "tools" in error["message"]
    # without tools the same model answers
    ok(post(client, WEATHER_PROMPT, model=model, tool_choice="none", parallel_tool_calls=False))


def test_non_chat_model_with_tools_is_model_not_supported(client):
    assert_error(post(client, WEATHER_PROMPT, model="whisper-large-v3", tools=TOOLS), "model_not_supported", "model")


def test_tools_validation_order(client):
    bad_tools = [{"type": "custom"}]
    assert_error(post(client, WEATHER_PROMPT, tools=bad_tools, n="2"), "invalid_type", "n")  # types first
    assert_error(post(client, WEATHER_PROMPT, model="nope", tools=bad_tools), "invalid_value", "tools[0].type")  # before lookup
    assert_error(post(client, WEATHER_PROMPT, model="nope", tools=TOOLS), "model_not_found", "model", 404)
    bad_format = {"type": "xml"}
    assert_error(post(client, WEATHER_PROMPT, tools=bad_tools, response_format=bad_format), "invalid_value", "response_format.type")


INVALID = [
    ({"tools": "get_weather"}, "invalid_type", "tools"),
    ({"tools": []}, "invalid_value", "tools"),
    ({"tools": [GET_WEATHER] * 129}, "invalid_value", "tools"),
    ({"tools": ["get_weather"]}, "invalid_type", "tools[0]"),
    ({"tools": [{}]}, "missing_required_parameter", "tools[0].type"),
    ({"tools": [{"type": 1}]}, "invalid_type", "tools[0].type"),
    ({"tools": [{"type": "function"}]}, "missing_required_parameter", "tools[0].function"),
    ({"tools": [{"type": "function", "function": "f"}]}, "invalid_type", "tools[0].function"),
    ({"tools": [{"type": "function", "function": {}}]}, "missing_required_parameter", "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": 3}}]}, "invalid_type", "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "get weather"}}]}, "invalid_value", "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "invalid_value", "tools[0].function.name"),
    ({"tools": [{"type": "function", "function": {"name": "f", "description": 1}}]}, "invalid_type", "tools[0].function.description"),
    ({"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]}, "invalid_type", "tools[0].function.strict"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}, "invalid_type", "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]}, "invalid_value", "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "strng"}}}}}]}, "invalid_value", "tools[0].function.parameters"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"$ref": "#/$defs/nope"}}}}}]}, "invalid_value", "tools[0].function.parameters"),
    ({"tools": TOOLS, "tool_choice": "sometimes"}, "invalid_value", "tool_choice"),
    ({"tools": TOOLS, "tool_choice": 1}, "invalid_type", "tool_choice"),
    ({"tools": TOOLS, "tool_choice": {}}, "missing_required_parameter", "tool_choice.type"),
    ({"tools": TOOLS, "tool_choice": {"type": "custom", "custom": {"name": "x"}}}, "invalid_value", "tool_choice.type"),
    ({"tools": TOOLS, "tool_choice": {"type": "function"}}, "missing_required_parameter", "tool_choice.function"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {}}}, "missing_required_parameter", "tool_choice.function.name"),
    ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": 2}}}, "invalid_type", "tool_choice.function.name"),
    ({"tool_choice": "required"}, "invalid_value", "tool_choice"),
    ({"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}, "invalid_value", "tool_choice"),
    ({"tools": TOOLS, "parallel_tool_calls": "yes"}, "invalid_type", "parallel_tool_calls"),
]


@pytest.mark.parametrize("params, code, param", INVALID, ids=[f"{p}:{json.dumps(v)[:50]}" for v, _, p in INVALID])
def test_invalid_tool_parameters_are_400(client, params, code, param):
    assert_error(post(client, WEATHER_PROMPT, **params), code, param)


def test_tool_parameters_without_instance_are_400_when_called(client):
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "additionalProperties": False, "required": ["x"]}}}
    assert_error(post(client, WEATHER_PROMPT, tools=[tool]), "invalid_value", "tools[0].function.parameters")
    assert ok(post(client, "unrelated", tools=[tool]))  # not called: not generated


def test_tool_choice_none_and_auto_without_tools_are_accepted(client):
    for choice in ("none", "auto"):
        assert_text_answer(ok(post(client, WEATHER_PROMPT, tool_choice=choice, parallel_tool_calls=True)))


def test_mid_conversation_tool_messages_are_not_linked(client):
    # Only the tool messages the model answers (those ending the conversation) are checked.
    messages = [
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
        {"role": "tool", "content": "t", "tool_call_id": "call_1"},
        {"role": "user", "content": "Count from 1 to 2"},
    ]
    assert assert_text_answer(ok(post(client, messages, tools=TOOLS))) == "1 2"


@pytest.mark.parametrize("value", [None, True, 0, -1, "", "x" * 1000, [], [None], {}, {"a": {"b": []}}, [[1]], [{"type": "function", "function": None}]])
@pytest.mark.parametrize("name", ["tools", "tool_choice", "parallel_tool_calls"])
def test_no_tool_value_makes_a_500(client, name, value):
    params = {name: value}
    if name != "tools":
        params["tools"] = TOOLS
    response = post(client, WEATHER_PROMPT, **params)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
