"""POST /v1/chat/completions: request validation, the deterministic completion, and SSE streaming."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import catalog, model
from .errors import invalid_value, model_not_supported
from .messages import Message, last_user_text, parse_messages, required_capabilities
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
UNSUPPORTED_PARAMETERS = (
    "audio",
    "metadata",
    "modalities",
    "prediction",
    "prompt_cache_key",
    "user",
    "safety_identifier",
    "service_tier",
    "stream_options.include_obfuscation",
    "store",
    "system_fingerprint",
    "web_search_options",
)
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
    )


def check_model(request: ChatRequest) -> catalog.ModelInfo:
    """The requested model, if it can chat and accepts every content part sent."""
    info = catalog.get_with(request.model, catalog.CHAT, "chat completions")
    for capability in sorted(required_capabilities(request.messages)):
        if not info.supports(capability):
            raise model_not_supported(request.model, f"{capability} input")
    return info


def usage(request: ChatRequest, completion: model.Completion) -> dict[str, int]:
    prompt = model.prompt_tokens(m.text for m in request.messages)
    prompt += sum(part.extra_tokens for m in request.messages for part in m.parts)
    completion_tokens = len(completion.tokens) * request.n
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
        "usage": usage(request, completion),
    }


def stream_chunks(
    request: ChatRequest, completion: model.Completion, *, id: str, created: int
) -> Iterator[dict[str, Any]]:
    """Chunks: role deltas, one delta per token (choices interleaved), finish deltas, then usage."""
    extra = {"usage": None} if request.include_usage else {}
    head = {"id": id, "object": "chat.completion.chunk", "created": created, "model": request.model}

    def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {**head, "choices": choices, **extra}

    def choice(index: int, delta: dict[str, Any], logprobs: Any = None, finish: str | None = None) -> dict:
        return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}

    choices = range(request.n)
    for i in choices:
        yield chunk([choice(i, {"role": "assistant", "content": ""})])
    logprobs = model.token_logprobs(completion.tokens, request.top_logprobs) if request.logprobs else None
    for position, token in enumerate(completion.tokens):
        token_logprobs = {"content": [logprobs[position]], "refusal": None} if logprobs else None
        for i in choices:
            yield chunk([choice(i, {"content": token}, token_logprobs)])
    for i in choices:
        yield chunk([choice(i, {}, None, completion.finish_reason)])
    if request.include_usage:
        yield {**chunk([]), "usage": usage(request, completion)}


async def create_chat_completion(http_request: Request) -> Response:
    body = await read_json_object(http_request)
    request = parse_chat_request(body)
    check_model(request)
    prompt = last_user_text(request.messages)
    completion = model.complete(prompt, max_tokens=request.max_tokens, stop=request.stop)
    response_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if request.stream:
        return event_stream(stream_chunks(request, completion, id=response_id, created=created))
    return JSONResponse(completion_body(request, completion, id=response_id, created=created))
