"""Keeps secrets out of every output: terminal, report, JUnit, logs, evidence."""

from __future__ import annotations

import re
from typing import Any

MASK = "[REDACTED]"
_SECRETS: set[str] = set()
_BEARER = re.compile(r"(?i)(bearer\s+)([^\s\"',}]+)")
#: A shell variable standing for a key (``$OPENAI_API_KEY`` in a curl command) is no secret.
_SHELL_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?")
_SENSITIVE_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization", "cookie", "set-cookie"})
#: Headers whose value starts with an authentication scheme worth keeping ("Bearer").
_SCHEMED_HEADERS = frozenset({"authorization", "proxy-authorization"})


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` masks it wherever it appears."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and any bearer token in ``text``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return _BEARER.sub(lambda m: m.group(0) if _SHELL_VARIABLE.fullmatch(m.group(2)) else m.group(1) + MASK, text)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """Return a copy of ``headers`` with credential-bearing values masked."""
    out = {}
    for name, value in headers.items():
        if name.lower() in _SENSITIVE_HEADERS:
            scheme = value.split(" ", 1)[0] if " " in value and name.lower() in _SCHEMED_HEADERS else ""
            out[name] = f"{scheme} {MASK}".strip()
        else:
            out[name] = redact(value)
    return out


def redact_obj(obj: Any) -> Any:
    """Redact every string inside a JSON-like structure."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    return obj
