"""The reference server's /v1/responses (docs/REFERENCE_MODEL.md, "Responses"), in-process."""

from __future__ import annotations

import json

import jsonschema
import pytest
from starlette.testclient import TestClient

from conformance.openapi import schema_errors
from conformance.server import create_app, model
from conformance.server.responses import REASONING_TEXT, UNSUPPORTED_PARAMETERS

KEY = "sk-test-responses"
AUTH = {"Authorization": f"Bearer {KEY}"}
MODEL = "gpt-oss-120b"
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "strict": True,
    "parameters": {
        "type": "object",
        "additionalProperties": False,
        "required": ["city", "unit"],
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
    },
}
TIME = {"type": "function", "name": "get_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
QUESTION = {"role": "user", "content": "What is the weather in Paris?"}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app([KEY]))


def post(client: TestClient, **body):
    return client.post("/v1/responses", json={"model": MODEL, **body}, headers=AUTH)


def ok(client: TestClient, **body) -> dict:
    response = post(client, **body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert schema_errors("Response", result) == []
    return result


def refused(client: TestClient, param: str, status: int = 400, **body) -> dict:
    response = post(client, **body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    return error


def messages(result: dict) -> list[dict]:
    return [item for item in result["output"] if item["type"] == "message"]


def text(result: dict) -> str:
    return "".join(part["text"] for item in messages(result) for part in item["content"])


def events(response) -> list[tuple[str, dict]]:
    out = []
    for block in response.text.split("\n\n"):
        if block.strip():
            name, data = block.split("\n")
            out.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


# --- the response object -------------------------------------------------------------------------


def test_string_input_answers_with_a_completed_message(client):
    result = ok(client, input="Reply with exactly: The sky is blue")
    assert result["object"] == "response" and result["id"].startswith("resp_")
    assert result["status"] == "completed" and result["incomplete_details"] is None
    assert [item["type"] for item in result["output"]] == ["message"]
    item = result["output"][0]
    assert item["role"] == "assistant" and item["id"].startswith("msg_") and item["status"] == "completed"
    assert item["content"] == [{"type": "output_text", "text": "The sky is blue", "annotations": [], "logprobs": []}]
    usage = result["usage"]
    assert usage["input_tokens"] == model.prompt_tokens(["Reply with exactly: The sky is blue"])
    assert usage["output_tokens"] == 4 and usage["total_tokens"] == usage["input_tokens"] + 4
    assert usage["output_tokens_details"] == {"reasoning_tokens": 0}


def test_messages_with_input_text_parts_and_an_assistant_turn(client):
    result = ok(
        client,
        input=[
            {"role": "developer", "content": "Be terse."},
            {"role": "user", "content": "Hello."},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Reply with exactly: green apples"}]},
        ],
        temperature=0,
        top_p=1,
    )
    assert text(result) == "green apples"
    assert result["temperature"] == 0 and result["top_p"] == 1


def test_reasoning_effort_puts_a_reasoning_item_first(client):
    result = ok(client, input="Reply with exactly: ok", reasoning={"effort": "low"})
    assert [item["type"] for item in result["output"]] == ["reasoning", "message"]
    assert result["output"][0]["content"] == [{"type": "reasoning_text", "text": REASONING_TEXT}]
    reasoning = len(model.tokenize(REASONING_TEXT))
    assert result["usage"]["output_tokens_details"]["reasoning_tokens"] == reasoning
    assert result["usage"]["output_tokens"] == reasoning + 1


def test_max_output_tokens_cuts_reasoning_then_answer(client):
    result = ok(client, input="Count from 1 to 200", reasoning={"effort": "low"}, max_output_tokens=16)
    assert result["status"] == "incomplete" and result["incomplete_details"] == {"reason": "max_output_tokens"}
    assert result["completed_at"] is None
    assert result["usage"]["output_tokens"] == 16
    assert messages(result)[0]["status"] == "incomplete"
    assert text(result) == " ".join(str(n) for n in range(1, 16 - len(model.tokenize(REASONING_TEXT)) + 1))


def test_json_schema_format_answers_valid_json(client):
    schema = {"type": "object", "required": ["city"], "additionalProperties": False, "properties": {"city": {"type": "string"}}}
    fmt = {"type": "json_schema", "name": "city", "schema": schema, "strict": True}
    result = ok(client, input="Describe the weather in Paris.", text={"format": fmt})
    value = json.loads(text(result))
    jsonschema.validate(value, schema)
    assert value == {"city": "Paris"}
    assert result["text"] == {"format": fmt}


def test_json_object_format(client):
    result = ok(client, input="Answer in JSON.", text={"format": {"type": "json_object"}})
    assert isinstance(json.loads(text(result)), dict)


# --- function tools ---------------------------------------------------------------------------------


def test_flat_function_tool_is_called(client):
    result = ok(client, input=[QUESTION], tools=[WEATHER, TIME])
    (call,) = result["output"]
    assert call["type"] == "function_call" and call["name"] == "get_weather" and call["status"] == "completed"
    assert call["id"].startswith("fc_") and call["call_id"].startswith("call_")
    assert json.loads(call["arguments"]) == {"city": "Paris", "unit": "celsius"}
    assert result["tools"][0]["name"] == "get_weather"


def test_named_and_none_tool_choice(client):
    named = ok(client, input=[QUESTION], tools=[WEATHER, TIME], tool_choice={"type": "function", "name": "get_time"})
    assert named["output"][0]["name"] == "get_time"
    assert named["tool_choice"] == {"type": "function", "name": "get_time"}
    none = ok(client, input=[QUESTION], tools=[WEATHER, TIME], tool_choice="none")
    assert [item["type"] for item in none["output"]] == ["message"]


def test_function_call_output_is_answered(client):
    call = ok(client, input=[QUESTION], tools=[WEATHER])["output"][0]
    followup = [QUESTION, call, {"type": "function_call_output", "call_id": call["call_id"], "output": '{"temperature": 21}'}]
    result = ok(client, input=followup, tools=[WEATHER])
    assert text(result) == 'Tool get_weather returned: {"temperature": 21}'


def test_tool_result_as_a_user_message_is_answered_without_a_new_call(client):
    followup = [QUESTION, {"role": "assistant", "content": "I called get_weather."}, {"role": "user", "content": "The get_weather tool returned: 21 degrees\nAnswer me."}]
    result = ok(client, input=followup, tools=[WEATHER])
    assert text(result) == "Tool get_weather returned: 21 degrees"


def test_function_call_output_must_answer_a_call(client):
    refused(client, "input[1].call_id", input=[QUESTION, {"type": "function_call_output", "call_id": "call_x", "output": "21"}])


# --- streaming ------------------------------------------------------------------------------------------


def test_stream_events_are_named_numbered_ordered_and_valid(client):
    response = post(client, input="Reply with exactly: The sky is blue", reasoning={"effort": "low"}, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    stream = events(response)
    names = [name for name, _ in stream]
    assert all(data["type"] == name for name, data in stream)
    assert [data["sequence_number"] for _, data in stream] == list(range(len(stream)))
    assert names[:2] == ["response.created", "response.in_progress"] and names[-1] == "response.completed"
    message_events = names[names.index("response.output_item.added", 3):]
    assert message_events[:2] == ["response.output_item.added", "response.content_part.added"]
    assert message_events[-4:-1] == ["response.output_text.done", "response.content_part.done", "response.output_item.done"]
    deltas = "".join(data["delta"] for name, data in stream if name == "response.output_text.delta")
    assert deltas == "The sky is blue" == text(stream[-1][1]["response"])
    for name, data in stream:
        component = {"response.reasoning_text.delta": "ResponseReasoningTextDeltaEvent", "response.reasoning_text.done": "ResponseReasoningTextDoneEvent"}.get(name, "ResponseStreamEvent")
        assert schema_errors(component, data) == [], name


def test_truncated_stream_ends_with_response_incomplete(client):
    stream = events(post(client, input="Count from 1 to 200", max_output_tokens=16, stream=True))
    assert stream[-1][0] == "response.incomplete"
    assert stream[-1][1]["response"]["status"] == "incomplete"


def test_streamed_function_call_arguments(client):
    stream = events(post(client, input=[QUESTION], tools=[WEATHER], stream=True))
    names = [name for name, _ in stream]
    assert "response.function_call_arguments.done" in names and names[-1] == "response.completed"
    deltas = "".join(data["delta"] for name, data in stream if name == "response.function_call_arguments.delta")
    done = next(data for name, data in stream if name == "response.function_call_arguments.done")
    assert deltas == done["arguments"] == stream[-1][1]["response"]["output"][0]["arguments"]


# --- refusals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parameter", UNSUPPORTED_PARAMETERS)
def test_unsupported_parameters_are_refused_by_name(client, parameter):
    head, _, leaf = parameter.partition(".")
    body = {head: {leaf: "low"}} if leaf else {head: "x"}
    error = refused(client, parameter, input="hi", **body)
    assert error["code"] == "unsupported_parameter"


@pytest.mark.parametrize("tool", [{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs"]}, {"type": "code_interpreter"}, {"type": "custom", "name": "x"}])
def test_builtin_and_custom_tools_are_refused(client, tool):
    error = refused(client, "tools[1].type", input="hi", tools=[WEATHER, tool])
    assert tool["type"] in error["message"]


@pytest.mark.parametrize("kind", ["custom_tool_call", "custom_tool_call_output", "item_reference"])
def test_custom_tool_and_reference_items_are_refused(client, kind):
    refused(client, "input[1].type", input=[QUESTION, {"type": kind, "call_id": "c", "id": "x"}])


@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({}, "input", 400),
        ({"input": 42}, "input", 400),
        ({"input": []}, "input", 400),
        ({"input": "hi", "temperature": "hot"}, "temperature", 400),
        ({"input": "hi", "max_output_tokens": "many"}, "max_output_tokens", 400),
        ({"input": "hi", "max_output_tokens": 15}, "max_output_tokens", 400),
        ({"input": "hi", "store": True}, "store", 400),
        ({"input": "hi", "reasoning": {"effort": "extreme"}}, "reasoning.effort", 400),
        ({"input": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, "input[0].content[0].type", 400),
        ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema", 400),
        ({"input": "hi", "tool_choice": {"type": "function", "name": "nope"}, "tools": [WEATHER]}, "tool_choice", 400),
        ({"input": "hi", "model": "conformance-no-such-model"}, "model", 404),
        ({"input": "hi", "model": "mistral-small-3.2-24b-instruct-2506"}, "model", 400),
    ],
)
def test_invalid_requests_are_refused_naming_the_parameter(client, body, param, status):
    refused(client, param, status, **body)
