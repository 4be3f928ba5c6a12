"""Provider profiles: data saying what a target claims (features, unsupported parameters, limits)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .paths import PACKAGE_DIR, profiles_dir, sample_values_path
from .vocabulary import FEATURES
from .yamlfile import load_yaml

DEFAULT_STATUS_CODES: dict[str, tuple[int, ...]] = {
    "model_not_found": (404,),
    "missing_key": (401,),
    "wrong_key": (401, 403),
}

#: Keys a profile does not pass on to one that ``extends`` it: who it is, and its model catalogue.
NOT_INHERITED: frozenset[str] = frozenset({"name", "title", "description", "sources", "hosted", "models", "model_exceptions", "extends"})
#: The two lists of parameters a profile documents per endpoint: refused ones, and accepted-but-ignored ones.
PARAMETER_LISTS: tuple[str, ...] = ("unsupported_parameters", "ignored_parameters")


class ProfileError(ValueError):
    """The profile named on the command line cannot be used."""


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    path: str
    endpoints: dict[str, dict[str, Any]]
    models: dict[str, str] = field(default_factory=dict)
    status_codes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    code_types: tuple[str, ...] = ("string", "null")
    limits: dict[str, Any] = field(default_factory=dict)
    #: A hosted provider: ``models`` is its documented catalogue (see the profile schema).
    hosted: bool = False
    #: Model id -> features that model lacks although its endpoint claims them.
    model_lacks: dict[str, frozenset[str]] = field(default_factory=dict)
    #: The profiles this one extends, nearest first (``extends:``).
    bases: tuple[str, ...] = ()

    def claims_endpoint(self, endpoint: str) -> bool:
        return endpoint in self.endpoints

    def claims(self, endpoint: str, feature: str) -> bool:
        return feature in self.endpoints.get(endpoint, {}).get("features", ())

    def model_lacks_feature(self, model: str | None, feature: str) -> bool:
        return model is not None and feature in self.model_lacks.get(model, frozenset())

    def unsupported(self, endpoint: str) -> list[str]:
        """Parameters documented as refused on ``endpoint``."""
        return list(self.endpoints.get(endpoint, {}).get("unsupported_parameters", ()))

    def ignored(self, endpoint: str) -> list[str]:
        """Parameters documented as accepted without effect on ``endpoint``."""
        return list(self.endpoints.get(endpoint, {}).get("ignored_parameters", ()))

    def endpoint_property(self, endpoint: str, name: str, default: Any = None) -> Any:
        """A documented fact about an endpoint (``endpoints.X.properties.NAME``), or ``default``."""
        return self.endpoints.get(endpoint, {}).get("properties", {}).get(name, default)

    def accepted_statuses(self, situation: str) -> tuple[int, ...]:
        return self.status_codes.get(situation, DEFAULT_STATUS_CODES[situation])


@cache
def _schema() -> dict[str, Any]:
    return json.loads((PACKAGE_DIR / "schemas" / "profile.schema.json").read_text())


@cache
def sample_values() -> dict[str, Any]:
    """cases/unsupported_values.yaml: per endpoint, a base request and a sample value for each
    parameter a profile may list (read once; callers copy what they change)."""
    return load_yaml(sample_values_path().read_text())


def available_profiles() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def _find(name_or_path: str, near: Path | None = None) -> Path:
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml", ".json"} and path.exists():
        return path
    for directory in ([near] if near else []) + [profiles_dir()]:
        candidate = directory / f"{name_or_path}.yaml"
        if candidate.exists():
            return candidate
    known = ", ".join(available_profiles()) or "none"
    raise ProfileError(f"unknown profile {name_or_path!r} (known profiles: {known}; or give a path to a YAML file)")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path} is invalid at (top level): expected a mapping of keys, got {type(data).__name__}")
    return data


def overlay(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: mappings merge recursively, lists and scalars replace, ``null`` removes."""
    out = dict(base)
    for key, value in child.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = overlay(out[key], value)
        else:
            out[key] = value
    return out


def resolve_document(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The profile at ``path`` with its ``extends`` chain applied, and the chain's names (nearest first)."""
    data = _read(path)
    parent = data.get("extends")
    if parent is None:
        return data, ()
    if not isinstance(parent, str):
        raise ProfileError(f"profile {path}: extends must name one profile, got {parent!r}")
    base_path = _find(parent, path.parent)
    if base_path.resolve() in _seen + (path.resolve(),):
        raise ProfileError(f"profile {path}: extends {parent!r} makes a cycle")
    base, chain = resolve_document(base_path, _seen + (path.resolve(),))
    inherited = {k: v for k, v in base.items() if k not in NOT_INHERITED}
    merged = overlay(inherited, {k: v for k, v in data.items() if k != "extends"})
    return merged, (str(base.get("name", parent)),) + chain


def _check_words(path: Path, data: dict[str, Any]) -> None:
    """What the schema cannot say: features in the vocabulary, parameters with sample values."""
    table = sample_values()
    for endpoint, claims in data["endpoints"].items():
        for feature in claims.get("features", ()):
            if feature not in FEATURES:
                raise ProfileError(f"profile {path}: endpoint {endpoint} claims unknown feature {feature!r}")
        refused, ignored = (set(claims.get(key, ())) for key in PARAMETER_LISTS)
        if refused & ignored:
            raise ProfileError(f"profile {path}: {endpoint} lists {sorted(refused & ignored)} as both unsupported and ignored")
        known = table.get(endpoint, {}).get("values", {})
        for parameter in sorted(refused | ignored):
            if parameter not in known:
                raise ProfileError(
                    f"profile {path}: no sample value for {endpoint} parameter {parameter!r} "
                    f"(add one to conformance/cases/unsupported_values.yaml under {endpoint}.values)"
                )
        if (refused or ignored) and "unsupported-params" not in claims.get("features", ()):
            raise ProfileError(f"profile {path}: {endpoint} lists parameters but does not claim feature 'unsupported-params'")
    for model, exception in data.get("model_exceptions", {}).items():
        for feature in exception["lacks"]:
            if feature not in FEATURES:
                raise ProfileError(f"profile {path}: model {model} lacks unknown feature {feature!r}")


def validate_document(path: Path, data: dict[str, Any]) -> None:
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(top level)"
        raise ProfileError(f"profile {path} is invalid at {where}: {errors[0].message}")
    _check_words(path, data)


def load_profile(name_or_path: str) -> Profile:
    """Load a profile by name (``specs/profiles/NAME.yaml``) or by path; apply ``extends``; validate it."""
    path = _find(name_or_path)
    data, bases = resolve_document(path)
    validate_document(path, data)
    return Profile(
        name=data["name"],
        title=data["title"],
        path=str(path),
        endpoints=data["endpoints"],
        models=dict(data.get("models", {})),
        status_codes={k: tuple(v) for k, v in data.get("status_codes", {}).items()},
        code_types=tuple(data.get("error_envelope", {}).get("code_types", ("string", "null"))),
        limits=dict(data.get("limits", {})),
        model_lacks={m: frozenset(e["lacks"]) for m, e in data.get("model_exceptions", {}).items()},
        hosted=bool(data.get("hosted", False)),
        bases=bases,
    )
