"""Checks on refusals: auth, invalid input, unknown models, unsupported parameters, the envelope."""

from __future__ import annotations

import json

from ..paths import fixtures_dir
from ..transport import ApiRequest, Unjudgeable, policy
from ..vocabulary import REQUIRED, UNSUPPORTED_OK
from . import Failure, check, recommend, require, short


def error_object(ex) -> dict | None:
    body = ex.json
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return None


def _refused(ex, accepted: tuple[int, ...] | None, what: str) -> None:
    """Fail unless ``ex`` is a refusal with one of ``accepted`` statuses (any 4xx when None)."""
    if policy.is_unjudgeable(ex.status):
        raise Unjudgeable(f"{policy.unjudgeable_message(ex.status, ex.attempts, ex.retry_note)} {what}")
    if ex.ok:
        raise Failure(f"{what}: accepted with {ex.status}, expected a refusal ({_statuses(accepted)})")
    if ex.status >= 500:
        # a crash on any input breaks clients, even where the refusal itself is only recommended
        raise Failure(f"{what}: server error {ex.status} instead of a refusal ({_statuses(accepted)})", level=REQUIRED)
    if accepted is None:
        require(400 <= ex.status < 500, f"{what}: status {ex.status}, expected 4xx")
    else:
        require(ex.status in accepted, f"{what}: status {ex.status}, expected {_statuses(accepted)}")


def _statuses(accepted: tuple[int, ...] | None) -> str:
    return "4xx" if accepted is None else " or ".join(map(str, accepted))


#: The JSON types an error envelope's ``code`` may have (a profile narrows or widens the default).
CODE_TYPES: dict[str, type] = {"string": str, "integer": int, "null": type(None)}


def code_type(code) -> str | None:
    """The envelope word for ``code``'s JSON type (``None``: none of CODE_TYPES)."""
    if isinstance(code, bool):
        return None
    return next((word for word, kind in CODE_TYPES.items() if isinstance(code, kind)), None)


def envelope_problem(ex, code_types=tuple(CODE_TYPES)) -> str | None:
    """What keeps an error response from being the OpenAI envelope (None: it is one)."""
    if ex.ok:
        return f"expected an error response, got {ex.status}"
    if ex.content_type != "application/json":
        return f"error Content-Type is {ex.content_type or 'missing'!r}, expected application/json"
    if ex.json_error:
        return f"error body is {ex.json_error}: {short(ex.text)}"
    err = error_object(ex)
    if err is None:
        return f'error body lacks an "error" object: {short(ex.json)}'
    if not (isinstance(err.get("message"), str) and err["message"].strip()):
        return f"error.message must be a non-empty string: {short(err)}"
    if not isinstance(err.get("type"), str):
        return f"error.type must be a string: {short(err)}"
    if not ("param" in err and (err["param"] is None or isinstance(err["param"], str))):
        return f"error.param must be present, a string or null: {short(err)}"
    if "code" not in err or code_type(err["code"]) not in code_types:
        return f"error.code must be present and one of {'/'.join(code_types)}, got {short(err.get('code', '__missing__'))}"
    return None


@check("errors.envelope", source="sdk: openai._base_client.BaseClient._make_status_error_from_response (reads body['error']['message']; OpenAI._make_status_error hands body['error'] to APIError for code, param, type)")
def envelope(ctx, ex):
    """An error response is application/json with {"error": {message, type, param, code}}."""
    problem = envelope_problem(ex, ctx.profile.code_types)
    if problem:
        raise Failure(problem)


@check("auth.missing_key_rejected", source="profile: status_codes.missing_key (401 for a request without the bearer token of #/components/securitySchemes/ApiKeyAuth)")
def missing_key(ctx, ex):
    """A request without credentials is refused with 401."""
    _refused(ex, ctx.profile.accepted_statuses("missing_key"), "request without an API key")


@check("auth.wrong_key_rejected", source="profile: status_codes.wrong_key (401 or 403 for a wrong API key)")
def wrong_key(ctx, ex):
    """A request with a wrong API key is refused with 401 or 403."""
    _refused(ex, ctx.profile.accepted_statuses("wrong_key"), "request with a wrong API key")


@check("errors.unknown_model_rejected", source="profile: status_codes.model_not_found (404, or 422 as documented)")
def unknown_model(ctx, ex):
    """A request naming a model that does not exist is refused (404, or what the profile documents)."""
    _refused(ex, ctx.profile.accepted_statuses("model_not_found"), "unknown model")


@check("errors.malformed_json_rejected", source="wire: RFC 9110 §15.5.1 (400 Bad Request for a body that is not an RFC 8259 JSON text)")
def malformed_json(ctx, ex):
    """A body that is not valid JSON is refused with 400, never a 5xx."""
    _refused(ex, (400,), "malformed JSON body")


@check("errors.invalid_request_rejected", source="openapi: #/paths/~1chat~1completions/post/requestBody (and every operation's: a request its schema calls invalid is a client error, RFC 9110 §15.5)")
def invalid_request(ctx, ex):
    """A request that breaks the schema (wrong type, missing field, out of range) gets a 4xx, never 2xx or 5xx."""
    statuses = ctx.params.get("statuses")
    _refused(ex, tuple(statuses) if statuses else None, ctx.params.get("what", "invalid request"))


def names_parameter(ex, parameter: str) -> bool:
    err = error_object(ex) or {}
    leaf = parameter.rsplit(".", 1)[-1]
    param = err.get("param")
    if isinstance(param, str) and (
        param == parameter or param.startswith((parameter + ".", parameter + "[")) or param.rsplit(".", 1)[-1] == leaf
    ):
        return True
    message = err.get("message")
    text = message if isinstance(message, str) else ex.text
    return leaf.lower() in text.lower()


@check("errors.names_parameter", level="recommended", source="observed: OpenAI's error.param (or message) names the offending parameter; #/components/schemas/Error only types param as string or null")
def error_names_parameter(ctx, ex):
    """The refusal's error says which parameter is wrong (error.param or the message)."""
    parameter = ctx.params["parameter"]
    if ex.ok:
        raise Failure(f"expected a refusal naming {parameter!r}, got {ex.status}")
    require(names_parameter(ex, parameter), f"the error does not name {parameter!r}: {short(error_object(ex) or ex.text)}")


def _control(control: dict) -> tuple[ApiRequest, str]:
    """The control request and its cache key (the same control is sent once).

    A JSON control has a ``body``; a multipart one ``form`` fields and ``files`` given as
    ``{field: [file name, "$file:REL", media type]}`` (fixtures/REL, read here).
    """
    if "body" in control:
        return ApiRequest(**control), f"control:{control['path']}:{sorted(control['body'])}"
    files = {
        field: (name, (fixtures_dir() / ref.removeprefix("$file:")).read_bytes(), media_type)
        for field, (name, ref, media_type) in (control.get("files") or {}).items()
    }
    return ApiRequest(**{**control, "files": files}), f"control:{json.dumps(control, sort_keys=True)}"


def _require_control_accepted(ctx, parameter: str) -> None:
    """The same request without ``parameter`` (the case's control) is accepted, else we cannot judge."""
    control = ctx.params.get("control")
    if control is not None:
        request, key = _control(control)
        base = ctx.send(request, cache_key=key)
        if policy.disposition(base.status) == policy.SERVER_ERROR:
            # the reproducible-5xx rule: a 500 that clears is a flake, not the control's answer
            judged = policy.judge_server_error(base, ctx.control or (lambda: None), lambda: ctx.send(request))
            base = judged.exchange
            if judged.outcome == "recovered" and base.ok:
                ctx.cache[key] = base
        if not base.ok:
            raise Unjudgeable(f"the same request without {parameter!r} was refused too ({base.status}); cannot judge")


@check("unsupported.parameter_refused", passing_status=UNSUPPORTED_OK, source="profile: endpoints.*.unsupported_parameters (each documented-unsupported parameter is refused, naming it)")
def unsupported_parameter(ctx, ex):
    """A documented-unsupported parameter, sent alone, is refused with a 4xx naming it; silently accepting it fails."""
    parameter = ctx.params["parameter"]
    _require_control_accepted(ctx, parameter)
    if ex.ok:
        raise Failure(f"{parameter!r} is documented as unsupported but was silently accepted ({ex.status})")
    _refused(ex, None, f"unsupported parameter {parameter!r}")
    # the control request shows the parameter is what is refused; naming it is OpenAI's habit
    recommend(names_parameter(ex, parameter), f"refused with {ex.status}, but the error does not name {parameter!r}: {short(error_object(ex) or ex.text)}")
    return f"refused with {ex.status}"


@check("unsupported.ignored_parameter_accepted", source="profile: endpoints.*.ignored_parameters (the server documents accepting the parameter without effect)")
def ignored_parameter_accepted(ctx, ex):
    """A parameter the profile documents as accepted-and-ignored, sent alone, is accepted like the
    same request without it (its effect is not judged: the server says it has none)."""
    parameter = ctx.params["parameter"]
    if ex.ok:
        return f"accepted ({ex.status})"
    _require_control_accepted(ctx, parameter)
    raise Failure(f"{parameter!r} is documented as accepted and ignored, but the request was refused ({ex.status}): {short(error_object(ex) or ex.text)}")
