"""Function tools: ``tools`` / ``tool_choice`` / ``parallel_tool_calls`` validation, the rule that
decides to call, the calls' arguments, the answer to a tool result, and the tool_call_id linkage.

Rules (docs/REFERENCE_MODEL.md, "Tools"): a function is called when ``tool_choice`` names it, or
(``auto``/``required``) when one of its trigger words (its name split on ``_``/``-``, minus
get/set/fetch/lookup/find/do/run/call) is a word of the input; ``required`` falls back to the first
tool. Arguments are a deterministic instance of the parameters schema whose unconstrained strings
take the input's place names (``in|at|for <Capitalised>``) in order; with several place names, a
model with ``parallel_tools`` and ``parallel_tool_calls`` not false makes one call per place.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import describe, invalid_type, invalid_value, missing_required
from .messages import Message
from .model import count_tokens
from .schema_instance import SchemaInstanceError, check_schema, generate
from .structured import check_name, schema_error
from .validation import (
    expect_array,
    expect_bool,
    expect_choice,
    expect_object,
    expect_string,
    optional,
)

NONE = "none"
AUTO = "auto"
REQUIRED = "required"
NAMED = "function"
CHOICES = (NONE, AUTO, REQUIRED)
MAX_TOOLS = 128
#: Completion tokens a tool call costs on top of its arguments' tokens.
TOKENS_PER_CALL = 3
#: Streamed argument fragments are at most this many characters.
FRAGMENT_CHARS = 8
TOOL_RESULT_MAX_WORDS = 60

PLACE_PATTERN = re.compile(r"\b(?:in|at|for) ([A-Z][a-zA-Z-]+)")
_NAME_SEPARATORS = re.compile(r"[_-]")
_VERBS = frozenset({"get", "set", "fetch", "lookup", "find", "do", "run", "call"})


@dataclass(frozen=True)
class Function:
    name: str
    parameters: dict[str, Any] | None
    #: Where the parameters were sent (``tools[i].function.parameters``), for errors.
    param: str

    @property
    def trigger_words(self) -> tuple[str, ...]:
        parts = (part.lower() for part in _NAME_SEPARATORS.split(self.name))
        return tuple(part for part in parts if part and part not in _VERBS)

    def triggered_by(self, text: str) -> bool:
        return any(re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) for word in self.trigger_words)

    def arguments(self, hints: Sequence[str]) -> tuple[dict[str, Any], int]:
        """A deterministic instance of the parameters, and how many hints it used."""
        schema = self.parameters if self.parameters is not None else {"type": "object"}
        if "type" not in schema:
            schema = {**schema, "type": "object"}  # same root, so its local $refs still resolve
        try:
            instance = generate(schema, hints)
        except SchemaInstanceError as exc:
            raise schema_error(self.param, exc) from None
        return instance.value, instance.hints_used


@dataclass(frozen=True)
class ToolConfig:
    functions: tuple[Function, ...] = ()
    choice: str = AUTO  # none, auto, required, or "function" (then ``named``)
    named: str | None = None
    parallel: bool = True

    def function(self, name: str) -> Function | None:
        return next((f for f in self.functions if f.name == name), None)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # the arguments object as JSON text (json.dumps)

    @property
    def completion_tokens(self) -> int:
        return count_tokens(self.arguments) + TOKENS_PER_CALL

    def as_object(self, call_id: str) -> dict[str, Any]:
        return {"id": call_id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}

    def fragments(self) -> list[str]:
        return [self.arguments[i : i + FRAGMENT_CHARS] for i in range(0, len(self.arguments), FRAGMENT_CHARS)]


def new_call_id() -> str:
    """``call_<24 hex>``."""
    return f"call_{uuid.uuid4().hex[:24]}"


# --- validation ------------------------------------------------------------------------------------


def _parse_function_tool(value: Any, param: str) -> Function:
    tool = expect_object(value, param)
    if tool.get("type") is None:
        raise missing_required(f"{param}.type")
    kind = expect_string(tool["type"], f"{param}.type")
    if kind != "function":
        raise invalid_value(
            f"{param}.type", f"tool type {describe(kind)} is not supported; only 'function' tools are."
        )
    if tool.get("function") is None:
        raise missing_required(f"{param}.function")
    return parse_function(expect_object(tool["function"], f"{param}.function"), f"{param}.function")


def parse_function(function: dict[str, Any], param: str) -> Function:
    """Validate a function definition (``name``, ``description``, ``strict``, ``parameters``) at
    ``param``: the chat ``tools[i].function`` object, or a flat Responses ``tools[i]``."""
    if function.get("name") is None:
        raise missing_required(f"{param}.name")
    name = check_name(function["name"], f"{param}.name")
    optional(function, "description", expect_string, param=f"{param}.description")
    optional(function, "strict", expect_bool, param=f"{param}.strict")
    schema_param = f"{param}.parameters"
    parameters = optional(function, "parameters", expect_object, param=schema_param)
    if parameters is not None:
        if "type" in parameters and parameters["type"] != "object":
            got = describe(parameters["type"])
            raise invalid_value(schema_param, f"expected a JSON Schema of type 'object', got type {got}.")
        try:
            check_schema(parameters)
        except SchemaInstanceError as exc:
            raise schema_error(schema_param, exc) from None
    return Function(name, parameters, schema_param)


def _parse_tool_choice(value: Any, functions: tuple[Function, ...]) -> tuple[str, str | None]:
    param = "tool_choice"
    if isinstance(value, str):
        choice = expect_choice(value, param, CHOICES)
        if choice == REQUIRED and not functions:
            raise invalid_value(param, "'required' is only allowed when 'tools' are given.")
        return choice, None
    if not isinstance(value, dict):
        raise invalid_type(param, "a string or an object", value)
    if value.get("type") is None:
        raise missing_required(f"{param}.type")
    expect_choice(value["type"], f"{param}.type", (NAMED,))
    if value.get("function") is None:
        raise missing_required(f"{param}.function")
    function = expect_object(value["function"], f"{param}.function")
    if function.get("name") is None:
        raise missing_required(f"{param}.function.name")
    name = expect_string(function["name"], f"{param}.function.name")
    if not any(f.name == name for f in functions):
        declared = ", ".join(f"'{f.name}'" for f in functions) or "none"
        raise invalid_value(param, f"function {describe(name)} is not among the declared tools ({declared}).")
    return NAMED, name


def parse_tools(body: dict[str, Any]) -> ToolConfig:
    """Validate ``tools``, ``tool_choice`` and ``parallel_tool_calls`` (absent or null = default)."""
    tools = optional(body, "tools", expect_array, 1, MAX_TOOLS, default=[])
    functions = tuple(_parse_function_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools))
    choice, named = AUTO, None
    if body.get("tool_choice") is not None:
        choice, named = _parse_tool_choice(body["tool_choice"], functions)
    parallel = optional(body, "parallel_tool_calls", expect_bool, default=True)
    return ToolConfig(functions, choice, named, parallel)


def _assistant_calls(message: Message, param: str) -> dict[str, str]:
    """An assistant message's tool calls, validated: function name by call id."""
    raw_calls = message.raw.get("tool_calls")
    if raw_calls is None:
        return {}
    calls: dict[str, str] = {}
    for j, raw in enumerate(expect_array(raw_calls, f"{param}.tool_calls")):
        where = f"{param}.tool_calls[{j}]"
        call = expect_object(raw, where)
        for key in ("id", "function"):
            if call.get(key) is None:
                raise missing_required(f"{where}.{key}")
        call_id = expect_string(call["id"], f"{where}.id")
        if call.get("type") is not None:
            expect_choice(call["type"], f"{where}.type", ("function",))
        function = expect_object(call["function"], f"{where}.function")
        for key in ("name", "arguments"):
            if function.get(key) is None:
                raise missing_required(f"{where}.function.{key}")
            expect_string(function[key], f"{where}.function.{key}")
        calls[call_id] = function["name"]
    return calls


def _answered_calls(messages: Sequence[Message]) -> tuple[int, dict[str, str]]:
    """For a conversation ending with tool messages: where that run starts, and the calls of the
    assistant message before it (empty when there is none)."""
    start = len(messages)
    while start > 0 and messages[start - 1].role == "tool":
        start -= 1
    before = messages[start - 1] if start > 0 else None
    calls = _assistant_calls(before, f"messages[{start - 1}]") if before and before.role == "assistant" else {}
    return start, calls


def check_tool_messages(messages: Sequence[Message]) -> None:
    """Every assistant ``tool_calls`` is well-formed; the tool messages that end the conversation
    (those the model answers) each carry the ``tool_call_id`` of a call of the assistant message
    just before them, else 400 ``messages[i].tool_call_id``."""
    for i, message in enumerate(messages):
        if message.role == "assistant":
            _assistant_calls(message, f"messages[{i}]")
    start, calls = _answered_calls(messages)
    for i in range(start, len(messages)):
        call_id = messages[i].raw.get("tool_call_id")
        if call_id not in calls:
            raise invalid_value(
                f"messages[{i}].tool_call_id",
                f"{describe(call_id)} does not match a tool call of the assistant message before it.",
            )


# --- answering ----------------------------------------------------------------------------------------


def place_names(text: str) -> list[str]:
    """Every ``in|at|for <Capitalised>`` place name of ``text``, in order, without repeats."""
    return list(dict.fromkeys(PLACE_PATTERN.findall(text)))


def _chosen(config: ToolConfig, text: str) -> Function | None:
    if config.choice == NONE or not config.functions:
        return None
    if config.choice == NAMED:
        return config.function(config.named or "")
    triggered = next((f for f in config.functions if f.triggered_by(text)), None)
    if triggered is None and config.choice == REQUIRED:
        return config.functions[0]
    return triggered


def decide(
    config: ToolConfig, messages: Sequence[Message], text: str, *, parallel_model: bool
) -> tuple[ToolCall, ...]:
    """The calls to answer with (empty: answer in text). ``text`` is the input (last user text);
    calls are only made when the last message is a user message."""
    if not messages or messages[-1].role != "user":
        return ()
    function = _chosen(config, text)
    if function is None:
        return ()
    places = place_names(text)
    if config.parallel and parallel_model and len(places) >= 2:
        calls = []
        for place in places:
            args, used = function.arguments([place])
            if not used:
                break  # no string property takes the place name: one call
            calls.append(ToolCall(function.name, json.dumps(args)))
        else:
            return tuple(calls)
    args, _used = function.arguments(places)
    return (ToolCall(function.name, json.dumps(args)),)


def tool_result_reply(messages: Sequence[Message]) -> str | None:
    """``Tool <name> returned: <content>`` when the last message is a tool result, else None.

    Call ``check_tool_messages`` first: it guarantees the linkage this relies on.
    """
    if not messages or messages[-1].role != "tool":
        return None
    _start, calls = _answered_calls(messages)
    last = messages[-1]
    name = calls.get(last.raw.get("tool_call_id"), "tool")
    words = last.text.split()[:TOOL_RESULT_MAX_WORDS]
    return f"Tool {name} returned: {' '.join(words)}".rstrip()
