"""Batch files in S3-compatible object storage: where an input URL points, reading and writing objects.

boto3 takes its endpoint, credentials and region from the standard AWS variables
(``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``).
Calls block: run them off the event loop.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

_lock = threading.Lock()
_clients: dict[tuple[str | None, ...], object] = {}


class StorageError(Exception):
    """The object could not be read or written (missing, denied, unreachable)."""


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def sibling(self, suffix: str) -> ObjectRef:
        """``{filename}{suffix}.jsonl`` in the same folder (``input.jsonl`` -> ``input_output.jsonl``)."""
        stem = self.key[: -len(".jsonl")] if self.key.endswith(".jsonl") else self.key
        return ObjectRef(self.bucket, f"{stem}{suffix}.jsonl")


def locate(url: str) -> ObjectRef | None:
    """The object an input URL names: ``s3://bucket/key``, or an http(s) URL of the S3 endpoint
    (path style ``https://endpoint/bucket/key``, or virtual-hosted ``https://bucket.host/key``,
    presigned or not). None when the URL names no object."""
    parts = urlsplit(url)
    path = unquote(parts.path).lstrip("/")
    if parts.scheme == "s3":
        ref = (parts.netloc, path)
    elif parts.scheme in ("http", "https") and parts.hostname:
        endpoint = urlsplit(_endpoint() or "")
        if endpoint.netloc and endpoint.netloc == parts.netloc:
            bucket, _, key = path.partition("/")
            ref = (bucket, key)
        else:
            ref = (parts.hostname.split(".", 1)[0], path)
    else:
        return None
    bucket, key = ref
    return ObjectRef(bucket, key) if bucket and key and not key.endswith("/") else None


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _client():
    """One boto3 client per endpoint and credentials (the variables may change between test runs)."""
    import boto3
    from botocore.config import Config

    endpoint = _endpoint()
    key = (endpoint, os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY"), os.environ.get("AWS_DEFAULT_REGION"))
    with _lock:
        if key not in _clients:
            style = {"addressing_style": "path"} if endpoint else {}
            _clients[key] = boto3.client("s3", endpoint_url=endpoint, config=Config(s3=style, retries={"max_attempts": 3}))
        return _clients[key]


def read(ref: ObjectRef) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _client().get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise StorageError(f"cannot read {ref.url}: {code}") from None
    except BotoCoreError as exc:
        raise StorageError(f"cannot read {ref.url}: {type(exc).__name__}") from None


def write(ref: ObjectRef, data: bytes) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _client().put_object(Bucket=ref.bucket, Key=ref.key, Body=data, ContentType="application/jsonl")
    except (ClientError, BotoCoreError) as exc:
        raise StorageError(f"cannot write {ref.url}: {type(exc).__name__}") from None
