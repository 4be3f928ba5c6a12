"""Running the app with uvicorn: in the foreground (serve) or in a background thread (ServerThread)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from .app import create_app

DEFAULT_HOST = "127.0.0.1"
#: The key ``serve`` accepts when none is given.
DEFAULT_API_KEY = "sk-conformance-reference"


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT/v1`` (IPv6 hosts bracketed)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


class _Server(uvicorn.Server):
    """A uvicorn server that reports its bound port once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[int], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started(self.servers[0].sockets[0].getsockname()[1])


def _config(app: ASGIApp, host: str, port: int, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        **options,
    )


def serve(
    host: str = DEFAULT_HOST,
    port: int = 0,
    api_keys: Iterable[str] = (DEFAULT_API_KEY,),
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the reference app until interrupted; ``ready(base_url)`` is called once listening."""
    on_started = (lambda bound: ready(base_url(host, bound))) if ready else (lambda bound: None)
    _Server(_config(create_app(api_keys), host, port), on_started).run()


class ServerThread:
    """Runs an ASGI app with uvicorn in a daemon thread; a context manager exposing ``base_url``."""

    def __init__(
        self, app: ASGIApp, host: str = DEFAULT_HOST, port: int = 0, *, startup_timeout: float = 10.0
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.server = _Server(_config(app, host, port, log_config=None), self._started)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"reference-server-{host}:{port}", daemon=True)
        self._base_url: str | None = None

    def _started(self, bound_port: int) -> None:
        self.port = bound_port
        self._base_url = base_url(self.host, bound_port)
        self._ready.set()

    def _run(self) -> None:
        try:
            self.server.run()
        except BaseException as exc:  # noqa: BLE001 - uvicorn exits with SystemExit on bind failure
            self._error = exc
        finally:
            self._ready.set()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the server is not running")
        return self._base_url

    def start(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(self.startup_timeout) or self._base_url is None:
            self.stop()
            raise RuntimeError(f"the server did not start on {self.host}:{self.port}") from self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._base_url = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
