"""Request-body reading and strict JSON type/range checks shared by every endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request

from .errors import (
    APIError,
    describe,
    invalid_json,
    invalid_type,
    invalid_value,
    missing_required,
    type_name,
    unsupported_parameter,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or an ``invalid_json`` / ``invalid_type`` error."""
    content_type = request.headers.get("content-type")
    if content_type is not None and not _is_json_media_type(content_type):
        raise invalid_json(
            f"Request body must be JSON: expected Content-Type application/json, got '{content_type}'."
        )
    raw = await request.body()
    if not raw.strip():
        raise invalid_json("Request body is empty: expected a JSON object.")
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise invalid_json(f"Request body is not valid JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise APIError(
            400, f"Request body must be a JSON object, got {type_name(body)}.", code="invalid_type"
        )
    return body


def lookup(body: dict[str, Any], path: str) -> Any:
    """The value at a dotted path (``stream_options.include_usage``), None when absent on the way."""
    value: Any = body
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def reject_unsupported(body: dict[str, Any], paths: Iterable[str]) -> None:
    """Raise ``unsupported_parameter`` for the first path sent with a non-null value."""
    for path in paths:
        if lookup(body, path) is not None:
            raise unsupported_parameter(path)


def require(body: dict[str, Any], names: Iterable[str]) -> None:
    """Raise ``missing_required_parameter`` for the first name absent or null."""
    for name in names:
        if body.get(name) is None:
            raise missing_required(name)


def optional(
    body: dict[str, Any],
    name: str,
    check: Callable[..., Any],
    *bounds: Any,
    default: Any = None,
    param: str | None = None,
) -> Any:
    """``check(value, param, *bounds)`` for a sent parameter, ``default`` if it is absent or null."""
    value = body.get(name)
    return default if value is None else check(value, param or name, *bounds)


def _bounds_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" between {minimum} and {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def _check_bounds(
    value: float, param: str, kind: str, minimum: float | None, maximum: float | None
) -> None:
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise invalid_value(param, f"expected {kind}{_bounds_text(minimum, maximum)}, got {describe(value)}.")


def expect_number(
    value: Any, param: str, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid_type(param, "a number", value)
    _check_bounds(value, param, "a number", minimum, maximum)
    return value


def expect_integer(value: Any, param: str, minimum: int | None = None, maximum: int | None = None) -> int:
    # JSON Schema counts a number with a zero fractional part (2.0) as an integer.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_type(param, "an integer", value)
    _check_bounds(value, param, "an integer", minimum, maximum)
    return value


def expect_bool(value: Any, param: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_type(param, "a boolean", value)
    return value


def expect_string(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise invalid_type(param, "a string", value)
    return value


def expect_object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_type(param, "an object", value)
    return value


def expect_array(
    value: Any, param: str, min_items: int | None = None, max_items: int | None = None
) -> list[Any]:
    if not isinstance(value, list):
        raise invalid_type(param, "an array", value)
    if min_items is not None and len(value) < min_items:
        raise invalid_value(param, f"expected at least {min_items} item(s), got {len(value)}.")
    if max_items is not None and len(value) > max_items:
        raise invalid_value(param, f"expected at most {max_items} item(s), got {len(value)}.")
    return value


def expect_choice(value: Any, param: str, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    expect_string(value, param)
    if value not in choices:
        options = ", ".join(f"'{c}'" for c in choices)
        raise invalid_value(param, f"expected one of {options}, got {describe(value)}.")
    return value
