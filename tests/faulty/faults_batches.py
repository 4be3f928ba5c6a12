"""Faults of /v1/batches: the batch object, its status machine, list, cancel, and the files it writes to S3.

Faults on the files rewrite the output objects themselves (boto3, through the same AWS variables
the reference server uses): that is what a server writing a bad file looks like from outside.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable
from urllib.parse import urlsplit

from . import Req, Resp, fault

_RETRIEVE = re.compile(r"^/batches/([^/]+)$")
_CANCEL = re.compile(r"^/batches/([^/]+)/cancel$")
#: Every batch object a fault has seen, by id (the latest one).
_SEEN: dict[str, dict[str, Any]] = {}
#: Output objects already rewritten by a fault (each is rewritten once).
_REWRITTEN: set[str] = set()
#: How many times each batch was answered "completed".
_COMPLETED_ANSWERS: dict[str, int] = {}


def _batch(req: Req, resp: Resp) -> dict[str, Any] | None:
    """A successful batch object answered by create, retrieve or cancel (remembered), else None."""
    is_batch = (req.method == "POST" and req.path == "/batches") or _RETRIEVE.match(req.path) or _CANCEL.match(req.path)
    body = resp.json if resp.status == 200 and is_batch else None
    if isinstance(body, dict) and isinstance(body.get("id"), str):
        _SEEN[body["id"]] = body
        return body
    return None


def _retrieved(req: Req, resp: Resp) -> dict[str, Any] | None:
    body = _batch(req, resp)
    return body if body is not None and req.method == "GET" else None


def _s3():
    import boto3

    return boto3.client("s3")


def _rewrite_lines(url: Any, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Apply ``change`` to the JSONL object at an ``s3://`` URL, once per object."""
    if not isinstance(url, str) or url in _REWRITTEN:
        return
    _REWRITTEN.add(url)
    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    client = _s3()
    lines = [json.loads(line) for line in client.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines() if line.strip()]
    client.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(line) + "\n" for line in change(lines)).encode())


def _on_output(req: Req, resp: Resp, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    body = _retrieved(req, resp)
    if body is not None and body.get("status") == "completed":
        _rewrite_lines(body.get("output_file_id"), change)


# -- the batch object and its status --------------------------------------------------------------
@fault("batches_create_object_wrong", "batches.create.shape")
def batches_create_object_wrong(req, resp):
    """The creation answer says object "batch_job"."""
    if req.method == "POST" and _batch(req, resp) is not None and req.path == "/batches":
        resp.set_json({**resp.json, "object": "batch_job"})


@fault("batches_retrieve_drops_created_at", "batches.retrieve.shape")
def batches_retrieve_drops_created_at(req, resp):
    """Retrieving a batch leaves out the required created_at."""
    body = _retrieved(req, resp)
    if body is not None:
        body.pop("created_at", None)
        resp.set_json(body)


@fault("batches_status_undocumented", "batches.status.documented", collateral={"batches.status.completes"})
def batches_status_undocumented(req, resp):
    """A finished batch reports status "succeeded" instead of "completed"."""
    body = _retrieved(req, resp)
    if body is not None and body.get("status") == "completed":
        resp.set_json({**body, "status": "succeeded"})


@fault("batches_status_backwards", "batches.status.forward_only")
def batches_status_backwards(req, resp):
    """The second time a batch is reported "completed", it is reported "in_progress" instead."""
    body = _retrieved(req, resp)
    if body is not None and body.get("status") == "completed":
        answers = _COMPLETED_ANSWERS[body["id"]] = _COMPLETED_ANSWERS.get(body["id"], 0) + 1
        if answers == 2:
            resp.set_json({**body, "status": "in_progress"})


@fault("batches_valid_batch_failed", "batches.status.completes")
def batches_valid_batch_failed(req, resp):
    """A batch of valid requests ends "failed" (with an error and failed_at) instead of "completed"."""
    body = _retrieved(req, resp)
    if body is not None and body.get("status") == "completed":
        stamp = body.pop("completed_at")
        errors = {"object": "list", "data": [{"code": "internal", "message": "Something went wrong.", "param": None, "line": None}]}
        resp.set_json({**body, "status": "failed", "failed_at": stamp, "errors": errors})


@fault("batches_counts_inconsistent", "batches.request_counts.consistent")
def batches_counts_inconsistent(req, resp):
    """A completed batch counts one more completed request than it ran."""
    body = _retrieved(req, resp)
    if body is not None and body.get("status") == "completed":
        counts = body["request_counts"]
        resp.set_json({**body, "request_counts": {**counts, "completed": counts["completed"] + 1}})


@fault("batches_timestamps_backwards", "batches.timestamps.monotonic")
def batches_timestamps_backwards(req, resp):
    """A completed batch's completed_at is a minute before its created_at."""
    body = _retrieved(req, resp)
    if body is not None and body.get("status") == "completed":
        resp.set_json({**body, "completed_at": body["created_at"] - 60})


# -- the output files ----------------------------------------------------------------------------
@fault("batches_output_missing", "batches.output.files_written")
def batches_output_missing(req, resp):
    """A completed batch names an output file it never wrote (the object is gone)."""
    body = _retrieved(req, resp)
    url = body.get("output_file_id") if body is not None and body.get("status") == "completed" else None
    if isinstance(url, str) and url not in _REWRITTEN:
        _REWRITTEN.add(url)
        parts = urlsplit(url)
        _s3().delete_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))


@fault("batches_output_without_custom_id", "batches.output.one_line_per_request")
def batches_output_without_custom_id(req, resp):
    """Output lines carry no custom_id."""
    _on_output(req, resp, lambda lines: [{k: v for k, v in line.items() if k != "custom_id"} for line in lines])


@fault("batches_output_custom_ids_swapped", "batches.output.matches_request")
def batches_output_custom_ids_swapped(req, resp):
    """Output lines carry each other's custom_id (rotated by one)."""

    def rotate(lines):
        ids = [line["custom_id"] for line in lines]
        return [{**line, "custom_id": ids[(i + 1) % len(ids)]} for i, line in enumerate(lines)]

    _on_output(req, resp, rotate)


@fault("batches_output_body_invalid", "batches.output.body_schema")
def batches_output_body_invalid(req, resp):
    """Output lines' chat.completion bodies carry "created" as a string."""

    def spoil(lines):
        return [{**line, "response": {**line["response"], "body": {**line["response"]["body"], "created": "yesterday"}}} for line in lines]

    _on_output(req, resp, spoil)


@fault("batches_output_status_code_missing", "batches.output.line_shape")
def batches_output_status_code_missing(req, resp):
    """Output lines' response objects have no status_code."""

    def strip(lines):
        return [{**line, "response": {k: v for k, v in line["response"].items() if k != "status_code"}} for line in lines]

    _on_output(req, resp, strip)


@fault(
    "batches_failed_line_in_output",
    "batches.errors.failed_line_reported",
)
def batches_failed_line_in_output(req, resp):
    """Failed requests are written to the output file; the error file is left empty."""
    body = _retrieved(req, resp)
    if body is None or body.get("status") != "completed" or not body["request_counts"]["failed"]:
        return
    error_url = body.get("error_file_id")
    moved: list[dict[str, Any]] = []

    def take(lines):
        moved.extend(lines)
        return []

    _rewrite_lines(error_url, take)
    _rewrite_lines(body.get("output_file_id"), lambda lines: lines + moved)


# -- creation ------------------------------------------------------------------------------------
@fault("batches_duplicate_custom_id_processed", "batches.invalid_input.rejected")
def batches_duplicate_custom_id_processed(req):
    """Duplicate custom_ids are not checked: the batch runs every line (each duplicate renamed)."""
    body = req.json if req.method == "POST" and req.path == "/batches" else None
    url = body.get("input_file_id") if isinstance(body, dict) else None
    if not isinstance(url, str) or not url.startswith("s3://"):
        return None

    def rename(lines):
        seen: set[str] = set()
        out = []
        for line in lines:
            custom_id = line["custom_id"]
            out.append({**line, "custom_id": custom_id + "-again" if custom_id in seen else custom_id})
            seen.add(custom_id)
        return out

    try:
        _rewrite_lines(url, rename)
    except ValueError:
        pass  # not a JSONL file of objects: leave it to the server
    return None


@fault("batches_metadata_accepted", "unsupported.parameter_refused")
def batches_metadata_accepted(req):
    """metadata, documented as unsupported, is silently dropped and the batch created."""
    body = req.json
    if req.method == "POST" and req.path == "/batches" and isinstance(body, dict) and "metadata" in body:
        req.set_json({k: v for k, v in body.items() if k != "metadata"})
    return None


# -- list ----------------------------------------------------------------------------------------
@fault("batches_list_ignores_limit", "batches.list.pagination")
def batches_list_ignores_limit(req, resp):
    """The list ignores limit and after: every batch, on every page."""
    _batch(req, resp)
    if req.method == "GET" and req.path == "/batches" and resp.status == 200:
        data = list(reversed(_SEEN.values()))
        resp.set_json({"object": "list", "data": data, "first_id": data[0]["id"], "last_id": data[-1]["id"], "has_more": False} if data else resp.json)


@fault("batches_list_ids_swapped", "batches.list.shape")
def batches_list_ids_swapped(req, resp):
    """A list page names its last batch as first_id and its first as last_id."""
    body = resp.json if req.method == "GET" and req.path == "/batches" and resp.status == 200 else None
    if body and len(body["data"]) > 1:
        resp.set_json({**body, "first_id": body["last_id"], "last_id": body["first_id"]})


@fault("batches_list_has_more_false", "batches.list.pagination")
def batches_list_has_more_false(req, resp):
    """Every page says has_more: false, also when more batches follow."""
    if req.method == "GET" and req.path == "/batches" and resp.status == 200:
        resp.set_json({**resp.json, "has_more": False})


# -- cancel ---------------------------------------------------------------------------------------
#: Batches whose cancel a fault hides (what the server then does is reported as running on).
_HIDDEN_CANCELS: set[str] = set()


def _hide_cancel(req: Req, resp: Resp, rewrite: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]]) -> None:
    """Rewrite the cancel answer and every later answer about that batch with ``rewrite(body, before)``,
    ``before`` being the batch as last seen before the cancel (cancel answer only)."""
    cancel = _CANCEL.match(req.path) if req.method == "POST" else None
    before = _SEEN.get(cancel.group(1)) if cancel else None
    body = _batch(req, resp)
    if body is None:
        return
    if cancel:
        _HIDDEN_CANCELS.add(body["id"])
    if body["id"] in _HIDDEN_CANCELS:
        resp.set_json(rewrite(body, before))


def _completed_instead(body: dict[str, Any]) -> dict[str, Any]:
    """A cancelled batch reported as completed (cancelled_at becomes completed_at)."""
    if body.get("status") != "cancelled":
        return body
    out = {k: v for k, v in body.items() if k != "cancelled_at"}
    return {**out, "status": "completed", "completed_at": body["cancelled_at"]}


def _never_cancelled(body: dict[str, Any], before: dict[str, Any] | None) -> dict[str, Any]:
    """The cancel answer is the batch as before; later, cancelling reads in_progress and cancelled completed."""
    if before is not None:
        return before
    out = _completed_instead({k: v for k, v in body.items() if k != "cancelling_at"})
    if out.get("status") == "cancelling":
        out["status"] = "in_progress"
    if "cancelling_at" in body:
        out["in_progress_at"] = body["cancelling_at"]
    return out


@fault("batches_cancel_ignored", "batches.cancel.honoured")
def batches_cancel_ignored(req, resp):
    """A cancel is answered with the batch as it was, and the batch runs on to completion."""
    _hide_cancel(req, resp, _never_cancelled)


@fault("batches_cancel_then_completes", {"batches.cancel.honoured", "batches.status.forward_only"})
def batches_cancel_then_completes(req, resp):
    """A cancel is answered "cancelling", but the batch then reports "completed"."""
    _hide_cancel(req, resp, lambda body, before: _completed_instead(body))
