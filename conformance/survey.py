"""The parameter survey: what a target does with each request parameter, and a draft profile from it.

For each endpoint of specs/survey/endpoints.yaml the base request is sent, then the base request
plus one parameter at a time. Each parameter is classified:

- ``honoured``: accepted, and its effect is seen (the predicate of ``effects``, or, without one,
  an answer that differs from the base answer beyond ids, times and usage);
- ``accepted-without-effect``: accepted, and nothing changed that the suite can see;
- ``rejected``: a 4xx naming the parameter as unsupported, unknown or not available;
- ``rejected-value``: a 4xx naming the parameter for its value (the sample value may be at fault);
- ``refused``: a 4xx not naming it (often: the parameter needs others to mean anything);
- ``broken``: a 5xx;
- ``error``: we could not judge (unreachable, 429, gateway statuses).

The draft profile claims the endpoints whose base request worked, lists the ``rejected`` parameters
as unsupported, and claims the features whose parameters were honoured; the rest goes in comments
for a person to review.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from .cases import Case, merge, nest, unsupported_values_table
from .openapi import load_document
from .paths import specs_dir
from .runner import exchange_evidence, resolve_uploads, stage_uploads
from .settings import Settings
from .transport import Counter, Exchange, Transport, Unjudgeable, send_with_retry
from .sse import parse_sse
from .vocabulary import ENDPOINTS, MODEL_CHAT_FALLBACK, MODEL_GIVEN

#: The message of a parameter honoured by its own effect: only those make the draft claim a feature.
EFFECT_SEEN = "accepted; effect seen"
HONOURED, NO_EFFECT, REJECTED, REJECTED_VALUE, REFUSED, BROKEN, ERROR = (
    "honoured", "accepted-without-effect", "rejected", "rejected-value", "refused", "broken", "error",
)
CLASSES = (HONOURED, NO_EFFECT, REJECTED, REJECTED_VALUE, REFUSED, BROKEN, ERROR)
#: An error message saying a parameter is not supported (rather than its value being wrong).
_UNSUPPORTED_WORDS = re.compile(
    r"not supported|unsupported|not available|unrecognized|unknown (parameter|argument|field)|not allowed"
    r"|extra (fields|inputs)|not permitted|unexpected (field|argument|parameter|keyword)|extra_forbidden",
    re.I,
)
#: Answer fields that differ between any two calls: ignored when comparing with the base answer.
_VOLATILE = frozenset({"id", "created", "created_at", "completed_at", "system_fingerprint", "usage", "expires_at", "in_progress_at", "input_file_id"})
#: Parameter (per endpoint) -> the feature a profile claims when it is honoured.
FEATURE_OF = {
    "chat": {"stream": "streaming", "stream_options": "stream-usage", "max_tokens": "max-tokens", "max_completion_tokens": "max-tokens", "stop": "stop", "n": "n", "logprobs": "logprobs", "top_logprobs": "logprobs", "response_format": "structured-output", "tools": "tools", "tool_choice": "tools", "parallel_tool_calls": "parallel-tools"},
    "responses": {"stream": "streaming", "max_output_tokens": "max-tokens", "text": "structured-output", "tools": "tools"},
    "embeddings": {"encoding_format": "embedding-base64", "dimensions": "embedding-dimensions"},
    # rerank-documents also needs documents as {text} objects, which no probe tries: not determined
    "rerank": {},
    "transcriptions": {"response_format": "response-formats"},
}


def survey_path():
    return specs_dir() / "survey" / "endpoints.yaml"


@functools.cache
def survey_table() -> dict[str, Any]:
    with open(survey_path(), encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    unknown = set(data) - set(ENDPOINTS)
    if unknown:
        raise ValueError(f"specs/survey/endpoints.yaml: unknown endpoints {sorted(unknown)}")
    return data


@dataclass
class Finding:
    parameter: str
    classification: str
    status: int | None
    message: str
    value: Any = None
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "classification": self.classification, "status": self.status, "message": self.message, "value": self.value, "evidence": self.evidence}


# -- the parameters and their values ---------------------------------------------------------------
def _request_properties(endpoint: str) -> dict[str, Any]:
    """The request body's properties in the OpenAPI document (allOf flattened)."""
    doc = load_document()
    schemas = doc["components"]["schemas"]
    operation = doc["paths"][ENDPOINTS[endpoint]].get("post", {})
    content = operation.get("requestBody", {}).get("content", {})
    schema = next(iter(content.values()), {}).get("schema", {}) if content else {}
    out: dict[str, Any] = {}

    def walk(node: Any) -> None:
        while isinstance(node, dict) and "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        if not isinstance(node, dict):
            return
        for sub in node.get("allOf", ()):
            walk(sub)
        out.update(node.get("properties", {}))

    walk(schema)
    return out


def parameters(endpoint: str) -> list[str]:
    """Every parameter surveyed for ``endpoint``: the spec's request properties not fixed by the
    base request (unless given a value to try), and the table's documented-unsupported names."""
    entry = survey_table()[endpoint]
    base = {**(entry["request"].get("body") or entry["request"].get("form") or {}), **(entry["request"].get("files") or {})}
    values = entry.get("values", {})
    names = [name for name in _request_properties(endpoint) if name not in base or name in values]
    if entry.get("table"):
        names += [name for name in unsupported_values_table()[entry["table"]]["values"] if name not in names]
    return names


@functools.cache
def _generated_values(endpoint: str) -> dict[str, Any]:
    """A valid value for each request property by the spec: schemathesis' positive coverage
    case that adds that property alone to the required ones."""
    import warnings

    import schemathesis
    from schemathesis import GenerationMode
    from schemathesis.config import GenerationConfig

    doc = load_document()
    properties = _request_properties(endpoint)
    raw = {
        "openapi": "3.1.0",
        "info": {"title": "survey", "version": "1"},
        "paths": {"/p": {"post": {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object", "properties": properties, "additionalProperties": False}}}}, "responses": {"200": {"description": "ok"}}}}},
        "components": doc["components"],
    }
    schema = schemathesis.openapi.from_dict(raw)
    values: dict[str, Any] = {}
    mode = GenerationMode.POSITIVE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in schema.iter_coverage_cases(schema["/p"]["POST"], generation_modes=[mode], generation_config=GenerationConfig(modes=[mode])):
            body = case.body
            if isinstance(body, dict):
                for name, value in body.items():
                    if value is not None and name not in values:
                        values[name] = value
            if len(values) == len(properties):
                break
    return values


def value_for(endpoint: str, name: str) -> Any:
    """The value tried for ``name``: the survey table's, the unsupported-values table's, else the spec's."""
    entry = survey_table()[endpoint]
    if name in entry.get("values", {}):
        return entry["values"][name]
    if entry.get("table"):
        table = unsupported_values_table()[entry["table"]]["values"]
        if name in table:
            return table[name]
    return _generated_values(endpoint).get(name)


def probe_request(endpoint: str, name: str | None, value: Any = None) -> dict[str, Any]:
    """The base request of ``endpoint``, with parameter ``name`` set to ``value`` (and its companions)."""
    entry = survey_table()[endpoint]
    request = copy.deepcopy(entry["request"])
    if name is None:
        return request
    companions = entry.get("companions", {}).get(name)
    if companions is None and entry.get("table"):
        companions = unsupported_values_table()[entry["table"]].get("companions", {}).get(name)
    companions = copy.deepcopy(companions or {})
    if "form" in request:
        field_name = f"{name}[]" if isinstance(value, list) else name
        request["form"][field_name] = copy.deepcopy(value)
        request["form"].update(companions)
    else:
        merge(request["body"], companions)
        merge(request["body"], nest(name, copy.deepcopy(value)))
    return request


# -- effects -----------------------------------------------------------------------------------------
def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def effect_seen(effect: dict[str, Any], ex: Exchange) -> bool:
    """Whether the answer shows ``effect`` (one predicate of specs/survey/endpoints.yaml)."""
    (kind, arg), = effect.items()
    body = ex.json
    if kind == "content_type":
        return ex.content_type == arg
    if kind == "present":
        return _at(body, arg) is not None
    if kind == "at_most":
        found = _at(body, arg["path"])
        return isinstance(found, (int, float)) and found <= arg["value"]
    if kind == "count":
        found = _at(body, arg["path"])
        return isinstance(found, list) and len(found) == arg["value"]
    if kind == "length":
        found = _at(body, arg["path"])
        return isinstance(found, list) and len(found) == arg["value"]
    if kind == "stream_usage":
        if ex.content_type != "text/event-stream":
            return False
        for event in parse_sse(ex.raw).events:
            try:
                chunk = json.loads(event.data)
            except ValueError:
                continue
            if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
                return True
        return False
    if kind == "string":
        return isinstance(_at(body, arg), str)
    if kind == "json_text":
        text = _at(body, arg)
        try:
            json.loads(text)
            return isinstance(text, str)
        except (TypeError, ValueError):
            return False
    raise ValueError(f"unknown survey effect {kind!r}")


def _comparable(ex: Exchange) -> Any:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _VOLATILE}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    if ex.content_type == "text/event-stream":
        return ["stream"]
    return strip(ex.json) if ex.json is not None else ex.raw


def _names(ex: Exchange, name: str) -> tuple[bool, str]:
    """(the refusal names ``name``, its message)."""
    body = ex.json if isinstance(ex.json, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    if isinstance(error, dict) and "message" not in error and "detail" in error:
        # FastAPI: {"detail": "Unexpected fields ..."} or {"detail": [{"loc": [...], "msg", "type"}]}
        detail = error["detail"]
        if isinstance(detail, list):
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')} ({d.get('type')})" for d in detail if isinstance(d, dict))
        error = {"message": str(detail)}
    message = str(error.get("message") or ex.text)[:300] if isinstance(error, dict) else ex.text[:300]
    param = str(error.get("param") or "") if isinstance(error, dict) else ""
    head = name.split(".")[0]
    named = any(n and (n in param or n in message) for n in {name, head, name.rsplit(".", 1)[-1]})
    return named, message


def classify(name: str, ex: Exchange, base: Exchange, effect: dict[str, Any] | None) -> tuple[str, str]:
    if ex.status >= 500:
        return BROKEN, f"server error {ex.status}"
    if 400 <= ex.status < 500:
        named, message = _names(ex, name)
        if not named:
            return REFUSED, f"{ex.status} not naming it: {message}"
        body = ex.json if isinstance(ex.json, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        code = str(error.get("code") or "") if isinstance(error, dict) else ""
        if _UNSUPPORTED_WORDS.search(message) or "unsupported" in code or "unknown" in code:
            return REJECTED, f"{ex.status}: {message}"
        return REJECTED_VALUE, f"{ex.status} for its value: {message}"
    if effect is not None:
        if effect_seen(effect, ex):
            return HONOURED, f"{EFFECT_SEEN} ({next(iter(effect))})"
        return NO_EFFECT, f"accepted; the expected effect ({json.dumps(effect)}) is not there"
    if _comparable(ex) != _comparable(base):
        return HONOURED, "accepted; the answer differs from the base answer"
    return NO_EFFECT, "accepted; the answer is the same as without it"


# -- running -------------------------------------------------------------------------------------------
def usable_models(settings: Settings) -> dict[str, str]:
    """The models the survey may use: those the user gave (and chat-like ones falling back to a given
    chat model) — never a profile's defaults the user did not name (they belong to another target);
    the embedded run's profile models are its own."""
    if settings.profile_models_configured:
        return dict(settings.models)
    given = {c: m for c, m in settings.models.items() if settings.model_origins.get(c) == MODEL_GIVEN}
    if settings.model_origins.get("chat") == MODEL_GIVEN:
        given.update({c: m for c, m in settings.models.items() if settings.model_origins.get(c) == MODEL_CHAT_FALLBACK})
    return given


def _send(endpoint: str, request: dict[str, Any], settings: Settings, transport: Transport, counter: Counter, label: str) -> Exchange:
    entry = survey_table()[endpoint]
    capability = entry.get("capability")
    model = usable_models(settings).get(capability) if capability else None
    case = Case(id=f"survey.{endpoint}.{label}", endpoint=endpoint, feature="core", description="survey", request=request, checks=(), capability=capability)
    api_request = case.build_request(model, settings.fixtures_url)
    staged = stage_uploads(case, settings, model, transport.name)
    api_request.body = resolve_uploads(api_request.body, staged)
    return send_with_retry(transport, api_request, counter)


def survey_endpoint(endpoint: str, settings: Settings, transport: Transport, counter: Counter, workers: int = 4) -> dict[str, Any]:
    """The base request's outcome and one finding per parameter."""
    entry = survey_table()[endpoint]
    capability = entry.get("capability")
    if capability and not usable_models(settings).get(capability):
        return {"skipped": f"no model configured for capability {capability!r} (use --model {capability}=NAME)"}
    if "$upload:" in json.dumps(entry["request"]) and settings.s3 is None:
        return {"skipped": "no object storage configured (batch input files): set the AWS_* variables and --s3-bucket"}
    try:
        base = _send(endpoint, probe_request(endpoint, None), settings, transport, counter, "base")
    except Unjudgeable as exc:
        return {"skipped": f"the base request could not be sent: {exc}"}
    if not base.ok:
        _, message = _names(base, "")
        return {"base": {"status": base.status, "message": message, "evidence": exchange_evidence(base)}, "skipped": f"the base request was refused ({base.status}): the endpoint is not surveyed"}

    def one(item: tuple[str, Any]) -> Finding:
        name, value = item
        try:
            ex = _send(endpoint, probe_request(endpoint, name, value), settings, transport, counter, name)
        except Unjudgeable as exc:
            return Finding(name, ERROR, None, str(exc), value)
        if ex.status in (429, 502, 503, 504):
            return Finding(name, ERROR, ex.status, f"status {ex.status}: could not judge", value, exchange_evidence(ex))
        classification, message = classify(name, ex, base, entry.get("effects", {}).get(name))
        return Finding(name, classification, ex.status, message, value, exchange_evidence(ex))

    # values first, in this thread: schemathesis' generation is not thread-safe
    items = [(name, value_for(endpoint, name)) for name in parameters(endpoint)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        findings = list(pool.map(one, items))
    result: dict[str, Any] = {"base": {"status": base.status}, "parameters": [f.as_dict() for f in findings]}
    body = entry["request"].get("body") or {}
    if base.content_type == "text/event-stream" and not body.get("stream"):
        result["base"]["note"] = "the base request (without stream) was answered as an SSE stream, not JSON: effects judged on JSON are not determined"
    return result


def run_survey(settings: Settings, transport: Transport, workers: int = 4) -> dict[str, Any]:
    counter = Counter()
    endpoints = {}
    for endpoint in survey_table():
        if settings.selects(endpoint):
            endpoints[endpoint] = survey_endpoint(endpoint, settings, transport, counter, workers)
    return {"survey_version": 1, "target": {"base_url": settings.display_url, "models": usable_models(settings)}, "usage": counter.as_dict(), "endpoints": endpoints}


# -- the draft profile ---------------------------------------------------------------------------------
def draft_profile(survey: dict[str, Any], name: str | None = None) -> str:
    """A profile YAML (schemas/profile.schema.json) drafted from a survey, with review comments."""
    host = urlsplit(survey["target"]["base_url"]).hostname or "target"
    title = f"{name} (surveyed at {host})" if name else f"{host} (surveyed)"
    name = name or re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") or "target"
    lines = [
        f"# Draft profile written by `conformance survey` for {survey['target']['base_url']}.",
        "# Review it: a parameter refused for its value, or refused without being named, is listed in",
        "# comments only; a parameter accepted without effect may be silently ignored.",
        "profile_version: 1",
        f"name: {name}",
        f"title: {json.dumps(title)}",
        "description: Drafted from a parameter survey; to be reviewed.",
        "sources:",
        f"  - conformance survey of {survey['target']['base_url']}",
        "endpoints:",
    ]
    models_claimed = {"models": ["core", "auth", "errors"]}
    for endpoint, result in survey["endpoints"].items():
        if "parameters" not in result:
            lines.append(f"  # {endpoint}: not claimed — {result.get('skipped', 'not surveyed')}")
            continue
        findings = result["parameters"]
        # auth is not claimed: the survey does not probe it (a request without a key) yet
        features = ["core", "errors"]
        undetermined = []
        for finding in findings:
            feature = FEATURE_OF.get(endpoint, {}).get(finding["parameter"].split(".")[0])
            if not feature or feature in features:
                continue
            # a feature is claimed only from an effect the parameter itself causes
            if finding["classification"] == HONOURED and finding["message"].startswith(EFFECT_SEEN):
                features.append(feature)
            elif finding["classification"] == HONOURED:
                undetermined.append(f"{feature}: not determined ({finding['parameter']} changed the answer, but not by its own effect)")
        rejected = [f["parameter"] for f in findings if f["classification"] == REJECTED]
        if rejected:
            features.append("unsupported-params")
        if "note" in result.get("base", {}):
            lines.append(f"  # {endpoint}: {result['base']['note']}")
        lines.append(f"  {endpoint}:")
        lines.append(f"    features: [{', '.join(features)}]")
        lines += [f"    # {line}" for line in dict.fromkeys(undetermined)]
        if rejected:
            lines.append("    unsupported_parameters:")
            lines += [f"      - {p}" for p in rejected]
        for finding in findings:
            if finding["classification"] not in (REJECTED, HONOURED):
                lines.append(f"    # {finding['parameter']}: {finding['classification']} — {finding['message'][:150]}".replace("\n", " "))
    if any("parameters" in r for r in survey["endpoints"].values()):
        lines.append("  models:")
        lines.append(f"    features: [{', '.join(models_claimed['models'])}]")
    models = survey["target"].get("models") or {}
    if models:
        lines.append("models:")
        lines += [f"  {capability}: {model}" for capability, model in sorted(models.items())]
    return "\n".join(lines) + "\n"


def summary_lines(survey: dict[str, Any]) -> list[str]:
    """A terminal table: one line per endpoint, then the non-honoured parameters."""
    out = []
    for endpoint, result in survey["endpoints"].items():
        if "parameters" not in result:
            out.append(f"{endpoint:15} skipped: {result.get('skipped')}")
            continue
        counts: dict[str, int] = {}
        for finding in result["parameters"]:
            counts[finding["classification"]] = counts.get(finding["classification"], 0) + 1
        out.append(f"{endpoint:15} " + ", ".join(f"{counts[c]} {c}" for c in CLASSES if c in counts))
        for finding in result["parameters"]:
            if finding["classification"] != HONOURED:
                out.append(f"  {finding['classification']:24} {finding['parameter']}: {finding['message'][:110]}".replace("\n", " "))
    return out
