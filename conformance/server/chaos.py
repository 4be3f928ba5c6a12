"""ASGI middleware making a server behave like a real one under load: latency, rate limits, random faults.

``Chaos(app, latency=0.2, rpm=300, concurrency=50, fault_rate=0.25, seed=1)`` adds ``latency``
seconds to every answer; refuses with 429 (and ``Retry-After``) a request beyond ``rpm`` in the
last 60 s (a sliding window) or beyond ``concurrency`` in flight; and answers a share
``fault_rate`` of the requests with infrastructure trouble: a 500 or a 503 (OpenAI's error
envelope), or the real answer's headers followed by a dropped connection. What it did is counted
in ``stats``. The tests and scripts/benchmark.py use it; `conformance serve` does not.
"""

from __future__ import annotations

import asyncio
import collections
import json
import math
import random
import threading
import time
from typing import Any

FAULTS = ("500", "503", "drop")


class DroppedConnection(Exception):
    """Raised after the answer's headers: the server closes the connection without the body."""


class Chaos:
    def __init__(
        self, app, *, latency: float = 0.0, rpm: float | None = None, concurrency: int | None = None,
        fault_rate: float = 0.0, faults: tuple[str, ...] = FAULTS, seed: int = 0,
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
        self.app = app
        self.latency = latency
        self.rpm = rpm
        self.concurrency = concurrency
        self.fault_rate = fault_rate
        self.faults = faults
        self.random = random.Random(seed)
        self.window: collections.deque[float] = collections.deque()
        self.in_flight = 0
        self.lock = threading.Lock()
        self.stats: collections.Counter[str] = collections.Counter()
        self.peak_in_flight = 0

    def _admit(self) -> tuple[str | None, float]:
        """None, or why the request is refused (``rate``/``concurrency``) and the Retry-After."""
        now = time.monotonic()
        with self.lock:
            while self.window and now - self.window[0] >= 60.0:
                self.window.popleft()
            if self.concurrency is not None and self.in_flight >= self.concurrency:
                return "concurrency", 1.0
            if self.rpm is not None and len(self.window) >= self.rpm:
                return "rate", max(0.0, 60.0 - (now - self.window[0]))
            self.window.append(now)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            fault = self.random.choice(self.faults) if self.fault_rate and self.random.random() < self.fault_rate else None
        return (f"fault:{fault}" if fault else None), 0.0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal, retry_after = self._admit()
        if refusal in ("rate", "concurrency"):
            self.stats[f"429 {refusal}"] += 1
            message = "Rate limit reached: too many requests per minute" if refusal == "rate" else "Too many concurrent requests"
            await _error(send, 429, message, "rate_limit_exceeded", {"retry-after": str(math.ceil(retry_after))})
            return
        self.stats["requests"] += 1
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            if refusal == "fault:500":
                self.stats["500"] += 1
                await _error(send, 500, "Internal server error (injected)", "internal_error")
            elif refusal == "fault:503":
                self.stats["503"] += 1
                await _error(send, 503, "Service temporarily unavailable (injected)", "service_unavailable")
            elif refusal == "fault:drop":
                self.stats["drop"] += 1
                await self.app(scope, receive, _dropping(send))
            else:
                await self.app(scope, receive, send)
        finally:
            with self.lock:
                self.in_flight -= 1


def _dropping(send):
    """A ``send`` that forwards the headers, then drops the connection instead of the body."""

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            await send(message)
            return
        raise DroppedConnection("connection dropped after the headers (injected)")

    return wrapped


async def _error(send, status: int, message: str, code: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": {"message": message, "type": "server_error" if status >= 500 else "rate_limit_error", "param": None, "code": code}}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
