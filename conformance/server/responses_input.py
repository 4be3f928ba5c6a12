"""What a Responses request says: ``input`` items as chat messages, flat function tools,
``tool_choice`` and ``text.format``, validated with errors naming the exact sub-parameter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import structured, tools
from .errors import describe, invalid_type, invalid_value, missing_required
from .messages import Message
from .schema_instance import SchemaInstanceError, check_schema
from .validation import expect_array, expect_bool, expect_choice, expect_object, expect_string, optional

MESSAGE_ROLES = ("user", "assistant", "system", "developer")
#: Content-part types each role may send.
ROLE_PARTS = {"user": ("input_text",), "system": ("input_text",), "developer": ("input_text",), "assistant": ("output_text", "input_text")}
#: Input item types this stateless, function-tools-only endpoint refuses, with the reason.
REFUSED_ITEMS = {
    "custom_tool_call": "custom tools are not supported; only function tools are",
    "custom_tool_call_output": "custom tools are not supported; only function tools are",
    "item_reference": "responses are not stored, so items cannot be referenced",
}
ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning")


@dataclass(frozen=True)
class ParsedInput:
    #: The conversation as chat messages (function calls as an assistant ``tool_calls`` message,
    #: their outputs as ``tool`` messages), so the chat tool rules apply unchanged.
    messages: tuple[Message, ...]
    #: Names of the functions the input says were called (tool results may name them).
    called: tuple[str, ...] = ()


def _text_of(content: Any, role: str, param: str) -> str:
    """A message's content (a string, or a non-empty array of text parts) as text."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_type(param, "a string or an array of content parts", content)
    expect_array(content, param, min_items=1)
    texts = []
    for j, raw in enumerate(content):
        where = f"{param}[{j}]"
        part = expect_object(raw, where)
        if part.get("type") is None:
            raise missing_required(f"{where}.type")
        expect_choice(part["type"], f"{where}.type", ROLE_PARTS[role])
        if part.get("text") is None:
            raise missing_required(f"{where}.text")
        texts.append(expect_string(part["text"], f"{where}.text"))
    return "\n".join(texts)


def _message(item: dict[str, Any], param: str) -> Message:
    if item.get("role") is None:
        raise missing_required(f"{param}.role")
    role = expect_choice(item["role"], f"{param}.role", MESSAGE_ROLES)
    if item.get("content") is None:
        raise missing_required(f"{param}.content")
    return Message(role, _text_of(item["content"], role, f"{param}.content"), raw=item)


def _required_string(item: dict[str, Any], key: str, param: str) -> str:
    if item.get(key) is None:
        raise missing_required(f"{param}.{key}")
    return expect_string(item[key], f"{param}.{key}")


def _output_text(value: Any, param: str) -> str:
    """A function_call_output's ``output``: a string, or input_text parts."""
    if isinstance(value, list):
        return _text_of(value, "user", param)
    return expect_string(value, param)


def parse_input(value: Any) -> ParsedInput:
    """``input`` as a string or an array of items; a function_call_output must answer an earlier
    function_call of the same ``call_id`` (400 ``input[i].call_id`` otherwise)."""
    if isinstance(value, str):
        return ParsedInput((Message("user", value, raw={"role": "user", "content": value}),))
    items = expect_array(value, "input", min_items=1) if isinstance(value, list) else None
    if items is None:
        raise invalid_type("input", "a string or an array of input items", value)
    messages: list[Message] = []
    calls: dict[str, str] = {}
    for i, raw in enumerate(items):
        param = f"input[{i}]"
        item = expect_object(raw, param)
        kind = item.get("type", "message")
        kind = expect_string(kind, f"{param}.type")
        if kind in REFUSED_ITEMS:
            raise invalid_value(f"{param}.type", f"{describe(kind)} items are not supported: {REFUSED_ITEMS[kind]}.")
        expect_choice(kind, f"{param}.type", ITEM_TYPES)
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            call_id = _required_string(item, "call_id", param)
            name = _required_string(item, "name", param)
            arguments = _required_string(item, "arguments", param)
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            if messages and messages[-1].role == "assistant" and messages[-1].raw.get("tool_calls"):
                messages[-1].raw["tool_calls"].append(call)  # consecutive calls: one assistant turn
            else:
                messages.append(Message("assistant", None, raw={"role": "assistant", "content": None, "tool_calls": [call]}))
            calls[call_id] = name
        elif kind == "function_call_output":
            call_id = _required_string(item, "call_id", param)
            if call_id not in calls:
                raise invalid_value(f"{param}.call_id", f"no function_call with call_id {describe(call_id)} precedes this output.")
            if item.get("output") is None:
                raise missing_required(f"{param}.output")
            output = _output_text(item["output"], f"{param}.output")
            messages.append(Message("tool", output, raw={"role": "tool", "tool_call_id": call_id, "content": output}))
    if not messages:
        raise invalid_value("input", "expected at least one message or function call item.")
    return ParsedInput(tuple(messages), tuple(dict.fromkeys(calls.values())))


# --- tools ---------------------------------------------------------------------------------------------


def _parse_tool(value: Any, param: str) -> tools.Function:
    tool = expect_object(value, param)
    if tool.get("type") is None:
        raise missing_required(f"{param}.type")
    kind = expect_string(tool["type"], f"{param}.type")
    if kind != "function":
        raise invalid_value(
            f"{param}.type", f"tool type {describe(kind)} is not supported; only 'function' tools are (no built-in tools)."
        )
    return tools.parse_function(tool, param)


def _parse_tool_choice(value: Any, functions: tuple[tools.Function, ...]) -> tuple[str, str | None]:
    param = "tool_choice"
    if isinstance(value, str):
        choice = expect_choice(value, param, tools.CHOICES)
        if choice == tools.REQUIRED and not functions:
            raise invalid_value(param, "'required' is only allowed when 'tools' are given.")
        return choice, None
    choice = expect_object(value, param)
    if choice.get("type") is None:
        raise missing_required(f"{param}.type")
    expect_choice(choice["type"], f"{param}.type", (tools.NAMED,))
    name = _required_string(choice, "name", param)
    if not any(f.name == name for f in functions):
        declared = ", ".join(f"'{f.name}'" for f in functions) or "none"
        raise invalid_value(param, f"function {describe(name)} is not among the declared tools ({declared}).")
    return tools.NAMED, name


def parse_tools(body: dict[str, Any]) -> tools.ToolConfig:
    """``tools`` (flat function tools only), ``tool_choice`` and ``parallel_tool_calls``."""
    raw_tools = optional(body, "tools", expect_array, 0, tools.MAX_TOOLS, default=[])
    functions = tuple(_parse_tool(tool, f"tools[{i}]") for i, tool in enumerate(raw_tools))
    choice, named = tools.AUTO, None
    if body.get("tool_choice") is not None:
        choice, named = _parse_tool_choice(body["tool_choice"], functions)
    parallel = optional(body, "parallel_tool_calls", expect_bool, default=True)
    return tools.ToolConfig(functions, choice, named, parallel)


# --- text.format ---------------------------------------------------------------------------------------


def parse_text_format(text: Any, param: str = "text") -> structured.ResponseFormat | None:
    """``text.format``: text, json_object, or a flat json_schema (name, schema, strict, description)."""
    config = expect_object(text, param)
    if config.get("format") is None:
        return None
    param = f"{param}.format"
    fmt = expect_object(config["format"], param)
    if fmt.get("type") is None:
        raise missing_required(f"{param}.type")
    kind = expect_choice(fmt["type"], f"{param}.type", structured.TYPES)
    if kind != structured.JSON_SCHEMA:
        return structured.ResponseFormat(kind)
    if fmt.get("schema") is None:
        raise missing_required(f"{param}.schema")
    if fmt.get("name") is None:
        raise missing_required(f"{param}.name")
    name = structured.check_name(fmt["name"], f"{param}.name")
    optional(fmt, "description", expect_string, param=f"{param}.description")
    strict = optional(fmt, "strict", expect_bool, default=False, param=f"{param}.strict")
    schema = expect_object(fmt["schema"], f"{param}.schema")
    try:
        check_schema(schema)
    except SchemaInstanceError as exc:
        raise structured.schema_error(f"{param}.schema", exc) from None
    return structured.ResponseFormat(kind, name=name, schema=schema, strict=strict)
