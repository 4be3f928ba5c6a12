"""The OpenAI error envelope: one exception type, its JSON response, and constructors per error code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse

INVALID_REQUEST = "invalid_request_error"
AUTHENTICATION = "authentication_error"
SERVER_ERROR = "server_error"


class APIError(Exception):
    """An error answered with ``{"error": {"message", "type", "param", "code"}}`` and ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def type_name(value: Any) -> str:
    """The JSON type of a decoded value, as named in error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def describe(value: Any, limit: int = 40) -> str:
    """A short JSON rendering of a client-sent value, for error messages."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid_json(message: str) -> APIError:
    return APIError(400, message, code="invalid_json")


def invalid_type(param: str, expected: str, value: Any) -> APIError:
    return APIError(
        400,
        f"Invalid type for '{param}': expected {expected}, got {type_name(value)}.",
        code="invalid_type",
        param=param,
    )


def invalid_value(param: str, detail: str) -> APIError:
    return APIError(400, f"Invalid value for '{param}': {detail}", code="invalid_value", param=param)


def missing_required(param: str) -> APIError:
    return APIError(
        400, f"Missing required parameter: '{param}'.", code="missing_required_parameter", param=param
    )


def unsupported_parameter(param: str) -> APIError:
    return APIError(
        400,
        f"Unsupported parameter: '{param}' is not supported by this API.",
        code="unsupported_parameter",
        param=param,
    )


def unknown_parameter(param: str) -> APIError:
    return APIError(400, f"Unrecognized request argument supplied: '{param}'.", code="unknown_parameter", param=param)


def model_not_found(model: str) -> APIError:
    return APIError(
        404,
        f"The model '{model}' does not exist or you do not have access to it.",
        code="model_not_found",
        param="model",
    )


def model_not_supported(model: str, what: str) -> APIError:
    return APIError(
        400, f"The model '{model}' does not support {what}.", code="model_not_supported", param="model"
    )


def unknown_route(method: str, path: str) -> APIError:
    return APIError(404, f"Unknown route: {method} {path}.", code="unknown_route")


def method_not_allowed(method: str, path: str, headers: Mapping[str, str] | None = None) -> APIError:
    return APIError(
        405, f"Method {method} is not allowed for {path}.", code="method_not_allowed", headers=headers
    )


def missing_api_key() -> APIError:
    return APIError(
        401,
        "Missing API key: send an 'Authorization: Bearer <key>' header.",
        type=AUTHENTICATION,
        code="missing_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def invalid_api_key() -> APIError:
    return APIError(
        401,
        "Invalid API key provided.",
        type=AUTHENTICATION,
        code="invalid_api_key",
        headers={"WWW-Authenticate": "Bearer"},
    )


def internal_error() -> APIError:
    return APIError(500, "The server had an internal error.", type=SERVER_ERROR, code="internal_error")
