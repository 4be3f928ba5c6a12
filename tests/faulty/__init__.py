"""Faulty servers: the reference server with exactly one fault each, Bowtie-style miniatures.

A fault rewrites what the correct reference app receives or sends. The suite's own tests run
the whole conformance suite against each one and assert the report names the broken check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from conformance.server import create_app

API_KEY = "sk-faulty-server-key"


class _JsonBody:
    """A ``body`` read and written as JSON (None when it is not JSON)."""

    body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def set_json(self, value: Any) -> None:
        self.body = json.dumps(value).encode()


@dataclass
class Req(_JsonBody):
    method: str
    path: str  # without the /v1 prefix
    headers: dict[str, str]
    body: bytes
    query: str = ""  # the raw query string

    @property
    def stream(self) -> bool:
        body = self.json
        return isinstance(body, dict) and body.get("stream") is True


@dataclass
class Resp(_JsonBody):
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def is_stream(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def events(self) -> list[str]:
        """The data payloads of an SSE body."""
        out = []
        for block in self.body.decode().split("\n\n"):
            lines = [line[len("data: "):] for line in block.split("\n") if line.startswith("data: ")]
            if lines:
                out.append("\n".join(lines))
        return out

    def set_events(self, payloads: list[str], sep: str = "\n\n") -> None:
        self.body = "".join(f"data: {p}{sep}" for p in payloads).encode()


Hook = Callable[[Req], "Resp | None"]
ResponseHook = Callable[[Req, Resp], None]


@dataclass
class Fault:
    name: str
    description: str
    #: Check ids that must not hold against this server: a required-level check must ``fail``, a
    #: recommended-level one (its level in the registry) must ``warn``.
    breaks: frozenset[str]
    on_request: Hook | None = None
    on_response: ResponseHook | None = None
    #: Other checks that may fail as a consequence on exchanges where none of ``breaks`` fails
    #: (e.g. a check comparing two endpoints' answers). Those failing only on the exchanges the
    #: fault's own checks fail need no listing: test_faulty_servers derives them from the report.
    collateral: frozenset[str] = frozenset()
    #: The run's expected outcome: "fail" (exit 1) or "error" (exit 2: could not judge).
    outcome: str = "fail"
    #: The transports the fault must show through, and the run goes through (default: raw HTTP and
    #: the Python SDK; the wire checks are the same through the Node SDK).
    transports: tuple[str, ...] = ("http", "openai")
    #: The fault breaks only those transports' clients: the run goes through every transport and
    #: the others must not fail its checks (e.g. what only the Node SDK trips on).
    only: bool = False
    #: The endpoints whose cases the run includes (``conformance run --endpoint``); None: all of them.
    scope: tuple[str, ...] | None = None
    #: Only property-based runs catch it: the run has them on (fixed seed); every other fault's
    #: run has them off (so that their verdicts stay about the example cases).
    property: bool = False
    #: Checks of ``breaks`` that must ``warn`` although their check is required-level (the finding
    #: itself is recommended, e.g. a field only the newest spec requires).
    warns: frozenset[str] = frozenset()
    #: The profile the run names (``--profile``): a shipped name or a path, e.g. one of
    #: tests/faulty/profiles/ for a fault that breaks a claim Scaleway's profile does not make.
    profile: str = "scaleway"

    def expected_warns(self) -> frozenset[str]:
        """The broken checks that must warn: recommended-level ones, and those named in ``warns``."""
        from conformance.checks import load_all

        checks = load_all()
        return frozenset(c for c in self.breaks if c in self.warns or checks[c].level == "recommended")

    def expected_fails(self) -> frozenset[str]:
        return self.breaks - self.expected_warns()


FAULTS: dict[str, Fault] = {}
#: Test profiles (claims the shipped Scaleway profile does not make, on top of it).
TEST_PROFILES = __import__("pathlib").Path(__file__).resolve().parent / "profiles"
#: ``scope`` not given: the endpoint the fault module is named after (faults_<endpoint>.py), or
#: the endpoint the fault's name starts with in faults.py (models_…, else chat).
_DEFAULT_SCOPE = object()
ENDPOINT_MODULES = ("responses", "embeddings", "rerank", "transcriptions", "batches")


def _default_scope(name: str, module: str) -> tuple[str, ...]:
    suffix = module.rsplit(".", 1)[-1].removeprefix("faults").removeprefix("_")
    if suffix in ENDPOINT_MODULES:
        return (suffix,)
    return ("models",) if name.startswith("models_") else ("chat",)


def fault(
    name: str,
    breaks: set[str] | str,
    *,
    collateral: set[str] = frozenset(),
    outcome: str = "fail",
    transports=("http", "openai"),
    only: bool = False,
    scope: tuple[str, ...] | None | object = _DEFAULT_SCOPE,
    property: bool = False,
    warns: set[str] = frozenset(),
    profile: str = "scaleway",
):
    """Register a fault: decorate a function ``(req) -> Resp|None`` or ``(req, resp) -> None``.

    ``scope`` limits the run to some endpoints' cases (a fault on one endpoint cannot make another
    endpoint's checks fail: the reference app behind it is correct); ``None`` runs every case, for
    faults that touch every endpoint (authentication, the error envelope).
    """

    def register(fn):
        import inspect

        n_args = len(inspect.signature(fn).parameters)
        FAULTS[name] = Fault(
            name=name,
            description=(fn.__doc__ or "").strip(),
            breaks=frozenset({breaks} if isinstance(breaks, str) else breaks),
            on_request=fn if n_args == 1 else None,
            on_response=fn if n_args == 2 else None,
            collateral=frozenset(collateral),
            outcome=outcome,
            transports=tuple(transports),
            only=only,
            scope=_default_scope(name, fn.__module__) if scope is _DEFAULT_SCOPE else scope,
            property=property,
            warns=frozenset(warns),
            profile=profile,
        )
        return fn

    return register


async def read_request(scope, receive) -> Req:
    """The whole HTTP request an ASGI app receives, as a :class:`Req` (path without /v1)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    path = scope["path"]
    return Req(
        method=scope["method"],
        path=path[3:] if path.startswith("/v1") else path,
        headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
        body=b"".join(chunks),
        query=scope.get("query_string", b"").decode("latin-1"),
    )


class FaultyApp:
    """ASGI app: the reference app behind one fault."""

    def __init__(self, the_fault: Fault, api_keys=(API_KEY,)) -> None:
        self.inner = create_app(list(api_keys))
        self.fault = the_fault

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        req = await read_request(scope, receive)
        resp = self.fault.on_request(req) if self.fault.on_request else None
        if resp is None:
            resp = await self._call_inner(scope, req)
            if self.fault.on_response:
                self.fault.on_response(req, resp)
        headers = {k: v for k, v in resp.headers.items() if k != "content-length"}
        headers["content-length"] = str(len(resp.body))
        await send({"type": "http.response.start", "status": resp.status, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        await send({"type": "http.response.body", "body": resp.body})

    async def _call_inner(self, scope, req: Req) -> Resp:
        raw_headers = [(k.encode(), v.encode()) for k, v in req.headers.items() if k not in ("content-length", "authorization")]
        if "authorization" in req.headers:
            raw_headers.append((b"authorization", req.headers["authorization"].encode()))
        raw_headers.append((b"content-length", str(len(req.body)).encode()))
        inner_scope = dict(scope, headers=raw_headers, query_string=req.query.encode("latin-1"))
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": req.body, "more_body": False}

        out: dict[str, Any] = {"status": 500, "headers": {}, "body": bytearray()}

        async def send(message):
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
                out["headers"] = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                out["body"].extend(message.get("body", b""))

        await self.inner(inner_scope, receive, send)
        return Resp(out["status"], out["headers"], bytes(out["body"]))


def load_faults() -> dict[str, Fault]:
    """Import every ``faults*.py`` module of this package (one per endpoint family); return the registry."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("faults"):
            importlib.import_module(f"{__name__}.{info.name}")
    return FAULTS


def error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> Resp:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return Resp(status, {"content-type": "application/json"}, json.dumps(body).encode())
