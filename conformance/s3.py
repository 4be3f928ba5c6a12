"""Starts a local S3-compatible object store (moto's server mode) for runs that bring their own target.

The embedded run and the suite's own tests use it: a real S3 protocol endpoint on 127.0.0.1,
one bucket, and the standard AWS variables pointing at it, so both the suite and the reference
server (which honours them through boto3) read and write the same objects.
"""

from __future__ import annotations

import logging
import os
import secrets
from contextlib import contextmanager
from typing import Iterator

from .settings import S3_BUCKET_VAR

BUCKET = "conformance-batches"
REGION = "fr-par"
#: The variables a local store sets (and restores on exit).
VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", S3_BUCKET_VAR)


@contextmanager
def local_s3() -> Iterator[dict[str, str]]:
    """Run moto's S3 server on a free 127.0.0.1 port with one bucket; yield the variables naming it."""
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log lines on the terminal
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        env = {
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{server._server.server_port}",
            "AWS_ACCESS_KEY_ID": "conformance-" + secrets.token_hex(4),
            "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
            "AWS_DEFAULT_REGION": REGION,
            S3_BUCKET_VAR: BUCKET,
        }
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL_S3"],
            region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield env
    finally:
        server.stop()


@contextmanager
def local_s3_environment() -> Iterator[dict[str, str]]:
    """:func:`local_s3` with its variables set in this process (and its children) until exit."""
    saved = {name: os.environ.get(name) for name in VARIABLES}
    with local_s3() as env:
        os.environ.update(env)
        try:
            yield env
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
