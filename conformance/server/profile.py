"""The Scaleway facts the reference server enforces, read from specs/profiles/scaleway.yaml (never repeated in code)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

_PACKAGE = Path(__file__).resolve().parent.parent
#: The wheel's copy of specs/, else the checkout's (the server imports nothing from the suite).
_CANDIDATES = (_PACKAGE / "_data" / "specs" / "profiles" / "scaleway.yaml", _PACKAGE.parent / "specs" / "profiles" / "scaleway.yaml")


@cache
def scaleway() -> dict[str, Any]:
    """The Scaleway profile as data (it extends no other profile: the reference server reads it raw)."""
    for path in _CANDIDATES:
        if path.exists():
            data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            if "extends" in data:
                raise RuntimeError(f"{path}: the reference server reads this profile raw; it must not use extends")
            return data
    raise FileNotFoundError("specs/profiles/scaleway.yaml not found beside the reference server")


def unsupported(endpoint: str) -> tuple[str, ...]:
    """Parameters Scaleway documents as not supported on ``endpoint``: refused with 400."""
    return tuple(scaleway()["endpoints"].get(endpoint, {}).get("unsupported_parameters", ()))


def endpoint_property(endpoint: str, name: str) -> Any:
    return scaleway()["endpoints"][endpoint]["properties"][name]


def limit(name: str) -> Any:
    return scaleway()["limits"][name]
