"""Embedded reference server: a correct, deterministic OpenAI-compatible API as Scaleway documents it.

Self-contained: imports only the standard library, starlette, uvicorn (and the few libraries docs/ARCHITECTURE.md lists) (never the rest of
``conformance``), so the suite can run against it offline.
"""

from .app import create_app
from .runner import DEFAULT_API_KEY, ServerThread, serve

__all__ = ["DEFAULT_API_KEY", "ServerThread", "create_app", "serve"]
