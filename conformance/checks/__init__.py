"""The check registry: every check has a stable dotted id that says what it asserts.

A check is ``fn(ctx, exchange) -> None | str``: returning means the target passed (a string is
an optional note), raising :class:`Failure` means the target broke the contract, raising
:class:`~conformance.transport.Unjudgeable` means we could not judge, raising :class:`Skip`
means the check does not apply. Checks are code; which check runs on which request is data
(the case files).

Every check declares its **level** (``required`` or ``recommended``) and its **source** — where
its strictness is written ("openapi: …", "profile: …", "sdk: …", "wire: …", "observed: …"). One
finding may carry a lower level than its check (:func:`recommend`: a field only the newest spec
requires) or be marked semantic (it depends on what the model chose to say).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..vocabulary import LEVELS, PASS, RECOMMENDED, RECOMMENDED_ONLY_SOURCES, REQUIRED, SOURCE_KINDS

if TYPE_CHECKING:
    from ..settings import Settings
    from ..transport import ApiRequest, Counter, Exchange, Transport


class Failure(AssertionError):
    """The target broke the contract this check asserts.

    ``level`` (default: the check's own) lowers one finding to ``recommended``; ``semantic``
    marks a finding that depends on the model's choice rather than on the protocol.
    """

    def __init__(self, message: str, *, level: str | None = None, semantic: bool = False) -> None:
        super().__init__(message)
        if level is not None and level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        self.level = level
        self.semantic = semantic


class Skip(Exception):
    """The check does not apply (with the reason)."""


CheckFn = Callable[["CheckContext", "Exchange"], "str | None"]
_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True)
class CheckSpec:
    id: str
    fn: CheckFn
    description: str
    #: Judges model quality (does the answer follow the prompt?) rather than the protocol.
    semantic: bool = False
    #: The status a passing run of this check records.
    passing_status: str = PASS
    #: ``required`` (a fail breaks clients or a documented claim) or ``recommended`` (a warn).
    level: str = REQUIRED
    #: Where the strictness is written: "KIND: reference" (KIND in vocabulary.SOURCE_KINDS).
    source: str = ""

    @property
    def source_kind(self) -> str:
        return source_kind(self.source)


CHECKS: dict[str, CheckSpec] = {}


def source_kind(source: str) -> str:
    """The kind of a "KIND: reference" source string ('' when there is none)."""
    return source.partition(":")[0].strip() if ":" in source else ""


def check(
    check_id: str, *, semantic: bool = False, passing_status: str = PASS, level: str = REQUIRED, source: str = ""
) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` under ``check_id``; the first docstring line is its description."""
    if not _ID.match(check_id):
        raise ValueError(f"check id {check_id!r} must be dotted lower_snake_case")
    if level not in LEVELS:
        raise ValueError(f"check {check_id!r}: unknown level {level!r} (one of {LEVELS})")
    kind = source_kind(source)
    if source and kind not in SOURCE_KINDS:
        raise ValueError(f"check {check_id!r}: source {source!r} must start with one of {sorted(SOURCE_KINDS)} and a colon")
    if kind in RECOMMENDED_ONLY_SOURCES and level != RECOMMENDED:
        raise ValueError(f"check {check_id!r}: a check backed only by {kind!r} is recommended-level at most")

    def register(fn: CheckFn) -> CheckFn:
        if check_id in CHECKS:
            raise ValueError(f"check {check_id!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        if not doc:
            raise ValueError(f"check {check_id!r} needs a docstring saying what it asserts")
        CHECKS[check_id] = CheckSpec(check_id, fn, doc[0], semantic, passing_status, level, source)
        return fn

    return register


class FollowupCache(dict):
    """One transport's follow-up answers, shared by the cases it runs at once: while one case sends
    a key's request, another wanting the same key waits for that answer instead of sending it again."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def claim(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._keys.setdefault(key, threading.Lock())
        with lock:
            yield


def claim(cache: dict, key: str):
    """Hold ``key`` of ``cache`` while its request is sent (a plain dict is one case's alone)."""
    return cache.claim(key) if isinstance(cache, FollowupCache) else contextlib.nullcontext()


@dataclass
class CheckContext:
    """What a check may use besides the exchange: settings, the case's parameters, follow-ups."""

    settings: Settings
    transport: Transport
    counter: Counter
    params: dict[str, Any] = field(default_factory=dict)
    capability: str = "chat"
    #: Follow-up exchanges made by checks, kept for the evidence.
    followups: list[Exchange] = field(default_factory=list)
    cache: dict[str, Exchange] = field(default_factory=FollowupCache)
    #: Sends the endpoint's simplest valid request (the runner's control; None when there is
    #: none): tells a follow-up that breaks the server from a server that is down.
    control: Callable[[], "Exchange | None"] | None = None

    @property
    def profile(self):
        return self.settings.profile

    @property
    def model(self) -> str | None:
        return self.settings.model_for(self.capability)

    def schema_errors(self, component: str, instance: Any) -> list[str]:
        """Errors of ``instance`` against an OpenAPI component that break the contract (required
        level): what only the newest spec demands (specs/openapi/recommended.yaml) is left out."""
        from ..openapi import schema_findings

        return schema_findings(component, instance)[0]

    def require_schema(self, component: str, instance: Any, what: str = "body") -> None:
        """Raise :class:`Failure` unless ``instance`` is valid against the OpenAPI ``component``;
        a body valid but for what only the newest spec demands is a recommended-level finding."""
        from ..openapi import schema_findings

        errors, recommended = schema_findings(component, instance)
        if errors:
            raise Failure(f"{what} does not match {component}: " + "; ".join(errors[:3]))
        if recommended:
            raise Failure(f"{what} lacks what only the newest spec of {component} demands: " + "; ".join(recommended[:3]), level=RECOMMENDED)

    def send(self, request: ApiRequest, *, cache_key: str | None = None) -> Exchange:
        """Send a follow-up request through the same transport (counted, retried, cached)."""
        from ..transport import send_with_retry

        if cache_key is None:
            exchange = send_with_retry(self.transport, request, self.counter)
            self.followups.append(exchange)
            return exchange
        from ..transport import policy

        with claim(self.cache, cache_key):
            if cache_key in self.cache:
                return self.cache[cache_key]
            exchange = send_with_retry(self.transport, request, self.counter)
            self.followups.append(exchange)
            # a 5xx, 429 or gateway answer is this moment's trouble: the next case asks again
            if policy.disposition(exchange.status) == policy.JUDGE:
                self.cache[cache_key] = exchange
        return exchange

    def followup(self, request: ApiRequest, what: str = "the follow-up request") -> Exchange:
        """Send a follow-up the target must accept (sent once per content): a refusal is a
        :class:`Failure`; a server error is one too when the endpoint's simplest valid request is
        answered (else, like 429 and gateway trouble, we could not judge: :class:`Unjudgeable`)."""
        from ..transport import Unjudgeable

        from ..transport import policy

        key = "followup:" + json.dumps([request.method, request.path, request.body, request.params, request.form], sort_keys=True, default=str)
        other = self.send(request, cache_key=key)
        if policy.disposition(other.status) == policy.SERVER_ERROR:
            # the reproducible-5xx rule (docs/INTERPRETING.md rule 3) applies to follow-ups too
            judged = policy.judge_server_error(other, self.control or (lambda: None), lambda: self.send(request))
            if judged.outcome == "fail":
                raise Failure(f"the server breaks on {what} (a valid request): {judged.exchange.status} on {judged.attempts} attempt(s), while the endpoint's simplest valid request is answered {judged.control.status}")
            if judged.outcome == "error" and policy.disposition(judged.exchange.status) == policy.SERVER_ERROR:
                raise Unjudgeable(f"{what} got {other.status}, and so does the endpoint's simplest valid request; could not judge")
            other = judged.exchange
            self.cache[key] = other
        if policy.disposition(other.status) != policy.JUDGE:
            raise Unjudgeable(f"{what} got {other.status}; could not judge")
        if not other.ok:
            body = other.json if isinstance(other.json, dict) else {}
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise Failure(f"{what} was refused with {other.status}: {short(error.get('message') or other.text)}")
        return other


def require(condition: Any, message: str) -> None:
    """Raise :class:`Failure` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Failure(message)


def recommend(condition: Any, message: str) -> None:
    """Raise a recommended-level :class:`Failure` (a ``warn``) unless ``condition`` holds."""
    if not condition:
        raise Failure(message, level=RECOMMENDED)


def require_semantic(condition: Any, message: str) -> None:
    """Raise a semantic :class:`Failure` (what the model chose to say) unless ``condition`` holds."""
    if not condition:
        raise Failure(message, semantic=True)


def short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number", type(None): "null"}


def what_came(ex: "Exchange") -> str:
    """What the answer is, in a server author's words, when a JSON object was expected."""
    if ex.content_type == "text/event-stream":
        return f"an SSE stream (text/event-stream, {len(ex.sse.events) if ex.sse else 0} events) was answered where a JSON object was expected"
    if ex.json_error is not None or (ex.json is None and not ex.raw):
        if not ex.raw:
            return f"an empty body was answered ({ex.status}, content-type {ex.content_type or 'none'}) where a JSON object was expected"
        return f"the body is not JSON ({ex.json_error or 'unreadable'}; content-type {ex.content_type or 'none'}): it begins {short(ex.text[:80])}"
    kind = _JSON_TYPES.get(type(ex.json), type(ex.json).__name__)
    return f"expected a JSON object, got {kind}: {short(ex.json)}"


def json_object(ex: "Exchange") -> dict[str, Any]:
    """The answer's JSON object (as the transport's client yields it), or :class:`Failure` saying what came instead."""
    body = ex.json
    require(isinstance(body, dict), what_came(ex))
    return body


def _modules() -> list[str]:
    """Every check module in this package (one module per family)."""
    import pkgutil

    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def load_all() -> dict[str, CheckSpec]:
    """Import every check module so the registry is complete."""
    for name in _modules():
        importlib.import_module(f"{__name__}.{name}")
    return CHECKS


def unknown_checks(names) -> list[str]:
    """The names that are not registered check ids (e.g. a typo in an expectations file)."""
    known = load_all()
    return sorted({name for name in names if name not in known})
