"""Provider profiles: data saying what a target claims (features, unsupported parameters, limits)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .paths import PACKAGE_DIR, profiles_dir
from .vocabulary import BATCH_INPUT_FILE_FORMS, FEATURES

DEFAULT_STATUS_CODES: dict[str, tuple[int, ...]] = {
    "model_not_found": (404,),
    "missing_key": (401,),
    "wrong_key": (401, 403),
}


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

    def claims_endpoint(self, endpoint: str) -> bool:
        return endpoint in self.endpoints

    def claims(self, endpoint: str, feature: str) -> bool:
        return feature in self.endpoints.get(endpoint, {}).get("features", ())

    def model_lacks_feature(self, model: str | None, feature: str) -> bool:
        return model is not None and feature in self.model_lacks.get(model, frozenset())

    def unsupported(self, endpoint: str) -> list[str]:
        return list(self.endpoints.get(endpoint, {}).get("unsupported_parameters", ()))

    def endpoint_property(self, endpoint: str, name: str, default: Any = None) -> Any:
        """A documented fact about an endpoint (``endpoints.X.properties.NAME``), or ``default``."""
        return self.endpoints.get(endpoint, {}).get("properties", {}).get(name, default)

    def accepted_statuses(self, situation: str) -> tuple[int, ...]:
        return self.status_codes.get(situation, DEFAULT_STATUS_CODES[situation])


@cache
def _schema() -> dict[str, Any]:
    return json.loads((PACKAGE_DIR / "schemas" / "profile.schema.json").read_text())


def available_profiles() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    """Load a profile by name (``specs/profiles/NAME.yaml``) or by path; validate it."""
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml", ".json"} and path.exists()):
        path = profiles_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        known = ", ".join(available_profiles()) or "none"
        raise ProfileError(f"unknown profile {name_or_path!r} (known profiles: {known}; or give a path to a YAML file)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ProfileError(f"profile {path} is not valid YAML: {exc}") from exc
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(top level)"
        raise ProfileError(f"profile {path} is invalid at {where}: {errors[0].message}")
    for endpoint, claims in data["endpoints"].items():
        for feature in claims.get("features", ()):
            if feature not in FEATURES:
                raise ProfileError(f"profile {path}: endpoint {endpoint} claims unknown feature {feature!r}")
    form = data["endpoints"].get("batches", {}).get("properties", {}).get("input_file")
    if form is not None and form not in BATCH_INPUT_FILE_FORMS:
        raise ProfileError(f"profile {path}: batches input_file must be one of {', '.join(BATCH_INPUT_FILE_FORMS)}, got {form!r}")
    for model, exception in data.get("model_exceptions", {}).items():
        for feature in exception["lacks"]:
            if feature not in FEATURES:
                raise ProfileError(f"profile {path}: model {model} lacks unknown feature {feature!r}")
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
    )
