"""The raw-HTTP transport: httpx, the bytes exactly as the target sends them."""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

import httpx

from .base import WRONG_KEY, ApiRequest, Exchange, Stopwatch, Unjudgeable, decode_json, decode_stream


def _fields_only_multipart(form: dict) -> tuple[bytes, str]:
    """A multipart/form-data body of text fields only (httpx would send those urlencoded)."""
    boundary = secrets.token_hex(16)
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, values in form.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}"


#: What openai-python's ``path_template`` leaves unencoded in a path parameter (RFC 3986 ``pchar``:
#: the unreserved characters and these); "/" is encoded, so a model id "org/name" stays one segment.
PATH_SEGMENT_SAFE = "!$&'()*+,;=:@"


def wire_path(request: ApiRequest) -> str:
    """The request's path as the openai transport sends it.

    ``ApiRequest.path`` carries path parameters as plain text (a model id as it is named). The SDK
    routes GET /models/{model}, GET /batches/{batch_id} and POST /batches/{batch_id}/cancel
    through its resource methods, which percent-encode the parameter (``path_template``); every
    other path, and any raw-body probe, it sends as given. This does the same, so that one
    request goes out identically through both transports.
    """
    path = request.path
    if request.raw_body is not None:
        return path
    if request.method == "GET" and path.startswith("/models/") and len(path) > len("/models/"):
        return "/models/" + quote(path[len("/models/") :], safe=PATH_SEGMENT_SAFE)
    parts = path.split("/")
    if path.startswith("/batches/") and len(parts) == 3 and parts[2] and request.method == "GET":
        return "/batches/" + quote(parts[2], safe=PATH_SEGMENT_SAFE)
    if path.startswith("/batches/") and len(parts) == 4 and parts[3] == "cancel" and request.method == "POST":
        return "/batches/" + quote(parts[2], safe=PATH_SEGMENT_SAFE) + "/cancel"
    return path


class HttpTransport:
    name = "http"

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)

    def _headers(self, request: ApiRequest) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream"}
        if request.auth == "valid" and self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        elif request.auth == "wrong":
            headers["Authorization"] = f"Bearer {WRONG_KEY}"
        if not request.multipart and (request.raw_body is not None or request.body is not None):
            headers["Content-Type"] = (request.raw_body is not None and request.content_type) or "application/json"
        return headers

    def send(self, request: ApiRequest) -> Exchange:
        url = self.base_url + wire_path(request)
        content = request.raw_body
        if content is None and request.body is not None:
            content = json.dumps(request.body).encode()
        extra: dict = {}
        headers = self._headers(request)
        if request.multipart and request.files:
            # httpx builds the multipart body (and its boundary) from data + files.
            extra = {"data": dict(request.form or {}), "files": dict(request.files)}
            content = None
        elif request.multipart:
            content, headers["Content-Type"] = _fields_only_multipart(request.form or {})
        watch = Stopwatch()
        try:
            response = self.client.request(
                request.method, url, content=content, headers=headers, params=request.params, **extra
            )
        except httpx.TimeoutException as exc:
            raise Unjudgeable(f"timed out: {type(exc).__name__}", kind="connect" if isinstance(exc, httpx.ConnectTimeout) else "timeout") from exc
        except httpx.HTTPError as exc:
            raise Unjudgeable(f"could not reach {url}: {type(exc).__name__}: {exc}", kind="connect" if isinstance(exc, httpx.ConnectError) else "broken") from exc
        exchange = Exchange(
            request=request,
            transport=self.name,
            url=url,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            raw=response.content,
            elapsed_ms=watch.ms(),
        )
        if exchange.content_type == "text/event-stream":
            exchange.sse, exchange.chunks = decode_stream(exchange.raw)
        else:
            exchange.json, exchange.json_error = decode_json(exchange.raw)
        return exchange

    def close(self) -> None:
        self.client.close()
