"""Both transports send the same request and judge the same answer.

- A model id with "/" (or other reserved characters) goes out percent-encoded through both, as
  openai-python's ``path_template`` encodes it (``/models/org%2Fname``, never ``/models/org/name``).
- A valid stream that ends with finish_reason "length" is no SDK failure: the SDK's
  ``LengthFinishReasonError`` is its parse helper declining to parse, recorded as a note.
- ``sdk.accepts_response`` through the http transport cannot judge: it is skipped, never passed.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from openai._utils._path import path_template

from conformance.checks import CheckContext, Skip, load_all
from conformance.transport import ApiRequest, Counter, Exchange, HttpTransport, SdkTransport
from conformance.transport.http import wire_path

CHECKS = load_all()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        model = self.path.split("?")[0][len("/v1/models/") :]
        self._answer(200, "application/json", json.dumps({"id": model, "object": "model", "created": 1, "owned_by": "test"}).encode())

    def do_POST(self) -> None:
        self.server.paths.append(self.path)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = "".join(f"data: {json.dumps(c) if not isinstance(c, str) else c}\n\n" for c in self.server.stream)
        self._answer(200, "text/event-stream", body.encode())


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.paths, httpd.stream = [], []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _base(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1"


# -- one request, one wire path -----------------------------------------------------------------------
IDS = ["org/name", "mistral-small-3.2-24b-instruct-2506", "a b", "ü:x@y", "50%+1", "q?x#y", "semi;colon=1&z"]


@pytest.mark.parametrize("model", IDS)
def test_the_http_transport_encodes_a_model_id_as_the_sdk_does(model):
    assert wire_path(ApiRequest("GET", f"/models/{model}")) == path_template("/models/{model}", model=model)


def test_batch_ids_are_encoded_as_the_sdk_does_and_other_paths_are_left_alone():
    assert wire_path(ApiRequest("GET", "/batches/b 1")) == path_template("/batches/{batch_id}", batch_id="b 1")
    assert wire_path(ApiRequest("POST", "/batches/b 1/cancel")) == path_template("/batches/{batch_id}/cancel", batch_id="b 1")
    assert wire_path(ApiRequest("GET", "/models")) == "/models"
    assert wire_path(ApiRequest("POST", "/chat/completions", body={})) == "/chat/completions"
    assert wire_path(ApiRequest("GET", "/models/x/y", raw_body=b"{")) == "/models/x/y"  # a raw probe: sent as given


def test_a_slashed_model_id_goes_out_the_same_through_both_transports(server):
    request = ApiRequest("GET", "/models/org/name", params={"x": "1"})
    http, sdk = HttpTransport(_base(server), "sk-test", 5), SdkTransport(_base(server), "sk-test", 5)
    try:
        via_http, via_sdk = http.send(request), sdk.send(request)
    finally:
        http.close()
        sdk.close()
    assert server.paths == ["/v1/models/org%2Fname?x=1"] * 2
    assert via_http.status == via_sdk.status == 200
    assert via_http.url.split("?")[0] == via_sdk.url.split("?")[0] == _base(server) + "/models/org%2Fname"


# -- a stream cut at max_tokens is valid for the SDK ------------------------------------------------------
def _chunk(delta: dict, finish=None) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


USAGE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}


def _stream(server, chunks, body: dict) -> Exchange:
    server.stream = [*chunks, "[DONE]"]
    sdk = SdkTransport(_base(server), "sk-test", 5)
    try:
        return sdk.send(ApiRequest("POST", "/chat/completions", body={"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, **body}))
    finally:
        sdk.close()


def _accepts(ex: Exchange):
    ctx = CheckContext(settings=SimpleNamespace(), transport=None, counter=Counter())
    return CHECKS["sdk.accepts_response"].fn(ctx, ex)


def test_a_stream_ending_with_length_is_accepted_and_the_sdk_refusal_noted(server):
    chunks = [_chunk({"role": "assistant", "content": "\x07zq"}), _chunk({"content": " zz"}), _chunk({}, "length"), USAGE]
    ex = _stream(server, chunks, {"max_tokens": 4, "stream_options": {"include_usage": True}})
    assert ex.client_error is None
    assert "LengthFinishReasonError" in ex.client_note
    assert len(ex.chunks) == len(chunks)
    assert "LengthFinishReasonError" in _accepts(ex)


def test_a_strict_tool_stream_cut_at_max_tokens_is_read_to_its_end(server):
    # with a strict tool the SDK's accumulator raises on the finish chunk itself, mid-stream
    tool = {"type": "function", "function": {"name": "f", "strict": True, "parameters": {"type": "object", "properties": {}, "additionalProperties": False}}}
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a'}}
    chunks = [_chunk({"role": "assistant", "tool_calls": [call]}), _chunk({}, "length"), USAGE]
    ex = _stream(server, chunks, {"max_tokens": 4, "tools": [tool], "stream_options": {"include_usage": True}})
    assert ex.client_error is None and "LengthFinishReasonError" in ex.client_note
    assert ex.chunks[-1]["usage"]["completion_tokens"] == 4  # the chunks after the refusal were still read


def test_a_stream_the_sdk_cannot_read_still_fails(server):
    chunks = [_chunk({"role": "assistant", "content": "hi"}), {"error": {"message": "boom", "type": "server_error"}}]
    ex = _stream(server, chunks, {})
    assert ex.client_error and getattr(ex, "client_note", None) is None
    with pytest.raises(AssertionError, match=r"the openai client \(Python\) failed"):
        _accepts(ex)


def test_sdk_accepts_response_through_http_is_skipped_not_passed():
    ex = Exchange(ApiRequest("GET", "/models"), "http", "http://t/v1/models", 200, {"content-type": "application/json"}, b"{}", json={})
    with pytest.raises(Skip, match="only judged through an official SDK"):
        _accepts(ex)
