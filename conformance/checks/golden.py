"""Golden files: the documented example exchanges' shapes (fixtures/golden/), compared structurally.

A golden file holds what the documentation shows of one exchange — the provider's documented
examples and OpenAI's spec examples (its ``source`` block names them) — never what one server
happens to send. A shape is a response with its volatile values — ids, timestamps, fingerprints,
free text, numbers, model names, and the values the model chooses (``finish_reason``, ``status``)
— replaced by type markers (``<string>``, ``<integer>``, ``<number>``, ``<boolean>``); constants
that say what an object is (``object``, ``role``, ``type``, ``task``, ...) are kept. ``null`` reads
as absent. An array becomes the list of its distinct element shapes. A stream becomes the distinct
shapes of its chunks.

Each key of a golden object says how much it is demanded:

* ``name`` — required: the OpenAPI schema requires it and it cannot be null, or the case's request
  forces it (the file's ``source.forced`` says why). Missing: ``fail``.
* ``name?`` — optional: shown by the documentation, not required by the schema. Missing: nothing.
* ``name~`` — recommended: required only by the newest spec (specs/openapi/recommended.yaml).
  Missing: ``warn``.

Whatever its level, a field that is sent must have the golden's marker (an integer passes for
``<number>``) or constant. ``{"<one of>": [A, B]}`` accepts a value matching either shape. Extra
fields are allowed (providers add their own); each array element must match one of the golden's
element shapes (an empty golden array constrains nothing). A stream's chunks are each compared
with what any documented chunk shows (:func:`union`), and each documented chunk shape must occur.
The levels are derived from the schema (:func:`annotate`); tests keep the files and the schema in
step.

With ``--update-goldens`` the check rewrites a golden file from the target's answer without
baking the target's extras in: only the fields the golden already shows are refreshed (their
markers and constants), and the levels are re-derived from the schema. A new file takes the whole
shape, every field the schema does not require marked optional.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

from ..paths import fixtures_dir
from ..transport.base import decode_json, decode_stream
from ..vocabulary import RECOMMENDED, REQUIRED
from . import Failure, check, recommend, require, short

#: Keys whose string values are constants of the contract, compared literally. Not the values the
#: model or the timing chooses (finish_reason stop/length, status completed/incomplete).
CONSTANT_KEYS = frozenset({"object", "role", "type", "task", "completion_window", "endpoint"})
GOLDEN_VERSION = 2
OPTIONAL = "optional"
#: Key suffixes of a golden object and the level each gives (none: required).
SUFFIXES = {"?": OPTIONAL, "~": RECOMMENDED}
ONE_OF = "<one of>"


def golden_dir() -> Path:
    return fixtures_dir() / "golden"


def marker(value: Any) -> str:
    if isinstance(value, bool):
        return "<boolean>"
    if isinstance(value, int):
        return "<integer>"
    if isinstance(value, float):
        return "<number>"
    return "<string>"


def shape(value: Any, key: str | None = None, constants: frozenset[str] = CONSTANT_KEYS) -> Any:
    """The normalized shape of a JSON value (see the module docstring); ``constants`` are the
    keys whose string values are kept."""
    if isinstance(value, dict):
        return {k: shape(v, k, constants) for k, v in sorted(value.items()) if v is not None}
    if isinstance(value, list):
        distinct: list[Any] = []
        for item in value:
            s = shape(item, None, constants)
            if s not in distinct:
                distinct.append(s)
        return distinct
    if isinstance(value, str) and key in constants:
        return value
    return marker(value)


def split_key(raw: str) -> tuple[str, str]:
    """(field name, level) of a golden object's key: ``usage?`` is ("usage", "optional")."""
    if raw and raw[-1] in SUFFIXES:
        return raw[:-1], SUFFIXES[raw[-1]]
    return raw, REQUIRED


def with_level(name: str, level: str) -> str:
    return name + next((s for s, lv in SUFFIXES.items() if lv == level), "")


def _is_marker(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def _is_one_of(golden: Any) -> bool:
    return isinstance(golden, dict) and list(golden) == [ONE_OF]


def compare(golden: Any, actual: Any, path: str = "$") -> tuple[list[str], list[str]]:
    """How ``actual`` (a shape) departs from ``golden``, as (failures, recommended-level findings)."""
    if _is_one_of(golden):
        return min((compare(alt, actual, path) for alt in golden[ONE_OF]), key=lambda r: (len(r[0]), len(r[1])))
    if isinstance(golden, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {short(actual, 60)}"], []
        fails: list[str] = []
        warns: list[str] = []
        for raw, sub in golden.items():
            key, level = split_key(raw)
            if key not in actual:
                if level == REQUIRED:
                    fails.append(f"{path}.{key}: missing (null or absent)")
                elif level == RECOMMENDED:
                    warns.append(f"{path}.{key}: missing (required only by the newest spec)")
                continue
            f, w = compare(sub, actual[key], f"{path}.{key}")
            fails += f
            warns += w
        return fails, warns
    if isinstance(golden, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array, got {short(actual, 60)}"], []
        fails, warns = [], []
        for i, item in enumerate(actual):
            if not golden:
                break
            f, w = min((compare(g, item, f"{path}[{i}]") for g in golden), key=lambda r: (len(r[0]), len(r[1])))
            fails += f
            warns += w
        return fails, warns
    if golden == "<number>" and actual == "<integer>":
        return [], []  # an integral number may be written without a fraction
    if golden != actual:
        what = "type" if _is_marker(golden) else "value"
        return [f"{path}: {what} {actual!r}, the documented example has {golden!r}"], []
    return [], []


def union(shapes: list[Any]) -> Any:
    """One golden shape accepting what any of ``shapes`` documents: a field shown by every one keeps
    its level (the lowest of them), a field shown by some is optional, arrays merge their element
    shapes, objects of different ``type`` tags and differing leaves become alternatives."""
    distinct: list[Any] = []
    for s in shapes:
        for alt in (s[ONE_OF] if _is_one_of(s) else [s]):
            if alt not in distinct:
                distinct.append(alt)
    if len(distinct) == 1:
        return distinct[0]
    if distinct and all(isinstance(s, dict) for s in distinct):
        tags: dict[Any, list[Any]] = {}
        for s in distinct:
            tags.setdefault(s.get("type"), []).append(s)
        if len(tags) > 1:
            return {ONE_OF: [union(group) for group in tags.values()]}
        names = list(dict.fromkeys(split_key(raw)[0] for s in distinct for raw in s))
        out = {}
        for name in names:
            entries = [(split_key(raw)[1], sub) for s in distinct for raw, sub in s.items() if split_key(raw)[0] == name]
            levels = {level for level, _ in entries}
            if len(entries) < len(distinct) or OPTIONAL in levels:
                level = OPTIONAL
            else:
                level = RECOMMENDED if RECOMMENDED in levels else REQUIRED
            out[with_level(name, level)] = union([sub for _, sub in entries])
        return out
    if distinct and all(isinstance(s, list) for s in distinct):
        items = [item for s in distinct for item in s]
        return [union(items)] if items else []
    return {ONE_OF: distinct}


def differences(golden: Any, actual: Any, path: str = "$") -> list[str]:
    """How ``actual`` (a shape) breaks ``golden``; empty when it matches (recommended-level
    findings left out)."""
    return compare(golden, actual, path)[0]


def strip_levels(golden: Any) -> Any:
    """``golden`` without its level suffixes (alternatives kept)."""
    if isinstance(golden, dict):
        return {(raw if raw == ONE_OF else split_key(raw)[0]): strip_levels(v) for raw, v in golden.items()}
    if isinstance(golden, list):
        return [strip_levels(v) for v in golden]
    return golden


# --- levels from the OpenAPI schema -------------------------------------------------------------

def _deref(node: Any) -> tuple[Any, str | None]:
    """(``node`` with its ``$ref`` chain followed, the last component it went through)."""
    from ..openapi import load_document

    component = None
    while isinstance(node, dict) and "$ref" in node:
        component = node["$ref"].rsplit("/", 1)[-1]
        node = load_document()["components"]["schemas"][component]
    return node, component


def _nullable(node: Any) -> bool:
    node, _ = _deref(node)
    if not isinstance(node, dict):
        return False
    types = node.get("type")
    if types == "null" or (isinstance(types, list) and "null" in types) or node.get("nullable") is True:
        return True
    if None in node.get("enum", ()) or ("const" in node and node["const"] is None):
        return True
    return any(_nullable(b) for k in ("anyOf", "oneOf") for b in node.get(k, ()))


class _Branch:
    """One concrete alternative of a schema: its properties, required names, items, types, and
    the (component, nested property path) it was reached by (for recommended.yaml)."""

    def __init__(self) -> None:
        self.properties: dict[str, Any] = {}
        self.required: set[str] = set()
        self.items: list[Any] = []
        self.types: set[str] = set()
        self.enum: set[Any] = set()
        self.origin: dict[str, tuple[str | None, tuple[str, ...]]] = {}


def _branches(node: Any, origin: tuple[str | None, tuple[str, ...]]) -> list[_Branch]:
    """The concrete alternatives of ``node`` (``$ref`` followed, ``allOf`` merged, ``anyOf`` /
    ``oneOf`` expanded, null alternatives dropped)."""
    node, component = _deref(node)
    if component:
        origin = (component, ())
    if not isinstance(node, dict):
        return []
    alternatives = [b for k in ("anyOf", "oneOf") for b in node.get(k, ())]
    if alternatives:
        out = [b for alt in alternatives for b in _branches(alt, origin)]
        base = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}
        if base.get("properties") or base.get("allOf"):
            for b in out:
                _merge(b, _branches(base, origin))
        return out
    branch = _Branch()
    types = node.get("type")
    branch.types = {t for t in ([types] if isinstance(types, str) else types or ()) if t != "null"}
    branch.enum = {v for v in node.get("enum", ()) if v is not None} | ({node["const"]} if "const" in node else set())
    for name, sub in (node.get("properties") or {}).items():
        branch.properties[name] = sub
        branch.origin[name] = (origin[0], origin[1] + (name,))
    branch.required = set(node.get("required", ()))
    if "items" in node:
        branch.items = [node["items"]]
    if not branch.types and node.get("properties"):
        branch.types = {"object"}
    parts = [b for part in node.get("allOf", ()) for b in _branches(part, origin)]
    if parts:
        _merge(branch, parts)
    return [branch] if (branch.types or branch.properties or branch.items or branch.enum) else []


def _merge(branch: _Branch, parts: list[_Branch]) -> None:
    for part in parts:
        for name, sub in part.properties.items():
            branch.properties.setdefault(name, sub)
            branch.origin.setdefault(name, part.origin[name])
        branch.required |= part.required
        branch.items = branch.items or part.items
        branch.types |= part.types
        branch.enum |= part.enum


def _pick(branches: list[_Branch], value: Any) -> _Branch | None:
    """The alternative ``value`` (a shape) belongs to: by its ``type`` tag, else by most shared keys."""
    if isinstance(value, dict):
        candidates = [b for b in branches if "object" in b.types or b.properties]
        tag = value.get("type")
        if isinstance(tag, str) and not _is_marker(tag):
            tagged = [b for b in candidates if tag in _enum_of(b.properties.get("type"))]
            candidates = tagged or candidates
        names = {split_key(k)[0] for k in value}
        return max(candidates, key=lambda b: len(names & set(b.properties)), default=None)
    if isinstance(value, list):
        return next((b for b in branches if "array" in b.types or b.items), None)
    return None


def _enum_of(node: Any) -> set[Any]:
    return {v for b in _branches(node, (None, ())) for v in b.enum}


def _recommended_names() -> set[tuple[str, tuple[str, ...], str]]:
    from ..openapi import recommended_only

    return {(e["component"], tuple(e.get("at") or ()), name) for e in recommended_only() for name in e["properties"]}


def annotate(golden: Any, schema: Any, forced: Iterable[str] = (), path: str = "$") -> Any:
    """``golden`` (a shape, its suffixes ignored) with every key's level derived from ``schema``
    (an OpenAPI schema node or component name): required (and not nullable) → no suffix; relaxed
    by specs/openapi/recommended.yaml → ``~``; otherwise ``?`` — except the ``forced`` paths
    (``$.choices[].message.tool_calls``, ``$[3].usage`` for a stream's fourth chunk shape), which the
    case's request makes required. A ``<integer>`` the schema types as a number becomes ``<number>``."""
    forced = frozenset(forced)
    if isinstance(schema, str):
        schema = {"$ref": f"#/components/schemas/{schema}"}
    return _annotate(golden, schema, forced, path, _recommended_names(), (None, ()))


def _annotate(golden: Any, schema: Any, forced: frozenset[str], path: str, relaxed: set, origin: tuple) -> Any:
    if _is_one_of(golden):
        return {ONE_OF: [_annotate(alt, schema, forced, path, relaxed, origin) for alt in golden[ONE_OF]]}
    branches = _branches(schema, origin) if schema is not None else []
    if isinstance(golden, dict):
        branch = _pick(branches, golden)
        out = {}
        for raw, sub in golden.items():
            name = split_key(raw)[0]
            prop = branch.properties.get(name) if branch else None
            sub_path = f"{path}.{name}"
            if sub_path in forced:
                level = REQUIRED
            elif branch and name in branch.required and not _nullable(prop):
                component, at = branch.origin.get(name, (None, ()))
                level = RECOMMENDED if (component, at[:-1], name) in relaxed else REQUIRED
            else:
                level = OPTIONAL
            child = branch.origin.get(name, (None, ())) if branch else (None, ())
            out[with_level(name, level)] = _annotate(sub, prop, forced, sub_path, relaxed, child)
        return out
    if isinstance(golden, list):
        branch = _pick(branches, golden)
        items = branch.items[0] if branch and branch.items else None
        if path == "$" and schema is not None and not (branch and branch.items):
            # a stream: the list of its chunk shapes, each against the chunk schema
            return [_annotate(g, schema, forced, f"$[{i}]", relaxed, origin) for i, g in enumerate(golden)]
        return [_annotate(g, items, forced, f"{path}[]", relaxed, origin) for g in golden]
    if golden == "<integer>" and branches:
        types = set().union(*(b.types for b in branches))
        if "number" in types and "integer" not in types:
            return "<number>"
    return golden


# --- --update-goldens ----------------------------------------------------------------------------

def refresh(golden: Any, actual: Any) -> Any:
    """``golden`` with the markers and constants of ``actual`` where they differ, restricted to the
    fields ``golden`` shows (a documented field the target lacks stays as documented)."""
    if _is_one_of(golden):
        alts = golden[ONE_OF]
        best = min(range(len(alts)), key=lambda i: len(differences(alts[i], actual)))
        return {ONE_OF: [refresh(a, actual) if i == best else a for i, a in enumerate(alts)]}
    if isinstance(golden, dict):
        if not isinstance(actual, dict):
            return actual if not isinstance(actual, list) else []
        return {raw: refresh(sub, actual[split_key(raw)[0]]) if split_key(raw)[0] in actual else sub
                for raw, sub in golden.items()}
    if isinstance(golden, list):
        if not isinstance(actual, list):
            return actual if not isinstance(actual, dict) else {}
        out = []
        for g in golden:
            # refreshed from the target's element of the same kind (type, object, role), if any
            same = [a for a in actual if not _constants_differ(g, a)]
            out.append(refresh(g, min(same, key=lambda a: len(differences(g, a)))) if same else g)
        return out
    if not differences(golden, actual):
        return golden
    if isinstance(actual, dict):
        return {}
    if isinstance(actual, list):
        return []
    return actual


def _constants_differ(golden: Any, actual: Any) -> bool:
    """Whether an element shape's own constants (``type``, ``object``, ``role``) differ from the golden's."""
    if not (isinstance(golden, dict) and isinstance(actual, dict)):
        return type(golden) is not type(actual)
    return any(
        not _is_marker(v) and isinstance(v, str) and split_key(raw)[0] in actual and actual[split_key(raw)[0]] != v
        for raw, v in golden.items()
    )


def response_shape(ex, constants: frozenset[str] = CONSTANT_KEYS) -> tuple[str, Any]:
    """("json" or "stream", shape) of what came over the wire (both transports: the wire bytes)."""
    if ex.content_type == "text/event-stream":
        _, chunks = decode_stream(ex.raw)
        return "stream", shape(chunks, None, constants)
    body, error = decode_json(ex.raw)
    if error:
        raise Failure(f"the body is not JSON ({error}): {short(ex.text)}")
    return "json", shape(body, None, constants)


def _documented_request(request, model: str | None, uploads: dict[str, Any]) -> dict[str, Any]:
    """The request a golden file was made from: the configured model written ``$model``, an
    uploaded input file ``$upload:NAME`` (its URL changes with every run)."""
    def generic(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: generic(v) for k, v in value.items()}
        if isinstance(value, list):
            return [generic(v) for v in value]
        if isinstance(value, str) and value in uploads:
            return "$upload:" + value.rsplit("/", 1)[-1].split("?", 1)[0]
        return "$model" if model and value == model else value

    path = request.path.replace(f"/{model}", "/$model") if model else request.path
    out: dict[str, Any] = {"method": request.method, "path": path}
    if request.body is not None:
        out["body"] = generic(request.body)
    if request.form is not None:
        out["form"] = generic(request.form)
    if request.files:
        out["files"] = {name: f"fixtures/audio/{spec[0]}" for name, spec in request.files.items()}
    return out


def updated_record(
    existing: dict[str, Any] | None, kind: str, actual: Any, *, request: dict, status: int, schema: str | None, captured_from: str
) -> dict[str, Any]:
    """The golden record ``--update-goldens`` writes: an existing file refreshed (its ``source``
    kept), else the target's whole shape, documented nowhere yet (``source.examples`` empty)."""
    if existing and existing.get("kind") == kind:
        source = existing.get("source") or {}
        new_shape = refresh(existing["shape"], actual)
    else:
        source = {
            "examples": [],
            "note": f"captured from {captured_from}: keep only what a documented example shows, and name it here",
            "schema": schema,
        }
        new_shape = actual
    component = source.get("schema") or schema
    if component:
        new_shape = annotate(new_shape, component, source.get("forced", {}))
    else:
        new_shape = _all_optional(new_shape)
    return {"golden_version": GOLDEN_VERSION, "source": source, "request": request, "status": status, "kind": kind, "shape": new_shape}


def _all_optional(golden: Any) -> Any:
    if _is_one_of(golden):
        return {ONE_OF: [_all_optional(a) for a in golden[ONE_OF]]}
    if isinstance(golden, dict):
        return {with_level(split_key(k)[0], OPTIONAL): _all_optional(v) for k, v in golden.items()}
    if isinstance(golden, list):
        return [_all_optional(v) for v in golden]
    return golden


def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".golden-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)


#: Held while a golden file is read and rewritten (--update-goldens).
_UPDATING = threading.Lock()

@check(
    "golden.shape.matches",
    source="openapi: the spec's example exchanges (x-oaiMeta) and the required lists of their schemas; the provider's documented examples (fixtures/golden/*/source)",
)
def shape_matches(ctx, ex):
    """The response has the documented example's shape (fixtures/golden/): every field the schema requires or the request forces, each field sent of the documented type, with the same constants (object, role, type)."""
    name = ctx.params["golden"]
    path = golden_dir() / name
    constants = CONSTANT_KEYS - set(ctx.params.get("volatile", ()))
    kind, actual = response_shape(ex, constants)
    if ctx.settings.update_goldens:
        request = _documented_request(ex.request, ctx.model, ctx.params.get("staged", {}))
        with _UPDATING:  # both transports' runs of a case may refresh one file at once: each on top of the other
            existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
            record = updated_record(
                existing, kind, actual, request=request, status=ex.status, schema=ctx.params.get("schema"), captured_from=ctx.settings.display_url
            )
            _write(path, record)
        return f"golden updated: {name}"
    existing = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    require(existing is not None, f"no golden file {name} (write it with --update-goldens)")
    golden = existing
    require(golden.get("kind") == kind, f"the documented example is a {golden.get('kind')} answer, this is a {kind} one")
    documented = golden.get("status", ex.status)
    require(ex.status // 100 == documented // 100, f"status {ex.status}, the documented example has {documented}")
    expected = golden["shape"]
    if kind == "stream":
        # every chunk: what any documented chunk shows, of its type; then each documented chunk occurs
        fails, warns = compare([union(expected)], actual)
        missing = [s for s in expected if all(differences(s, a) for a in actual)]
        fails += [f"no chunk of the documented shape {short(s, 160)}" for s in missing]
    else:
        fails, warns = compare(expected, actual)
    if fails:
        raise Failure(f"{len(fails)} difference(s) from {name}: " + "; ".join(fails[:4]))
    recommend(not warns, f"{len(warns)} field(s) of {name} only the newest spec requires are missing: " + "; ".join(warns[:4]))
