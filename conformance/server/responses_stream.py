"""The Responses event stream: named SSE events, numbered, in OpenAI's order, ending in a terminal event."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .responses import Answer

#: One SSE event: its name (``event:`` line) and its data (whose ``type`` is that name).
Event = tuple[str, dict[str, Any]]


def _opened(item: dict[str, Any]) -> dict[str, Any]:
    """An output item as first announced: in progress, its text or arguments still empty."""
    opened = {**copy.deepcopy(item), "status": "in_progress"}
    if item["type"] in ("message", "reasoning"):
        opened["content"] = []
    elif item["type"] == "function_call":
        opened["arguments"] = ""
    return opened


def _item_events(index: int, item: dict[str, Any], deltas: list[str]) -> Iterator[dict[str, Any]]:
    """The events of one output item, from ``output_item.added`` to ``output_item.done``."""
    item_id = item["id"]
    where = {"item_id": item_id, "output_index": index}
    yield {"type": "response.output_item.added", "output_index": index, "item": _opened(item)}
    if item["type"] == "message":
        part = item["content"][0]
        at = {**where, "content_index": 0}
        yield {"type": "response.content_part.added", **at, "part": {**part, "text": ""}}
        for delta in deltas:
            yield {"type": "response.output_text.delta", **at, "delta": delta, "logprobs": []}
        yield {"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []}
        yield {"type": "response.content_part.done", **at, "part": part}
    elif item["type"] == "reasoning":
        # the reasoning_text part is announced like a message's output_text part (OutputContent
        # includes ReasoningTextContent): the openai Node SDK's accumulator needs the part before
        # its deltas ("missing content at index 0"); the Python SDK does not look
        part = item["content"][0]
        at = {**where, "content_index": 0}
        yield {"type": "response.content_part.added", **at, "part": {**part, "text": ""}}
        for delta in deltas:
            yield {"type": "response.reasoning_text.delta", **at, "delta": delta}
        yield {"type": "response.reasoning_text.done", **at, "text": part["text"]}
        yield {"type": "response.content_part.done", **at, "part": part}
    elif item["type"] == "function_call":
        for delta in deltas:
            yield {"type": "response.function_call_arguments.delta", **where, "delta": delta}
        yield {"type": "response.function_call_arguments.done", **where, "name": item["name"], "arguments": item["arguments"]}
    yield {"type": "response.output_item.done", "output_index": index, "item": item}


def _deltas(answer: Answer, item: dict[str, Any], call_index: int) -> list[str]:
    if item["type"] == "reasoning" and answer.reasoning is not None:
        return list(answer.reasoning.tokens)
    if item["type"] == "message" and answer.message is not None:
        return list(answer.message.tokens)
    return answer.calls[call_index].fragments()


def stream_events(start: dict[str, Any], final: dict[str, Any], answer: Answer) -> Iterator[Event]:
    """``response.created`` and ``response.in_progress`` (carrying ``start``), each output item's
    events, then ``response.completed`` or ``response.incomplete`` (carrying ``final``)."""

    def events() -> Iterator[dict[str, Any]]:
        yield {"type": "response.created", "response": start}
        yield {"type": "response.in_progress", "response": start}
        calls = 0
        for index, item in enumerate(final["output"]):
            yield from _item_events(index, item, _deltas(answer, item, calls))
            calls += item["type"] == "function_call"
        terminal = "response.completed" if final["status"] == "completed" else "response.incomplete"
        yield {"type": terminal, "response": final}

    for number, event in enumerate(events()):
        yield event["type"], {**event, "sequence_number": number}
