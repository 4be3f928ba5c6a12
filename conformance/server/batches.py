"""/v1/batches: create (input file = URL of a JSONL object in S3 object storage), list, retrieve, cancel."""

from __future__ import annotations

import time
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse

from . import profile
from .batch_jobs import CANCELLABLE, COMPLETION_WINDOW, ENDPOINTS, Job, Registry
from .batch_storage import locate
from .errors import APIError, invalid_type, invalid_value, missing_required, unsupported_parameter
from .validation import read_json_object

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
#: Documented by Scaleway as not supported yet.
UNSUPPORTED = profile.unsupported("batches")


def _registry(request: Request) -> Registry:
    state = request.app.state
    if not hasattr(state, "batches"):
        state.batches = Registry()
    return state.batches


def _job(request: Request) -> Job:
    batch_id = request.path_params["batch_id"]
    job = _registry(request).jobs.get(batch_id)
    if job is None:
        raise APIError(404, f"No batch found with id '{batch_id}'.", code="batch_not_found", param="batch_id")
    return job


def _string(body: dict, name: str) -> str:
    if name not in body:
        raise missing_required(name)
    if not isinstance(body[name], str):
        raise invalid_type(name, "a string", body[name])
    return body[name]


async def create_batch(request: Request) -> JSONResponse:
    body = await read_json_object(request)
    for name in UNSUPPORTED:
        if body.get(name) is not None:
            raise unsupported_parameter(name)
    input_file_id = _string(body, "input_file_id")
    endpoint = _string(body, "endpoint")
    window = _string(body, "completion_window")
    ref = locate(input_file_id)
    if ref is None:
        raise invalid_value("input_file_id", "expected the URL of a JSONL object in object storage (s3://bucket/key or an https URL).")
    if endpoint not in ENDPOINTS:
        raise invalid_value("endpoint", f"{endpoint!r} is not supported; use one of {', '.join(ENDPOINTS)}.")
    if window != COMPLETION_WINDOW:
        raise invalid_value("completion_window", f"only {COMPLETION_WINDOW!r} is supported, got {window!r}.")
    job = Job(
        id=str(uuid.uuid4()),
        endpoint=endpoint,
        input_file_id=input_file_id,
        input=ref,
        created_at=int(time.time()),
        authorization=request.headers.get("authorization", ""),
    )
    _registry(request).start(request.app, job)
    return JSONResponse(job.as_object())


async def list_batches(request: Request) -> JSONResponse:
    jobs = _registry(request).newest_first()
    raw_limit = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise invalid_value("limit", f"expected an integer from 1 to {MAX_LIMIT}, got {raw_limit!r}.")
    limit = int(raw_limit)
    after = request.query_params.get("after")
    if after is not None:
        ids = [job.id for job in jobs]
        if after not in ids:
            raise invalid_value("after", f"no batch with id {after!r}.")
        jobs = jobs[ids.index(after) + 1 :]
    page = jobs[:limit]
    body = {"object": "list", "data": [job.as_object() for job in page], "has_more": len(jobs) > limit}
    if page:
        body["first_id"], body["last_id"] = page[0].id, page[-1].id
    return JSONResponse(body)


async def retrieve_batch(request: Request) -> JSONResponse:
    return JSONResponse(_job(request).as_object())


async def cancel_batch(request: Request) -> JSONResponse:
    job = _job(request)
    if job.status in CANCELLABLE:
        job.move("cancelling")
    elif job.status not in ("cancelling", "cancelled"):
        raise APIError(409, f"Cannot cancel a batch whose status is '{job.status}'.", code="batch_not_cancellable")
    return JSONResponse(job.as_object())
