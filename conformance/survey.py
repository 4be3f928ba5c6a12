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

The base request is also sent without a key, with a wrong key and naming an unknown model (the
``PROBES``), and /models is listed and one listed model retrieved.

The draft profile claims the endpoints whose base request worked, lists the ``rejected`` parameters
as unsupported, claims the features whose parameters showed their own effect (and those the base
answer shows: unit vectors), ``auth`` where both keyless probes were refused, ``errors`` where every
refusal seen is the OpenAI envelope, and the refusal statuses and error-code types that are not
OpenAI's; the rest goes in comments for a person to review.
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


from .cases import Case, merge, nest, unsupported_values_table
from .checks.errors import code_type, envelope_problem
from .openapi import load_document
from .paths import specs_dir
from .runner import exchange_evidence, resolve_uploads, stage_uploads
from .settings import Settings
from .profiles import DEFAULT_STATUS_CODES, sample_values
from .sse import parse_sse
from .transport import UNJUDGEABLE_STATUSES, ApiRequest, Counter, Exchange, Transport, Unjudgeable, policy, send_with_retry
from .yamlfile import load_yaml
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


#: The model the unknown-model probe names (the suite's own unknown-model cases use it too).
NO_SUCH_MODEL = "conformance-no-such-model"
#: Target-level probes sent with each endpoint's base request: the situation (a key of a profile's
#: status_codes) -> how the base request is changed. They decide `auth`, `errors`, status_codes and
#: error_envelope in the draft.
PROBES: dict[str, dict[str, str]] = {
    "missing_key": {"auth": "none"},
    "wrong_key": {"auth": "wrong"},
    "model_not_found": {"model": NO_SUCH_MODEL},
}


def _unit_vectors(ex: Exchange) -> bool:
    """Every vector of an embeddings answer has L2 norm 1 (within float32 rounding)."""
    data = ex.json.get("data") if isinstance(ex.json, dict) else None
    vectors = [d.get("embedding") for d in data if isinstance(d, dict)] if isinstance(data, list) else []
    return bool(vectors) and all(
        isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v) and abs(sum(x * x for x in v) ** 0.5 - 1) < 1e-3
        for v in vectors
    )


#: Features the base answer itself shows (endpoint -> feature -> predicate on the base exchange).
BASE_FEATURES = {"embeddings": {"normalized-vectors": _unit_vectors}}


def survey_path():
    return specs_dir() / "survey" / "endpoints.yaml"


@functools.cache
def survey_table() -> dict[str, Any]:
    with open(survey_path(), encoding="utf-8") as fh:
        data = load_yaml(fh)
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
    #: For a refusal: "ok" when its body is the OpenAI error envelope, else what is wrong with it.
    envelope: str | None = None
    #: For an enveloped refusal: the JSON type of its error.code (CODE_TYPES words).
    code_type: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {"parameter": self.parameter, "classification": self.classification, "status": self.status, "message": self.message, "value": self.value, "evidence": self.evidence}
        if self.envelope is not None:
            out["envelope"] = self.envelope
        if self.code_type is not None:
            out["code_type"] = self.code_type
        return out


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


def companions_of(endpoint: str, name: str) -> dict[str, Any]:
    """The fields parameter ``name`` needs to mean anything (the survey table's, else the sample table's)."""
    entry = survey_table()[endpoint]
    companions = entry.get("companions", {}).get(name)
    if companions is None and entry.get("table"):
        companions = unsupported_values_table()[entry["table"]].get("companions", {}).get(name)
    return copy.deepcopy(companions or {})


def control_request(endpoint: str, name: str) -> dict[str, Any]:
    """The base request with only the companions of ``name``: what its effect is judged against."""
    request = copy.deepcopy(survey_table()[endpoint]["request"])
    companions = companions_of(endpoint, name)
    if "form" in request:
        request["form"].update(companions)
    else:
        merge(request["body"], companions)
    return request


def probe_request(endpoint: str, name: str | None, value: Any = None) -> dict[str, Any]:
    """The base request of ``endpoint``, with parameter ``name`` set to ``value`` (and its companions)."""
    entry = survey_table()[endpoint]
    request = copy.deepcopy(entry["request"])
    if name is None:
        return request
    companions = companions_of(endpoint, name)
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
        return BROKEN, f"server error {ex.status} on {ex.attempts} attempt(s), while the base request is answered"
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


def _send(endpoint: str, request: dict[str, Any], settings: Settings, transport: Transport, counter: Counter, label: str, model: str | None = None) -> Exchange:
    entry = survey_table()[endpoint]
    capability = entry.get("capability")
    model = model or (usable_models(settings).get(capability) if capability else None)
    case = Case(id=f"survey.{endpoint}.{label}", endpoint=endpoint, feature="core", description="survey", request=request, checks=(), capability=capability)
    api_request = case.build_request(model, settings.fixtures_url)
    staged = stage_uploads(case, settings, model, transport.name)
    api_request.body = resolve_uploads(api_request.body, staged)
    return send_with_retry(transport, api_request, counter)


def refusal_record(ex: Exchange) -> dict[str, Any]:
    """What a probe's answer says: its status, and for a refusal whether its body is the OpenAI
    error envelope (``envelope``: "ok" or the problem) and the JSON type of its ``code``."""
    record: dict[str, Any] = {"status": ex.status}
    if ex.status in UNJUDGEABLE_STATUSES:
        record["error"] = f"status {ex.status}: could not judge"
    elif not ex.ok:
        problem = envelope_problem(ex)
        record["envelope"] = problem or "ok"
        if problem is None:
            record["code_type"] = code_type((ex.json or {})["error"].get("code"))
        record["message"] = _names(ex, "")[1][:200]
    record["evidence"] = exchange_evidence(ex)
    return record


def _probe(send, request: dict[str, Any], situation: str) -> dict[str, Any]:
    change = PROBES[situation]
    request = copy.deepcopy(request)
    if "auth" in change:
        request["auth"] = change["auth"]
    try:
        ex = send(request, f"probe.{situation}", change.get("model"))
    except Unjudgeable as exc:
        return {"status": None, "error": str(exc)}
    return refusal_record(ex)


def endpoint_probes(endpoint: str, settings: Settings, transport: Transport, counter: Counter) -> dict[str, Any]:
    """The base request without a key, with a wrong key and (where it names a model) with an unknown
    model: one record per situation."""
    entry = survey_table()[endpoint]

    def send(request: dict[str, Any], label: str, model: str | None) -> Exchange:
        return _send(endpoint, request, settings, transport, counter, label, model)

    situations = [s for s in PROBES if s != "model_not_found" or (entry.get("capability") and endpoint != "batches")]
    return {situation: _probe(send, probe_request(endpoint, None), situation) for situation in situations}


def _get(path: str, transport: Transport, counter: Counter, auth: str = "valid") -> Exchange:
    return send_with_retry(transport, ApiRequest("GET", path, auth=auth), counter)


def survey_models(settings: Settings, transport: Transport, counter: Counter) -> dict[str, Any]:
    """GET /models (a list of Model objects?), GET /models/{id} of a listed model, and the probes:
    without a key, with a wrong key, an unknown model id."""
    try:
        listed = _get("/models", transport, counter)
    except Unjudgeable as exc:
        return {"skipped": f"GET /models could not be sent: {exc}"}
    base: dict[str, Any] = {"status": listed.status}
    body = listed.json if isinstance(listed.json, dict) else {}
    data = body.get("data")
    ids = [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) else []
    if not listed.ok:
        return {"base": {**base, "evidence": exchange_evidence(listed)}, "skipped": f"GET /models was refused ({listed.status}): the endpoint is not surveyed"}
    if not (isinstance(data, list) and len(ids) == len(data) and all(isinstance(i, str) and i for i in ids)):
        return {"base": {**base, "evidence": exchange_evidence(listed)}, "skipped": "GET /models did not answer a list of models ({\"data\": [{\"id\": ...}]}): the endpoint is not claimed"}
    base["ids"] = ids[:50]
    given = list(dict.fromkeys(usable_models(settings).values()))
    # retrieve a model the user gave and the list holds, else one the user gave, else a listed one
    model = next((m for m in given if m in ids), None) or next(iter(given), None) or next(iter(ids), None)
    result: dict[str, Any] = {"base": base}
    if model is None:
        result["retrieve"] = {"model": None, "status": None, "error": "no model to retrieve (an empty list, and none given with --model)"}
    else:
        try:
            got = _get(f"/models/{model}", transport, counter)
            result["retrieve"] = {"model": model, "status": got.status, "ok": got.ok and isinstance(got.json, dict) and got.json.get("id") == model, "evidence": exchange_evidence(got)}
        except Unjudgeable as exc:
            result["retrieve"] = {"model": model, "status": None, "error": str(exc)}
    probes = {}
    for situation, auth, path in (("missing_key", "none", "/models"), ("wrong_key", "wrong", "/models"), ("model_not_found", "valid", f"/models/{NO_SUCH_MODEL}")):
        try:
            probes[situation] = refusal_record(_get(path, transport, counter, auth))
        except Unjudgeable as exc:
            probes[situation] = {"status": None, "error": str(exc)}
    result["probes"] = probes
    return result


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

    counters: list[Counter] = []  # one per parameter, added up after: `+=` is not atomic across threads

    def one(item: tuple[str, Any]) -> Finding:
        name, value = item
        counters.append(own := Counter())
        try:
            ex = _send(endpoint, probe_request(endpoint, name, value), settings, transport, own, name)
            if policy.disposition(ex.status) == policy.SERVER_ERROR:
                # the reproducible-5xx rule (docs/INTERPRETING.md rule 3): broken only when the
                # base request is answered and the 5xx comes back on every attempt
                judged = policy.judge_server_error(
                    ex,
                    lambda: _send(endpoint, probe_request(endpoint, None), settings, transport, own, f"{name}.base-again"),
                    lambda: _send(endpoint, probe_request(endpoint, name, value), settings, transport, own, name),
                )
                if judged.outcome == "error":
                    return Finding(name, ERROR, ex.status, f"server error {ex.status}, and the base request was not answered meanwhile: could not judge", value, exchange_evidence(ex))
                ex = judged.exchange
        except Unjudgeable as exc:
            return Finding(name, ERROR, None, str(exc), value)
        if ex.status in UNJUDGEABLE_STATUSES:
            return Finding(name, ERROR, ex.status, f"status {ex.status}: could not judge", value, exchange_evidence(ex))
        effect = entry.get("effects", {}).get(name)
        classification, message = classify(name, ex, base, effect)
        if classification == HONOURED and effect is not None:
            # the effect counts only if the parameter causes it: not there without the parameter
            if companions_of(endpoint, name):
                try:
                    control = _send(endpoint, control_request(endpoint, name), settings, transport, own, f"{name}.control")
                except Unjudgeable:
                    control = None
            else:
                control = base
            if control is None or (control.ok and effect_seen(effect, control)):
                why = "its control could not be sent" if control is None else "the answer shows it without the parameter too"
                classification, message = NO_EFFECT, f"accepted; the effect ({next(iter(effect))}) is not its own: {why}"
        envelope = (envelope_problem(ex) or "ok") if 400 <= ex.status < 500 else None
        kind = code_type(ex.json["error"].get("code")) if envelope == "ok" else None
        return Finding(name, classification, ex.status, message, value, exchange_evidence(ex), envelope, kind)

    # values first, in this thread: schemathesis' generation is not thread-safe
    items = [(name, value_for(endpoint, name)) for name in parameters(endpoint)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        findings = list(pool.map(one, items))
    for own in counters:
        counter.merge(own)
    result: dict[str, Any] = {"base": {"status": base.status}, "parameters": [f.as_dict() for f in findings]}
    shown = [feature for feature, seen in BASE_FEATURES.get(endpoint, {}).items() if seen(base)]
    if shown:
        result["base"]["features"] = shown
    result["probes"] = endpoint_probes(endpoint, settings, transport, counter)
    body = entry["request"].get("body") or {}
    if base.content_type == "text/event-stream" and not body.get("stream"):
        result["base"]["note"] = "the base request (without stream) was answered as an SSE stream, not JSON: effects judged on JSON are not determined"
    return result


def run_survey(settings: Settings, transport: Transport, workers: int = 4) -> dict[str, Any]:
    counter = Counter()
    endpoints = {}
    if settings.selects("models"):
        endpoints["models"] = survey_models(settings, transport, counter)
    for endpoint in survey_table():
        if settings.selects(endpoint):
            endpoints[endpoint] = survey_endpoint(endpoint, settings, transport, counter, workers)
    return {"survey_version": 1, "target": {"base_url": settings.display_url, "models": usable_models(settings)}, "usage": counter.as_dict(), "endpoints": endpoints}


# -- the draft profile ---------------------------------------------------------------------------------
def _probe_claims(result: dict[str, Any], observed: dict[str, set]) -> tuple[list[str], list[str]]:
    """(features ``auth``/``errors`` the probes show, review comments); adds the statuses and code
    types seen to ``observed``."""
    # a probe that could not be judged (unreachable, 429, a gateway status) says nothing
    probes = {s: p for s, p in result.get("probes", {}).items() if "error" not in p and p.get("status") not in UNJUDGEABLE_STATUSES}
    features, comments = [], []
    keyless = [probes.get(s, {}) for s in ("missing_key", "wrong_key")]
    if all(p.get("status") and 400 <= p["status"] < 500 for p in keyless):
        features.append("auth")
    elif any(p.get("status") and 200 <= p["status"] < 300 for p in keyless):
        comments.append(f"auth not claimed: without a key {keyless[0].get('status')}, with a wrong key {keyless[1].get('status')} (accepted: the target does not check keys)")
    else:
        seen = result.get("probes", {})
        no_key, wrong_key = (seen.get(s, {}).get("status") or seen.get(s, {}).get("error") or "not sent" for s in ("missing_key", "wrong_key"))
        comments.append(f"auth not determined: without a key {no_key}, with a wrong key {wrong_key}")
    for situation, probe in probes.items():
        status = probe.get("status")
        if status and 400 <= status < 500:
            observed.setdefault(situation, set()).add(status)
        elif situation == "model_not_found" and status and status < 400:
            comments.append(f"a request naming an unknown model ({NO_SUCH_MODEL}) was answered {status}: errors.unknown_model_rejected will fail")
        elif situation == "model_not_found" and status:
            comments.append(f"a request naming an unknown model was answered {status}: not a refusal")
    refusals = [p for p in probes.values() if "envelope" in p] + [f for f in result.get("parameters", []) if "envelope" in f]
    bad = [r["envelope"] for r in refusals if r["envelope"] != "ok"]
    if not refusals:
        comments.append("errors: not determined (no refusal seen)")
    elif bad:
        comments.append(f"errors not claimed: {len(bad)} of {len(refusals)} refusals are not the OpenAI error envelope, e.g. {bad[0][:150]}")
    else:
        features.append("errors")
        observed.setdefault("code_types", set()).update(r["code_type"] for r in refusals if r.get("code_type"))
    return features, comments


def draft_profile(survey: dict[str, Any], name: str | None = None) -> str:
    """A profile YAML (schemas/profile.schema.json) drafted from a survey, with review comments."""
    host = urlsplit(survey["target"]["base_url"]).hostname or "target"
    title = f"{name} (surveyed at {host})" if name else f"{host} (surveyed)"
    name = name or re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") or "target"
    lines = [
        f"# Draft profile written by `conformance survey` for {survey['target']['base_url']}.",
        "# Review it: a parameter refused for its value, or refused without being named, is listed in",
        "# comments only; a parameter accepted without effect may be silently ignored; status codes and",
        "# error code types are what the target answered, not necessarily what it documents.",
        "profile_version: 1",
        f"name: {name}",
        f"title: {json.dumps(title)}",
        "description: Drafted from a parameter survey; to be reviewed.",
        "sources:",
        f"  - conformance survey of {survey['target']['base_url']}",
        "endpoints:",
    ]
    observed: dict[str, set] = {}
    for endpoint, result in survey["endpoints"].items():
        if endpoint == "models":
            lines += _draft_models(result, observed)
            continue
        if "parameters" not in result:
            lines.append(f"  # {endpoint}: not claimed — {result.get('skipped', 'not surveyed')}")
            continue
        findings = result["parameters"]
        probe_features, comments = _probe_claims(result, observed)
        features = ["core", *probe_features, *result["base"].get("features", [])]
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
        # a profile may list only parameters with a sample value (the run sends that value alone)
        samples = sample_values().get(endpoint, {}).get("values", {})
        rejected = [f["parameter"] for f in findings if f["classification"] == REJECTED and f["parameter"] in samples]
        unlisted = [f["parameter"] for f in findings if f["classification"] == REJECTED and f["parameter"] not in samples]
        if unlisted:
            comments.append(
                f"also rejected, not listed (no sample value in conformance/cases/unsupported_values.yaml {endpoint}.values): {', '.join(unlisted)}"
            )
        if rejected:
            features.append("unsupported-params")
        if "note" in result.get("base", {}):
            lines.append(f"  # {endpoint}: {result['base']['note']}")
        lines.append(f"  {endpoint}:")
        lines.append(f"    features: [{', '.join(features)}]")
        lines += [f"    # {line}".replace("\n", " ") for line in dict.fromkeys(comments + undetermined)]
        if rejected:
            lines.append("    unsupported_parameters:")
            lines += [f"      - {p}" for p in rejected]
        if "normalized-vectors" in features:
            lines += ["    properties:", "      normalized: true"]
        for finding in findings:
            if finding["classification"] not in (REJECTED, HONOURED):
                lines.append(f"    # {finding['parameter']}: {finding['classification']} — {finding['message'][:150]}".replace("\n", " "))
    if not any(line.startswith("  ") and not line.startswith("  #") for line in lines[lines.index("endpoints:") + 1 :]):
        lines[lines.index("endpoints:")] = "endpoints: {}  # nothing claimed: see the comments"
    models = survey["target"].get("models") or {}
    if models:
        lines.append("models:")
        lines += [f"  {capability}: {model}" for capability, model in sorted(models.items())]
    codes = {s: sorted(v) for s, v in observed.items() if s in DEFAULT_STATUS_CODES and not v <= set(DEFAULT_STATUS_CODES[s])}
    if codes:
        lines.append("# the statuses the target refused with, where they are not OpenAI's: keep only documented ones")
        lines.append("status_codes:")
        lines += [f"  {situation}: [{', '.join(map(str, statuses))}]" for situation, statuses in codes.items()]
    code_types = observed.get("code_types", set())
    if code_types and not code_types <= {"string", "null"}:
        lines.append("error_envelope:")
        lines.append(f"  code_types: [{', '.join(json.dumps(t) for t in sorted(code_types))}]")  # quoted: a bare null is YAML's null
    return "\n".join(lines) + "\n"


def _draft_models(result: dict[str, Any], observed: dict[str, set]) -> list[str]:
    if "probes" not in result:
        return [f"  # models: not claimed — {result.get('skipped', 'not surveyed')}"]
    retrieve = result.get("retrieve", {})
    probes = dict(result["probes"])
    comments = []
    if retrieve.get("model") is None:
        comments.append(f"GET /models/{{id}} not probed: {retrieve.get('error')}")
    elif not retrieve.get("ok"):
        comments.append(f"GET /models/{retrieve.get('model')} answered {retrieve.get('status') or retrieve.get('error')}: models.retrieve checks will fail")
    if not retrieve.get("ok"):
        # without a retrieve route, the refusal of an unknown model id says nothing about models
        probes.pop("model_not_found", None)
    features, probe_comments = _probe_claims({**result, "probes": probes}, observed)
    comments = probe_comments + comments
    return ["  models:", f"    features: [{', '.join(['core', *features])}]", *(f"    # {c}".replace("\n", " ") for c in comments)]


def _probe_line(result: dict[str, Any]) -> str:
    words = {"missing_key": "no key", "wrong_key": "wrong key", "model_not_found": "unknown model"}
    parts = []
    for situation, probe in result.get("probes", {}).items():
        envelope = "" if probe.get("envelope") in (None, "ok") else " (not the OpenAI envelope)"
        parts.append(f"{words[situation]} → {probe.get('status') or 'error'}{envelope}")
    retrieve = result.get("retrieve")
    if retrieve:
        parts.append(f"GET /models/{{id}} → {retrieve.get('status') or 'error'}")
    return "  probes: " + ", ".join(parts)


def summary_lines(survey: dict[str, Any]) -> list[str]:
    """A terminal table: one line per endpoint, its probes, then the non-honoured parameters."""
    out = []
    for endpoint, result in survey["endpoints"].items():
        if "probes" not in result:
            out.append(f"{endpoint:15} skipped: {result.get('skipped')}")
            continue
        counts: dict[str, int] = {}
        for finding in result.get("parameters", []):
            counts[finding["classification"]] = counts.get(finding["classification"], 0) + 1
        if endpoint == "models":
            out.append(f"{endpoint:15} {len(result['base'].get('ids', []))} models listed")
        else:
            out.append(f"{endpoint:15} " + ", ".join(f"{counts[c]} {c}" for c in CLASSES if c in counts))
        out.append(_probe_line(result))
        for finding in result.get("parameters", []):
            if finding["classification"] != HONOURED:
                out.append(f"  {finding['classification']:24} {finding['parameter']}: {finding['message'][:110]}".replace("\n", " "))
    return out
