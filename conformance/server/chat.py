"""POST /v1/chat/completions: request validation, the deterministic completion, and SSE streaming."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import catalog, model, profile, structured, tools
from .errors import invalid_value, model_not_supported
from .messages import Message, last_user_text, load_audio, load_images, parse_messages, required_capabilities
from .sse import event_stream
from .validation import (
    INT64_MAX,
    INT64_MIN,
    expect_array,
    expect_bool,
    expect_integer,
    expect_number,
    expect_object,
    expect_string,
    optional,
    read_json_object,
    reject_unsupported,
    require,
)

#: Parameters Scaleway documents as not (yet) supported on /v1/chat/completions: always 400.
UNSUPPORTED_PARAMETERS = profile.unsupported("chat")
REQUIRED_PARAMETERS = ("model", "messages")
MAX_STOP_SEQUENCES = 4
MAX_CHOICES = 8
MAX_TOP_LOGPROBS = 20
#: Sampling parameters: validated (number, inclusive range), then ignored by the deterministic model.
NUMBER_RANGES = {
    "temperature": (0, 2),
    "top_p": (0, 1),
    "presence_penalty": (-2, 2),
    "frequency_penalty": (-2, 2),
}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[Message, ...]
    max_tokens: int | None = None  # the smaller of max_tokens and max_completion_tokens
    stop: tuple[str, ...] = ()
    n: int = 1
    logprobs: bool = False
    top_logprobs: int = 0
    stream: bool = False
    include_usage: bool = False
    response_format: structured.ResponseFormat | None = None
    tool_config: tools.ToolConfig = tools.ToolConfig()


def _parse_stop(value: Any, param: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    items = expect_array(value, param, min_items=1, max_items=MAX_STOP_SEQUENCES)
    return tuple(expect_string(item, param) for item in items)


def parse_chat_request(body: dict[str, Any]) -> ChatRequest:
    """Validate a chat body in order: unsupported, required, then types and ranges (absent = null)."""
    reject_unsupported(body, UNSUPPORTED_PARAMETERS)
    require(body, REQUIRED_PARAMETERS)
    model_id = expect_string(body["model"], "model")
    messages = parse_messages(body["messages"])
    for name, (low, high) in NUMBER_RANGES.items():
        optional(body, name, expect_number, low, high)
    limits = [optional(body, name, expect_integer, 1) for name in ("max_tokens", "max_completion_tokens")]
    stop = optional(body, "stop", _parse_stop, default=())
    n = optional(body, "n", expect_integer, 1, MAX_CHOICES, default=1)
    optional(body, "seed", expect_integer, INT64_MIN, INT64_MAX)
    logprobs = optional(body, "logprobs", expect_bool, default=False)
    top_logprobs = optional(body, "top_logprobs", expect_integer, 0, MAX_TOP_LOGPROBS)
    if top_logprobs is not None and not logprobs:
        raise invalid_value("top_logprobs", "only allowed when 'logprobs' is true.")
    stream = optional(body, "stream", expect_bool, default=False)
    options = optional(body, "stream_options", expect_object)
    if options is not None and not stream:
        raise invalid_value("stream_options", "only allowed when 'stream' is true.")
    include_usage = optional(
        options or {}, "include_usage", expect_bool, default=False, param="stream_options.include_usage"
    )
    optional(body, "reasoning_effort", expect_string)
    response_format = optional(body, "response_format", structured.parse_response_format)
    tool_config = tools.parse_tools(body)
    tools.check_tool_messages(messages)

    present_limits = [limit for limit in limits if limit is not None]
    return ChatRequest(
        model=model_id,
        messages=messages,
        max_tokens=min(present_limits) if present_limits else None,
        stop=stop,
        n=n,
        logprobs=logprobs,
        top_logprobs=top_logprobs or 0,
        stream=stream,
        include_usage=include_usage,
        response_format=response_format,
        tool_config=tool_config,
    )


def check_model(request: ChatRequest) -> catalog.ModelInfo:
    """The requested model, if it can chat and accepts every content part sent."""
    info = catalog.get_with(request.model, catalog.CHAT, "chat completions")
    for capability in sorted(required_capabilities(request.messages)):
        if not info.supports(capability):
            raise model_not_supported(request.model, f"{capability} input")
    if request.tool_config.functions and not info.supports(catalog.TOOLS):
        raise model_not_supported(request.model, "tools")
    return info


def usage(request: ChatRequest, choice_tokens: int) -> dict[str, int]:
    """Usage of ``request.n`` choices of ``choice_tokens`` completion tokens each."""
    prompt = model.prompt_tokens(m.text for m in request.messages)
    prompt += sum(part.prompt_tokens() for m in request.messages for part in m.parts)
    completion_tokens = choice_tokens * request.n
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }


def _logprobs(request: ChatRequest, tokens: tuple[str, ...]) -> dict[str, Any] | None:
    if not request.logprobs:
        return None
    return {"content": model.token_logprobs(tokens, request.top_logprobs), "refusal": None}


def completion_body(
    request: ChatRequest, completion: model.Completion, *, id: str, created: int
) -> dict[str, Any]:
    """The ``chat.completion`` object.

    ``system_fingerprint`` is omitted: OpenAI's schema types it as a string, so ``null`` would not validate.
    """
    choice = {
        "message": {"role": "assistant", "content": completion.text, "refusal": None},
        "logprobs": _logprobs(request, completion.tokens),
        "finish_reason": completion.finish_reason,
    }
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [{"index": i, **choice} for i in range(request.n)],
        "usage": usage(request, len(completion.tokens)),
    }


def tool_calls_body(
    request: ChatRequest, calls: tuple[tools.ToolCall, ...], *, id: str, created: int
) -> dict[str, Any]:
    """The ``chat.completion`` object of a tool-call answer: content null, one id per call and choice."""
    choices = [
        {
            "index": i,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [call.as_object(tools.new_call_id()) for call in calls],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
        for i in range(request.n)
    ]
    return {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": choices,
        "usage": usage(request, sum(call.completion_tokens for call in calls)),
    }


#: One streamed step of a choice: its delta and its logprobs (or None).
Step = tuple[dict[str, Any], Any]


def _chunks(
    request: ChatRequest, steps: list[list[Step]], finish_reason: str, choice_tokens: int, *, id: str, created: int
) -> Iterator[dict[str, Any]]:
    """Chunks: the choices' steps interleaved (step k of every choice, then step k+1), each
    choice's finish delta, then usage when asked."""
    extra = {"usage": None} if request.include_usage else {}
    head = {"id": id, "object": "chat.completion.chunk", "created": created, "model": request.model}

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {**head, "choices": choices, **extra}

    def choice(index: int, delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> dict:
        return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

    for position in range(max(len(choice_steps) for choice_steps in steps)):
        for index, choice_steps in enumerate(steps):
            if position < len(choice_steps):
                delta, logprobs = choice_steps[position]
                yield chunk([choice(index, delta, logprobs)])
    for index in range(len(steps)):
        yield chunk([choice(index, {}, None, finish_reason)])
    if request.include_usage:
        yield {**chunk([]), "usage": usage(request, choice_tokens)}


def stream_chunks(
    request: ChatRequest, completion: model.Completion, *, id: str, created: int
) -> Iterator[dict[str, Any]]:
    """Chunks: role deltas, one delta per token (choices interleaved), finish deltas, then usage."""
    logprobs = model.token_logprobs(completion.tokens, request.top_logprobs) if request.logprobs else None
    steps: list[Step] = [({"role": "assistant", "content": ""}, None)]
    for position, token in enumerate(completion.tokens):
        token_logprobs = {"content": [logprobs[position]], "refusal": None} if logprobs else None
        steps.append(({"content": token}, token_logprobs))
    return _chunks(
        request, [steps] * request.n, completion.finish_reason, len(completion.tokens), id=id, created=created
    )


def tool_call_chunks(
    request: ChatRequest, calls: tuple[tools.ToolCall, ...], *, id: str, created: int
) -> Iterator[dict[str, Any]]:
    """Chunks of a tool-call answer: role (content null); per call its id and name with empty
    arguments, then argument fragments; finish ``tool_calls``; usage when asked."""

    def choice_steps() -> list[Step]:
        steps: list[Step] = [({"role": "assistant", "content": None}, None)]
        for index, call in enumerate(calls):
            function = {"name": call.name, "arguments": ""}
            opening = {"index": index, "id": tools.new_call_id(), "type": "function", "function": function}
            steps.append(({"tool_calls": [opening]}, None))
            for part in call.fragments():
                steps.append(({"tool_calls": [{"index": index, "function": {"arguments": part}}]}, None))
        return steps

    tokens = sum(call.completion_tokens for call in calls)
    return _chunks(request, [choice_steps() for _ in range(request.n)], "tool_calls", tokens, id=id, created=created)


def answer(request: ChatRequest, prompt: str) -> model.Completion:
    """The text completion: the reply to a tool result, else the text rules; as JSON when
    ``response_format`` asks for it."""
    tool_reply = tools.tool_result_reply(request.messages)
    fmt = request.response_format
    limits = {"max_tokens": request.max_tokens, "stop": request.stop}
    if fmt is None or fmt.type == structured.TEXT:
        if tool_reply is not None:
            return model.finish(tool_reply, **limits)
        return model.complete(prompt, **limits)
    text_reply = tool_reply if tool_reply is not None else model.reply(prompt)
    json_text = structured.answer(fmt, prompt, text_reply, tools.place_names(prompt))
    return model.finish(json_text or "", **limits)


async def create_chat_completion(http_request: Request) -> Response:
    body = await read_json_object(http_request)
    request = parse_chat_request(body)
    info = check_model(request)
    await load_images(request.messages)  # fetch and decode off the event loop
    await load_audio(request.messages)  # decode and recognise off the event loop
    prompt = last_user_text(request.messages)
    response_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    calls = tools.decide(
        request.tool_config, request.messages, prompt, parallel_model=info.supports(catalog.PARALLEL_TOOLS)
    )
    if calls:
        if request.stream:
            return event_stream(tool_call_chunks(request, calls, id=response_id, created=created))
        return JSONResponse(tool_calls_body(request, calls, id=response_id, created=created))
    completion = answer(request, prompt)
    if request.stream:
        return event_stream(stream_chunks(request, completion, id=response_id, created=created))
    return JSONResponse(completion_body(request, completion, id=response_id, created=created))
