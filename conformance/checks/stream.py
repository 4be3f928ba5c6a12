"""Checks on streamed chat completions: SSE framing, chunks, ids, roles, finish, usage, [DONE]."""

from __future__ import annotations

import copy
import json

from ..transport import ApiRequest
from . import Failure, Skip, check, require, short
from .chat import FINISH_REASONS, first_content, usage_numbers


def stream_of(ex):
    require(ex.content_type == "text/event-stream", f"Content-Type is {ex.content_type or 'missing'!r}, expected text/event-stream")
    require(ex.sse is not None and ex.chunks is not None, "no event stream to read")
    return ex.sse, ex.chunks


def content_chunks(ex) -> list[dict]:
    """The chunks that carry choices (not the final usage-only chunk)."""
    _, chunks = stream_of(ex)
    require(chunks, "the stream carried no chunks")
    for i, chunk in enumerate(chunks):
        require(isinstance(chunk, dict) and "__unparseable__" not in chunk, f"chunk {i} is not a JSON object: {short(chunk)}")
    return [c for c in chunks if c.get("choices")]


def streamed_text(ex, index: int = 0) -> str:
    parts = []
    for chunk in content_chunks(ex):
        for choice in chunk["choices"]:
            if isinstance(choice, dict) and choice.get("index") == index:
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
    return "".join(parts)


@check("chat.stream.content_type", source="wire: WHATWG HTML §9.2.5 (an event stream is text/event-stream; §9.2.3 fails the connection otherwise)")
def content_type(ctx, ex):
    """stream=true answers with Content-Type text/event-stream."""
    stream_of(ex)


@check("chat.stream.framing", source="wire: WHATWG HTML §9.2.6 (data: fields, an event dispatched at each blank line); each payload an RFC 8259 §2 JSON text")
def framing(ctx, ex):
    """Every event is `data: <payload>` ended by a blank line; every payload but [DONE] is JSON."""
    sse, _ = stream_of(ex)
    require(not sse.bad_lines, f"lines that are not SSE fields: {short(sse.bad_lines[:3])}")
    require(sse.terminated, f"the stream ends inside an event (no blank line after {short(sse.trailing)})")
    require(sse.events, "the stream holds no events")
    for i, event in enumerate(sse.events):
        require("data" in event.fields, f"event {i} has no data field")
        require(event.event in (None, "message"), f"event {i} is named {event.event!r}; chat streams use unnamed data events")
        if event.data.strip() != "[DONE]":
            require(_is_json(event.data), f"event {i} data is not JSON: {short(event.data)}")


def _is_json(data: str) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


@check("chat.stream.done_terminator", source="sdk: openai._streaming.Stream.__stream__ (stops at the first data: [DONE]; whatever follows is dropped)")
def done_terminator(ctx, ex):
    """The stream ends with exactly one `data: [DONE]` event, and nothing follows it."""
    sse, _ = stream_of(ex)
    require(sse.events, "the stream holds no events")
    dones = [i for i, e in enumerate(sse.events) if e.data.strip() == "[DONE]"]
    require(dones, "no `data: [DONE]` event: the stream was never terminated")
    require(len(dones) == 1, f"`data: [DONE]` sent {len(dones)} times")
    require(dones[0] == len(sse.events) - 1, f"{len(sse.events) - 1 - dones[0]} event(s) after `data: [DONE]`")
    require(not sse.trailing, f"data after `[DONE]`: {short(sse.trailing)}")


@check("chat.stream.chunk_schema", source="openapi: #/components/schemas/CreateChatCompletionStreamResponse")
def chunk_schema(ctx, ex):
    """Every chunk is a chat.completion.chunk valid against CreateChatCompletionStreamResponse."""
    _, chunks = stream_of(ex)
    require(chunks, "the stream carried no chunks")
    for i, chunk in enumerate(chunks):
        require(isinstance(chunk, dict) and "__unparseable__" not in chunk, f"chunk {i} is not a JSON object: {short(chunk)}")
        require(chunk.get("object") == "chat.completion.chunk", f'chunk {i} object is {short(chunk.get("object"))}, expected "chat.completion.chunk"')
        ctx.require_schema("CreateChatCompletionStreamResponse", chunk, f"chunk {i}")


@check("chat.stream.single_id", level="recommended", source="openapi: #/components/schemas/CreateChatCompletionStreamResponse/properties/id (each chunk has the same ID; the SDK's accumulator keeps the first chunk's)")
def single_id(ctx, ex):
    """All chunks of one stream share one id (and one model)."""
    _, chunks = stream_of(ex)
    ids = {c.get("id") for c in chunks if isinstance(c, dict)}
    require(len(ids) == 1 and None not in ids, f"chunks carry {len(ids)} different ids: {short(sorted(map(str, ids)))}")
    models = {c.get("model") for c in chunks if isinstance(c, dict)}
    require(len(models) == 1, f"chunks name {len(models)} different models: {short(sorted(map(str, models)))}")


@check("chat.stream.role_first", source="sdk: openai.lib.streaming.chat._completions.ChatCompletionStreamState._accumulate_chunk (the message's role comes only from the deltas)")
def role_first(ctx, ex):
    """The first delta of each choice carries role "assistant"."""
    seen: set[int] = set()
    for chunk in content_chunks(ex):
        for choice in chunk["choices"]:
            index = choice.get("index")
            require(isinstance(index, int), f"a streamed choice has no integer index: {short(choice)}")
            if index in seen:
                continue
            seen.add(index)
            delta = choice.get("delta")
            require(isinstance(delta, dict), f"choice {index}: delta is not an object: {short(delta)}")
            require(delta.get("role") == "assistant", f'choice {index}: the first delta has role {short(delta.get("role"))}, expected "assistant"')
    require(seen, "no choice deltas in the stream")


@check("chat.stream.single_finish_reason", source="sdk: openai.lib.streaming.chat._completions.ChoiceEventState.get_done_events (content.done fires on the chunk with the finish_reason)")
def single_finish_reason(ctx, ex):
    """Each choice gets exactly one valid finish_reason, on its last delta."""
    finished: dict[int, str] = {}
    for n, chunk in enumerate(content_chunks(ex)):
        for choice in chunk["choices"]:
            index = choice.get("index")
            reason = choice.get("finish_reason")
            delta = choice.get("delta") or {}
            if index in finished and (reason is not None or delta.get("content")):
                raise Failure(f"choice {index}: more output after finish_reason {finished[index]!r} (chunk {n})")
            if reason is not None:
                require(reason in FINISH_REASONS, f"choice {index}: finish_reason {reason!r} is not one of {FINISH_REASONS}")
                finished[index] = reason
    require(finished, "no chunk carries a finish_reason")
    n = ctx.params.get("n", 1)
    require(sorted(finished) == list(range(n)), f"finish_reason seen for choices {sorted(finished)}, expected {list(range(n))}")


@check("chat.stream.include_usage", source="openapi: #/components/schemas/ChatCompletionStreamOptions (include_usage: a last chunk with empty choices and the usage, usage null on the others)")
def include_usage(ctx, ex):
    """stream_options.include_usage: one last chunk with empty choices and the usage; other chunks have usage null."""
    _, chunks = stream_of(ex)
    require(chunks, "the stream carried no chunks")
    last = chunks[-1]
    require(isinstance(last, dict), f"the last chunk is not an object: {short(last)}")
    require(last.get("choices") == [], f"the last chunk before [DONE] must have empty choices, got {short(last.get('choices'))}")
    prompt, completion, _ = usage_numbers(last.get("usage"))
    require(prompt > 0 and completion > 0, f"final usage counts no tokens: {short(last.get('usage'))}")
    for i, chunk in enumerate(chunks[:-1]):
        require(isinstance(chunk, dict) and chunk.get("usage") is None, f"chunk {i} carries usage {short(chunk.get('usage'))}; only the final chunk may")


@check("chat.stream.matches_nonstream", semantic=True, source="openapi: #/components/schemas/CreateChatCompletionRequest/allOf/1/properties/seed (the same seed and parameters give the same result, best effort)")
def matches_nonstream(ctx, ex):
    """The streamed text equals the text of the same seeded request without streaming."""
    body = ex.request.body
    if not isinstance(body, dict):
        raise Skip("no JSON request to replay")
    plain = copy.deepcopy(body)
    plain.pop("stream", None)
    plain.pop("stream_options", None)
    other = ctx.followup(ApiRequest("POST", ex.request.path, body=plain), "the same request without streaming")
    expected = first_content(other)
    got = streamed_text(ex)
    require(got == expected, f"streamed text {short(got)} != non-streamed text {short(expected)}")
