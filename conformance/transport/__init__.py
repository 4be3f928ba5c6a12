"""Transports: one interface (send an ApiRequest, get an Exchange), raw httpx and the openai SDK."""

from __future__ import annotations

import time

from .base import ApiRequest, Counter, Exchange, Transport, Unjudgeable, WRONG_KEY
from .http import HttpTransport
from .sdk import SdkTransport

__all__ = [
    "ApiRequest",
    "Counter",
    "Exchange",
    "HttpTransport",
    "SdkTransport",
    "Transport",
    "Unjudgeable",
    "WRONG_KEY",
    "make_transport",
    "send_with_retry",
    "UNJUDGEABLE_STATUSES",
    "retries_for",
]

#: Rate limiting and gateway trouble: they say nothing about the contract, so they are retried
#: (twice, with back-off or Retry-After) and, if they persist, the verdict is ``error``.
UNJUDGEABLE_STATUSES = frozenset({429, 502, 503, 504})
#: Any other server error is retried once only: a deterministic 500 stays a 500, and the runner's
#: control request then decides whether it is the request that breaks the server (fail) or not.
SERVER_ERROR_RETRIES = 1


def retries_for(status: int, retries: int) -> int:
    """How many retries a response with ``status`` gets (the one status policy of sending)."""
    if status in UNJUDGEABLE_STATUSES:
        return retries
    if status >= 500:
        return min(retries, SERVER_ERROR_RETRIES)
    return 0


def make_transport(name: str, base_url: str, api_key: str | None, timeout: float) -> Transport:
    if name == "http":
        return HttpTransport(base_url, api_key, timeout)
    if name == "openai":
        return SdkTransport(base_url, api_key, timeout)
    raise ValueError(f"unknown transport {name!r}")


def send_with_retry(
    transport: Transport, request: ApiRequest, counter: Counter | None = None, retries: int = 2
) -> Exchange:
    """Send, retrying connection failures and retryable statuses a bounded number of times.

    Raises :class:`Unjudgeable` when the target cannot be reached after the last attempt; a
    retryable status that persists is returned, for the caller to judge.
    """
    delay = 0.3
    for attempt in range(1, retries + 2):
        try:
            exchange = transport.send(request)
        except Unjudgeable:
            if counter is not None:
                counter.requests += 1
            if attempt > retries:
                raise
            if counter is not None:
                counter.retries += 1
        else:
            exchange.attempts = attempt
            if attempt > retries_for(exchange.status, retries):
                if counter is not None:
                    counter.add(exchange)
                return exchange
            if counter is not None:
                counter.requests += 1
                counter.retries += 1
            retry_after = exchange.headers.get("retry-after", "")
            if retry_after.replace(".", "", 1).isdigit():
                delay = min(float(retry_after), 5.0)
        time.sleep(delay)
        delay *= 3
    raise AssertionError("unreachable")
