"""The reference server's /v1/batches against a local S3 store (docs/REFERENCE_MODEL.md, "Batches")."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import httpx
import pytest

from conformance.server import ServerThread, create_app
from conformance.server.batch_storage import ObjectRef, locate

KEY = "sk-batches-test"
MODEL = "mistral-small-3.2-24b-instruct-2506"
CHAT = "/v1/chat/completions"


@pytest.fixture
def api(local_s3_env):
    """(client, s3, bucket): an HTTP client for a fresh reference server, and the store it uses."""
    with ServerThread(create_app([KEY])) as server, httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=10) as client:
        yield client, boto3.client("s3"), local_s3_env["CONFORMANCE_S3_BUCKET"]


def line(custom_id: str, text: str, url: str = CHAT, **body) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": MODEL, "messages": [{"role": "user", "content": f"Reply with exactly: {text}"}], **body}}


def upload(s3, bucket: str, lines: list, raw: str | None = None) -> str:
    key = f"tests/{uuid.uuid4().hex}/input.jsonl"
    data = raw if raw is not None else "".join(json.dumps(item) + "\n" for item in lines)
    s3.put_object(Bucket=bucket, Key=key, Body=data.encode())
    return f"s3://{bucket}/{key}"


def create(client, input_file_id: str, **extra) -> httpx.Response:
    return client.post("/batches", json={"input_file_id": input_file_id, "endpoint": CHAT, "completion_window": "24h", **extra})


def wait(client, batch_id: str, limit: float = 2.0) -> tuple[dict, list[str]]:
    """Poll until a final status (within ``limit`` seconds); return the batch and every status seen."""
    deadline, statuses = time.monotonic() + limit, []
    while True:
        batch = client.get(f"/batches/{batch_id}").json()
        statuses.append(batch["status"])
        if batch["status"] in ("completed", "failed", "cancelled", "expired"):
            return batch, statuses
        assert time.monotonic() < deadline, f"batch still {batch['status']} after {limit} s"
        time.sleep(0.01)


def read_jsonl(s3, url: str) -> list[dict]:
    ref = locate(url)
    return [json.loads(x) for x in s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read().decode().splitlines()]


def test_a_batch_runs_each_line_through_the_app_and_writes_both_files(api):
    client, s3, bucket = api
    url = upload(s3, bucket, [line("a", "amber falcon"), line("b", "silver otter"), {**line("c", "x"), "body": {"model": MODEL}}])
    created = create(client, url)
    assert created.status_code == 200
    assert created.json()["status"] == "validating"
    batch, statuses = wait(client, created.json()["id"])
    order = ["validating", "in_progress", "finalizing", "completed"]
    assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses)
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    assert batch["created_at"] <= batch["in_progress_at"] <= batch["finalizing_at"] <= batch["completed_at"]
    assert batch["output_file_id"] == url.replace("input.jsonl", "input_output.jsonl")
    assert batch["error_file_id"] == url.replace("input.jsonl", "input_error.jsonl")
    outputs = read_jsonl(s3, batch["output_file_id"])
    assert [(o["custom_id"], o["response"]["status_code"], o["error"]) for o in outputs] == [("a", 200, None), ("b", 200, None)]
    assert outputs[0]["response"]["body"]["choices"][0]["message"]["content"] == "amber falcon"
    (failed,) = read_jsonl(s3, batch["error_file_id"])
    assert failed["custom_id"] == "c" and failed["response"]["status_code"] == 400
    assert failed["error"]["code"] == "missing_required_parameter"


def test_a_presigned_https_url_names_the_same_object(api):
    client, s3, bucket = api
    key = locate(upload(s3, bucket, [line("a", "amber falcon")])).key
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    batch, _ = wait(client, create(client, presigned).json()["id"])
    assert batch["status"] == "completed"
    assert read_jsonl(s3, batch["output_file_id"])[0]["custom_id"] == "a"


@pytest.mark.parametrize(
    "lines, raw, code, line_number",
    [
        ([line("a", "x"), line("a", "y")], None, "duplicate_custom_id", 2),
        ([line("a", "x"), line("b", "y", url="/v1/embeddings")], None, "mismatched_url", 2),
        (None, json.dumps(line("a", "x")) + "\n{not json\n", "invalid_json_line", 2),
        ([{"method": "POST", "url": CHAT, "body": {}}], None, "missing_custom_id", 1),
        ([], "", "empty_file", None),
    ],
    ids=["duplicate", "url", "not-json", "no-custom-id", "empty"],
)
def test_invalid_input_fails_the_batch_with_errors_and_runs_nothing(api, lines, raw, code, line_number):
    client, s3, bucket = api
    batch, statuses = wait(client, create(client, upload(s3, bucket, lines or [], raw)).json()["id"])
    assert statuses[-1] == "failed" and "completed" not in statuses
    assert batch["errors"]["data"][0]["code"] == code
    assert batch["errors"]["data"][0]["line"] == line_number
    assert batch["request_counts"]["completed"] == 0 and "output_file_id" not in batch


def test_a_missing_input_object_fails_the_batch(api):
    client, _, bucket = api
    batch, _ = wait(client, create(client, f"s3://{bucket}/no/such/object.jsonl").json()["id"])
    assert batch["status"] == "failed"
    assert batch["errors"]["data"][0]["code"] == "input_file_unreadable"
    assert batch["errors"]["data"][0]["param"] == "input_file_id"


@pytest.mark.parametrize(
    "change, param",
    [
        ({"metadata": {"a": "b"}}, "metadata"),
        ({"endpoint": "/v1/rerank"}, "endpoint"),
        ({"completion_window": "1h"}, "completion_window"),
        ({"input_file_id": "file-abc123"}, "input_file_id"),
        ({"input_file_id": None}, "input_file_id"),
    ],
)
def test_creation_refuses_bad_parameters_naming_them(api, change, param):
    client, _, bucket = api
    body = {"input_file_id": f"s3://{bucket}/x.jsonl", "endpoint": CHAT, "completion_window": "24h", **change}
    response = client.post("/batches", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_cancel_right_after_creation_ends_cancelled(api):
    client, s3, bucket = api
    created = create(client, upload(s3, bucket, [line(f"r{i}", "x") for i in range(5)])).json()
    cancel = client.post(f"/batches/{created['id']}/cancel")
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelling"
    batch, statuses = wait(client, created["id"])
    assert set(statuses) <= {"cancelling", "cancelled"} and batch["status"] == "cancelled"
    assert batch["cancelling_at"] <= batch["cancelled_at"]
    assert client.post(f"/batches/{created['id']}/cancel").json()["status"] == "cancelled"


def test_a_finished_batch_cannot_be_cancelled(api):
    client, s3, bucket = api
    batch, _ = wait(client, create(client, upload(s3, bucket, [line("a", "x")])).json()["id"])
    refused = client.post(f"/batches/{batch['id']}/cancel")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "batch_not_cancellable"


def test_list_pages_newest_first_with_after_and_limit(api):
    client, s3, bucket = api
    url = upload(s3, bucket, [line("a", "x")])
    ids = [create(client, url).json()["id"] for _ in range(3)]
    first = client.get("/batches", params={"limit": 2}).json()
    assert first["object"] == "list" and [b["id"] for b in first["data"]] == ids[::-1][:2]
    assert (first["first_id"], first["last_id"], first["has_more"]) == (ids[2], ids[1], True)
    rest = client.get("/batches", params={"limit": 2, "after": first["last_id"]}).json()
    assert [b["id"] for b in rest["data"]] == [ids[0]] and rest["has_more"] is False
    assert client.get("/batches", params={"limit": 0}).json()["error"]["param"] == "limit"
    assert client.get("/batches", params={"after": "nope"}).json()["error"]["param"] == "after"


def test_an_unknown_batch_is_404(api):
    client, _, _ = api
    response = client.get("/batches/no-such-batch")
    assert response.status_code == 404 and response.json()["error"]["code"] == "batch_not_found"


@pytest.mark.parametrize(
    "url, ref",
    [
        ("s3://bucket/dir/in.jsonl", ObjectRef("bucket", "dir/in.jsonl")),
        ("https://bucket.s3.fr-par.scw.cloud/dir/in.jsonl?X-Amz-Signature=x", ObjectRef("bucket", "dir/in.jsonl")),
        ("s3://bucket/", None),
        ("file-abc", None),
    ],
)
def test_locate(url, ref):
    assert locate(url) == ref


def test_output_files_sit_beside_the_input():
    assert ObjectRef("b", "d/in.jsonl").sibling("_output") == ObjectRef("b", "d/in_output.jsonl")
    assert ObjectRef("b", "d/in").sibling("_error") == ObjectRef("b", "d/in_error.jsonl")
