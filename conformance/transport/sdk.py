"""The openai-client transport: requests made through the official SDK's own methods.

The SDK parses what the target returns; what it yields is what an application sees, so the
checks read that. A tee underneath records the wire bytes for framing checks and evidence.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

import httpx2
import openai
from openai.resources.audio.transcriptions import Transcriptions
from openai.resources.batches import Batches
from openai.resources.chat.completions import Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses import Responses
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.lib.streaming.responses import ResponseStreamState

from .base import WRONG_KEY, ApiRequest, Exchange, Stopwatch, Unjudgeable, decode_json, decode_stream


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self.inner, self.sink = inner, sink
        #: The transport error that broke the body off (the SDK may swallow it, e.g. reading an error body).
        self.broken: httpx2.TransportError | None = None

    def __iter__(self):
        try:
            for part in self.inner:
                self.sink.extend(part)
                yield part
        except httpx2.TransportError as exc:
            self.broken = exc
            raise

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if close:
            close()


class _TeeTransport(httpx2.BaseTransport):
    """Records the last response's status, headers and body bytes as the SDK reads them, per
    thread: a synchronous client handles a request in the thread that makes it, so requests sent
    at once from several threads each see their own."""

    def __init__(self, timeout: float) -> None:
        self.inner = httpx2.HTTPTransport()
        self._mine = threading.local()

    @property
    def last(self) -> httpx2.Response | None:
        return getattr(self._mine, "last", None)

    @last.setter
    def last(self, response: httpx2.Response | None) -> None:
        self._mine.last = response

    @property
    def stream(self) -> _TeeStream | None:
        return getattr(self._mine, "stream", None)

    @property
    def body(self) -> bytearray:
        return getattr(self._mine, "body", bytearray())

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self.inner.handle_request(request)
        body = self._mine.body = bytearray()
        response.stream = self._mine.stream = _TeeStream(response.stream, body)
        self._mine.last = response
        return response

    def close(self) -> None:
        self.inner.close()


def _content_decoded(raw: bytes, encoding: str) -> bytes:
    """The body with its content coding (RFC 9110 §8.4: gzip, deflate) undone, as the SDK read it;
    the tee sits below httpx's decoding. An unknown coding or a broken stream leaves the bytes as sent."""
    import zlib

    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        try:
            if coding in ("gzip", "x-gzip"):
                raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
            elif coding == "deflate":
                try:
                    raw = zlib.decompress(raw)
                except zlib.error:
                    raw = zlib.decompress(raw, -zlib.MAX_WBITS)
            elif coding != "identity":
                return raw
        except zlib.error:
            return raw
    return raw


def _dump(value: Any) -> Any:
    """What the SDK handed back, as plain JSON-like data (``warnings=False``: pydantic's serializer
    warnings about unexpected values are silenced by the call itself, since ``warnings.catch_warnings``
    is not safe from several threads)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_unset=True, warnings=False, by_alias=True)
    return value


_NOT_PARAMS = {"self", "extra_headers", "extra_query", "extra_body", "timeout"}


def _params(method: Any) -> frozenset[str]:
    return frozenset(inspect.signature(method).parameters) - _NOT_PARAMS


_CHAT_PARAMS = _params(Completions.create)
_RESPONSES_PARAMS = _params(Responses.create)
_EMBEDDINGS_PARAMS = _params(Embeddings.create)
_TRANSCRIPTION_PARAMS = _params(Transcriptions.create)
_BATCH_PARAMS = _params(Batches.create)
#: Terminal events of a Responses stream.
RESPONSE_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
#: What the SDK's parse helpers raise for a choice that ended "length" or "content_filter"
#: (``ChatCompletionStreamState.get_final_completion`` -> ``parse_chat_completion``, for every
#: stream): the SDK refusing to *parse* content that may be cut off, not a failure to read a valid
#: wire answer. It is recorded on the exchange (``client_note``), never a ``client_error``.
PARSE_REFUSALS = (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError)


def _parse_refusal(exc: Exception) -> str:
    return f"the openai SDK's stream helper declined to parse the answer ({type(exc).__name__}: {exc}); the stream itself was read"


def _split(body: dict[str, Any], known: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The body as SDK keyword arguments and the rest (sent through ``extra_body``)."""
    return {k: v for k, v in body.items() if k in known}, {k: v for k, v in body.items() if k not in known}


def _chat_accumulator(request: ApiRequest) -> ChatCompletionStreamState | None:
    """The SDK's own accumulator for chat streams (what ``client.chat.completions.stream`` uses)."""
    body = request.body if isinstance(request.body, dict) else {}
    if request.path != "/chat/completions" or request.raw_body is not None:
        return None
    tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    return ChatCompletionStreamState(input_tools=tools or openai.omit)


class _ResponsesAccumulator:
    """The SDK's own Responses stream state (what ``client.responses.stream`` uses)."""

    def __init__(self, request: ApiRequest) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        tools = [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
        self.state = ResponseStreamState(input_tools=tools or openai.omit, text_format=openai.omit)
        self.last_type: str | None = None

    def handle_chunk(self, event: Any) -> None:
        self.last_type = getattr(event, "type", None)
        self.state.handle_event(event)

    def get_final_completion(self) -> None:
        if self.last_type not in RESPONSE_TERMINAL_EVENTS:
            raise RuntimeError(f"the stream ended after {self.last_type!r}, not a terminal response event")


def _accumulator(request: ApiRequest) -> Any:
    if request.raw_body is not None:
        return None
    if request.path == "/chat/completions":
        return _chat_accumulator(request)
    if request.path == "/responses":
        return _ResponsesAccumulator(request)
    return None


def _form_kwargs(request: ApiRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """A multipart request's fields as SDK keyword arguments (``name[]`` -> ``name``) and extras."""
    fields: dict[str, Any] = {}
    for key, value in (request.form or {}).items():
        name = key[:-2] if key.endswith("[]") else key
        fields[name] = value
    for key, value in (request.files or {}).items():
        fields[key] = value
    known, extra = _split(fields, _TRANSCRIPTION_PARAMS)
    for name in ("temperature",):
        if isinstance(known.get(name), str):
            try:
                known[name] = float(known[name])
            except ValueError:
                pass
    return known, extra


class SdkTransport:
    name = "openai"

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        self.tee = _TeeTransport(timeout)
        self.http_client = httpx2.Client(transport=self.tee, timeout=timeout, trust_env=False)
        common = dict(base_url=base_url.rstrip("/"), max_retries=0, timeout=timeout, http_client=self.http_client)
        self.clients = {
            "valid": openai.OpenAI(api_key=api_key or "no-key-configured", **common),
            "wrong": openai.OpenAI(api_key=WRONG_KEY, **common),
            "none": openai.OpenAI(api_key="unused", **common),
        }
        self.base_url = base_url.rstrip("/")

    # -- mapping a request onto the SDK's surface ---------------------------------------------
    def _call(self, client: openai.OpenAI, request: ApiRequest) -> Any:
        method, path, body = request.method, request.path, request.body
        options: dict[str, Any] = {"params": request.params} if request.params else {}
        headers: dict[str, Any] = {"Authorization": openai.Omit()} if request.auth == "none" else {}
        if headers:
            options["headers"] = headers
        if request.raw_body is not None:
            options["headers"] = {**headers, "Content-Type": request.content_type or "application/json"}
            if method in ("PATCH", "PUT"):
                return getattr(client, method.lower())(path, content=request.raw_body, cast_to=object, options=options)
            return client.post(path, content=request.raw_body, cast_to=object, options=options)
        if method == "GET" and path == "/models" and not request.params:
            return client.models.list(extra_headers=headers or None)
        if method == "GET" and path.startswith("/models/") and len(path) > len("/models/"):
            return client.models.retrieve(path[len("/models/") :], extra_headers=headers or None, extra_query=request.params or None)
        sdk_method = None
        if method == "POST" and isinstance(body, dict):
            sdk_method = {
                "/chat/completions": (client.chat.completions.create, _CHAT_PARAMS),
                "/responses": (client.responses.create, _RESPONSES_PARAMS),
                "/embeddings": (client.embeddings.create, _EMBEDDINGS_PARAMS),
                "/batches": (client.batches.create, _BATCH_PARAMS),
            }.get(path)
        if sdk_method is not None:
            create, params = sdk_method
            known, extra = _split(body, params)
            try:
                return create(**known, extra_body=extra or None, extra_headers=headers or None)
            except TypeError:
                pass  # a required argument is missing on purpose: send it as it is
        if method == "POST" and path == "/audio/transcriptions" and request.multipart:
            known, extra = _form_kwargs(request)
            try:
                return client.audio.transcriptions.create(**known, extra_body=extra or None, extra_headers=headers or None)
            except TypeError:
                # a required field is missing on purpose: post the form as it is
                return client.post(path, body=request.form, files=list((request.files or {}).items()), cast_to=object, options={**options, "headers": {**headers, "Content-Type": "multipart/form-data"}})
        batch = path.split("/")
        if path.startswith("/batches/") and len(batch) == 3 and batch[2] and method == "GET":
            return client.batches.retrieve(batch[2], extra_headers=headers or None, extra_query=request.params or None)
        if path.startswith("/batches/") and len(batch) == 4 and batch[3] == "cancel" and method == "POST":
            return client.batches.cancel(batch[2], extra_headers=headers or None, extra_query=request.params or None)
        if path == "/batches" and method == "GET":
            query = dict(request.params or {})
            page_args = {k: query.pop(k) for k in ("after", "limit") if k in query}
            return client.batches.list(**page_args, extra_query=query or None, extra_headers=headers or None)
        if method == "GET":
            return client.get(path, cast_to=object, options=options)
        if method == "DELETE":
            return client.delete(path, cast_to=object, options=options)
        if method in ("PATCH", "PUT"):
            return getattr(client, method.lower())(path, body=body, cast_to=object, options=options)
        return client.post(
            path,
            body=body,
            cast_to=object,
            options=options,
            stream=request.stream,
            stream_cls=openai.Stream[object] if request.stream else None,
        )

    def send(self, request: ApiRequest) -> Exchange:
        return self._send(request)

    def _send(self, request: ApiRequest) -> Exchange:
        client = self.clients[request.auth]
        self.tee.last = None
        watch = Stopwatch()
        result: Any = None
        client_error: str | None = None
        client_note: str | None = None
        chunks: list[Any] | None = None
        try:
            result = self._call(client, request)
            if isinstance(result, openai.Stream):
                chunks = []
                accumulator = _accumulator(request)
                try:
                    for chunk in result:
                        chunks.append(_dump(chunk))
                        if accumulator is not None:
                            try:
                                accumulator.handle_chunk(chunk)
                            except PARSE_REFUSALS as exc:
                                client_note, accumulator = _parse_refusal(exc), None  # read the stream on to its end
                    if accumulator is not None:
                        try:
                            accumulator.get_final_completion()
                        except PARSE_REFUSALS as exc:
                            client_note = _parse_refusal(exc)
                except (httpx2.TransportError, openai.APIConnectionError) as exc:  # the connection broke mid-stream: infrastructure, not a finding
                    kind = "timeout" if isinstance(exc, (httpx2.TimeoutException, openai.APITimeoutError)) else "broken"
                    raise Unjudgeable(f"the connection broke while reading the stream: {type(exc).__name__}: {exc}", kind=kind) from exc
                except Exception as exc:  # the SDK could not read or accumulate the stream: that is a finding
                    client_error = f"{type(exc).__name__}: {exc}"
                finally:
                    result.close()
        except Unjudgeable:
            raise
        except openai.APITimeoutError as exc:
            raise Unjudgeable(f"timed out: {exc}", kind="connect" if isinstance(exc.__cause__, httpx2.ConnectTimeout) else "timeout") from exc
        except openai.APIConnectionError as exc:
            raise Unjudgeable(f"could not reach {self.base_url}: {exc}", kind="connect" if isinstance(exc.__cause__, httpx2.ConnectError) else "broken") from exc
        except openai.APIStatusError as exc:
            result = None
            try:
                exc.response.read()
            except Exception:  # noqa: BLE001 - the body may already be consumed or broken
                pass
        except ValueError as exc:
            if self.tee.last is None:  # refused client-side before anything was sent
                raise
            client_error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # noqa: BLE001 - any SDK failure on a received response is a finding
            if self.tee.last is None:
                raise Unjudgeable(f"openai client failed before sending: {type(exc).__name__}: {exc}") from exc
            client_error = f"{type(exc).__name__}: {exc}"
        response = self.tee.last
        if response is None:
            raise Unjudgeable("openai client sent no request")
        if self.tee.stream.broken is not None:  # the answer was cut off: nothing to judge
            broken = self.tee.stream.broken
            raise Unjudgeable(f"the connection broke while reading the answer ({response.status_code}): {type(broken).__name__}: {broken}", kind="timeout" if isinstance(broken, httpx2.TimeoutException) else "broken")
        raw = _content_decoded(bytes(self.tee.body), response.headers.get("content-encoding", ""))
        exchange = Exchange(
            request=request,
            transport=self.name,
            url=str(response.request.url) if response.request else self.base_url + request.path,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            raw=raw,
            client_error=client_error,
            elapsed_ms=watch.ms(),
        )
        # recorded, not a failure: what the SDK declined to do with a valid answer (see PARSE_REFUSALS)
        exchange.client_note = client_note
        if exchange.content_type == "text/event-stream":
            exchange.sse, wire_chunks = decode_stream(raw)
            exchange.chunks = chunks if chunks is not None else wire_chunks
        elif result is not None and not isinstance(result, openai.Stream) and client_error is None:
            exchange.json = _dump(result)
        else:
            exchange.json, exchange.json_error = decode_json(raw)
        return exchange

    def close(self) -> None:
        self.http_client.close()
