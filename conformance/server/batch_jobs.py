"""Batch jobs: their state machine, and the background worker that runs each input line through the app.

A job moves forward only: validating -> in_progress -> finalizing -> completed; validating or
in_progress -> failed; a cancel moves validating/in_progress/finalizing -> cancelling -> cancelled.
Each line's request goes through the same ASGI app (authentication and all), so every route works.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp

from . import batch_storage, profile
from .batch_storage import ObjectRef, StorageError

logger = logging.getLogger("conformance.server.batches")

#: The endpoints a batch may target (Scaleway's documented list).
ENDPOINTS = tuple(profile.endpoint_property("batches", "endpoints"))
COMPLETION_WINDOW = "24h"
WINDOW_S = 24 * 3600
#: How long a new batch stays ``validating`` before its input is read (a cancel may land there).
VALIDATION_DELAY_S = 0.05
MAX_LINES = 50_000
CANCELLABLE = frozenset({"validating", "in_progress", "finalizing"})
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


def batch_error(code: str, message: str, *, param: str | None = None, line: int | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


@dataclass
class Job:
    id: str
    endpoint: str
    input_file_id: str
    input: ObjectRef
    created_at: int
    #: The creator's Authorization header: each line is sent with it.
    authorization: str = field(repr=False)
    status: str = "validating"
    model: str | None = None
    timestamps: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    total: int = 0
    completed: int = 0
    failed: int = 0
    output: ObjectRef | None = None
    error_output: ObjectRef | None = None

    def move(self, status: str) -> None:
        """Enter ``status`` and stamp ``{status}_at`` (never earlier than any stamp before it)."""
        self.status = status
        self.timestamps[f"{status}_at"] = max([int(time.time()), self.created_at, *self.timestamps.values()])

    def fail(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        self.move("failed")

    @property
    def cancel_requested(self) -> bool:
        return self.status == "cancelling"

    def as_object(self) -> dict[str, Any]:
        """The OpenAI Batch object (absent fields omitted rather than null)."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "input_file_id": self.input_file_id,
            "completion_window": COMPLETION_WINDOW,
            "status": self.status,
            "created_at": self.created_at,
            "expires_at": self.created_at + WINDOW_S,
            **self.timestamps,
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
        }
        if self.model:
            body["model"] = self.model
        if self.errors:
            body["errors"] = {"object": "list", "data": self.errors}
        if self.output:
            body["output_file_id"] = body["output_file_url"] = self.output.url
        if self.error_output:
            body["error_file_id"] = self.error_output.url
        return body


@dataclass
class Line:
    custom_id: str
    body: dict[str, Any]


def parse_input(data: bytes, endpoint: str) -> tuple[list[Line], list[dict[str, Any]]]:
    """The input file's requests, or the errors that make the whole batch fail."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return [], [batch_error("invalid_file", "The input file is not UTF-8 text.")]
    lines: list[Line] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except ValueError:
            errors.append(batch_error("invalid_json_line", f"Line {number} is not valid JSON.", line=number))
            continue
        problem = _line_problem(item, endpoint, seen)
        if problem:
            errors.append(batch_error(problem[0], problem[1], param=problem[2], line=number))
            continue
        seen.add(item["custom_id"])
        if isinstance(item["body"].get("model"), str):
            models.add(item["body"]["model"])
        lines.append(Line(item["custom_id"], item["body"]))
    if not errors and not lines:
        errors.append(batch_error("empty_file", "The input file holds no requests."))
    if len(lines) > MAX_LINES:
        errors.append(batch_error("too_many_requests", f"The input file holds {len(lines)} requests; at most {MAX_LINES} are allowed."))
    if len(models) > 1:
        errors.append(batch_error("mismatched_model", f"All requests must use the same model, got {sorted(models)}.", param="body.model"))
    return lines, errors


def _line_problem(item: Any, endpoint: str, seen: set[str]) -> tuple[str, str, str | None] | None:
    if not isinstance(item, dict):
        return "invalid_request", "A line must be a JSON object.", None
    custom_id = item.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return "missing_custom_id", "Each line needs a non-empty string custom_id.", "custom_id"
    if custom_id in seen:
        return "duplicate_custom_id", f"The custom_id {custom_id!r} is used by more than one line.", "custom_id"
    if item.get("method") != "POST":
        return "invalid_method", "The method must be POST.", "method"
    if item.get("url") != endpoint:
        return "mismatched_url", f"The url {item.get('url')!r} is not the batch endpoint {endpoint!r}.", "url"
    if not isinstance(item.get("body"), dict):
        return "invalid_body", "The body must be a JSON object.", "body"
    return None


async def call_app(app: ASGIApp, authorization: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    """POST ``body`` as JSON to ``path`` of ``app`` in-process; return (status, response body)."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 0),
    }
    sent = False
    status, chunks = 500, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def run_line(app: ASGIApp, job: Job, line: Line) -> tuple[bool, dict[str, Any]]:
    """Send one line; return (succeeded, its output record)."""
    request_id = f"req_{uuid.uuid4().hex}"
    record: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": line.custom_id, "response": None, "error": None}
    if line.body.get("stream") is True:
        record["error"] = {"code": "invalid_request", "message": "Streaming is not supported in batches."}
        return False, record
    status, raw = await call_app(app, job.authorization, job.endpoint, line.body)
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode("utf-8", "replace")
    record["response"] = {"status_code": status, "request_id": request_id, "body": body}
    if 200 <= status < 300:
        return True, record
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    record["error"] = {"code": str(error.get("code") or "request_failed"), "message": str(error.get("message") or f"status {status}")}
    return False, record


def _jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


async def process(app: ASGIApp, job: Job) -> None:
    """Validate the input, run every line, write the output and error files, finish the job."""
    try:
        await _process(app, job)
    except Exception:  # noqa: BLE001 - a bug here must end the job, not leave it running forever
        logger.exception("batch %s crashed", job.id)
        if job.status not in TERMINAL:
            job.fail([batch_error("internal_error", "The batch could not be processed.")])


async def _process(app: ASGIApp, job: Job) -> None:
    await asyncio.sleep(VALIDATION_DELAY_S)
    try:
        lines, errors = parse_input(await asyncio.to_thread(batch_storage.read, job.input), job.endpoint)
    except StorageError as exc:
        lines, errors = [], [batch_error("input_file_unreadable", f"The input file could not be read: {exc}.", param="input_file_id")]
    if job.cancel_requested:
        job.move("cancelled")
        return
    if errors:
        job.fail(errors)
        return
    job.total = len(lines)
    job.model = next((line.body["model"] for line in lines if isinstance(line.body.get("model"), str)), None)
    job.move("in_progress")
    outputs, failures = [], []
    for line in lines:
        if job.cancel_requested:
            break
        ok, record = await run_line(app, job, line)
        if ok:
            outputs.append(record)
            job.completed += 1
        else:
            failures.append(record)
            job.failed += 1
    if not job.cancel_requested:
        job.move("finalizing")
    output, error_output = job.input.sibling("_output"), job.input.sibling("_error")
    try:
        await asyncio.to_thread(batch_storage.write, output, _jsonl(outputs))
        await asyncio.to_thread(batch_storage.write, error_output, _jsonl(failures))
    except StorageError as exc:
        job.fail([batch_error("output_not_written", f"The output files could not be written: {exc}.")])
        return
    job.output, job.error_output = output, error_output
    job.move("cancelled" if job.cancel_requested else "completed")


class Registry:
    """The app's batches, in creation order, and their running workers."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task] = set()

    def start(self, app: ASGIApp, job: Job) -> None:
        self.jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(process(app, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def newest_first(self) -> list[Job]:
        return list(reversed(self.jobs.values()))
