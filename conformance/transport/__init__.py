"""Transports: one interface (send an ApiRequest, get an Exchange), raw httpx, the openai SDK and the openai npm package."""

from __future__ import annotations

import time

from . import policy
from .base import ApiRequest, Counter, Exchange, TargetDown, Transport, Unjudgeable, WRONG_KEY
from .http import HttpTransport
from .pacing import PacedTransport, Pacer, RunState
from .policy import UNJUDGEABLE_STATUSES, retries_for
from .node_sdk import NodeSdkTransport
from .sdk import SdkTransport

__all__ = [
    "ApiRequest",
    "Counter",
    "Exchange",
    "HttpTransport",
    "NodeSdkTransport",
    "PacedTransport",
    "Pacer",
    "RunState",
    "TargetDown",
    "SdkTransport",
    "Transport",
    "Unjudgeable",
    "WRONG_KEY",
    "make_transport",
    "send_with_retry",
    "UNJUDGEABLE_STATUSES",
    "retries_for",
    "policy",
]

def make_transport(name: str, base_url: str, api_key: str | None, timeout: float, pacer: Pacer | None = None) -> Transport:
    """The named transport; with a ``pacer`` every request it sends keeps the run's limits."""
    if name == "http":
        transport: Transport = HttpTransport(base_url, api_key, timeout)
    elif name == "openai":
        transport = SdkTransport(base_url, api_key, timeout)
    elif name == "openai-node":
        transport = NodeSdkTransport(base_url, api_key, timeout)
    else:
        raise ValueError(f"unknown transport {name!r}")
    return PacedTransport(transport, pacer) if pacer is not None else transport


def send_with_retry(
    transport: Transport, request: ApiRequest, counter: Counter | None = None, retries: int = policy.RETRIES
) -> Exchange:
    """Send, retrying connection failures and retryable statuses as transport/policy.py says.

    Raises :class:`Unjudgeable` when the target cannot be reached after the last attempt (and
    :class:`TargetDown` at once when the run's target stopped answering); a retryable status that
    persists is returned, for the caller to judge (``Exchange.retry_note`` says why retries stopped).
    """
    counter = counter if counter is not None else Counter()
    waited, attempt = 0.0, 0
    while True:
        attempt += 1
        # an outage everywhere (many unjudgeable answers in a row): no more retries
        allowed = 0 if getattr(transport, "in_trouble", lambda: False)() else retries
        try:
            exchange = transport.send(request)
        except TargetDown:
            raise
        except Unjudgeable as exc:
            counter.requests += 1
            wait = policy.after_failure(exc.kind, attempt, allowed)
            if not wait.retry:
                raise
        else:
            exchange.attempts = attempt
            if exchange.status == policy.RATE_LIMITED:
                counter.rate_limited += 1
            wait = policy.after_status(exchange.status, exchange.headers, attempt, waited, allowed)
            if exchange.status == policy.RATE_LIMITED and hasattr(transport, "pause"):
                # the whole run holds off as asked, whether or not this request is retried
                asked = policy.retry_after(exchange.headers)
                transport.pause(min(asked if asked else (wait.seconds or 0.0), policy.RETRY_AFTER_MAX_S))
            if not wait.retry:
                exchange.retry_note = wait.why
                counter.add(exchange)
                return exchange
            counter.requests += 1
        counter.retries += 1
        if wait.seconds:
            # a paced transport wakes early, raising TargetDown, when the target goes down meanwhile
            getattr(transport, "sleep", time.sleep)(wait.seconds)
            waited += wait.seconds
            counter.retry_wait_s += wait.seconds
