"""Loads the conformance cases (data files beside this module) and derives the generated ones."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from ..paths import PACKAGE_DIR, fixtures_dir
from ..profiles import Profile, sample_values
from ..transport import ApiRequest
from ..vocabulary import ENDPOINTS, TRANSPORTS
from ..yamlfile import load_yaml

CASES_DIR = Path(__file__).resolve().parent
#: Every *.yaml here except the generator tables is a case file (sorted, so the order is stable).
GENERATOR_TABLES = frozenset({"unsupported_values.yaml", "controls.yaml"})
CASE_FILES = tuple(sorted(p.name for p in CASES_DIR.glob("*.yaml") if p.name not in GENERATOR_TABLES))
#: In a request string, fixtures/images/NAME as a data: URI, or as a URL the target fetches.
IMAGE_DATA, IMAGE_URL = "$image:", "$image_url:"
#: fixtures/audio/NAME as bare base64 (what input_audio.data carries).
AUDIO_DATA = "$audio:"
#: In a multipart ``files`` entry: fixtures/REL as (filename, bytes, content type).
FILE = "$file:"
_MEDIA_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif",
    ".svg": "image/svg+xml", ".pdf": "application/pdf", ".wav": "audio/wav", ".mp3": "audio/mpeg",
    ".flac": "audio/flac", ".ogg": "audio/ogg", ".txt": "text/plain", ".jsonl": "application/jsonl",
}


@dataclass(frozen=True)
class Case:
    id: str
    endpoint: str
    feature: str
    description: str
    request: dict[str, Any]
    checks: tuple[tuple[str, dict[str, Any]], ...]
    capability: str | None = "chat"
    expect: str = "success"
    transports: tuple[str, ...] = TRANSPORTS
    source: str = ""
    #: ``recommended``: the spec does not require what this case asks (findings warn at most).
    level: str = "required"
    level_reason: str = ""
    #: Other features of the endpoint the profile must claim for this case to run.
    requires: tuple[str, ...] = ()
    #: Parameters of every check of this case (e.g. the unsupported parameter's name).
    common_params: dict[str, Any] = field(default_factory=dict)

    @property
    def needs_media_url(self) -> bool:
        return IMAGE_URL in json.dumps(self.request)

    def build_request(self, model: str | None, media_url: str | None = None) -> ApiRequest:
        """The request with ``$model`` replaced by the configured model and media placeholders resolved."""
        spec = substitute_model(copy.deepcopy(self.request), model or "", media_url)
        raw = spec.get("raw_body")
        return ApiRequest(
            method=spec["method"],
            path=spec["path"],
            body=spec.get("body"),
            raw_body=raw.encode() if isinstance(raw, str) else None,
            auth=spec.get("auth", "valid"),
            params=spec.get("params"),
            form=_form(spec["form"]) if "form" in spec else None,
            files={name: fixture_file(ref) for name, ref in spec["files"].items()} if "files" in spec else None,
        )


def _form(fields: dict[str, Any]) -> dict[str, Any]:
    """Multipart fields as strings (lists stay lists: repeated fields)."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def fixture_file(ref: str) -> tuple[str, bytes, str]:
    """``$file:REL`` -> (file name, bytes of fixtures/REL, media type by suffix)."""
    rel = ref[len(FILE) :] if ref.startswith(FILE) else ref
    path = fixtures_dir() / rel
    return path.name, path.read_bytes(), _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def substitute_model(value: Any, model: str, media_url: str | None = None) -> Any:
    """``value`` with ``$model`` replaced by ``model`` and ``$image:``/``$image_url:`` strings resolved."""
    if isinstance(value, str):
        if value.startswith(IMAGE_DATA):
            return data_uri(value[len(IMAGE_DATA) :])
        if value.startswith(AUDIO_DATA):
            return base64.b64encode((fixtures_dir() / "audio" / value[len(AUDIO_DATA) :]).read_bytes()).decode()
        if value.startswith(IMAGE_URL):
            return f"{(media_url or '').rstrip('/')}/images/{value[len(IMAGE_URL):]}"
        return value.replace("$model", model)
    if isinstance(value, list):
        return [substitute_model(v, model, media_url) for v in value]
    if isinstance(value, dict):
        return {k: substitute_model(v, model, media_url) for k, v in value.items()}
    return value


@cache
def data_uri(name: str) -> str:
    """fixtures/images/NAME as a base64 data: URI."""
    path = fixtures_dir() / "images" / name
    media_type = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{media_type};base64,{base64.b64encode(path.read_bytes()).decode()}"


@cache
def _case_schema() -> dict[str, Any]:
    return json.loads((PACKAGE_DIR / "schemas" / "case.schema.json").read_text())


def _normalise_checks(items: list[Any]) -> tuple[tuple[str, dict[str, Any]], ...]:
    out = []
    for item in items:
        if isinstance(item, str):
            out.append((item, {}))
        else:
            ((name, params),) = item.items()
            out.append((name, dict(params)))
    return tuple(out)


def load_file(path: Path) -> list[Case]:
    data = load_yaml(path.read_text())
    jsonschema.validate(data, _case_schema())
    cases = []
    for raw in data:
        cases.append(
            Case(
                id=raw["id"],
                endpoint=raw["endpoint"],
                feature=raw["feature"],
                description=raw["description"],
                request=raw["request"],
                checks=_normalise_checks(raw["checks"]),
                capability=raw.get("capability", "chat"),
                expect=raw.get("expect", "success"),
                transports=tuple(raw.get("transports", TRANSPORTS)),
                source=path.name,
                level=raw.get("level", "required"),
                requires=tuple(raw.get("requires", ())),
                level_reason=raw.get("level_reason", ""),
            )
        )
    return cases


@cache
def static_cases() -> tuple[Case, ...]:
    cases: list[Case] = []
    for name in CASE_FILES:
        cases.extend(load_file(CASES_DIR / name))
    return tuple(cases)


def unsupported_values_table() -> dict[str, Any]:
    """cases/unsupported_values.yaml, read once (shared: callers copy what they change)."""
    return sample_values()


def nest(dotted: str, value: Any) -> dict[str, Any]:
    head, _, rest = dotted.partition(".")
    return {head: nest(rest, value) if rest else value}


def merge(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value
    return into


def _form_fields(name: str, value: Any) -> dict[str, Any]:
    """A multipart parameter: a list is sent as repeated ``NAME[]`` fields (as the SDK does)."""
    return {f"{name}[]": value} if isinstance(value, list) else {name: value}


def with_parameter(endpoint: str, parameter: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(request with ``parameter``'s sample value, control request without it) for ``endpoint``,
    from the one sample-values table; the control carries the parameter's companions too."""
    spec = unsupported_values_table()[endpoint]
    companions = copy.deepcopy(spec.get("companions", {}).get(parameter, {}))
    value = copy.deepcopy(spec["values"][parameter])
    control = copy.deepcopy(spec["request"])
    if "form" in control:
        control["form"].update(companions)
        request = copy.deepcopy(control)
        request["form"].update(_form_fields(parameter, value))
        # the control is sent by the check itself: its files as [name, "$file:REL", media type]
        control["files"] = {field: [Path(ref).name, ref, _MEDIA_TYPES.get(Path(ref).suffix.lower(), "application/octet-stream")] for field, ref in control["files"].items()}
    else:
        merge(control["body"], companions)
        request = copy.deepcopy(control)
        merge(request["body"], nest(parameter, value))
    return request, control


#: What each profile parameter list asks of the target, as generated cases.
_PARAMETER_CASES = {
    "unsupported_parameters": (
        "unsupported", "refusal", "is documented as unsupported: it must be refused with a 4xx naming it.",
        (("unsupported.parameter_refused", {}), ("errors.envelope", {})),
    ),
    "ignored_parameters": (
        "ignored", "success", "is documented as accepted and ignored: it must be accepted (2xx) like the request without it.",
        (("unsupported.ignored_parameter_accepted", {}),),
    ),
}


def unsupported_cases(profile: Profile) -> list[Case]:
    """One case per parameter the profile lists as unsupported (must be refused) or ignored (must
    be accepted), on every endpoint, from the one sample-values table."""
    cases = []
    for endpoint in ENDPOINTS:
        for key, (word, expect, says, checks) in _PARAMETER_CASES.items():
            for parameter in profile.endpoints.get(endpoint, {}).get(key, ()):
                request, control = with_parameter(endpoint, parameter)
                cases.append(
                    Case(
                        id=f"{endpoint}.{word}.{parameter}",
                        endpoint=endpoint,
                        feature="unsupported-params",
                        description=f"{parameter!r} {says}",
                        request=request,
                        capability=unsupported_values_table()[endpoint].get("capability"),
                        checks=checks,
                        expect=expect,
                        source="unsupported_values.yaml",
                        common_params={"parameter": parameter, "control": control},
                    )
                )
    return cases


@cache
def structured_cases() -> tuple[Case, ...]:
    """One json_schema case per keyword family of the corpus in fixtures/structured/."""
    cases = []
    for path in sorted((fixtures_dir() / "structured").glob("*.json")):
        entry = json.loads(path.read_text())
        body = {
            "model": "$model",
            "messages": [{"role": "user", "content": entry["prompt"]}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": entry["name"], "strict": entry.get("strict", True), "schema": entry["schema"]},
            },
            "max_tokens": 200,
            "temperature": 0,
        }
        checks = ("http.status_success", "sdk.accepts_response", "chat.response.schema", "chat.finish_reason.stop", "chat.structured.schema_valid")
        cases.append(
            Case(
                id=f"chat.structured.family.{entry['family'].replace('-', '_')}",
                endpoint="chat",
                feature="structured-output",
                description=entry["description"],
                request={"method": "POST", "path": ENDPOINTS["chat"], "body": body},
                checks=tuple((name, {}) for name in checks),
                source=f"fixtures/structured/{path.name}",
            )
        )
    return tuple(cases)


def image_limit_cases(profile: Profile) -> list[Case]:
    """The documented per-request image limit, plus one: refused."""
    limit = profile.limits.get("images_per_request")
    if not isinstance(limit, int):
        return []
    parts = [{"type": "text", "text": "How many images are there?"}]
    parts += [{"type": "image_url", "image_url": {"url": IMAGE_DATA + "red.png"}}] * (limit + 1)
    body = {"model": "$model", "messages": [{"role": "user", "content": parts}], "max_tokens": 10}
    return [
        Case(
            id="chat.vision.over_image_limit",
            endpoint="chat",
            feature="vision",
            capability="vision",
            description=f"{limit + 1} images, one more than the documented limit of {limit}: refused.",
            request={"method": "POST", "path": ENDPOINTS["chat"], "body": body},
            checks=(("chat.vision.image_limit_enforced", {"limit": limit}), ("errors.envelope", {})),
            expect="refusal",
            source="profile limits.images_per_request",
        )
    ]


def _audio_manifest() -> list[dict[str, Any]]:
    path = fixtures_dir() / "audio" / "manifest.json"
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    entries = data.get("files", data) if isinstance(data, dict) else data
    return [e for e in entries if isinstance(e, dict) and e.get("format") in ("wav", "mp3")]


@cache
def audio_cases() -> tuple[Case, ...]:
    """One input_audio case per speech fixture (wav, mp3): the answer must contain the spoken words."""
    cases = []
    for entry in _audio_manifest():
        name = Path(entry["file"]).name
        content = [
            {"type": "text", "text": "Transcribe this audio exactly. Answer with the transcript only."},
            {"type": "input_audio", "input_audio": {"data": AUDIO_DATA + name, "format": entry["format"]}},
        ]
        body = {"model": "$model", "messages": [{"role": "user", "content": content}], "max_tokens": 40, "temperature": 0}
        checks = (
            ("http.status_success", {}),
            ("sdk.accepts_response", {}),
            ("chat.response.schema", {}),
            ("chat.message.role_and_content", {}),
            ("chat.audio.transcribes", {"words": list(entry["words"])}),
        )
        cases.append(
            Case(
                id=f"chat.audio.{entry['format']}",
                endpoint="chat",
                feature="audio-input",
                capability="audio",
                description=f"A {entry['format'].upper()} speech clip as input_audio; the answer contains its words.",
                request={"method": "POST", "path": ENDPOINTS["chat"], "body": body},
                checks=checks,
                source=f"fixtures/audio/{name}",
            )
        )
    return tuple(cases)


def generated_cases(profile: Profile) -> list[Case]:
    """Cases from the ``gen_*.py`` modules beside this one: each has ``cases(profile) -> list[Case]``."""
    import importlib
    import pkgutil

    out: list[Case] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("gen_"):
            out.extend(importlib.import_module(f"{__name__}.{info.name}").cases(profile))
    return out


@cache
def _controls() -> dict[str, Any]:
    return load_yaml((CASES_DIR / "controls.yaml").read_text())


def control_case(endpoint: str) -> Case:
    """The simplest valid request to ``endpoint`` (controls.yaml) as a case without checks."""
    entry = _controls()[endpoint]
    return Case(
        id=f"{endpoint}.control",
        endpoint=endpoint,
        feature="core",
        description="the simplest valid request to the endpoint",
        request=entry["request"],
        checks=(),
        capability=entry.get("capability"),
        source="controls.yaml",
    )


def all_cases(profile: Profile) -> list[Case]:
    return (
        list(static_cases())
        + list(structured_cases())
        + list(audio_cases())
        + unsupported_cases(profile)
        + image_limit_cases(profile)
        + generated_cases(profile)
    )
