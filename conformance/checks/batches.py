"""Checks on /v1/batches: the batch object, its status machine, request counts, the output files in S3, list, cancel.

A case's request creates one batch; the checks of that case share one follow-up of it (polled
until a final status, within --batch-max-wait) and one reading of its output and error files.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..transport import ApiRequest, Exchange, Unjudgeable, policy
from ..transport.objects import ObjectStore, open_store
from . import Failure, Skip, check, require, short

DOCUMENTED = ("validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled")
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: Direct successors of each status; a later poll may skip states, so legality is reachability.
_NEXT = {
    "validating": {"in_progress", "failed", "cancelling", "cancelled", "expired"},
    "in_progress": {"finalizing", "completed", "failed", "cancelling", "cancelled", "expired"},
    "finalizing": {"completed", "failed", "cancelling", "cancelled", "expired"},
    "cancelling": {"cancelled"},
}
#: The spec component a successful line's response body must match, per batch endpoint.
BODY_COMPONENTS = {
    "/v1/chat/completions": "CreateChatCompletionResponse",
    "/v1/responses": "Response",
    "/v1/embeddings": "CreateEmbeddingResponse",
}
#: Polling: first wait, growth factor, longest wait between two retrieves (seconds).
FIRST_POLL_S, POLL_GROWTH, MAX_POLL_S = 0.02, 1.6, 10.0
#: Pages walked at most while looking for the batches the list check created.
MAX_LIST_PAGES = 20


def _reachable(status: str) -> set[str]:
    seen, todo = set(), [status]
    while todo:
        for nxt in _NEXT.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


LEGAL = {status: _reachable(status) for status in DOCUMENTED}


# -- following one batch ------------------------------------------------------------------------
@dataclass
class Followed:
    """One batch from its creation to a final status: every batch object seen, in order."""

    batch_id: str
    snapshots: list[dict[str, Any]]
    cancel: Exchange | None = None
    #: Why following stopped early (an undocumented status), if it did.
    stopped: str | None = None
    failure: BaseException | None = None

    @property
    def statuses(self) -> list[Any]:
        return [s.get("status") for s in self.snapshots]

    def final(self) -> dict[str, Any]:
        """The last batch object, when the batch reached a documented final status."""
        if self.stopped:
            raise Failure(self.stopped)
        return self.snapshots[-1]


_FOLLOWED: dict[tuple[str, str], Followed] = {}


def created(ex: Exchange) -> dict[str, Any]:
    body = ex.json
    require(isinstance(body, dict) and isinstance(body.get("id"), str) and body["id"], f"the creation answer has no batch id: {short(body)}")
    return body


def _answer(ex: Exchange, what: str) -> dict[str, Any]:
    if policy.disposition(ex.status) != policy.JUDGE:  # a poll's 5xx has no control: could not judge
        raise Unjudgeable(f"{what} answered {ex.status} after {ex.attempts} attempt(s)")
    require(ex.ok, f"{what} answered {ex.status}: {short(ex.text)}")
    require(isinstance(ex.json, dict), f"{what} did not answer a JSON object: {short(ex.text)}")
    return ex.json


def follow(ctx, ex: Exchange) -> Followed:
    """Poll the created batch until a final status (cancelling it first when the case says so)."""
    body = created(ex)
    key = (ctx.transport.name, body["id"])
    if key not in _FOLLOWED:
        run = _FOLLOWED[key] = Followed(body["id"], [body])
        try:
            if ctx.params.get("cancel"):
                run.cancel = ctx.send(ApiRequest("POST", f"/batches/{run.batch_id}/cancel"))
                if policy.disposition(run.cancel.status) != policy.JUDGE:
                    raise Unjudgeable(f"cancel answered {run.cancel.status}")
                if run.cancel.ok and isinstance(run.cancel.json, dict):
                    run.snapshots.append(run.cancel.json)
            _poll(ctx, run)
        except (Failure, Unjudgeable) as exc:
            run.failure = exc
    run = _FOLLOWED[key]
    if run.failure is not None:
        raise run.failure
    return run


def _poll(ctx, run: Followed) -> None:
    started, delay, polls = time.monotonic(), FIRST_POLL_S, 0
    retrieve = ApiRequest("GET", f"/batches/{run.batch_id}")
    try:
        confirmed = False
        while not confirmed:
            status = run.snapshots[-1].get("status")
            if status not in DOCUMENTED:
                run.stopped = f"the batch reported the undocumented status {short(status)}; it cannot be followed further"
                return
            if status in TERMINAL:
                confirmed = len(run.snapshots) > 1 and run.statuses[-2] in TERMINAL
            elif time.monotonic() - started > ctx.settings.batch_max_wait:
                raise Unjudgeable(f"batch {run.batch_id} was still {status!r} after {ctx.settings.batch_max_wait:g} s (--batch-max-wait)")
            else:
                time.sleep(delay)
                delay = min(delay * POLL_GROWTH, MAX_POLL_S)
            if not confirmed:  # a final status is retrieved once more: it must stay (forward_only judges)
                run.snapshots.append(_answer(ctx.send(retrieve), f"retrieving batch {run.batch_id}"))
                polls += 1
    finally:
        ctx.counter.batch_polls += polls
        ctx.counter.batch_wait_s += time.monotonic() - started


def require_completed(run: Followed) -> dict[str, Any]:
    """The completed batch; Skip (nothing to judge here) when it ended otherwise."""
    if run.stopped:
        raise Skip(run.stopped)
    final = run.final()
    if final.get("status") != "completed":
        raise Skip(f"the batch ended {final.get('status')!r}, not completed: see batches.status.completes")
    return final


# -- the files in object storage ----------------------------------------------------------------
def object_store(ctx) -> ObjectStore:
    if ctx.settings.s3 is None:
        raise Skip("no object storage configured")
    return open_store(**asdict(ctx.settings.s3))


@dataclass
class Staged:
    """The input file the case uploaded: its key and its lines (None where a line is not JSON)."""

    key: str
    lines: list[Any]

    @property
    def custom_ids(self) -> list[str]:
        return [line["custom_id"] for line in self.lines if isinstance(line, dict) and isinstance(line.get("custom_id"), str)]


def staged_input(ctx, ex: Exchange) -> Staged:
    url = (ex.request.body or {}).get("input_file_id")
    entry = ctx.params.get("staged", {}).get(url)
    if entry is None:
        raise Skip("the case uploaded no input file")
    return Staged(entry["key"], entry["lines"])


@dataclass
class Files:
    """A finished batch's output and error files, as read back from the bucket."""

    output_key: str
    error_key: str
    #: Parsed lines; None when the object does not exist.
    output: list[Any] | None
    errors: list[Any] | None
    problems: list[str] = field(default_factory=list)

    def records(self) -> list[tuple[str, dict[str, Any]]]:
        """Every line of both files that is a JSON object, tagged with its file."""
        return [(name, line) for name, lines in (("output", self.output), ("error", self.errors)) for line in lines or () if isinstance(line, dict)]


_FILES: dict[tuple[str, str], Files] = {}


def _sibling(key: str, suffix: str) -> str:
    stem = key[: -len(".jsonl")] if key.endswith(".jsonl") else key
    return f"{stem}{suffix}.jsonl"


def result_files(ctx, ex: Exchange, final: dict[str, Any]) -> Files:
    """The output and error files: where the batch names them (s3:// URLs), else the documented
    ``{filename}_output.jsonl`` / ``{filename}_error.jsonl`` beside the input."""
    key = (ctx.transport.name, final.get("id"))
    if key not in _FILES:
        store, staged = object_store(ctx), staged_input(ctx, ex)
        output_key = _named_key(store, final.get("output_file_id")) or _sibling(staged.key, "_output")
        error_key = _named_key(store, final.get("error_file_id")) or _sibling(staged.key, "_error")
        files = Files(output_key, error_key, None, None)
        files.output = _jsonl(store.get(output_key), output_key, files.problems)
        files.errors = _jsonl(store.get(error_key), error_key, files.problems)
        _FILES[key] = files
    return _FILES[key]


def _named_key(store: ObjectStore, file_id: Any) -> str | None:
    return store.key_of(file_id) if isinstance(file_id, str) else None


def _jsonl(data: bytes | None, key: str, problems: list[str]) -> list[Any] | None:
    if data is None:
        return None
    lines = []
    for number, raw in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            lines.append(json.loads(raw))
        except ValueError:
            problems.append(f"line {number} of {key} is not JSON: {short(raw, 80)}")
            lines.append(None)
            continue
        if not isinstance(lines[-1], dict):
            problems.append(f"line {number} of {key} is not a JSON object: {short(raw, 80)}")
    return lines


# -- the batch object ---------------------------------------------------------------------------
def _batch_schema(ctx, body: Any, what: str) -> None:
    errors = ctx.schema_errors("Batch", body)
    if errors:
        raise Failure(f"{what} does not match the Batch schema: " + "; ".join(errors[:3]))


@check("batches.create.shape", source="openapi: #/components/schemas/Batch (the answer of #/paths/~1batches/post)")
def create_shape(ctx, ex):
    """The creation answer is a Batch (schema) echoing the endpoint, input file and completion window."""
    body = created(ex)
    _batch_schema(ctx, body, "the created batch")
    require(body.get("object") == "batch", f'object is {short(body.get("object"))}, expected "batch"')
    sent = ex.request.body or {}
    for name in ("endpoint", "input_file_id", "completion_window"):
        require(body.get(name) == sent.get(name), f"{name} is {short(body.get(name))}, but the request asked for {short(sent.get(name))}")


@check("batches.retrieve.shape", source="openapi: #/paths/~1batches~1{batch_id}/get (answers the Batch)")
def retrieve_shape(ctx, ex):
    """Every retrieved batch is a Batch (schema) with the created id, endpoint and input file."""
    run = follow(ctx, ex)
    first = run.snapshots[0]
    for i, body in enumerate(run.snapshots[1:], start=1):
        _batch_schema(ctx, body, f"batch object #{i}")
        for name in ("id", "endpoint", "input_file_id"):
            require(body.get(name) == first.get(name), f"batch object #{i}: {name} changed from {short(first.get(name))} to {short(body.get(name))}")


@check("batches.status.documented", source="openapi: #/components/schemas/Batch/properties/status (its enum)")
def status_documented(ctx, ex):
    """Every status the batch reports is one of the documented values."""
    run = follow(ctx, ex)
    odd = [s for s in run.statuses if s not in DOCUMENTED]
    require(not odd, f"undocumented status(es) {sorted(map(str, odd))}; documented: {', '.join(DOCUMENTED)}")
    return " -> ".join(dict.fromkeys(run.statuses))


@check("batches.status.forward_only", source="openapi: #/components/schemas/Batch/properties/status (the lifecycle its *_at timestamps name: validating, in_progress, finalizing, then a final status)")
def status_forward_only(ctx, ex):
    """The status only moves forward (validating, in_progress, finalizing, a final status) and a final status stays final."""
    run = follow(ctx, ex)
    known = [s for s in run.statuses if s in DOCUMENTED]
    for before, after in zip(known, known[1:]):
        require(after == before or after in LEGAL[before], f"the status went from {before!r} to {after!r} (seen: {' -> '.join(known)})")


@check("batches.status.completes", source="profile: endpoints.batches.properties.endpoints (a batch of valid requests to a listed endpoint completes)")
def status_completes(ctx, ex):
    """A batch of valid requests reaches "completed" (not failed, expired or cancelled)."""
    final = follow(ctx, ex).final()
    status = final.get("status")
    errors = (final.get("errors") or {}).get("data") if isinstance(final.get("errors"), dict) else final.get("errors")
    require(status == "completed", f"the batch ended {status!r}, expected 'completed'" + (f"; errors: {short(errors)}" if errors else ""))


def _counts(body: dict[str, Any], label: str) -> tuple[int, int, int]:
    counts = body.get("request_counts")
    require(isinstance(counts, dict), f"{label}: request_counts is missing or not an object: {short(counts)}")
    values = []
    for name in ("total", "completed", "failed"):
        value = counts.get(name)
        require(isinstance(value, int) and not isinstance(value, bool) and value >= 0, f"{label}: request_counts.{name} is {short(value)}, expected a non-negative integer")
        values.append(value)
    total, done, failed = values
    require(done + failed <= total, f"{label}: request_counts completed {done} + failed {failed} > total {total}")
    return total, done, failed


@check("batches.request_counts.consistent", source="openapi: #/components/schemas/BatchRequestCounts")
def request_counts_consistent(ctx, ex):
    """request_counts never decrease, completed + failed <= total, and the final counts match the input and the files."""
    run = follow(ctx, ex)
    previous = (0, 0, 0)
    for i, body in enumerate(run.snapshots):
        if "request_counts" not in body and body.get("status") not in TERMINAL:
            continue  # optional while the batch is running
        counts = _counts(body, f"batch object #{i} ({body.get('status')})")
        require(all(now >= before for now, before in zip(counts[1:], previous[1:])), f"request_counts went backwards: {previous} then {counts}")
        previous = counts
    final = require_completed(run)
    total, done, failed = _counts(final, "the completed batch")
    staged = staged_input(ctx, ex)
    require(total == len(staged.lines), f"request_counts.total is {total}, the input file has {len(staged.lines)} requests")
    require(done + failed == total, f"a completed batch has completed {done} + failed {failed} != total {total}")
    files = result_files(ctx, ex, final)
    n_out, n_err = len(files.output or ()), len(files.errors or ())
    require(done == n_out, f"request_counts.completed is {done}, the output file has {n_out} line(s)")
    require(failed == n_err, f"request_counts.failed is {failed}, the error file has {n_err} line(s)")


_STAMPS = ("created_at", "in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at", "cancelled_at")
#: Timestamps that must come in this order when present.
_ORDERS = (("created_at", "in_progress_at", "finalizing_at", "completed_at"), ("created_at", "cancelling_at", "cancelled_at"), ("created_at", "failed_at"), ("in_progress_at", "failed_at"))


@check("batches.timestamps.monotonic", source="openapi: #/components/schemas/Batch/properties/created_at (and in_progress_at, finalizing_at, completed_at, ...: when each lifecycle step happened)")
def timestamps_monotonic(ctx, ex):
    """Timestamps are integers in lifecycle order, never change once set, and the final status has its *_at."""
    run = follow(ctx, ex)
    seen: dict[str, Any] = {}
    for i, body in enumerate(run.snapshots):
        for name in _STAMPS:
            value = body.get(name)
            if value is None:
                continue
            require(isinstance(value, int) and not isinstance(value, bool) and value > 0, f"batch object #{i}: {name} is {short(value)}, expected a Unix timestamp")
            require(seen.setdefault(name, value) == value, f"{name} changed from {seen[name]} to {value}")
        for order in _ORDERS:
            stamps = [(name, body[name]) for name in order if isinstance(body.get(name), int)]
            for (a, ta), (b, tb) in zip(stamps, stamps[1:]):
                require(ta <= tb, f"batch object #{i}: {b} {tb} is before {a} {ta}")
    if not run.stopped:
        final = run.final()
        stamp = f"{final.get('status')}_at"
        require(isinstance(final.get(stamp), int), f"the batch is {final.get('status')!r} but has no {stamp}")


# -- the output files ---------------------------------------------------------------------------
@check("batches.output.files_written", source="openapi: #/components/schemas/Batch/properties/output_file_id (and error_file_id; beside the input per profile endpoints.batches.properties.input_file)")
def files_written(ctx, ex):
    """A completed batch names its output file, writes it as JSONL beside the input, and writes failures to an error file."""
    final = require_completed(follow(ctx, ex))
    require(isinstance(final.get("output_file_id"), str) and final["output_file_id"], f"the completed batch has no output_file_id: {short(final.get('output_file_id'))}")
    files = result_files(ctx, ex, final)
    require(files.output is not None, f"no output file at {files.output_key}")
    require(not files.problems, "; ".join(files.problems[:3]))
    failed = (final.get("request_counts") or {}).get("failed")
    if isinstance(failed, int) and failed > 0:
        require(files.errors is not None, f"{failed} request(s) failed but there is no error file at {files.error_key}")
    return f"{files.output_key}: {len(files.output)} line(s)"


@check("batches.output.one_line_per_request", source="openapi: #/components/schemas/Batch/properties/error_file_id (each request's output is in the output file or, failed, in the error file, under its custom_id)")
def one_line_per_request(ctx, ex):
    """Every input custom_id appears on exactly one line of the output and error files, and no other custom_id does."""
    final = require_completed(follow(ctx, ex))
    files = result_files(ctx, ex, final)
    expected = staged_input(ctx, ex).custom_ids
    seen: dict[str, str] = {}
    for name, record in files.records():
        custom_id = record.get("custom_id")
        require(isinstance(custom_id, str) and custom_id, f"a line of the {name} file has no custom_id: {short(record)}")
        require(custom_id not in seen, f"custom_id {custom_id!r} appears twice (in the {seen.get(custom_id)} and {name} files)")
        require(custom_id in expected, f"the {name} file has custom_id {custom_id!r}, which the input does not")
        seen[custom_id] = name
    missing = [c for c in expected if c not in seen]
    require(not missing, f"no line for custom_id(s) {missing}")


def _status_code(record: dict[str, Any]) -> Any:
    response = record.get("response")
    return response.get("status_code") if isinstance(response, dict) else None


@check("batches.output.line_shape", source="profile: endpoints.batches.features core (output lines in OpenAI's batch output format: id, custom_id, response {status_code, request_id, body}, error)")
def line_shape(ctx, ex):
    """Output lines carry an id, the custom_id, error null and response {status_code 2xx, request_id, body}; error lines carry an error or a failing status."""
    final = require_completed(follow(ctx, ex))
    files = result_files(ctx, ex, final)
    for record in (r for name, r in files.records() if name == "output"):
        label = f"output line {short(record.get('custom_id'))}"
        require(isinstance(record.get("id"), str) and record["id"], f"{label}: id must be a non-empty string, got {short(record.get('id'))}")
        require(record.get("error") is None, f"{label}: error is {short(record.get('error'))}, expected null on a successful line")
        response = record.get("response")
        require(isinstance(response, dict), f"{label}: response is not an object: {short(response)}")
        code = response.get("status_code")
        require(isinstance(code, int) and 200 <= code < 300, f"{label}: response.status_code is {short(code)}, expected 2xx")
        require(isinstance(response.get("body"), dict), f"{label}: response.body is not an object: {short(response.get('body'))}")
    for record in (r for name, r in files.records() if name == "error"):
        label = f"error line {short(record.get('custom_id'))}"
        code = _status_code(record)
        failing = isinstance(record.get("error"), dict) or (isinstance(code, int) and code >= 400)
        require(failing, f"{label}: neither an error object nor a failing response.status_code: {short(record)}")


@check("batches.output.body_schema", source="openapi: #/components/schemas/Batch/properties/endpoint (a line's response.body is that endpoint's 200 response schema)")
def body_schema(ctx, ex):
    """Each successful line's response.body is valid against the endpoint's response schema."""
    final = require_completed(follow(ctx, ex))
    component = BODY_COMPONENTS.get(final.get("endpoint"))
    if component is None:
        raise Skip(f"no response schema known for batch endpoint {final.get('endpoint')!r}")
    files = result_files(ctx, ex, final)
    for name, record in files.records():
        body = (record.get("response") or {}).get("body") if isinstance(record.get("response"), dict) else None
        if name != "output" or not isinstance(body, dict):
            continue
        errors = ctx.schema_errors(component, body)
        require(not errors, f"line {short(record.get('custom_id'))}: body does not match {component}: " + "; ".join(errors[:3]))


@check("batches.output.matches_request", semantic=True, source="profile: endpoints.batches.features core (each custom_id is answered with its own line's request)")
def matches_request(ctx, ex):
    """Each custom_id's answer is the answer to that line's own prompt (no swapped or mixed-up lines)."""
    final = require_completed(follow(ctx, ex))
    expected: dict[str, str] = ctx.params["expected"]
    answers = {}
    for name, record in result_files(ctx, ex, final).records():
        body = (record.get("response") or {}).get("body") if isinstance(record.get("response"), dict) else None
        if name == "output" and isinstance(body, dict):
            answers[record.get("custom_id")] = json.dumps(body)
    for custom_id, text in expected.items():
        require(custom_id in answers, f"no successful output line for custom_id {custom_id!r}")
        require(text.lower() in answers[custom_id].lower(), f"the answer for {custom_id!r} does not contain {text!r}: {short(answers[custom_id])}")


@check("batches.errors.failed_line_reported", source="profile: endpoints.batches.features batch-errors (a failing line is reported in the error file)")
def failed_line_reported(ctx, ex):
    """A line whose request fails is reported in the error file under its custom_id, not in the output file."""
    final = require_completed(follow(ctx, ex))
    files = result_files(ctx, ex, final)
    where = {record.get("custom_id"): name for name, record in files.records()}
    for custom_id in ctx.params["custom_ids"]:
        require(where.get(custom_id) == "error", f"the failing request {custom_id!r} is " + (f"in the {where[custom_id]} file" if custom_id in where else "in neither file") + f"; expected in the error file {files.error_key}")


@check("batches.invalid_input.rejected", source="profile: endpoints.batches.features batch-errors (bad input is refused at creation or fails the batch)")
def invalid_input_rejected(ctx, ex):
    """An invalid input file is refused at creation (4xx) or the batch fails with errors; it is never processed."""
    what = ctx.params.get("what", "invalid input file")
    if policy.is_unjudgeable(ex.status):
        raise Unjudgeable(f"creation answered {ex.status}")
    require(ex.status < 500, f"{what}: server error {ex.status} instead of a refusal")
    if not ex.ok:
        return f"refused at creation with {ex.status}"
    final = follow(ctx, ex).final()
    status = final.get("status")
    require(status == "failed", f"{what}: the batch was accepted and ended {status!r}, expected a 4xx at creation or status 'failed'")
    errors = final.get("errors")
    data = errors.get("data") if isinstance(errors, dict) else None
    require(isinstance(data, list) and data and all(isinstance(e, dict) and e.get("message") for e in data), f"{what}: the failed batch does not say why (errors.data): {short(errors)}")
    return f"failed: {short(data[0].get('message'), 120)}"


# -- list and cancel ----------------------------------------------------------------------------
def _page(ctx, limit: int, after: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if after is not None:
        params["after"] = after
    page = _answer(ctx.send(ApiRequest("GET", "/batches", params=params)), f"listing batches (limit={limit}, after={after})")
    data = page.get("data")
    require(isinstance(data, list) and all(isinstance(b, dict) and isinstance(b.get("id"), str) for b in data), f"data must be a list of batches: {short(data)}")
    return page


@check("batches.list.shape", source="openapi: #/components/schemas/ListBatchesResponse")
def list_shape(ctx, ex):
    """The list is a ListBatchesResponse: object "list", at most limit batches, first_id/last_id (optional) naming the ends of data."""
    body = ex.json
    errors = ctx.schema_errors("ListBatchesResponse", body)
    require(not errors, "the list does not match ListBatchesResponse: " + "; ".join(errors[:3]))
    require(body.get("object") == "list", f'object is {short(body.get("object"))}, expected "list"')
    data, limit = body["data"], int((ex.request.params or {}).get("limit", 20))
    require(len(data) <= limit, f"{len(data)} batches returned for limit={limit}")
    for i, item in enumerate(data):
        _batch_schema(ctx, item, f"data[{i}]")
    _ends_named(body)
    if len(data) < 2 <= limit:
        # one batch is both ends: which id names which end shows only on a page of two or more, so
        # two batches are created (the ones batches.list.pagination lists next) and a page listed
        for index in range(2):
            _created_to_list(ctx, index)
        _ends_named(_page(ctx, 2, None), "a page of limit=2 after creating two batches: ")


def _ends_named(page: dict[str, Any], where: str = "") -> None:
    """first_id / last_id are optional (ListBatchesResponse requires object, data, has_more; the SDK
    pages on data[-1].id): absent or null is fine, sent they must name the ends of data."""
    data = page["data"]
    if not data:
        return
    for key, item in (("first_id", data[0]), ("last_id", data[-1])):
        if page.get(key) is not None:
            require(page[key] == item.get("id"), f"{where}{key} {short(page[key])} is not the id of the {'first' if key == 'first_id' else 'last'} batch listed, {short(item.get('id'))}")


def _created_to_list(ctx, index: int) -> dict[str, Any]:
    """The ``index``-th batch created for the list checks (each created once a run per transport)."""
    creation = ApiRequest("POST", "/batches", body={"input_file_id": ctx.params["input"], "endpoint": "/v1/chat/completions", "completion_window": "24h"})
    body = _answer(ctx.send(creation, cache_key=f"batches.list.created:{index}:{ctx.params['input']}"), "creating a batch to list")
    require(isinstance(body.get("id"), str), f"the created batch has no id: {short(body)}")
    return body


@check("batches.list.pagination", source="sdk: openai.pagination.SyncCursorPage.next_page_info (client.batches.list pages on with after=data[-1].id until has_more is false)")
def list_pagination(ctx, ex):
    """Paging with limit and after returns each batch once, at most limit per page, has_more true exactly while more follow."""
    made = [_created_to_list(ctx, index) for index in range(3)]
    wanted = {b["id"] for b in made}
    stamps = [b["created_at"] for b in made if isinstance(b.get("created_at"), (int, float))]
    newest = max(stamps) if len(stamps) == len(made) else None
    limit, after, listed = 2, None, []
    for _ in range(MAX_LIST_PAGES):
        page = _page(ctx, limit, after)
        ids = [b["id"] for b in page["data"]]
        require(len(ids) <= limit, f"{len(ids)} batches returned for limit={limit}")
        repeated = [i for i in ids if i in listed]
        require(not repeated, f"batch(es) {repeated} listed again on the page after {after}")
        listed += ids
        has_more = page.get("has_more")
        require(isinstance(has_more, bool), f"has_more is {short(has_more)}, expected a boolean")
        if not ids:
            require(not has_more, f"an empty page after {after} says has_more: true")
            break
        if not has_more:
            rest = _page(ctx, limit, ids[-1])["data"]
            # a target listing oldest first shows last what was created while the pages were walked
            # (other cases running meanwhile, other clients of the account): only older ones were due
            due = [b for b in rest if b["id"] in wanted or newest is None or not isinstance(b.get("created_at"), (int, float)) or b["created_at"] <= newest]
            require(not due, f"has_more was false, but the page after {ids[-1]} still lists {len(due)} batch(es)")
            break
        after = ids[-1]
    missing = wanted - set(listed)
    if missing and len(listed) >= MAX_LIST_PAGES * limit:
        raise Unjudgeable(f"the batches just created were not found within {MAX_LIST_PAGES} pages")
    require(not missing, f"batches just created are missing from the list: {sorted(missing)}")
    return f"{len(listed)} batches over the pages walked"


@check("batches.cancel.honoured", source="openapi: #/paths/~1batches~1{batch_id}~1cancel/post (the batch is cancelling, then cancelled)")
def cancel_honoured(ctx, ex):
    """A cancel of a running batch answers cancelling or cancelled, and the batch then ends cancelled, never completed."""
    run = follow(ctx, ex)
    cancel = run.cancel
    require(cancel is not None, "the case did not cancel the batch (params: cancel: true)")
    final = run.final()
    if not cancel.ok:
        require(final.get("status") in TERMINAL - {"cancelled"} and run.statuses[1] in TERMINAL, f"cancel refused with {cancel.status} although the batch was not finished: {short(cancel.text)}")
        return f"the batch had already ended {final.get('status')!r}; cancel refused with {cancel.status}"
    answer = cancel.json if isinstance(cancel.json, dict) else {}
    _batch_schema(ctx, answer, "the cancel answer")
    require(answer.get("id") == run.batch_id, f"the cancel answer is for batch {short(answer.get('id'))}, not {run.batch_id}")
    acknowledged = answer.get("status")
    if acknowledged in TERMINAL - {"cancelled"}:
        return f"the batch had already ended {acknowledged!r}"
    require(acknowledged in ("cancelling", "cancelled"), f"the cancel answer says status {short(acknowledged)}, expected cancelling or cancelled")
    after = run.statuses[run.statuses.index(acknowledged, 1) :]
    odd = [s for s in after if s not in ("cancelling", "cancelled")]
    require(not odd, f"after the cancel was acknowledged the batch went on: {' -> '.join(map(str, after))}")
    require(final.get("status") == "cancelled", f"the batch ended {final.get('status')!r}, expected 'cancelled'")
