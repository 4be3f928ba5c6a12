"""``python -m conformance.server``: run the reference server in the foreground."""

from __future__ import annotations

import argparse

from .runner import DEFAULT_API_KEY, DEFAULT_HOST, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m conformance.server", description=__doc__)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--api-key", action="append", dest="api_keys", help="accepted key (repeatable)")
    args = parser.parse_args(argv)
    keys = args.api_keys or [DEFAULT_API_KEY]
    serve(args.host, args.port, keys, ready=lambda url: print(f"Serving {url}", flush=True))


if __name__ == "__main__":
    main()
