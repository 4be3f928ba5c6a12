"""The transport seam: what a request is, what an exchange records, the Transport protocol."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..sse import SSEParse, parse_sse

#: Authentication a request carries: the configured key, none at all, or a wrong key.
AUTH_MODES = ("valid", "none", "wrong")
WRONG_KEY = "sk-conformance-deliberately-wrong-key-0000"


class Unjudgeable(Exception):
    """The target could not be reached or kept failing: the verdict is ``error``, never ``fail``.

    ``kind`` says how sending failed: ``connect`` (no connection could be made: refused, or the
    connect timed out; the run's health counts those, transport/pacing.py), ``timeout`` (no
    answer in time) or ``broken`` (the connection broke during the answer, or anything else).
    """

    def __init__(self, message: str, *, kind: str = "broken") -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def connection(self) -> bool:
        return self.kind == "connect"


class TargetDown(Unjudgeable):
    """The target stopped answering (several connection failures in a row): the run stops."""


@dataclass
class ApiRequest:
    """A request to a target, independent of the transport that sends it."""

    method: str
    path: str
    body: Any = None
    #: Sent byte for byte instead of ``body`` (malformed-JSON probes).
    raw_body: bytes | None = None
    #: Content-Type sent with ``raw_body`` (default application/json).
    content_type: str | None = None
    auth: str = "valid"
    params: dict[str, Any] | None = None
    #: multipart/form-data fields: name -> str, or a list of str sent as repeated fields.
    form: dict[str, Any] | None = None
    #: multipart/form-data files: field name -> (filename, bytes, content type).
    files: dict[str, tuple[str, bytes, str]] | None = None

    @property
    def multipart(self) -> bool:
        return self.files is not None or self.form is not None

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    def describe(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Exchange:
    """One request and what came back, as seen on the wire and as the client yields it."""

    request: ApiRequest
    transport: str
    url: str
    status: int
    headers: dict[str, str]
    #: The response body exactly as received.
    raw: bytes
    #: The body as this transport's client yields it (parsed JSON, or the SDK object dumped).
    json: Any = None
    #: Why the body could not be read as JSON, if it could not.
    json_error: str | None = None
    #: The SSE stream as received on the wire (streams only).
    sse: SSEParse | None = None
    #: Stream payloads as the client yields them (streams only; ``[DONE]`` excluded).
    chunks: list[Any] | None = None
    #: The client library raised while reading a response (e.g. the SDK failed to parse it).
    client_error: str | None = None
    #: What the client declined to do with a valid answer (e.g. the SDK's LengthFinishReasonError
    #: when structured output was cut at max_tokens): recorded, never a failure.
    client_note: str | None = None
    elapsed_ms: float = 0.0
    attempts: int = 1
    #: Why retrying stopped before the answer was judgeable (a Retry-After beyond the bound, the wait budget).
    retry_note: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", errors="replace")

    def usage_tokens(self) -> tuple[int, int]:
        """(prompt, completion) tokens the target reported for this exchange, 0 when absent."""
        usage = None
        if isinstance(self.json, dict):
            usage = self.json.get("usage")
        if usage is None and self.chunks:
            for chunk in reversed(self.chunks):
                if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                    break
        if not isinstance(usage, dict):
            return 0, 0
        prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
        completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
        return (prompt if isinstance(prompt, int) else 0, completion if isinstance(completion, int) else 0)


class Transport(Protocol):
    """Sends an :class:`ApiRequest` and returns an :class:`Exchange`, or raises Unjudgeable."""

    name: str

    def send(self, request: ApiRequest) -> Exchange: ...

    def close(self) -> None: ...


def decode_json(raw: bytes) -> tuple[Any, str | None]:
    """Parse ``raw`` as JSON; return (value, None) or (None, reason)."""
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"not JSON: {exc}"


def decode_stream(raw: bytes) -> tuple[SSEParse, list[Any]]:
    """Parse an SSE body; chunks are the JSON payloads of data events other than [DONE]."""
    parsed = parse_sse(raw)
    chunks: list[Any] = []
    for event in parsed.events:
        if event.data.strip() == "[DONE]":
            continue
        value, error = decode_json(event.data.encode())
        chunks.append(value if error is None else {"__unparseable__": event.data})
    return parsed, chunks


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 1)


@dataclass
class Counter:
    """Requests sent and tokens reported, for the report's usage section."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    #: Batch status retrievals while waiting for a final status, and the time spent waiting.
    batch_polls: int = 0
    batch_wait_s: float = 0.0
    #: Answers 429 (rate limited) met, and the time slept between attempts.
    rate_limited: int = 0
    retry_wait_s: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)

    def add(self, exchange: Exchange) -> None:
        self.requests += 1
        prompt, completion = exchange.usage_tokens()
        self.prompt_tokens += prompt
        self.completion_tokens += completion

    def merge(self, other: Counter) -> None:
        """Add ``other``'s counts to these (e.g. those of one thread)."""
        for name in ("requests", "prompt_tokens", "completion_tokens", "retries", "batch_polls", "batch_wait_s", "rate_limited", "retry_wait_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name, value in other.extra.items():
            self.extra[name] = self.extra.get(name, 0) + value

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "retries": self.retries,
            "batch_polls": self.batch_polls,
            "batch_wait_s": round(self.batch_wait_s, 3),
            "rate_limited": self.rate_limited,
            "retry_wait_s": round(self.retry_wait_s, 3),
        }
