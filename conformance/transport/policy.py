"""The one status policy: which answers are retried, which cannot be judged, and how long to wait.

Every sender (cases, follow-ups, controls, property runs, batch polls, the survey) classifies an
answer's status here and nowhere else:

* ``judge`` — 1xx–4xx and 2xx: the answer says something about the contract.
* ``unjudgeable`` — 429 (rate limited) and 502/503/504 (gateway trouble): retried with back-off
  or the server's ``Retry-After`` (RFC 9110 §10.2.3) up to :data:`RETRY_AFTER_MAX_S`, within
  :data:`WAIT_BUDGET_S` per request; if it persists the verdict is ``error``, never ``fail``.
* ``server-error`` — any other 5xx: retried once at once; if it stays, the endpoint's simplest
  valid request (the *control*) decides — answered 2xx, the request is sent
  :data:`REPRODUCE_ATTEMPTS` more times and a 5xx on every one is reproducible (``fail``: this
  request breaks the server); the control failing too means the server is down or flaky
  (``error``). docs/INTERPRETING.md rule 3.
"""

from __future__ import annotations

import email.utils
import time
from datetime import timezone
from collections.abc import Callable, Mapping
from dataclasses import dataclass

JUDGE, UNJUDGEABLE, SERVER_ERROR = "judge", "unjudgeable", "server-error"

RATE_LIMITED = 429
#: Gateway trouble: RFC 9110's 502/503/504, 408 (the server gave up waiting for the request), and
#: the codes proxies and CDNs use for an unreachable or overloaded origin (Cloudflare's 520–524,
#: 529 "overloaded", 598/599 network timeouts).
GATEWAY_STATUSES = frozenset({408, 502, 503, 504, 520, 521, 522, 523, 524, 529, 598, 599})
#: Answers that say nothing about the contract: rate limiting and gateway trouble.
UNJUDGEABLE_STATUSES = frozenset({RATE_LIMITED}) | GATEWAY_STATUSES

#: Retries of a 429, a gateway status, a connection failure or an answer broken off: enough that
#: sporadic trouble (a quarter of the answers failing) is absorbed (0.25⁶: 1 request in 4,000).
RETRIES = 5
#: Retries of a request that timed out (each attempt may take the whole --timeout).
TIMEOUT_RETRIES = 1
#: Retries of any other 5xx before the control request is asked (a deterministic 500 stays a 500).
SERVER_ERROR_RETRIES = 1
#: Further attempts of a request still answered 5xx once the control is answered: a 5xx on each
#: of them makes it reproducible (with 25 % random faults, four 5xx in a row is 1 in 200,000).
REPRODUCE_ATTEMPTS = 2
#: Longest ``Retry-After`` honoured; a longer one ends the retries (the verdict is ``error``).
RETRY_AFTER_MAX_S = 60.0
#: Longest total wait between the attempts of one request.
WAIT_BUDGET_S = 120.0
#: Back-off without ``Retry-After``: first wait, growth, longest wait (429 starts at a second).
BACKOFF_S, BACKOFF_GROWTH, BACKOFF_MAX_S = 0.25, 2.0, 4.0
RATE_LIMIT_BACKOFF_S = 1.0
#: Unjudgeable attempts in a row across the run (no judgeable answer in between) past which the
#: target is in trouble everywhere: requests are no longer retried, so an outage answering 503 to
#: everything is filed ``error`` fast instead of retried for hours.
TROUBLE_STREAK = 10


def disposition(status: int) -> str:
    """``judge``, ``unjudgeable`` (429, 502, 503, 504) or ``server-error`` (any other 5xx)."""
    if status in UNJUDGEABLE_STATUSES:
        return UNJUDGEABLE
    if status >= 500:
        return SERVER_ERROR
    return JUDGE


def is_unjudgeable(status: int) -> bool:
    return status in UNJUDGEABLE_STATUSES


def retries_for(status: int, retries: int = RETRIES) -> int:
    """How many retries an answer with ``status`` gets."""
    kind = disposition(status)
    if kind == UNJUDGEABLE:
        return retries
    if kind == SERVER_ERROR:
        return min(retries, SERVER_ERROR_RETRIES)
    return 0


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the ``Retry-After`` header asks for (delay-seconds or an HTTP-date), or None."""
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    if value.isdigit() or value.replace(".", "", 1).isdigit():  # delay-seconds (a fraction tolerated)
        return float(value)
    if value[:1] in "-+0123456789":
        return None  # a negative or malformed delay: ignored (RFC 9110 §10.2.3)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # "-0000": UTC (RFC 5322 §3.3)
        when = when.replace(tzinfo=timezone.utc)
    seconds = when.timestamp() - (time.time() if now is None else now)
    return max(seconds, 0.0)  # a date in the past: retry at once


@dataclass(frozen=True)
class Wait:
    """The decision after one attempt: wait ``seconds`` and retry, or stop (``why`` says why)."""

    seconds: float | None
    why: str = ""

    @property
    def retry(self) -> bool:
        return self.seconds is not None


def after_status(status: int, headers: Mapping[str, str], attempt: int, waited: float, retries: int = RETRIES) -> Wait:
    """Whether (and after how long) to retry an answer with ``status`` after ``attempt`` attempts
    and ``waited`` seconds of waiting for this request so far."""
    if attempt > retries_for(status, retries):
        return Wait(None)
    if disposition(status) == SERVER_ERROR:
        return Wait(0.0)
    asked = retry_after(headers)
    if asked is not None:
        if asked > RETRY_AFTER_MAX_S:
            return Wait(None, f"Retry-After {asked:g} s is beyond the {RETRY_AFTER_MAX_S:g} s the suite waits")
        delay = asked
    elif status == RATE_LIMITED:
        delay = min(RATE_LIMIT_BACKOFF_S * BACKOFF_GROWTH ** (attempt - 1), RETRY_AFTER_MAX_S)
    else:
        delay = backoff(attempt)
    if waited + delay > WAIT_BUDGET_S:
        return Wait(None, f"waiting {delay:g} s more would exceed the {WAIT_BUDGET_S:g} s wait budget")
    return Wait(delay)


def backoff(attempt: int) -> float:
    return min(BACKOFF_S * BACKOFF_GROWTH ** (attempt - 1), BACKOFF_MAX_S)


def after_failure(kind: str, attempt: int, retries: int = RETRIES) -> Wait:
    """Retry a request that got no answer: ``kind`` connect or broken ``retries`` times, a timeout
    :data:`TIMEOUT_RETRIES` times, with back-off."""
    if attempt > (min(retries, TIMEOUT_RETRIES) if kind == "timeout" else retries):
        return Wait(None)
    return Wait(backoff(attempt))


def unjudgeable_message(status: int, attempts: int, why: str = "") -> str:
    kind = "rate limited" if status == RATE_LIMITED else "gateway trouble"
    return f"status {status} ({kind}) after {attempts} attempt(s){'; ' + why if why else ''}; could not judge"


@dataclass
class ServerErrorJudgement:
    """What a 5xx that survived its retry means: ``fail`` (reproducible while the control is
    answered), ``error`` (the control fails too), or ``recovered`` (a later attempt was answered
    without a 5xx: ``exchange`` is that answer, to judge as usual)."""

    outcome: str
    exchange: object
    control: object | None
    attempts: int


def judge_server_error(exchange, control: Callable[[], object | None], resend: Callable[[], object]) -> ServerErrorJudgement:
    """Apply the reproducible-5xx rule to ``exchange`` (a non-gateway 5xx after its retry).

    ``control()`` sends (or recalls) the endpoint's simplest valid request; ``resend()`` sends the
    same request again (retried per this policy) and may raise Unjudgeable.
    """
    answered = control()
    attempts = exchange.attempts
    if answered is None or not answered.ok:
        return ServerErrorJudgement("error", exchange, answered, attempts)
    for _ in range(REPRODUCE_ATTEMPTS):
        again = resend()
        attempts += again.attempts
        if disposition(again.status) == JUDGE:
            return ServerErrorJudgement("recovered", again, answered, attempts)
        if disposition(again.status) == UNJUDGEABLE:
            return ServerErrorJudgement("error", again, answered, attempts)
        exchange = again
    exchange.attempts = attempts
    return ServerErrorJudgement("fail", exchange, answered, attempts)
