"""The openai-node transport: the official Node SDK driven through one long-lived Node process.

- What the SDK yields and raises is recorded with the wire bytes; a stream its helper chokes on is
  a client error of that transport only, and the stream checks still see the whole stream.
- Many requests are in flight through one process; an unreachable target is could-not-judge.
- Without Node.js the transport is unavailable: its cases skip with the reason, and
  `conformance setup node` says so in one line (exit 2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conformance.transport import ApiRequest, Unjudgeable
from conformance.transport import node_sdk
from conformance.transport.node_sdk import NodeSdkTransport

from .conftest import node_or_skip

KEY = "sk-node-transport-secret-777"


@pytest.fixture(autouse=True)
def _node():
    node_or_skip()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization"), body))
        status, content_type, answer = self.server.answer(self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_DELETE = _any


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.seen = []
    httpd.answer = lambda path, body: (200, "application/json", b"{}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def transport(server):
    made = NodeSdkTransport(f"http://127.0.0.1:{server.server_address[1]}/v1", KEY, 20.0)
    yield made
    made.close()


def _sse(chunks) -> bytes:
    return "".join(f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks).encode()


def _tool_stream(with_type: bool) -> list:
    call = {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": ""}}
    if with_type:
        call["type"] = "function"
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    return [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call]}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Paris"}'}}]}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        "[DONE]",
    ]


def _chat(stream: bool) -> ApiRequest:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    return ApiRequest("POST", "/chat/completions", body={"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools, "stream": stream})


def test_a_stream_the_node_helper_accumulates_is_what_it_yielded(server, transport):
    server.answer = lambda path, body: (200, "text/event-stream", _sse(_tool_stream(with_type=True)))
    ex = transport.send(_chat(stream=True))
    assert ex.transport == "openai-node" and ex.status == 200 and ex.client_error is None, ex.client_error
    assert len(ex.chunks) == 3 and ex.chunks[0]["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_1"
    assert ex.raw.endswith(b"data: [DONE]\n\n") and ex.sse is not None
    method, path, auth, body = server.seen[-1]
    assert (method, path, auth) == ("POST", "/v1/chat/completions", f"Bearer {KEY}") and json.loads(body)["stream"] is True


def test_a_stream_the_node_helper_chokes_on_is_a_client_error_with_the_whole_stream_recorded(server, transport):
    server.answer = lambda path, body: (200, "text/event-stream", _sse(_tool_stream(with_type=False)))
    ex = transport.send(_chat(stream=True))
    assert ex.client_error and "type" in ex.client_error, ex.client_error
    # the driver read the stream to its end although the SDK stopped: the stream checks judge all of it
    assert ex.raw.endswith(b"data: [DONE]\n\n") and len(ex.chunks) == 3


def test_json_the_node_sdk_does_not_parse_is_a_client_error_and_the_wire_is_judged(server, transport):
    answer = {"object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]}
    server.answer = lambda path, body: (200, "Application/JSON", json.dumps(answer).encode())
    ex = transport.send(ApiRequest("GET", "/models"))
    assert ex.client_error and "as a string" in ex.client_error and "Application/JSON" in ex.client_error
    assert ex.json == answer  # the checks read the answer as sent


def test_base64_embeddings_are_decoded_by_the_sdk(server, transport):
    import base64
    import struct

    vector = [0.5, -0.25, 1.0]
    encoded = base64.b64encode(struct.pack("<3f", *vector)).decode()
    server.answer = lambda path, body: (200, "application/json", json.dumps({"object": "list", "model": "e", "data": [{"object": "embedding", "index": 0, "embedding": encoded}], "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode())
    ex = transport.send(ApiRequest("POST", "/embeddings", body={"model": "e", "input": "x"}))
    assert json.loads(server.seen[-1][3])["encoding_format"] == "base64"  # the SDK's default
    assert ex.client_error is None and ex.json["data"][0]["embedding"] == vector


def test_an_error_status_is_an_answer_and_auth_modes_reach_the_wire(server, transport):
    server.answer = lambda path, body: (401, "application/json", b'{"error": {"message": "no", "type": "invalid_request_error", "code": "invalid_api_key", "param": null}}')
    ex = transport.send(ApiRequest("GET", "/models", auth="none"))
    assert ex.status == 401 and ex.client_error is None and ex.json["error"]["code"] == "invalid_api_key"
    assert server.seen[-1][2] is None  # no Authorization header at all
    transport.send(ApiRequest("GET", "/models", auth="wrong"))
    assert server.seen[-1][2] == f"Bearer {node_sdk.WRONG_KEY}"


def test_many_requests_are_in_flight_through_one_node_process(server, transport):
    def answer(path, body):
        time.sleep(0.3)
        return 200, "application/json", json.dumps({"id": path.rsplit("/", 1)[-1], "object": "model", "created": 1, "owned_by": "x"}).encode()

    server.answer = answer
    transport.send(ApiRequest("GET", "/models/warm-up"))
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        got = list(pool.map(lambda n: transport.send(ApiRequest("GET", f"/models/m{n}")).json["id"], range(16)))
    assert got == [f"m{n}" for n in range(16)]  # every answer reached the request that asked
    assert time.monotonic() - started < 16 * 0.3 / 2, "the requests went one at a time"


def test_an_unreachable_target_is_could_not_judge():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = NodeSdkTransport(f"http://127.0.0.1:{port}/v1", KEY, 5.0)
    try:
        with pytest.raises(Unjudgeable) as caught:
            transport.send(ApiRequest("GET", "/models"))
        assert caught.value.kind == "connect" and KEY not in str(caught.value)
    finally:
        transport.close()


def test_close_ends_the_node_process(server, transport):
    transport.send(ApiRequest("GET", "/models"))
    process = transport._driver.process
    transport.close()
    assert process.poll() is not None


def test_without_node_the_transport_is_unavailable_and_its_cases_skip(monkeypatch):
    from conformance.cases import all_cases
    from conformance.runner import run_case
    from conformance.settings import resolve
    from conformance.transport import Counter

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setattr(node_sdk, "_AVAILABLE", {})
    transport = NodeSdkTransport("http://127.0.0.1:1/v1", KEY, 5.0)
    assert transport.unavailable and "Node.js (>= 18) is not on PATH" in transport.unavailable
    settings = resolve(base_url="http://127.0.0.1:1/v1", profile="scaleway")
    case = next(c for c in all_cases(settings.profile) if c.endpoint == "models")
    verdicts = run_case(case, settings, transport, Counter())
    assert verdicts and {v.status for v in verdicts} == {"skip"} and "not on PATH" in verdicts[0].message


def test_setup_node_installs_into_the_cache_and_says_why_it_cannot(tmp_path):
    env = {**os.environ, "CONFORMANCE_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "conformance", "setup", "node"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "openai-node transport is ready" in done.stdout and (node_sdk.install_dir().name in done.stdout)
    assert list((tmp_path / "cache").glob("openai-node-*/node_modules/openai/package.json"))
    env["PATH"] = "/nonexistent"
    refused = subprocess.run([sys.executable, "-m", "conformance", "setup", "node"], capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == ["conformance: error: the openai-node transport cannot be set up: Node.js (>= 18) is not on PATH"]


def test_the_lock_file_pins_the_package_json_version():
    lock = json.loads((node_sdk.DRIVER_DIR / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/openai"]["version"] == node_sdk.SDK_VERSION
    assert lock["packages"]["node_modules/openai"]["integrity"].startswith("sha512-")
    assert shutil.which("node") is None or node_sdk.find_node()[0] is not None


def test_float_embeddings_answering_the_sdks_base64_request_are_a_client_error(server, transport):
    vector = [0.5, -0.25, 1.0, 0.0]
    server.answer = lambda path, body: (200, "application/json", json.dumps({"object": "list", "model": "e", "data": [{"object": "embedding", "index": 0, "embedding": vector}], "usage": {"prompt_tokens": 1, "total_tokens": 1}}).encode())
    ex = transport.send(ApiRequest("POST", "/embeddings", body={"model": "e", "input": "x"}))
    assert ex.client_error and "garbage vectors" in ex.client_error
    assert ex.json["data"][0]["embedding"] == vector  # the embeddings checks judge what the server sent
    # asked for floats by the application: the SDK leaves them alone
    ex = transport.send(ApiRequest("POST", "/embeddings", body={"model": "e", "input": "x", "encoding_format": "float"}))
    assert ex.client_error is None and ex.json["data"][0]["embedding"] == vector


def test_a_driver_that_dies_is_restarted_and_what_was_in_flight_is_could_not_judge(server, transport):
    transport.send(ApiRequest("GET", "/models"))
    first = transport._driver
    gate = threading.Event()

    def slow(path, body):
        gate.wait(10)
        return 200, "application/json", b"{}"

    server.answer = slow
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(transport.send, ApiRequest("GET", "/models/slow"))
        deadline = time.monotonic() + 20
        while not any(path == "/v1/models/slow" for _, path, _, _ in server.seen) and time.monotonic() < deadline:
            time.sleep(0.02)  # the request is in flight: the server holds it
        first.process.kill()
        with pytest.raises(Unjudgeable, match="exited"):
            pending.result(timeout=30)
    gate.set()
    server.answer = lambda path, body: (200, "application/json", b'{"object": "list", "data": []}')
    assert transport.send(ApiRequest("GET", "/models")).status == 200 and transport._driver is not first
