"""Load the suite's cut-down OpenAPI document and validate bodies against its component schemas."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema_rs
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from conformance.paths import openapi_path, specs_dir

DOCUMENT_URI = "urn:conformance:openapi"  # base URI the document is registered under
MAX_ERRORS = 10
_MAX_MESSAGE = 240


@functools.cache
def load_document() -> dict:
    """The parsed ``specs/openapi/openapi.yaml`` (shared, do not mutate)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(openapi_path(), encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def component_names() -> list[str]:
    """Names under ``components/schemas``, in document order."""
    return list(load_document()["components"]["schemas"])


def _optional_may_be_null(node: Any) -> Any:
    """A copy of ``node`` where every property not listed in ``required`` also accepts null."""
    if isinstance(node, list):
        return [_optional_may_be_null(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _optional_may_be_null(v) for k, v in node.items()}
    if isinstance(out.get("properties"), dict):
        required = set(node.get("required", ()))
        out["properties"] = {
            name: schema if name in required else {"anyOf": [schema, {"type": "null"}]}
            for name, schema in out["properties"].items()
        }
    return out


@functools.cache
def recommended_only() -> tuple[dict, ...]:
    """``specs/openapi/recommended.yaml``: required properties clients do without (a warn, not a fail)."""
    path = specs_dir() / "openapi" / "recommended.yaml"
    return tuple(yaml.safe_load(path.read_text()) or ())


def _relaxed(components: dict) -> dict:
    """``components`` with the properties of :func:`recommended_only` no longer required."""
    import copy

    components = copy.deepcopy(components)
    for entry in recommended_only():
        node = components["schemas"][entry["component"]]
        for step in entry.get("at") or ():
            node = _step(node, step)
        names = set(entry["properties"])
        missing = names - set(node.get("required", ()))
        if missing:
            raise ValueError(f"recommended.yaml: {entry['component']} {entry.get('at')} does not require {sorted(missing)}")
        node["required"] = [n for n in node["required"] if n not in names]
    return components


def _step(node: dict, step: str) -> dict:
    """One step of a recommended.yaml path: a property name, ``[]`` (array items) or ``allOf[N]``."""
    if step == "[]":
        return node["items"]
    if step.startswith("allOf[") and step.endswith("]"):
        return node["allOf"][int(step[6:-1])]
    return node["properties"][step]


@functools.cache
def _variant(optional_nulls: bool = False, relaxed: bool = False) -> dict:
    """The document with the rule on nulls and the relaxed requirements applied (shared, do not mutate)."""
    document = load_document()
    components = document["components"]
    if relaxed:
        components = _relaxed(components)
    if optional_nulls:
        components = _optional_may_be_null(components)
    return {**document, "components": components}


@functools.cache
def registry(optional_nulls: bool = False, relaxed: bool = False) -> Registry:
    # The whole document is one Draft 2020-12 resource, so its internal "#/components/..." refs resolve.
    return Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(_variant(optional_nulls, relaxed)))


@functools.cache
def _fast_registry(optional_nulls: bool, relaxed: bool) -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(DOCUMENT_URI, _variant(optional_nulls, relaxed))], draft=jsonschema_rs.Draft202012)


@functools.cache
def _fast_validator(component: str, optional_nulls: bool, relaxed: bool) -> jsonschema_rs.Validator:
    """The same schema compiled by jsonschema-rs (schemathesis' validator): it only says whether an
    instance is valid, ~100 times faster; jsonschema then explains the invalid ones."""
    schema = {"$ref": f"{DOCUMENT_URI}#/components/schemas/{component}"}
    return jsonschema_rs.Draft202012Validator(schema, registry=_fast_registry(optional_nulls, relaxed), validate_formats=False)


def _surely_valid(component: str, instance: Any, optional_nulls: bool, relaxed: bool) -> bool:
    """Whether jsonschema-rs finds ``instance`` valid (False when it cannot tell, e.g. an integer
    beyond 64 bits: jsonschema decides then)."""
    try:
        return _fast_validator(component, optional_nulls, relaxed).is_valid(instance)
    except (ValueError, TypeError, OverflowError):
        return False


@functools.cache
def _validator(component: str, optional_nulls: bool = False, relaxed: bool = False) -> Draft202012Validator:
    if component not in load_document()["components"]["schemas"]:
        raise KeyError(component)
    # OpenAPI-only keywords (discriminator, example, x-*) are unknown to Draft 2020-12 and thus ignored;
    # `format` is annotation-only by default. The generator has already rewritten 3.0 `nullable`.
    schema = {"$ref": f"{DOCUMENT_URI}#/components/schemas/{component}"}
    return Draft202012Validator(schema, registry=registry(optional_nulls, relaxed))


def _rejects_tag(errors: list[ValidationError]) -> bool:
    """Whether a oneOf/anyOf branch failed on the instance's ``type`` tag (an OpenAPI discriminator)."""
    return any(e.validator in ("enum", "const") and list(e.relative_path) == ["type"] for e in errors)


def _describe(error: ValidationError) -> str:
    # Descend into anyOf/oneOf context to the most specific failure, like jsonschema's best_match,
    # but first discarding the branches whose ``type`` tag does not match the instance's.
    while error.context:
        branches: dict = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        kept = [sub for subs in branches.values() if not _rejects_tag(subs) for sub in subs]
        smallest = sorted(kept or error.context, key=relevance)[:2]
        if len(smallest) == 2 and relevance(smallest[0]) == relevance(smallest[1]):
            break
        error = smallest[0]
    message = error.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return f"{error.json_path}: {message}"


def schema_findings(component: str, instance: Any) -> tuple[list[str], list[str]]:
    """A response body against a component, as (errors, recommended): ``errors`` break the
    contract; ``recommended`` are what only :func:`recommended_only` properties add. One rule on
    nulls for every target: a property the schema does not require may be ``null`` (OpenAI's own
    examples send ``"user": null``; vLLM-based servers ``"annotations": null``)."""
    errors = schema_errors(component, instance, optional_nulls=True, relaxed=True)
    if errors:
        return errors, []
    return [], schema_errors(component, instance, optional_nulls=True)


def schema_errors(component: str, instance: Any, *, optional_nulls: bool = False, relaxed: bool = False) -> list[str]:
    """Errors of ``instance`` against ``#/components/schemas/<component>``, best match first.

    Each is ``"<JSON path>: <message>"``, e.g. ``$.choices[0].message.role: 'bot' is not one
    of ['assistant']``; at most ``MAX_ERRORS``; empty if valid. Unknown component: KeyError.
    With ``optional_nulls``, a property the schema does not require may also be null (what
    vLLM-based servers send, e.g. ``"annotations": null``); required ones stay strict.
    """
    if component not in load_document()["components"]["schemas"]:
        raise KeyError(component)
    if _surely_valid(component, instance, optional_nulls, relaxed):
        return []
    errors = sorted(_validator(component, optional_nulls, relaxed).iter_errors(instance), key=relevance, reverse=True)
    out: list[str] = []
    for error in errors:
        text = _describe(error)
        if text not in out:
            out.append(text)
        if len(out) >= MAX_ERRORS:
            break
    return out


def _operation(path: str, method: str) -> dict | None:
    return load_document()["paths"].get(path, {}).get(method.lower())


def _deref(obj: dict | None) -> dict | None:
    """Follow a ``$ref`` to a non-schema component (response, request body)."""
    while isinstance(obj, dict) and "$ref" in obj:
        node: Any = load_document()
        for part in obj["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
    return obj


def _media_schema(content: dict | None, media_type: str | None) -> dict | None:
    if not content:
        return None
    if media_type is None:
        media_type = next(iter(content))
    return content.get(media_type, {}).get("schema")


def request_schema(path: str, method: str, media_type: str | None = None) -> dict | None:
    """Request-body schema (often just a ``$ref``) of an operation, e.g. ``("/chat/completions", "post")``.

    ``path`` is as in the document, without ``/v1``; ``media_type`` defaults to the first listed
    (``multipart/form-data`` for ``/audio/transcriptions``). None when there is none.
    """
    operation = _operation(path, method)
    body = _deref(operation.get("requestBody")) if operation else None
    return _media_schema(body.get("content") if body else None, media_type)


def response_schema(
    path: str, method: str, status: str = "200", media_type: str = "application/json"
) -> dict | None:
    """Response-body schema of an operation for ``status`` and ``media_type`` (``text/event-stream``
    gives the schema of one streamed event). None when the document defines none."""
    operation = _operation(path, method)
    response = _deref(operation.get("responses", {}).get(str(status))) if operation else None
    return _media_schema(response.get("content") if response else None, media_type)
