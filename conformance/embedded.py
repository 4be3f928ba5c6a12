"""Starts the embedded reference server on a free 127.0.0.1 port with a fresh random key, and a local S3 store."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager
from typing import Iterator

from .s3 import local_s3_environment
from .settings import EMBEDDED_KEY_VAR


@contextmanager
def embedded_server() -> Iterator[str]:
    """Run the reference server in a background thread, with batch files in a local S3 store
    (its AWS variables set for the suite and the server); yield the base URL; stop both on exit."""
    from .server import ServerThread, create_app

    key = os.environ.get(EMBEDDED_KEY_VAR) or "sk-embedded-" + secrets.token_hex(16)
    os.environ[EMBEDDED_KEY_VAR] = key  # xdist workers inherit it; the key is never printed
    with local_s3_environment(), ServerThread(create_app([key])) as server:
        yield server.base_url
