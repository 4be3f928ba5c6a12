"""One request budget for the whole run: requests per minute, requests in flight, tokens per minute,
shared by every thread and every pytest-xdist worker, and the target's health (is it still up?).

The shared state is a small JSON file in the run's directory, read and written under an exclusive
``flock`` (so the kernel releases it if a worker dies); concurrency is one lock file per slot.
Requests per minute and tokens per minute follow the generic cell rate algorithm (GCRA, virtual
scheduling): each request reserves the next free instant and sleeps until it, so requests leave
evenly spaced at a rate just under the limit — within any window of a minute, fixed or sliding,
never more than the limit, which is what a provider's "N requests per minute" allows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from .base import ApiRequest, Exchange, TargetDown, Unjudgeable
from .policy import TROUBLE_STREAK, is_unjudgeable

#: The rate actually used, as a share of a stated limit: requests leave evenly spaced, and this
#: margin absorbs clock skew between the provider's window and ours.
RATE_MARGIN = 0.95
#: Requests that may leave back to back after a lull, as a share of the requests per minute.
RPM_BURST = 0.05
#: Consecutive connection failures (no answer at all, on any worker) after which the target is
#: taken for down and the run stops; and the least time they must span (one refused connection
#: retried at once is not an outage).
DOWN_AFTER_FAILURES = 5
DOWN_AFTER_S = 3.0
#: How often a request waiting to be retried looks whether the target went down meanwhile.
DOWN_POLL_S = 0.25
#: Tokens charged for a request before its answer reports usage, when it names no maximum.
DEFAULT_COMPLETION_ESTIMATE = 256


class Limits(Protocol):
    """What the run keeps under (settings.Limits): requests per minute, in flight, tokens per
    minute, and the requests the whole run may send; None: no limit."""

    rpm: float | None
    concurrency: int | None
    tpm: float | None
    requests: int | None


#: Characters counted for a string that carries a file (an image or audio as base64 or a data:
#: URL): providers bill those by pixels or seconds, not by their length.
FILE_CHARS = 400


def _text_chars(value: Any) -> int:
    if isinstance(value, str):
        return FILE_CHARS if len(value) > 2 * FILE_CHARS and (value.startswith("data:") or " " not in value[:FILE_CHARS]) else len(value)
    if isinstance(value, dict):
        return sum(len(str(k)) + _text_chars(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_text_chars(v) for v in value)
    return len(str(value))


def estimate_tokens(request: ApiRequest) -> int:
    """Tokens a request may cost before its answer says: its text (4 characters a token; a file
    inside it counts as FILE_CHARS) and the completion it allows."""
    body = request.body if isinstance(request.body, dict) else {}
    size = _text_chars(body) if body else min(len(request.raw_body or b""), 4 * FILE_CHARS)
    most = next((body[k] for k in ("max_completion_tokens", "max_tokens", "max_output_tokens") if isinstance(body.get(k), int)), None)
    completion = most if most is not None and most >= 0 else (DEFAULT_COMPLETION_ESTIMATE if request.path in ("/chat/completions", "/responses") else 0)
    return math.ceil(size / 4) + min(completion, 4096)


class RunState:
    """The run's shared state: a JSON file under an exclusive lock, and one lock file per slot."""

    def __init__(self, directory: str | Path | None = None) -> None:
        self._own = None
        if directory is None:
            self._own = tempfile.TemporaryDirectory(prefix="conformance-run-")
            directory = self._own.name
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path = self.directory / "state.json"
        self._lock_path = self.directory / "state.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    state = json.loads(self._path.read_text())
                except (FileNotFoundError, ValueError):
                    state = {}
                before = dict(state)
                yield state
                if state != before:
                    tmp = self._path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
                    tmp.write_text(json.dumps(state))
                    os.replace(tmp, self._path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any]:
        with self._locked() as state:
            return dict(state)

    def update(self, **changes: Any) -> None:
        with self._locked() as state:
            state.update(changes)

    def add(self, name: str, amount: float = 1) -> None:
        with self._locked() as state:
            state[name] = state.get(name, 0) + amount

    def reserve(self, name: str, cost: float, per_unit_s: float, burst: float = 1.0) -> float:
        """GCRA: reserve ``cost`` units of the rate ``1 / per_unit_s``; the wall-clock instant the
        reservation may start (now or later). ``pause_until`` (a shared back-off) also holds it."""
        with self._locked() as state:
            now = time.time()
            start = max(now, state.get("pause_until", 0.0))
            tat = max(state.get(name, 0.0), start)
            allowed = max(start, tat - (burst - 1) * per_unit_s)
            state[name] = tat + cost * per_unit_s
            return allowed

    def pause(self, seconds: float) -> None:
        """Nobody sends before ``seconds`` from now (a 429's Retry-After holds every worker)."""
        with self._locked() as state:
            state["pause_until"] = max(state.get("pause_until", 0.0), time.time() + seconds)

    def pause_until(self) -> float:
        return self.read().get("pause_until", 0.0)

    @contextlib.contextmanager
    def slot(self, slots: int) -> Iterator[None]:
        """Hold one of ``slots`` concurrency slots (blocks until one is free)."""
        order = list(range(slots))
        random.shuffle(order)
        delay = 0.002
        while True:
            for index in order:
                handle = open(self.directory / f"slot-{index}.lock", "a+")
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    handle.close()
                    continue
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
                    handle.close()
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def close(self) -> None:
        if self._own is not None:
            self._own.cleanup()


class Health:
    """The target's health across the run: connection failures in a row (past a few, the target is
    down) and unjudgeable outcomes in a row (past policy.TROUBLE_STREAK, it is in trouble everywhere)."""

    def __init__(self, state: RunState) -> None:
        self.state = state

    def answered(self, judgeable: bool = True, rate_limited: bool = False) -> None:
        """An answer came (``judgeable``: not a 429 or gateway status)."""
        with self.state._locked() as state:
            state.pop("failures", None)
            state.pop("failing_since", None)
            if not rate_limited:
                state["trouble"] = 0 if judgeable else state.get("trouble", 0) + 1

    def failed(self, reason: str, connection: bool = True) -> None:
        """No answer: a connection failure (``connection``) or an answer broken off / timed out."""
        with self.state._locked() as state:
            state["trouble"] = state.get("trouble", 0) + 1
            if not connection or state.get("down"):
                return
            now = time.time()
            state["failures"] = state.get("failures", 0) + 1
            state.setdefault("failing_since", now)
            if state["failures"] >= DOWN_AFTER_FAILURES and now - state["failing_since"] >= DOWN_AFTER_S:
                state["down"] = {"since": state["failing_since"], "failures": state["failures"], "reason": reason}

    def down(self) -> dict[str, Any] | None:
        """Why the run must stop (the target went down, or the budget is spent), or None."""
        return self.state.read().get("down")

    def spend(self, budget: int) -> None:
        """Count one request against a budget of ``budget``; once it is spent, the run stops."""
        with self.state._locked() as state:
            if state.get("down"):
                return
            sent = state.get("sent", 0)
            if sent >= budget:
                state["down"] = {"kind": "budget", "since": time.time(), "budget": budget, "failures": 0, "reason": "budget"}
            else:
                state["sent"] = sent + 1

    def in_trouble(self) -> bool:
        return self.state.read().get("trouble", 0) >= TROUBLE_STREAK


def down_message(down: dict[str, Any]) -> str:
    """One line: when the target stopped answering, and how (or that the budget is spent)."""
    since = datetime.fromtimestamp(down["since"], timezone.utc).strftime("%H:%M:%S UTC")
    if down.get("kind") == "budget":
        return f"the budget of {down['budget']} requests was spent at {since} (--budget requests=N); the run stopped"
    return f"the target stopped answering at {since} ({down['failures']} connection failures in a row, the last: {down['reason']}); the run stopped"


class Pacer:
    """Applies :class:`Limits` to every request through a :class:`RunState` shared by the run."""

    def __init__(self, state: RunState, limits: Limits) -> None:
        self.state = state
        self.limits = limits
        self.health = Health(state)

    @contextlib.contextmanager
    def request(self, request: ApiRequest) -> Iterator[None]:
        """Wait for the request's turn (rate, tokens, a shared pause), hold a slot while it is in flight."""
        self._raise_if_down()
        limits = self.limits
        if limits.requests:
            self.health.spend(limits.requests)
            self._raise_if_down()
        with self.state.slot(limits.concurrency) if limits.concurrency else contextlib.nullcontext():
            # the slot first, then the turn: requests waiting for a slot hold no turn meanwhile
            starts = [self.state.pause_until()]
            if limits.rpm:
                # a small burst lets a schedule that slipped (every worker busy judging) catch up; it
                # comes out of the steady rate, so that no minute ever holds more than the limit
                per_minute = limits.rpm * RATE_MARGIN
                burst = max(1.0, math.floor(per_minute * RPM_BURST))
                starts.append(self.state.reserve("rpm_tat", 1, 60.0 / max(per_minute - burst + 1, 1.0), burst=burst))
            cost = estimate_tokens(request)
            if limits.tpm and cost:
                # a burst of a sixth of a minute on top of the rest of the rate: never more than the limit a minute
                per_minute = limits.tpm * RATE_MARGIN
                burst = per_minute / 6
                starts.append(self.state.reserve("tpm_tat", cost, 60.0 / (per_minute - burst), burst=burst))
            # many requests may wait their turn at once (the cases run ahead): each looks meanwhile
            # whether the target went down, so that a stopped run is not held by their turns
            while (wait := max(starts) - time.time()) > 0:
                time.sleep(min(wait, DOWN_POLL_S))
                self._raise_if_down()
            yield

    def _raise_if_down(self) -> None:
        down = self.health.down()
        if down:
            raise TargetDown(down_message(down))

    def settle(self, request: ApiRequest, exchange: Exchange) -> None:
        """Charge the tokens the answer reports instead of the estimate (tokens per minute)."""
        if not self.limits.tpm:
            return
        prompt, completion = exchange.usage_tokens()
        if prompt or completion or not exchange.ok:  # a refusal costs no completion
            difference = prompt + completion - estimate_tokens(request)
            per_minute = self.limits.tpm * RATE_MARGIN
            with self.state._locked() as state:
                state["tpm_tat"] = state.get("tpm_tat", 0.0) + difference * 60.0 / (per_minute - per_minute / 6)


class PacedTransport:
    """A transport whose every request goes through the run's :class:`Pacer` and reports to its health."""

    def __init__(self, inner, pacer: Pacer) -> None:
        self.inner = inner
        self.pacer = pacer
        self.name = inner.name

    @property
    def unavailable(self) -> str | None:
        """Why the inner transport cannot send at all (its cases are skipped), or None."""
        return getattr(self.inner, "unavailable", None)

    def send(self, request: ApiRequest) -> Exchange:
        with self.pacer.request(request):
            try:
                exchange = self.inner.send(request)
            except TargetDown:
                raise
            except Unjudgeable as exc:
                self.pacer.health.failed(str(exc), connection=exc.connection)
                if exc.connection:
                    down = self.pacer.health.down()
                    if down:
                        raise TargetDown(down_message(down)) from exc
                raise
        # rate limiting is no outage: a 429 leaves the trouble streak as it is (the pause handles it)
        self.pacer.health.answered(judgeable=not is_unjudgeable(exchange.status), rate_limited=exchange.status == 429)
        self.pacer.settle(request, exchange)
        return exchange

    def in_trouble(self) -> bool:
        return self.pacer.health.in_trouble()

    def sleep(self, seconds: float) -> None:
        """Wait before a retry, but raise TargetDown as soon as the run's target is down."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, DOWN_POLL_S))
            self.pacer._raise_if_down()

    def pause(self, seconds: float) -> None:
        self.pacer.state.pause(seconds)

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str):
        return getattr(self.inner, name)
