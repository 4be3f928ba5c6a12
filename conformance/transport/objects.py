"""The object-storage seam: batch files in an S3-compatible bucket, through boto3.

Storage trouble (unreachable endpoint, denied access, throttling) means the suite cannot judge
the target: it raises :class:`Unjudgeable`, never a failure. A missing object is an answer.
"""

from __future__ import annotations

import threading
from functools import cache
from urllib.parse import urlsplit

from ..vocabulary import PRESIGNED_URL, S3_URL
from .base import Unjudgeable

#: Seconds a presigned input-file URL stays valid.
PRESIGNED_EXPIRY_S = 3600


class ObjectStore:
    """One bucket: put and get objects, and name them by URL."""

    def __init__(self, bucket: str, access_key_id: str, secret_access_key: str, endpoint_url: str | None, region: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        addressing = {"addressing_style": "path"} if endpoint_url else {}
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(s3=addressing, retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=10, read_timeout=30),
        )

    def put(self, key: str, data: bytes) -> None:
        self._call("write", key, lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data))

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            return self._call("read", key, lambda: self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read(), missing_ok=True)
        except _Missing:
            return None

    def url(self, key: str, form: str = S3_URL) -> str:
        """How the target is told where an object is: ``s3://bucket/key`` or a presigned https URL."""
        if form == PRESIGNED_URL:
            return self._call(
                "sign", key, lambda: self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=PRESIGNED_EXPIRY_S)
            )
        if form != S3_URL:
            raise ValueError(f"unknown input file form {form!r} (expected {S3_URL} or {PRESIGNED_URL})")
        return f"s3://{self.bucket}/{key}"

    def key_of(self, url: str) -> str | None:
        """The key an ``s3://`` URL names in this bucket, else None."""
        parts = urlsplit(url)
        if parts.scheme == "s3" and parts.netloc == self.bucket and parts.path.strip("/"):
            return parts.path.lstrip("/")
        return None

    def _call(self, what: str, key: str, action, missing_ok: bool = False):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return action()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if missing_ok and code in ("NoSuchKey", "404", "NotFound"):
                raise _Missing(key) from exc
            raise Unjudgeable(f"object storage: could not {what} s3://{self.bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise Unjudgeable(f"object storage: could not {what} s3://{self.bucket}/{key}: {type(exc).__name__}: {exc}") from exc


class _Missing(Exception):
    """No object under that key."""


_OPENING = threading.Lock()


def open_store(bucket: str, access_key_id: str, secret_access_key: str, endpoint_url: str | None, region: str | None) -> ObjectStore:
    """One shared :class:`ObjectStore` per configuration (boto3 clients are slow to create, and
    creating them from several threads at once is not safe: cases run ahead in threads)."""
    with _OPENING:
        return _open_store(bucket, access_key_id, secret_access_key, endpoint_url, region)


@cache
def _open_store(bucket: str, access_key_id: str, secret_access_key: str, endpoint_url: str | None, region: str | None) -> ObjectStore:
    return ObjectStore(bucket, access_key_id, secret_access_key, endpoint_url, region)
