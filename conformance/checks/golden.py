"""Golden files: the documented example exchanges' shapes (fixtures/golden/), compared structurally.

A shape is the response with its volatile values — ids, timestamps, fingerprints, free text,
numbers, model names — replaced by type markers (``<string>``, ``<integer>``, ``<number>``,
``<boolean>``); constants that say what an object is (``object``, ``role``, ``type``,
``finish_reason``, ``status``, ...) are kept. ``null`` reads as absent. An array becomes the list
of its distinct element shapes. A stream becomes the distinct shapes of its chunks.

A response matches a golden shape when every field the golden shows is there with the same marker
or constant (extra fields are allowed: providers add their own), each array element matches one of
the golden's element shapes, and — for streams — each golden chunk shape occurs. With
``--update-goldens`` the check writes the target's shape instead (and passes).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..paths import fixtures_dir
from ..transport.base import decode_json, decode_stream
from . import Failure, check, require, short

#: Keys whose string values are constants of the contract, compared literally.
CONSTANT_KEYS = frozenset({"object", "role", "type", "finish_reason", "status", "task", "completion_window", "endpoint"})
GOLDEN_VERSION = 1


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


def _is_marker(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def differences(golden: Any, actual: Any, path: str = "$") -> list[str]:
    """How ``actual`` (a shape) departs from ``golden``; empty when it matches."""
    if isinstance(golden, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {short(actual, 60)}"]
        out = []
        for key, sub in golden.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing (null or absent)")
            else:
                out += differences(sub, actual[key], f"{path}.{key}")
        return out
    if isinstance(golden, list):
        if not isinstance(actual, list):
            return [f"{path}: expected an array, got {short(actual, 60)}"]
        out = []
        for i, item in enumerate(actual):
            if golden and all(differences(g, item) for g in golden):
                best = min((differences(g, item, f"{path}[{i}]") for g in golden), key=len)
                out += best
        return out
    if golden == "<number>" and actual == "<integer>":
        return []  # an integral number may be written without a fraction
    if golden != actual:
        what = "type" if _is_marker(golden) else "value"
        return [f"{path}: {what} {actual!r}, the documented example has {golden!r}"]
    return []


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


def _write(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".golden-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)


@check("golden.shape.matches")
def shape_matches(ctx, ex):
    """The response has the documented example's shape (fixtures/golden/): every field it shows, of the same type, with the same constants (object, role, type, finish_reason, status)."""
    name = ctx.params["golden"]
    path = golden_dir() / name
    constants = CONSTANT_KEYS - set(ctx.params.get("volatile", ()))
    kind, actual = response_shape(ex, constants)
    if ctx.settings.update_goldens:
        record = {
            "golden_version": GOLDEN_VERSION,
            "request": _documented_request(ex.request, ctx.model, ctx.params.get("staged", {})),
            "status": ex.status,
            "kind": kind,
            "shape": actual,
        }
        _write(path, record)
        return f"golden updated: {name}"
    require(path.is_file(), f"no golden file {name} (write it with --update-goldens)")
    golden = json.loads(path.read_text(encoding="utf-8"))
    require(golden.get("kind") == kind, f"the documented example is a {golden.get('kind')} answer, this is a {kind} one")
    documented = golden.get("status", ex.status)
    require(ex.status // 100 == documented // 100, f"status {ex.status}, the documented example has {documented}")
    expected = golden["shape"]
    found = differences(expected, actual)
    if kind == "stream":
        missing = [s for s in expected if all(differences(s, a) for a in actual)]
        found += [f"no chunk of the documented shape {short(s, 160)}" for s in missing]
    if found:
        raise Failure(f"{len(found)} difference(s) from {name}: " + "; ".join(found[:4]))
