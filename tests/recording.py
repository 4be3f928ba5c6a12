"""Record a real server's exchanges through a proxy, and replay them: recorded peers in tests.

``python -m tests.recording --upstream http://127.0.0.1:7997 --port 7990 --out FILE --key KEY``
runs a reverse proxy on 127.0.0.1 that forwards every request to the upstream origin and appends
(request key, response) to FILE as JSON lines. The key never holds the API key: only whether the
request carried the right one, a wrong one or none. ``ReplayApp(FILE)`` answers each request with
the recorded response of the same key (an unrecorded request gets a 599 and is counted in
``misses``; the first line, ``{"meta": ...}``, says how the recording was made), so the survey of a peer can be repeated offline, in a test, byte for byte.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

#: Response headers not replayed: hop-by-hop, per-connection, or recomputed.
_DROP = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection", "date", "server", "keep-alive"})
#: Loopback URLs with a port (the suite's fixtures server) vary from run to run.
_LOOPBACK = re.compile(rb"127\.0\.0\.1:\d+")


def _canonical_body(content_type: str, body: bytes) -> Any:
    body = _LOOPBACK.sub(b"127.0.0.1:PORT", body)
    if content_type.startswith("application/json"):
        try:
            return json.loads(body)
        except ValueError:
            pass
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        fields = []
        for part in message.iter_parts():
            payload = part.get_payload(decode=True) or b""
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            value = {"file": filename, "sha256": hashlib.sha256(payload).hexdigest()} if filename else payload.decode("utf-8", "replace")
            fields.append([name, value])
        return sorted(fields, key=lambda f: json.dumps(f, sort_keys=True))
    return {"sha256": hashlib.sha256(body).hexdigest()} if body else None


def request_key(method: str, path: str, query: str, headers: dict[str, str], body: bytes, api_key: str) -> str:
    auth = headers.get("authorization")
    kind = "none" if auth is None else "valid" if auth == f"Bearer {api_key}" else "wrong"
    content_type = headers.get("content-type", "")
    return json.dumps([method, path, query, kind, _canonical_body(content_type, body)], sort_keys=True)


async def _read(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


async def _respond(send, status: int, headers: dict[str, str], body: bytes) -> None:
    out = [(k.encode(), v.encode()) for k, v in headers.items() if k not in _DROP]
    out.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


class ReplayApp:
    """ASGI app answering from a recording (several recorded answers to one key: in turn)."""

    def __init__(self, path: Path, api_key: str) -> None:
        self.api_key = api_key
        self.answers: dict[str, list[dict[str, Any]]] = {}
        self.served: dict[str, int] = {}
        self.misses: list[str] = []
        self.meta: dict[str, Any] = {}
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if "meta" in record:
                self.meta = record["meta"]
                continue
            self.answers.setdefault(record["key"], []).append(record)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = await _read(receive)
        key = request_key(scope["method"], scope["path"], scope["query_string"].decode("latin-1"), _headers(scope), body, self.api_key)
        answers = self.answers.get(key)
        if not answers:
            self.misses.append(key)
            await _respond(send, 599, {"content-type": "text/plain"}, b"not recorded")
            return
        n = self.served.get(key, 0)
        self.served[key] = n + 1
        record = answers[min(n, len(answers) - 1)]
        await _respond(send, record["status"], record["headers"], record["body"].encode("latin-1"))


class RecordingProxy:
    """ASGI reverse proxy to ``upstream`` appending every exchange to ``out``."""

    def __init__(self, upstream: str, out: Path, api_key: str) -> None:
        import httpx

        if not api_key:
            raise ValueError("the recording proxy needs the key the client sends (to keep it out of the recording)")
        self.client = httpx.AsyncClient(base_url=upstream, timeout=600)
        self.out = Path(out)
        self.api_key = api_key
        self.lock = asyncio.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        body = await _read(receive)
        headers = _headers(scope)
        query = scope["query_string"].decode("latin-1")
        forward = {k: v for k, v in headers.items() if k not in ("host", "content-length", "accept-encoding")}
        # the raw (still percent-encoded) path: a model id with %2F reaches the upstream as sent
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        resp = await self.client.request(scope["method"], raw_path + (f"?{query}" if query else ""), headers=forward, content=body)
        # an error message may quote the key it was sent: the recording never holds it
        secret = self.api_key.encode()
        record = {
            "key": request_key(scope["method"], scope["path"], query, headers, body, self.api_key),
            "status": resp.status_code,
            "headers": {k.lower(): v.replace(self.api_key, "sk-REDACTED") for k, v in resp.headers.items() if k.lower() not in _DROP},
            "body": resp.content.replace(secret, b"sk-REDACTED").decode("latin-1"),
        }
        async with self.lock:
            with self.out.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        await _respond(send, resp.status_code, record["headers"], resp.content)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the server's origin, e.g. http://127.0.0.1:7997")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--key", required=True, help="the API key the client sends (recorded as valid/wrong/none only)")
    parser.add_argument("--meta", default="{}", help="a JSON object written as the first line (e.g. the survey's arguments)")
    args = parser.parse_args()
    args.out.write_text(json.dumps({"meta": json.loads(args.meta)}) + "\n", encoding="utf-8")
    uvicorn.run(RecordingProxy(args.upstream, args.out, args.key), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
