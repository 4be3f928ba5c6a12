"""Property-based generation specs: the OpenAPI document rewritten per operation, and validity by the spec.

``specs/property/operations.yaml`` says what is worth sending (documented parameters, narrowed
for cost); :func:`generation_document` turns one operation into a small OpenAPI document for
schemathesis with the configured model forced and the profile's unsupported parameters left
out. :func:`contract_errors` judges a generated request against the suite's OpenAPI document
itself: it, not the narrowing, decides what is valid.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator

from .openapi import registry, load_document, request_schema, schema_errors
from .paths import specs_dir
from .profiles import Profile
from .vocabulary import ENDPOINTS, FEATURES
from .yamlfile import load_yaml

POSITIVE, NEGATIVE = "positive", "negative"
MODES: tuple[str, ...] = (POSITIVE, NEGATIVE)


@dataclass(frozen=True)
class PropertyOperation:
    endpoint: str
    method: str
    path: str
    parameters: dict[str, Any]
    capability: str | None = None
    request: str | None = None
    response: Any = None
    modes: tuple[str, ...] = MODES
    required: tuple[str, ...] | None = None
    file: dict[str, str] | None = None
    #: parameter -> the feature a profile must claim for it to be generated in positive mode
    features: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def multipart(self) -> bool:
        return self.file is not None

    @property
    def has_body(self) -> bool:
        return self.request is not None

    def path_parameters(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{") and part.endswith("}")]


def operations_path():
    return specs_dir() / "property" / "operations.yaml"


@functools.cache
def load_operations() -> tuple[PropertyOperation, ...]:
    """Every operation of ``specs/property/operations.yaml``, checked against the vocabulary."""
    with open(operations_path(), encoding="utf-8") as fh:
        data = load_yaml(fh)
    out = []
    for entry in data["operations"]:
        entry = dict(entry)
        if entry["endpoint"] not in ENDPOINTS:
            raise ValueError(f"{entry['endpoint']!r} is not an endpoint of the vocabulary")
        entry["modes"] = tuple(entry.get("modes", MODES))
        if set(entry["modes"]) - set(MODES):
            raise ValueError(f"{entry['method']} {entry['path']}: unknown mode in {entry['modes']}")
        if entry.get("required") is not None:
            entry["required"] = tuple(entry["required"])
        for feature in entry.get("features", {}).values():
            if feature not in FEATURES:
                raise ValueError(f"{feature!r} is not a feature of the vocabulary")
        out.append(PropertyOperation(**entry))
    return tuple(out)


def operations_for(endpoint: str, mode: str) -> list[PropertyOperation]:
    return [op for op in load_operations() if op.endpoint == endpoint and mode in op.modes]


def _substitute(node: Any, model: str | None, models: list[str]) -> Any:
    if node == "$model":
        return model
    if node == "$models":
        return models
    if isinstance(node, list):
        return [_substitute(v, model, models) for v in node]
    if isinstance(node, dict):
        return {k: _substitute(v, model, models) for k, v in node.items()}
    return node


def generated_parameters(op: PropertyOperation, profile: Profile, mode: str) -> dict[str, Any]:
    """The parameters generated for ``op`` in ``mode``: the profile's unsupported ones never; in
    positive mode, not those whose feature the profile does not claim."""
    unsupported = {name.split(".")[0] for name in profile.unsupported(op.endpoint) if "." not in name}
    kept = {}
    for name, schema in op.parameters.items():
        if name in unsupported:
            continue
        feature = op.features.get(name)
        if mode == POSITIVE and feature and not profile.claims(op.endpoint, feature):
            continue
        kept[name] = schema
    return kept


def spec_required(op: PropertyOperation) -> list[str]:
    if op.request is None:
        return [name for name in op.path_parameters()]
    schema = load_document()["components"]["schemas"][op.request]
    return list(schema.get("required", ()))


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _spec_bounds(schema: Any, doc: dict) -> dict[str, Any]:
    """The numeric bounds the document puts on a property (first numeric branch of anyOf/oneOf)."""
    if not isinstance(schema, dict):
        return {}
    if "$ref" in schema:
        return _spec_bounds(doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], doc)
    found = {k: schema[k] for k in _BOUNDS if k in schema}
    if found:
        return found
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            found = _spec_bounds(sub, doc)
            if found:
                return found
    return {}


def spec_property(op: PropertyOperation, name: str) -> Any:
    """The document's own schema of parameter ``name`` of ``op`` (body property or parameter)."""
    if op.request is None:
        return _parameter_schemas(op)[0].get(name)
    doc = load_document()
    schema = doc["components"]["schemas"][op.request]
    stack = [schema]
    while stack:
        node = stack.pop()
        while isinstance(node, dict) and "$ref" in node:
            node = doc["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
        if not isinstance(node, dict):
            continue
        if name in node.get("properties", {}):
            return node["properties"][name]
        stack += node.get("allOf", [])
    return None


def _negative_bounds(name: str, schema: Any, op: PropertyOperation) -> Any:
    """In negative mode a number's bounds are the document's where it has them: the violations
    generated are then just past the spec's limits (not past the narrowing, which the spec allows)."""
    if not isinstance(schema, dict) or not any(k in schema for k in _BOUNDS):
        return schema
    spec = _spec_bounds(spec_property(op, name), load_document())
    out = dict(schema)
    for side in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if any(k in spec for k in side):  # the spec bounds this side: its bound replaces ours
            for key in side:
                out.pop(key, None)
                if key in spec:
                    out[key] = spec[key]
    return out


def generation_document(op: PropertyOperation, profile: Profile, model: str | None, models: list[str], mode: str) -> dict[str, Any]:
    """A one-operation OpenAPI 3.1 document schemathesis generates ``mode`` cases from."""
    params = _substitute(generated_parameters(op, profile, mode), model, models)
    if mode == NEGATIVE:
        params = {name: _negative_bounds(name, schema, op) for name, schema in params.items()}
    required = [name for name in (op.required if op.required is not None else spec_required(op)) if name in params]
    operation: dict[str, Any] = {"responses": {"200": {"description": "success"}}}
    if op.has_body:
        media = "multipart/form-data" if op.multipart else "application/json"
        body_schema = {"type": "object", "additionalProperties": False, "required": required, "properties": params}
        operation["requestBody"] = {"required": True, "content": {media: {"schema": body_schema}}}
    else:
        in_path = set(op.path_parameters())
        operation["parameters"] = [
            {"name": name, "in": "path" if name in in_path else "query", "required": name in in_path or name in required, "schema": schema}
            for name, schema in params.items()
        ]
    return {
        "openapi": "3.1.0",
        "info": {"title": f"conformance property run: {op.label}", "version": "1"},
        "paths": {op.path: {op.method.lower(): operation}},
    }


# -- validity by the suite's OpenAPI document ----------------------------------------------------
def _parameter_schemas(op: PropertyOperation) -> tuple[dict[str, Any], list[str]]:
    return _parameter_schemas_of(op.path, op.method)


@functools.cache
def _parameter_schemas_of(path: str, method: str) -> tuple[dict[str, Any], list[str]]:
    spec_op = load_document()["paths"][path][method.lower()]
    properties, required = {}, []
    for param in spec_op.get("parameters", ()):
        properties[param["name"]] = param.get("schema", {})
        if param.get("required"):
            required.append(param["name"])
    return properties, required


@functools.cache
def _parameters_validator(path: str, method: str) -> Draft202012Validator:
    properties, required = _parameter_schemas_of(path, method)
    schema = {"type": "object", "properties": properties, "required": required}
    return Draft202012Validator(schema, registry=registry())


def _form_property_types(op: PropertyOperation) -> dict[str, set[str]]:
    """Property name -> the JSON types its (dereferenced) schema in the document allows."""
    return _form_types_of(op.path, op.method)


@functools.cache
def _form_types_of(path: str, method: str) -> dict[str, set[str]]:
    doc = load_document()
    schema = request_schema(path, method)
    if "$ref" in (schema or {}):
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    out = {}
    for name, prop in (schema or {}).get("properties", {}).items():
        out[name] = _types(prop, doc)
    return out


def array_properties(op: PropertyOperation) -> set[str]:
    """Multipart fields the document types as arrays (sent as repeated fields)."""
    return {name for name, types in _form_property_types(op).items() if "array" in types}


def _types(schema: Any, doc: dict) -> set[str]:
    if not isinstance(schema, dict):
        return set()
    if "$ref" in schema:
        return _types(doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], doc)
    kinds = schema.get("type")
    found = set(kinds if isinstance(kinds, list) else [kinds] if kinds else [])
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, ()):
            found |= _types(sub, doc)
    return found


def typed_text(text: str, types: set[str]) -> Any:
    """A form or query value (always text on the wire) read as the document types it."""
    if "integer" in types:
        try:
            return int(text)
        except ValueError:
            pass
    if "number" in types:
        try:
            value = float(text)
            if value == value and value not in (float("inf"), float("-inf")):
                return value
        except ValueError:
            pass
    if "boolean" in types and text in ("true", "false"):
        return text == "true"
    return text


def without_nulls(value: Any) -> Any:
    """``value`` with every object property whose value is null removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def contract_errors(op: PropertyOperation, *, body: Any = None, form: dict[str, Any] | None = None, params: dict[str, Any] | None = None) -> list[str]:
    """Why the request is invalid by the OpenAPI document (empty when it is valid).

    ``body`` is a JSON body; ``form`` a multipart body as sent (text fields, the file as any
    string); ``params`` the query and path parameters as sent (text).
    """
    if op.has_body and not op.multipart:
        # null for a property reads as "not given" on nearly every server (OpenAI's included):
        # judged absent, so a null optional property is neither a finding nor a violation, and
        # a null required one is a missing one.
        return schema_errors(op.request, without_nulls(body))
    if op.multipart:
        types = _form_property_types(op)
        view = {}
        for name, value in (form or {}).items():
            if value == "":
                continue  # an empty field reads as "not given", like null in JSON
            if isinstance(value, list):
                view[name] = [typed_text(v, types.get(name, set())) for v in value]
            else:
                view[name] = typed_text(value, types.get(name, set()))
        return schema_errors(op.request, view)
    properties, _ = _parameter_schemas(op)
    view = {name: typed_text(str(value), _types(properties.get(name, {}), load_document())) for name, value in (params or {}).items()}
    errors = sorted(_parameters_validator(op.path, op.method).iter_errors(view), key=lambda e: e.json_path)
    return [f"{e.json_path}: {e.message}" for e in errors]

