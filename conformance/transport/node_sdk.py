"""The openai-node transport: requests made through the official openai npm package, driven by a long-lived Node process.

``node/driver.cjs`` reads requests as JSON lines on stdin and answers each on stdout (many in flight
at once): the status, headers and body bytes seen on the wire, what the SDK returned (its stream
helpers ``chat.completions.stream`` and ``responses.stream`` accumulate streams; embeddings are
asked for in base64 and decoded by the SDK, as it does by default) and what it raised. The SDK's
version is pinned by ``node/package-lock.json``; ``npm ci`` installs it into a cache directory the
first time the transport is used (or ``conformance setup node``). Without Node.js (≥ 18) or
without the package, the transport is unavailable and its cases are skipped with the reason.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import struct
import subprocess
import threading
import weakref
from concurrent.futures import Future, TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from .base import WRONG_KEY, ApiRequest, Exchange, Unjudgeable, decode_json, decode_stream

NAME = "openai-node"
DRIVER_DIR = Path(__file__).parent / "node"
DRIVER = DRIVER_DIR / "driver.cjs"
MIN_NODE_MAJOR = 18
#: The pinned SDK version (package.json; package-lock.json fixes it and its integrity).
SDK_VERSION: str = json.loads((DRIVER_DIR / "package.json").read_text())["dependencies"]["openai"]
INSTALL_TIMEOUT_S = 300
#: The longest wait for one answer from a running driver (it times a request out itself when
#: nothing arrives for the request's timeout; a stream may go on sending for long: a day bounds a
#: driver that hangs).
ANSWER_BOUND_S = 86400.0


def cache_root() -> Path:
    """Where the npm packages go: $CONFORMANCE_CACHE_DIR, else $XDG_CACHE_HOME/conformance, else ~/.cache/conformance."""
    explicit = os.environ.get("CONFORMANCE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "conformance"


def install_dir() -> Path:
    """One directory per lock file: a new pin installs beside the old one."""
    digest = hashlib.sha256((DRIVER_DIR / "package-lock.json").read_bytes()).hexdigest()[:12]
    return cache_root() / f"openai-node-{SDK_VERSION}-{digest}"


def find_node() -> tuple[str | None, str]:
    """(path of node, its version) or (None, why it cannot be used)."""
    node = shutil.which("node")
    if node is None:
        return None, f"Node.js (>= {MIN_NODE_MAJOR}) is not on PATH"
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{node} --version failed: {exc}"
    match = re.match(r"v?(\d+)\.", version)
    if not match or int(match.group(1)) < MIN_NODE_MAJOR:
        return None, f"Node.js {version or '(unknown version)'} at {node} is older than {MIN_NODE_MAJOR}"
    return node, version


_STATE_LOCK = threading.Lock()
_AVAILABLE: dict[str, Any] = {}


def ensure_installed(verbose: bool = False) -> tuple[Path | None, str]:
    """Install the pinned SDK once (npm ci, under a file lock: every worker of a run may ask at
    once); return (node_modules directory, node version) or (None, why the transport is unavailable)."""
    node, version = find_node()
    if node is None:
        return None, version
    target = install_dir()
    modules = target / "node_modules"
    marker = target / ".installed"
    if marker.exists() and (modules / "openai" / "package.json").exists():
        return modules, version
    npm = shutil.which("npm")
    if npm is None:
        return None, f"npm is not on PATH (needed once to install openai@{SDK_VERSION} into {target})"
    try:
        target.mkdir(parents=True, exist_ok=True)
        with open(target.parent / f".{target.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if marker.exists() and (modules / "openai" / "package.json").exists():
                return modules, version
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(DRIVER_DIR / name, target / name)
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                cwd=target, capture_output=not verbose, text=True, timeout=INSTALL_TIMEOUT_S,
            )
            if done.returncode != 0:
                tail = ((done.stderr or "") + (done.stdout or "")).strip().splitlines()[-3:]
                return None, f"npm ci of openai@{SDK_VERSION} into {target} failed (exit {done.returncode}): {' '.join(tail)}"
            marker.write_text(SDK_VERSION + "\n")
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"installing openai@{SDK_VERSION} into {target} failed: {exc}"
    return modules, version


def availability() -> dict[str, Any]:
    """Whether this process can use the transport (installing the SDK the first time): {available,
    node, sdk, reason}; asked once per process."""
    with _STATE_LOCK:
        if not _AVAILABLE:
            modules, detail = ensure_installed()
            _AVAILABLE.update(
                available=modules is not None, sdk=SDK_VERSION, modules=str(modules) if modules else None,
                node=detail if modules is not None else None, reason=None if modules is not None else detail,
            )
        return dict(_AVAILABLE)


def _request_message(request: ApiRequest) -> dict[str, Any]:
    message: dict[str, Any] = {"method": request.method, "path": request.path, "auth": request.auth, "body": request.body}
    if request.raw_body is not None:
        message["raw_body"] = base64.b64encode(request.raw_body).decode()
        message["content_type"] = request.content_type
    if request.params:
        message["params"] = request.params
    if request.form is not None:
        message["form"] = request.form
    if request.files is not None:
        message["files"] = {name: [filename, base64.b64encode(data).decode(), ctype] for name, (filename, data, ctype) in request.files.items()}
    return message


def _floats_decoded_as_base64(request: ApiRequest, raw: bytes) -> str | None:
    """openai-node asks for base64 embeddings when the request names no encoding_format and then
    decodes whatever came as base64 (``toFloat32Array`` of an array of numbers): a server that
    ignores encoding_format and answers float arrays gives a Node application garbage vectors."""
    body = request.body if isinstance(request.body, dict) else {}
    if request.path != "/embeddings" or "encoding_format" in body or request.raw_body is not None:
        return None
    value, error = decode_json(raw)
    data = value.get("data") if error is None and isinstance(value, dict) else None
    arrays = [item for item in data or [] if isinstance(item, dict) and isinstance(item.get("embedding"), list)]
    if not arrays:
        return None
    return (
        "the SDK asked for encoding_format \"base64\" (its default) and the answer carries float arrays: "
        f"openai-node decodes them as base64 all the same, so the application gets garbage vectors ({len(arrays)} of {len(data)} embeddings)"
    )


def _wire_json(request: ApiRequest, raw: bytes) -> tuple[Any, str | None]:
    """The body as sent, where the SDK's own reading is not available (it raised, or gave back
    text): JSON, with embeddings the SDK asked for in base64 (it does when the request names no
    encoding_format) decoded as it would have, so that the embeddings checks judge the vectors."""
    value, error = decode_json(raw)
    body = request.body if isinstance(request.body, dict) else {}
    if error is None and request.path == "/embeddings" and "encoding_format" not in body and isinstance(value, dict) and isinstance(value.get("data"), list):
        for item in value["data"]:
            if isinstance(item, dict) and isinstance(item.get("embedding"), str):
                try:
                    data = base64.b64decode(item["embedding"], validate=True)
                    item["embedding"] = list(struct.unpack(f"<{len(data) // 4}f", data[: len(data) // 4 * 4]))
                except (ValueError, struct.error):
                    pass  # left as sent: the embeddings checks say what is wrong with it
    return value, error


class _Driver:
    """One Node process and the requests in flight through it."""

    def __init__(self, modules: str, base_url: str, api_key: str | None, timeout: float) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NODE_OPTIONS"))}
        env.update(
            NODE_PATH=modules, CONFORMANCE_BASE_URL=base_url, CONFORMANCE_API_KEY=api_key or "no-key-configured",
            CONFORMANCE_WRONG_KEY=WRONG_KEY, CONFORMANCE_TIMEOUT_MS=str(int(timeout * 1000)),
        )
        node, _ = find_node()
        try:
            self.process = subprocess.Popen(
                [node or "node", str(DRIVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(DRIVER_DIR),
            )
        except OSError as exc:
            raise Unjudgeable(f"the openai-node driver could not start: {exc}") from exc
        self.pending: dict[int, Future] = {}
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.ended = False
        self.next_id = 0
        self.stderr: list[str] = []
        self.ready: queue.Queue = queue.Queue()
        self.info: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True, name="openai-node-stdout").start()
        threading.Thread(target=self._drain, daemon=True, name="openai-node-stderr").start()
        self._finalizer = weakref.finalize(self, _kill, self.process)
        try:
            self.info = self.ready.get(timeout=60)
        except queue.Empty:
            self.close()
            raise Unjudgeable(f"the openai-node driver did not start within 60 s: {self.stderr_tail()}") from None
        if not self.info.get("ready"):
            self.close()
            raise Unjudgeable(f"the openai-node driver did not start: {self.stderr_tail()}")
        if self.info.get("sdk") != SDK_VERSION:
            self.close()
            raise Unjudgeable(f"the openai-node driver loaded openai {self.info.get('sdk')}, not the pinned {SDK_VERSION}")

    def stderr_tail(self) -> str:
        return " ".join(self.stderr[-3:]).strip()[:500] or "(no output)"

    @property
    def alive(self) -> bool:
        # its output ended: dead, even while the process is still being torn down (poll() can
        # say "running" a moment after the pipe closed)
        return not self.ended and self.process.poll() is None

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                if message.get("ready") is not None and "id" not in message:
                    self.ready.put(message)
                    continue
                with self.lock:
                    future = self.pending.pop(message.get("id"), None)
                if future is not None:
                    future.set_result(message)
        finally:
            self._ended()

    def _ended(self) -> None:
        """The driver's output ended (it exited, or reading it failed): fail what is in flight."""
        self.ended = True
        if self.process.poll() is None:
            self.process.kill()
        self.ready.put({})
        with self.lock:
            left, self.pending = self.pending, {}
        for future in left.values():
            future.set_result({"driver_error": f"the openai-node driver exited ({self.process.poll()}): {self.stderr_tail()}"})

    def _drain(self) -> None:
        assert self.process.stderr is not None
        for raw in self.process.stderr:
            self.stderr.append(raw.decode("utf-8", "replace").rstrip())
            del self.stderr[:-20]

    def ask(self, message: dict[str, Any], wait: float) -> dict[str, Any]:
        future: Future = Future()
        with self.lock:
            if not self.alive:
                raise Unjudgeable(f"the openai-node driver is not running: {self.stderr_tail()}")
            self.next_id += 1
            ident = self.next_id
            self.pending[ident] = future
        line = json.dumps({"id": ident, "request": message}, allow_nan=False) + "\n"
        try:
            with self.write_lock:
                assert self.process.stdin is not None
                self.process.stdin.write(line.encode())
                self.process.stdin.flush()
        except (OSError, ValueError) as exc:
            with self.lock:
                self.pending.pop(ident, None)
            raise Unjudgeable(f"could not hand the request to the openai-node driver: {exc}") from exc
        # the driver answers every request (it times one out when nothing arrives for the
        # request's timeout, as httpx does): wait as long as it runs, however long the answer takes
        waited = 0.0
        while True:
            try:
                return future.result(timeout=5.0)
            except FutureTimeout:
                waited += 5.0
                if not self.alive or waited >= wait:
                    with self.lock:
                        self.pending.pop(ident, None)
                    raise Unjudgeable(f"the openai-node driver gave no answer ({'it exited' if not self.alive else f'within {wait:g} s'})", kind="timeout") from None

    def close(self) -> None:
        self._finalizer()


def _kill(process: subprocess.Popen) -> None:
    try:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        process.kill()
        process.wait(timeout=5)


class NodeSdkTransport:
    """Sends each request through the openai npm package; ``unavailable`` says why it cannot (its cases are skipped)."""

    name = NAME

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._driver: _Driver | None = None
        self._lock = threading.Lock()
        info = availability()
        self.unavailable: str | None = None if info["available"] else f"the openai-node transport is unavailable: {info['reason']}"
        self._modules = info["modules"]

    def _running(self) -> _Driver:
        with self._lock:
            if self._driver is None or not self._driver.alive:
                self._driver = _Driver(self._modules, self.base_url, self.api_key, self.timeout)
            return self._driver

    def send(self, request: ApiRequest) -> Exchange:
        if self.unavailable:
            raise Unjudgeable(self.unavailable)
        try:
            message = _request_message(request)
            json.dumps(message, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise Unjudgeable(f"the openai-node transport cannot carry this request as JSON: {exc}") from exc
        answer = self._running().ask(message, ANSWER_BOUND_S)
        if "unjudgeable" in answer:
            raise Unjudgeable(answer["unjudgeable"]["message"], kind=answer["unjudgeable"].get("kind", "broken"))
        if "not_sent" in answer:
            raise Unjudgeable(f"the openai Node client failed before sending: {answer['not_sent']}")
        if "driver_error" in answer:
            raise Unjudgeable(f"the openai-node driver failed: {answer['driver_error']}")
        raw = base64.b64decode(answer.get("raw") or "")
        exchange = Exchange(
            request=request,
            transport=self.name,
            url=answer.get("url") or self.base_url + request.path,
            status=int(answer["status"]),
            headers={k.lower(): v for k, v in (answer.get("headers") or {}).items()},
            raw=raw,
            client_error=answer.get("client_error"),
            elapsed_ms=round(float(answer.get("elapsed_ms") or 0.0), 1),
        )
        exchange.client_note = answer.get("client_note")
        value = answer.get("value")
        if answer.get("has_value") and exchange.client_error is None and isinstance(value, str) and exchange.ok:
            parsed, error = decode_json(raw)
            if error is None and isinstance(parsed, (dict, list)):
                # the SDK parses only what it takes for JSON (a media type containing the lower-case
                # "application/json", or ending "+json"); the application gets text where it expects an object
                exchange.client_error = (
                    f"the SDK handed back the JSON body as a string, not parsed: it does not read Content-Type "
                    f"{exchange.headers.get('content-type', '(none)')!r} as JSON"
                )
        if exchange.client_error is None and answer.get("has_value") and exchange.ok:
            exchange.client_error = _floats_decoded_as_base64(request, raw)
        if exchange.content_type == "text/event-stream":
            exchange.sse, wire_chunks = decode_stream(raw)
            # what the SDK yielded; where it raised part-way, the stream's own chunks (the driver
            # read it to its end): the stream checks judge the stream, sdk.accepts_response the SDK
            sdk_chunks = answer.get("chunks")
            exchange.chunks = sdk_chunks if sdk_chunks is not None and exchange.client_error is None else wire_chunks
        elif answer.get("has_value") and exchange.client_error is None:
            exchange.json = answer.get("value")
        else:
            exchange.json, exchange.json_error = _wire_json(request, raw)
        return exchange

    def close(self) -> None:
        with self._lock:
            if self._driver is not None:
                self._driver.close()
                self._driver = None
