"""POST /v1/responses: the stateless Responses API (function tools only), answered by the rule-based model."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import catalog, model, profile, structured, tools
from .errors import invalid_value, model_not_supported
from .messages import last_user_text
from .responses_input import ParsedInput, parse_input, parse_text_format, parse_tools
from .responses_stream import stream_events
from .sse import event_stream
from .validation import (
    expect_bool,
    expect_choice,
    expect_integer,
    expect_number,
    expect_object,
    expect_string,
    optional,
    read_json_object,
    reject_unsupported,
    require,
)

#: Parameters Scaleway documents as not (yet) supported on /v1/responses: always 400 (verbosity
#: also in its text.verbosity spelling).
UNSUPPORTED_PARAMETERS = profile.unsupported("responses") + ("text.verbosity",)
REQUIRED_PARAMETERS = ("model", "input")
MIN_OUTPUT_TOKENS = 16
REASONING_EFFORTS = ("minimal", "low", "medium", "high")
#: Efforts for which the model writes a reasoning item before answering.
REASONING_ITEM_EFFORTS = frozenset({"low", "medium", "high"})
REASONING_SUMMARIES = ("auto", "concise", "detailed")
REASONING_TEXT = "Let me answer the request directly."
TRUNCATIONS = ("auto", "disabled")
TOOL_RESULT_MAX_WORDS = 60


@dataclass(frozen=True)
class ResponsesRequest:
    model: str
    input: ParsedInput
    max_output_tokens: int | None
    temperature: float
    top_p: float
    stream: bool
    effort: str | None
    summary: str | None
    truncation: str
    text_format: structured.ResponseFormat | None
    tool_config: tools.ToolConfig
    #: What the response echoes back: ``tools``, ``tool_choice`` and ``text`` as sent (normalised).
    echo: dict[str, Any]


def _echo(body: dict[str, Any], config: tools.ToolConfig) -> dict[str, Any]:
    function_tools = [
        {
            "type": "function",
            "name": tool["name"],
            "description": tool.get("description"),
            "parameters": tool.get("parameters"),
            "strict": tool.get("strict", True),
        }
        for tool in body.get("tools") or []
    ]
    choice: Any = config.choice if config.choice != tools.NAMED else {"type": "function", "name": config.named}
    text = {"format": (body.get("text") or {}).get("format") or {"type": "text"}}
    return {"tools": function_tools, "tool_choice": choice, "text": text}


def parse_request(body: dict[str, Any]) -> ResponsesRequest:
    """Validate a Responses body in order: unsupported, required, then types and ranges (absent = null)."""
    reject_unsupported(body, UNSUPPORTED_PARAMETERS)
    require(body, REQUIRED_PARAMETERS)
    model_id = expect_string(body["model"], "model")
    parsed_input = parse_input(body["input"])
    temperature = optional(body, "temperature", expect_number, 0, 2, default=1.0)
    top_p = optional(body, "top_p", expect_number, 0, 1, default=1.0)
    limit = optional(body, "max_output_tokens", expect_integer, MIN_OUTPUT_TOKENS)
    stream = optional(body, "stream", expect_bool, default=False)
    if optional(body, "store", expect_bool, default=False):
        raise invalid_value("store", "responses are not stored (the API is stateless): only false is supported.")
    reasoning = optional(body, "reasoning", expect_object, default={})
    effort = optional(reasoning, "effort", expect_choice, REASONING_EFFORTS, param="reasoning.effort")
    summary = optional(reasoning, "summary", expect_choice, REASONING_SUMMARIES, param="reasoning.summary")
    truncation = optional(body, "truncation", expect_choice, TRUNCATIONS, default="disabled")
    text_format = optional(body, "text", parse_text_format)
    config = parse_tools(body)
    return ResponsesRequest(
        model=model_id,
        input=parsed_input,
        max_output_tokens=limit,
        temperature=temperature,
        top_p=top_p,
        stream=stream,
        effort=effort,
        summary=summary,
        truncation=truncation,
        text_format=text_format,
        tool_config=config,
        echo=_echo(body, config),
    )


# --- the model's answer ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    reasoning: model.Completion | None
    calls: tuple[tools.ToolCall, ...]
    message: model.Completion | None
    #: The output budget ran out (reasoning or message cut, or a call that did not fit).
    incomplete: bool

    @property
    def output_tokens(self) -> int:
        reasoning = len(self.reasoning.tokens) if self.reasoning else 0
        message = len(self.message.tokens) if self.message else 0
        return reasoning + message + sum(call.completion_tokens for call in self.calls)


def user_tool_result(prompt: str, names: tuple[str, ...]) -> str | None:
    """``Tool <name> returned: <result>`` when the last user message reports what a known function
    returned (Scaleway's workaround: tool results sent as a role user message), else None."""
    for name in names:
        found = re.search(rf"\b{re.escape(name)}\b[^\n]*?\breturned\b:?[ \t]*([^\n]+)", prompt)
        if found:
            words = found.group(1).split()[:TOOL_RESULT_MAX_WORDS]
            return f"Tool {name} returned: {' '.join(words)}"
    return None


def _text(request: ResponsesRequest, prompt: str, tool_reply: str | None, budget: int | None) -> model.Completion:
    reply = tool_reply if tool_reply is not None else model.reply(prompt)
    json_text = structured.answer(request.text_format, prompt, reply, tools.place_names(prompt))
    return model.finish(json_text if json_text is not None else reply, max_tokens=budget)


def answer(request: ResponsesRequest, info: catalog.ModelInfo) -> Answer:
    """Reasoning first (when asked), then function calls or a text message, within max_output_tokens."""
    messages = request.input.messages
    prompt = last_user_text(messages)
    budget = request.max_output_tokens
    reasoning = None
    if request.effort in REASONING_ITEM_EFFORTS:
        reasoning = model.finish(REASONING_TEXT, max_tokens=budget)
        if reasoning.finish_reason == "length":
            return Answer(reasoning, (), None, incomplete=True)
        budget = None if budget is None else budget - len(reasoning.tokens)
    config = request.tool_config
    names = tuple(f.name for f in config.functions) + request.input.called
    tool_reply = tools.tool_result_reply(messages) or (
        user_tool_result(prompt, names) if messages[-1].role == "user" else None
    )
    if tool_reply is None or config.choice in (tools.REQUIRED, tools.NAMED):
        calls = tools.decide(config, messages, prompt, parallel_model=info.supports(catalog.PARALLEL_TOOLS))
        if calls:
            if budget is not None and sum(call.completion_tokens for call in calls) > budget:
                return Answer(reasoning, (), None, incomplete=True)
            return Answer(reasoning, calls, None, incomplete=False)
    message = _text(request, prompt, tool_reply, budget)
    cut = message.finish_reason == "length"
    return Answer(reasoning, (), message if message.tokens else None, incomplete=cut)


# --- the response object ------------------------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def output_items(answer: Answer) -> list[dict[str, Any]]:
    """The ``output`` array: the reasoning item, then the function calls or the message."""
    items: list[dict[str, Any]] = []
    if answer.reasoning is not None:
        cut = answer.reasoning.finish_reason == "length"
        items.append({
            "type": "reasoning",
            "id": _new_id("rs"),
            "summary": [],
            "content": [{"type": "reasoning_text", "text": answer.reasoning.text}],
            "status": "incomplete" if cut else "completed",
        })
    for call in answer.calls:
        items.append({
            "type": "function_call",
            "id": _new_id("fc"),
            "call_id": tools.new_call_id(),
            "name": call.name,
            "arguments": call.arguments,
            "status": "completed",
        })
    if answer.message is not None:
        items.append({
            "type": "message",
            "id": _new_id("msg"),
            "status": "incomplete" if answer.incomplete else "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": answer.message.text, "annotations": [], "logprobs": []}],
        })
    return items


def usage(request: ResponsesRequest, answer: Answer) -> dict[str, Any]:
    input_tokens = model.prompt_tokens(m.text for m in request.input.messages)
    output_tokens = answer.output_tokens
    reasoning_tokens = len(answer.reasoning.tokens) if answer.reasoning else 0
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def response_body(
    request: ResponsesRequest,
    *,
    id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ``response`` object, every field OpenAI sends; stateless fields are null or false.

    ``usage`` is left out while in progress: the schema types it as an object, not null."""
    return {
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": None,
        "model": request.model,
        "output": output,
        "parallel_tool_calls": request.tool_config.parallel,
        "previous_response_id": None,
        "reasoning": {"effort": request.effort, "summary": request.summary},
        "store": False,
        "temperature": request.temperature,
        "text": request.echo["text"],
        "tool_choice": request.echo["tool_choice"],
        "tools": request.echo["tools"],
        "top_p": request.top_p,
        "truncation": request.truncation,
        "metadata": {},
        **({"usage": usage} if usage is not None else {}),
    }


async def create_response(http_request: Request) -> Response:
    body = await read_json_object(http_request)
    request = parse_request(body)
    info = catalog.get_with(request.model, catalog.RESPONSES, "the Responses API")
    if request.tool_config.functions and not info.supports(catalog.TOOLS):
        raise model_not_supported(request.model, "tools")
    result = answer(request, info)
    items = output_items(result)
    status = "incomplete" if result.incomplete else "completed"
    head = {"id": _new_id("resp"), "created_at": int(time.time())}
    final = response_body(request, **head, status=status, output=items, usage=usage(request, result))
    if request.stream:
        start = response_body(request, **head, status="in_progress", output=[], usage=None)
        return event_stream(stream_events(start, final, result), done=False)
    return JSONResponse(final)
