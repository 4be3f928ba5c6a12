"""Server-sent events: encoding JSON events and the streaming response that carries them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from starlette.responses import StreamingResponse

DONE = "[DONE]"


def encode_event(data: Any, event: str | None = None) -> bytes:
    """One SSE event: optional ``event:`` line, ``data: <json or str>``, blank line."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def event_stream(events: Iterable[Any], *, done: bool = True) -> StreamingResponse:
    """A ``text/event-stream`` response of ``events`` (JSON-encoded), then ``data: [DONE]`` if ``done``.

    An event is a JSON-able value, or a ``(event_name, value)`` tuple for named events.
    """

    async def body() -> AsyncIterator[bytes]:
        for item in events:
            if isinstance(item, tuple):
                name, data = item
                yield encode_event(data, name)
            else:
                yield encode_event(item)
        if done:
            yield encode_event(DONE)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
