"""Property-based runs: schemathesis generates requests from the spec; every one goes through a transport.

One run is one endpoint × mode × transport and gives one verdict. Cases come from schemathesis'
coverage phase (boundary values and one-violation mutations, deterministic) and its fuzzing
phase (hypothesis, seeded), for each of the endpoint's operations in specs/property/. Each
request is judged by the spec first (a negative case the document calls valid is dropped),
then sent and judged by the mode's check. The first failure is shrunk (optional parameters
dropped while it still fails) and shown as a ready-to-paste curl command, key not included.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import dataclass, field
from typing import Any

from .checks import CHECKS, CheckContext, Failure, load_all
from .paths import fixtures_dir
from .propspec import NEGATIVE, POSITIVE, PropertyOperation, array_properties, contract_errors, generation_document, operations_for, spec_required
from .redact import redact
from .runner import Verdict, exchange_evidence, failure_status
from .settings import Settings, public_url
from .transport import ApiRequest, Counter, Exchange, Transport, Unjudgeable, policy, send_with_retry
from .vocabulary import ERROR, FAIL, PASS, SKIP, STATUSES

FEATURE = "property-based"
CHECK_BY_MODE = {POSITIVE: "property.valid_request.accepted", NEGATIVE: "property.invalid_request.refused"}
#: Unexpected methods probed (never defined on these paths, never harmful); only PATCH in quick.
PROBE_METHODS = {"quick": ("PATCH",), "deep": ("PATCH", "PUT")}
#: Shrinking sends at most this many extra requests per failure.
SHRINK_BUDGET = 8
#: Fuzzing draws this many candidates per wanted example (some are duplicates or dropped).
DRAWS_PER_EXAMPLE = 4


@dataclass
class Generated:
    """One generated request, ready for either transport."""

    operation: PropertyOperation
    request: ApiRequest
    origin: str  # which phase and scenario produced it
    why_invalid: list[str]
    #: A wrong method or Content-Type: any 4xx is a correct refusal.
    protocol_probe: bool = False
    #: The schemathesis case it came from, for schemathesis' own sending (http runs); None when
    #: that cannot carry it (multipart: schemathesis names every file part "file", no extension).
    case: Any = field(default=None, repr=False, compare=False)

    def key(self) -> str:
        r = self.request
        return json.dumps([r.method, r.path, r.body, r.form, r.params, r.content_type, r.raw_body.decode("utf-8", "replace") if r.raw_body else None], sort_keys=True, default=str)


def case_id(endpoint: str, mode: str) -> str:
    return f"property.{endpoint}.{mode}"


# -- from schemathesis cases to requests -----------------------------------------------------------
def _wire(text: str) -> str:
    """``text`` as it can travel in a form or a query: lone surrogates (not encodable) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _form_text(value: Any) -> Any:
    """A generated multipart field value as text (lists become repeated fields); None: omitted."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return _wire(str(value))
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_form_text(v) if not isinstance(v, (list, dict)) else json.dumps(v) for v in value if v is not None]
    return json.dumps(value)


def _query_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_query_text(v) for v in value]
    if value is None:
        return ""
    return _wire(str(value)) if not isinstance(value, dict) else json.dumps(value)


def _path(op: PropertyOperation, case: Any) -> tuple[str, dict[str, str]] | None:
    params = dict(case.path_parameters or {})
    path = op.path
    for name in op.path_parameters():
        if name not in params:
            return None
        value = str(params[name])
        if not value or "/" in value:
            return None  # an empty or slashed segment changes the route, not the parameter
        path = path.replace("{" + name + "}", value)
    return path, {k: str(v) for k, v in params.items()}


def to_generated(op: PropertyOperation, case: Any, mode: str, origin: str) -> Generated | None:
    """The request ``case`` stands for, with its validity by the spec; None if it cannot be sent."""
    located = _path(op, case)
    if located is None:
        return None
    path, path_params = located
    method = str(case.method).upper()
    media_type = getattr(case, "media_type", None)
    if not op.has_body and media_type is not None:
        return None  # a Content-Type probe on an operation without a body says nothing
    probe = method != op.method or (op.has_body and media_type not in (None, "application/json", "multipart/form-data"))
    if op.has_body and media_type == "multipart/form-data" and not op.multipart:
        probe = True
    if any(v is None or isinstance(v, (list, dict)) for v in (case.query or {}).values()):
        return None  # empty, repeated or structured query parameters: clients encode them differently
    query = {_wire(k): _query_text(v) for k, v in (case.query or {}).items()}
    request = ApiRequest(method=method, path=path, params=query or None)
    body = case.body
    if method != op.method:
        # an undefined method: refused whatever the body, so none is sent
        return Generated(op, request, origin, [f"{method} is not a method of {op.path}"], protocol_probe=True)
    if probe:
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body if _is_set(body) else {}, default=str)
        request.raw_body = raw.encode() if isinstance(raw, str) else raw
        request.content_type = media_type or "application/json"
        return Generated(op, request, origin, [f"Content-Type {request.content_type} is not one the operation accepts"], protocol_probe=True)
    if op.multipart:
        form: dict[str, Any] = {}
        files = {}
        if isinstance(body, dict):
            arrays = array_properties(op)
            for name, value in body.items():
                if name == "file" and value is not None:
                    continue
                if isinstance(value, list) and name not in arrays:
                    return None  # repeated fields for one value: servers keep the first or the last
                text = _form_text(value)
                if text is not None:
                    form[_wire(name)] = text
            if body.get("file") is not None:
                fixture = fixtures_dir() / op.file["path"]
                files["file"] = (fixture.name, fixture.read_bytes(), op.file["content_type"])
        elif _is_set(body):
            return None  # a non-object multipart body cannot be expressed as a form
        request.form, request.files = form, files or None
        view = {**form, **({"file": "<binary>"} if files else {})}
        errors = contract_errors(op, form=view)
    elif op.has_body:
        if not _is_set(body):
            return None
        if isinstance(body, (bytes, str)) and mode == NEGATIVE:
            # not a JSON document at all: sent as it is, the spec's object schema cannot match it
            request.raw_body = body.encode() if isinstance(body, str) else body
            return Generated(op, request, origin, ["the body is not a JSON object"])
        request.body = body
        errors = contract_errors(op, body=body)
    else:
        errors = contract_errors(op, params={**query, **path_params})
    return Generated(op, request, origin, errors)


_VALID_PARAMETER = re.compile(r"Object with valid '([^']+)' value: (.*)")


def quick_kind(origin: str) -> str | None:
    """The kind a coverage case stands for at quick depth (one case per kind), or None when quick
    depth leaves it out: near-boundary values (between the extremes already sent) and the
    "required and one optional" objects (each optional parameter is sent on its own anyway)."""
    description = origin.split(": ", 1)[1] if origin.startswith("coverage: ") else origin
    if "Near-boundary" in description or description.startswith("Object with all required properties and"):
        return None
    match = _VALID_PARAMETER.match(description)
    if match:
        parameter, rest = match.groups()
    else:
        parameter, rest = re.split(r" -> |: ", description, maxsplit=1)[0], description
    return f"{parameter}|{rest.rsplit(': ', 1)[-1]}"


def _is_set(value: Any) -> bool:
    return type(value).__name__ != "NotSet"


def _origin(case: Any) -> str:
    meta = getattr(case, "meta", None)
    phase = getattr(meta, "phase", None)
    data = getattr(phase, "data", None)
    description = getattr(data, "description", None)
    name = getattr(getattr(phase, "name", None), "value", None) or str(getattr(phase, "name", "fuzzing"))
    return f"{name}: {description}" if description else name


# -- generation -----------------------------------------------------------------------------------
def _keep_hypothesis_out_of_cwd() -> None:
    """Hypothesis caches constants under ./.hypothesis; a conformance run leaves the user's
    directory as it found it (nothing is stored that a later run needs: the seed reproduces)."""
    import tempfile
    from pathlib import Path

    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "conformance-hypothesis")


#: Generated requests by what determines them: both transports' runs of one process share them.
_GENERATED: dict[tuple, list[Generated]] = {}


def generate(op: PropertyOperation, settings: Settings, mode: str, *, depth: str, examples: int, seed: int, with_probes: bool) -> list[Generated]:
    """The requests to send for ``op`` in ``mode``: coverage cases, then seeded fuzzing ones
    (the same arguments give the same requests; they are generated once per process)."""
    model = settings.model_for(op.capability) if op.capability else None
    key = (op.label, mode, depth, examples, seed, with_probes, model, tuple(sorted(set(settings.models.values()))), settings.profile.name, json.dumps(settings.profile.endpoints, sort_keys=True, default=str))
    if key not in _GENERATED:
        _GENERATED[key] = _generate(op, settings, mode, depth=depth, examples=examples, seed=seed, with_probes=with_probes)
    return list(_GENERATED[key])


def _generate(op: PropertyOperation, settings: Settings, mode: str, *, depth: str, examples: int, seed: int, with_probes: bool) -> list[Generated]:
    import warnings

    import schemathesis
    from hypothesis import HealthCheck, Phase, given
    from hypothesis import seed as hypothesis_seed
    from hypothesis.errors import Unsatisfiable
    from hypothesis import settings as hypothesis_settings
    from schemathesis import GenerationMode
    from schemathesis.config import GenerationConfig

    _keep_hypothesis_out_of_cwd()
    model = settings.model_for(op.capability) if op.capability else None
    models = sorted(set(settings.models.values()))
    raw = generation_document(op, settings.profile, model, models, mode)
    schema = schemathesis.openapi.from_dict(raw)
    operation = schema[op.path][op.method]
    generation_mode = GenerationMode.POSITIVE if mode == POSITIVE else GenerationMode.NEGATIVE
    config = GenerationConfig(modes=[generation_mode])
    out: list[Generated] = []
    seen: set[str] = set()
    kinds: set[str] = set()

    def keep(item: Generated | None) -> bool:
        if item is None:
            return False
        if item.protocol_probe and (not with_probes or mode == POSITIVE or item.request.method not in PROBE_METHODS[depth] + (op.method,)):
            return False
        if mode == NEGATIVE and not item.why_invalid:
            return False  # invalid only by our narrowing: the spec allows it
        key = item.key()
        if key in seen:
            return False
        seen.add(key)
        out.append(item)
        return True

    def attach(item: Generated | None, case: Any) -> Generated | None:
        if item is not None and not op.multipart:
            item.case = case
        return item

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in schema.iter_coverage_cases(operation, generation_modes=[generation_mode], generation_config=config):
            origin = _origin(case)
            kind = quick_kind(origin) if depth == "quick" else origin + str(len(kinds))
            if kind is None or kind in kinds:
                continue
            if keep(attach(to_generated(op, case, mode, origin), case)):
                kinds.add(kind)
        if examples > 0:
            drawn: list[Any] = []
            strategy = operation.as_strategy(generation_mode=generation_mode)

            @hypothesis_seed(seed)
            @hypothesis_settings(max_examples=examples * DRAWS_PER_EXAMPLE, database=None, phases=[Phase.generate], deadline=None, suppress_health_check=list(HealthCheck), derandomize=False, print_blob=False)
            @given(strategy)
            def draw(case):
                drawn.append(case)

            try:
                draw()
            except Unsatisfiable:
                pass  # nothing of this mode can be generated (e.g. no constrained input)
            fuzzed = 0
            for case in drawn:
                if fuzzed >= examples:
                    break
                if keep(attach(to_generated(op, case, mode, "fuzzing"), case)):
                    fuzzed += 1
    return out


# -- sending and judging --------------------------------------------------------------------------
def curl_command(request: ApiRequest, base_url: str) -> str:
    """``request`` as a curl command line; the key is the shell variable $OPENAI_API_KEY, never its value."""
    url = public_url(base_url.rstrip("/") + request.path)
    if request.params:
        from urllib.parse import urlencode

        url += "?" + urlencode(request.params, doseq=True)
    parts = ["curl", "-sS", "-X", request.method, shlex.quote(url), "-H", '"Authorization: Bearer $OPENAI_API_KEY"']
    if request.raw_body is not None:
        parts += ["-H", shlex.quote(f"Content-Type: {request.content_type or 'application/json'}"), "--data-binary", shlex.quote(request.raw_body.decode("utf-8", "replace"))]
    elif request.multipart:
        for name, value in (request.form or {}).items():
            for item in value if isinstance(value, list) else [value]:
                parts += ["-F", shlex.quote(f"{name}={item}")]
        for name, (filename, _, content_type) in (request.files or {}).items():
            parts += ["-F", shlex.quote(f"{name}=@fixtures/audio/{filename};type={content_type}")]
    elif request.body is not None:
        parts += ["-H", "'Content-Type: application/json'", "-d", shlex.quote(json.dumps(request.body, ensure_ascii=False))]
    return redact(" ".join(parts))


class SchemathesisSender:
    """schemathesis' own sending (``case.call``, the requests library): the first of the http
    run's two raw-HTTP senders (httpx replays every case too)."""

    name = "http"

    def __init__(self, base_url: str, api_key: str | None, timeout: float) -> None:
        import requests

        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.session = requests.Session()
        self.session.trust_env = False

    def sender_for(self, case: Any) -> Any:
        sender = self

        class _One:
            name = "http"

            def send(self, request: ApiRequest) -> Exchange:
                return sender.send(case, request)

        return _One()

    def send(self, case: Any, request: ApiRequest) -> Exchange:
        import requests

        from .transport.base import Stopwatch, decode_json, decode_stream

        watch = Stopwatch()
        try:
            response = case.call(base_url=self.base_url, session=self.session, headers=self.headers, timeout=self.timeout)
        except requests.Timeout as exc:
            raise Unjudgeable(f"timed out (schemathesis' own sending): {type(exc).__name__}") from None
        except requests.ConnectionError as exc:
            raise Unjudgeable(f"could not reach {public_url(self.base_url)} (schemathesis' own sending): {type(exc).__name__}") from None
        headers = {k.lower(): (v[-1] if isinstance(v, list) else v) for k, v in response.headers.items()}
        ex = Exchange(request=request, transport="http", url=self.base_url + request.path, status=response.status_code, headers=headers, raw=response.content, elapsed_ms=watch.ms())
        if ex.content_type == "text/event-stream":
            ex.sse, ex.chunks = decode_stream(ex.raw)
        else:
            ex.json, ex.json_error = decode_json(ex.raw)
        return ex

    def close(self) -> None:
        self.session.close()


#: Kinds of violation shrunk per verdict (each costs up to SHRINK_BUDGET requests); the others are listed as sent.
SHRUNK_KINDS = 3


@dataclass
class Outcome:
    status: str  # pass, fail or error (a failed finding's status comes from failure_status)
    message: str = ""
    exchange: Exchange | None = None
    #: For a fail: the finding (its level decides fail or warn).
    failure: Failure | None = None


class PropertyRun:
    """Sends generated requests through one transport and judges each with the mode's check."""

    def __init__(self, settings: Settings, transport: Transport, counter: Counter, mode: str) -> None:
        load_all()
        self.settings, self.transport, self.counter, self.mode = settings, transport, counter, mode
        self.spec = CHECKS[CHECK_BY_MODE[mode]]
        self.baseline: dict[str, Exchange | None] = {}
        #: The http run sends every case twice: schemathesis' own way, and through httpx.
        self.schemathesis = SchemathesisSender(settings.base_url, settings.api_key, settings.timeout) if transport.name == "http" else None
        self.schemathesis_skipped = 0

    def close(self) -> None:
        if self.schemathesis is not None:
            self.schemathesis.close()

    def judge(self, item: Generated) -> Outcome:
        outcome = self._judge_through(self.transport, item)
        if outcome.status != PASS or self.schemathesis is None or item.case is None:
            return outcome
        try:
            sender = self.schemathesis.sender_for(item.case)
            pacer = getattr(self.transport, "pacer", None)
            if pacer is not None:  # the same budget and health as every other request of the run
                from .transport import PacedTransport

                sender = PacedTransport(sender, pacer)
            again = self._judge_through(sender, item)
        except Exception:  # noqa: BLE001 - schemathesis cannot serialise this case (e.g. lone surrogates in a query): httpx carried it
            self.schemathesis_skipped += 1
            return outcome
        if again.status != PASS:
            again.message = f"through schemathesis' own sending (requests): {again.message}"
        return again

    def _judge_through(self, transport: Any, item: Generated) -> Outcome:
        try:
            ex = send_with_retry(transport, item.request, self.counter)
        except Unjudgeable as exc:
            return Outcome(ERROR, str(exc))
        if policy.is_unjudgeable(ex.status):
            return Outcome(ERROR, policy.unjudgeable_message(ex.status, ex.attempts, ex.retry_note), ex)
        if policy.disposition(ex.status) == policy.SERVER_ERROR:
            # the reproducible-5xx rule: judged only while a plain valid request to the operation is answered
            try:
                judged = policy.judge_server_error(ex, lambda: self._baseline(item.operation, fresh=True), lambda: send_with_retry(transport, item.request, self.counter))
            except Unjudgeable as exc:
                return Outcome(ERROR, f"retrying a server error {ex.status}: {exc}", ex)
            if judged.outcome == "error":
                return Outcome(ERROR, f"status {judged.exchange.status}, and a plain valid request to {item.operation.label} is not answered: could not judge", judged.exchange)
            ex = judged.exchange
        params = {"response": item.operation.response, "why": "; ".join(item.why_invalid[:2]), "protocol_probe": item.protocol_probe}
        ctx = CheckContext(settings=self.settings, transport=self.transport, counter=self.counter, params=params, capability=item.operation.capability or "chat")
        try:
            self.spec.fn(ctx, ex)
        except Failure as exc:
            return Outcome(FAIL, str(exc), ex, exc)
        except Unjudgeable as exc:
            return Outcome(ERROR, f"could not judge: {exc}", ex)
        return Outcome(PASS, "", ex)

    def _baseline(self, op: PropertyOperation, fresh: bool = False) -> Exchange | None:
        """The answer to the simplest valid request to ``op`` (remembered once answered, asked
        again when ``fresh``; None when there is none): the control of the reproducible-5xx rule."""
        if fresh or self.baseline.get(op.label) is None:
            answer = None
            baseline = minimal_valid_request(op, self.settings)
            if baseline is not None:
                try:
                    answer = send_with_retry(self.transport, baseline.request, self.counter)
                except Unjudgeable:
                    answer = None
            # remembered once judged (a 4xx baseline is no control: the rule needs it answered 2xx)
            self.baseline[op.label] = answer if answer is not None and policy.disposition(answer.status) == policy.JUDGE else None
        return self.baseline[op.label]

    def shrink(self, item: Generated, outcome: Outcome) -> tuple[Generated, Outcome, int]:
        """Drop optional parameters one at a time while the same failure persists; at most
        SHRINK_BUDGET extra requests. Returns the smallest failing request and how many were sent."""
        sent = 0
        changed = True
        while changed and sent < SHRINK_BUDGET:
            changed = False
            for candidate in _smaller(item, self.settings, self.mode):
                if sent >= SHRINK_BUDGET:
                    break
                sent += 1
                result = self.judge(candidate)
                if result.status == FAIL:
                    item, outcome, changed = candidate, result, True
                    break
        return item, outcome, sent


def _smaller(item: Generated, settings: Settings, mode: str) -> list[Generated]:
    """``item`` with one optional parameter fewer, each still of the same mode by the spec."""
    if item.protocol_probe:
        return []
    op, request = item.operation, item.request
    required = set(op.required or ()) | set(spec_required(op))
    out = []
    source = request.body if isinstance(request.body, dict) else request.form if request.form is not None else request.params
    if not isinstance(source, dict):
        return []
    for name in list(source):
        if name in required:
            continue
        smaller = {k: v for k, v in source.items() if k != name}
        new = ApiRequest(method=request.method, path=request.path, params=request.params, form=request.form, files=request.files)
        if isinstance(request.body, dict):
            new.body = smaller
            errors = contract_errors(op, body=smaller)
        elif request.form is not None:
            new.form = smaller
            errors = contract_errors(op, form={**smaller, **({"file": "<binary>"} if request.files else {})})
        else:
            new.params = smaller or None
            errors = contract_errors(op, params=smaller)
        if (mode == NEGATIVE) == bool(errors):
            out.append(Generated(op, new, item.origin + " (shrunk)", errors))
    return out


def minimal_valid_request(op: PropertyOperation, settings: Settings) -> Generated | None:
    """The simplest valid request to ``op`` (schemathesis' first positive coverage case)."""
    items = generate(op, settings, POSITIVE, depth="quick", examples=0, seed=0, with_probes=False)
    valid = [item for item in items if not item.why_invalid]
    return min(valid, key=lambda item: len(item.key())) if valid else None


def applicable(endpoint: str, settings: Settings, mode: str) -> str | None:
    profile = settings.profile
    if settings.property_depth == "off":
        return "property-based runs are off (--property off)"
    if not profile.claims_endpoint(endpoint):
        return f"profile {profile.name!r} does not claim endpoint {endpoint}"
    ops = operations_for(endpoint, mode)
    if not ops:
        return f"specs/property/ generates no {mode} requests for {endpoint}"
    for op in ops:
        if op.capability and not settings.model_for(op.capability):
            return f"no model configured for capability {op.capability!r} (use --model {op.capability}=NAME)"
    return None


def run_property(endpoint: str, mode: str, settings: Settings, transport: Transport, counter: Counter) -> Verdict:
    """One verdict: every generated ``mode`` request of ``endpoint`` through ``transport``."""
    load_all()
    started = time.perf_counter()
    spec = CHECKS[CHECK_BY_MODE[mode]]
    seed = settings.property_seed

    def verdict(status: str, message: str, evidence: dict[str, Any]) -> Verdict:
        return Verdict(
            check=spec.id,
            case=case_id(endpoint, mode),
            endpoint=endpoint,
            feature=FEATURE,
            transport=transport.name,
            status=status,
            message=redact(message),
            semantic=False,
            level=spec.level,
            source=spec.source,
            description=spec.description,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            evidence=evidence,
        )

    reason = applicable(endpoint, settings, mode)
    if reason:
        return verdict(SKIP, reason, {})
    items: list[Generated] = []
    for op in operations_for(endpoint, mode):
        generated = generate(op, settings, mode, depth=settings.property_depth, examples=settings.property_examples, seed=seed, with_probes=True)
        if mode == POSITIVE:
            invalid = [item for item in generated if item.why_invalid]
            if invalid:
                return verdict(ERROR, f"the suite generated a request the spec calls invalid (a bug in specs/property/): {invalid[0].why_invalid[0]}", {"request": {"curl": curl_command(invalid[0].request, settings.base_url)}})
        items += generated
    summary: dict[str, Any] = {"mode": mode, "seed": seed, "depth": settings.property_depth, "operations": sorted({item.operation.label for item in items})}
    if not items:
        return verdict(SKIP, f"no {mode} request can be generated for {endpoint} from the spec (nothing it constrains)", summary)
    run = PropertyRun(settings, transport, counter, mode)
    summary["senders"] = ["schemathesis (requests)", "httpx"] if run.schemathesis is not None else ["openai client"]
    try:
        return _judge_all(run, items, summary, verdict, settings)
    finally:
        run.close()


def violation_kind(item: Generated, outcome: Outcome) -> str:
    """What kind of violation a failing request shows: its operation, what was generated (the
    coverage scenario's kind, or the fuzzing phase) and what the target did wrong."""
    origin = item.origin.removesuffix(" (shrunk)")
    scenario = quick_kind(origin) or origin
    status = outcome.exchange.status if outcome.exchange is not None else 0
    answer = "2xx" if 200 <= status < 300 else "5xx" if status >= 500 else str(status)
    return f"{item.operation.label} · {scenario} · {answer}"


def _judge_all(run: PropertyRun, items: list[Generated], summary: dict[str, Any], verdict: Any, settings: Settings) -> Verdict:
    """Judge every item; each kind of violation is reported once (the first SHRUNK_KINDS of them
    shrunk); the verdict is the worst finding's status (three errors end the run)."""
    mode = run.mode
    statuses: dict[str, int] = {}
    errors: list[tuple[Generated, Outcome]] = []
    kinds: dict[str, tuple[Generated, Outcome, str]] = {}
    for item in items:
        outcome = run.judge(item)
        if outcome.exchange is not None:
            statuses[str(outcome.exchange.status)] = statuses.get(str(outcome.exchange.status), 0) + 1
        if outcome.status == ERROR:
            errors.append((item, outcome))
            if len(errors) >= 3:
                break  # the target is in trouble: stop spending requests
            continue
        if outcome.status == FAIL:
            kind = violation_kind(item, outcome)
            if kind not in kinds:
                status, level, _ = failure_status(run.spec, outcome.failure or Failure(outcome.message), settings)
                kinds[kind] = (item, outcome, status, level)
    summary.update({"sent": len(items), "statuses": dict(sorted(statuses.items())), "origins": sorted({item.origin for item in items})[:40]})
    if run.schemathesis_skipped:
        summary["schemathesis_could_not_send"] = run.schemathesis_skipped
    if kinds:
        ordered = sorted(kinds.items(), key=lambda kv: STATUSES.index(kv[1][2]))
        violations = []
        first: dict[str, Any] = {}
        for n, (kind, (item, outcome, status, level)) in enumerate(ordered):
            small, small_outcome, shrink_requests = run.shrink(item, outcome) if n < SHRUNK_KINDS else (item, outcome, 0)
            if small_outcome.failure is not None:
                status, level, _ = failure_status(run.spec, small_outcome.failure, settings)
            entry = {
                "kind": kind,
                "status": status,
                "level": level,
                "message": redact(f"{small.operation.label}: {small_outcome.message}"),
                "origin": item.origin,
                **({"invalid_because": small.why_invalid[:3]} if small.why_invalid else {}),
                "curl": curl_command(small.request, settings.base_url),
                "shrink_requests": shrink_requests,
            }
            violations.append(entry)
            if not first:
                first = {**entry, **exchange_evidence(small_outcome.exchange)}
        worst_entry = min(violations, key=lambda v: STATUSES.index(v["status"]))
        worst = worst_entry["status"]
        evidence = {**summary, "operation": first["message"].split(":", 1)[0], **{k: first[k] for k in ("origin", "curl", "shrink_requests") if k in first},
                    **({"invalid_because": first["invalid_because"]} if "invalid_because" in first else {}),
                    **{k: first[k] for k in ("request", "response") if k in first}, "violations": violations}
        others = f" (+{len(violations) - 1} other kind{'s' if len(violations) > 2 else ''} of violation)" if len(violations) > 1 else ""
        result = verdict(worst, worst_entry["message"] + others, evidence)
        result.level = worst_entry["level"]
        return result
    if errors:
        item, outcome = errors[0]
        evidence = {**summary, "curl": curl_command(item.request, settings.base_url), **(exchange_evidence(outcome.exchange) if outcome.exchange else {})}
        return verdict(ERROR, f"{item.operation.label}: {outcome.message}", evidence)
    return verdict(PASS, f"{len(items)} generated {mode} requests ({', '.join(f'{n}×{s}' for s, n in sorted(statuses.items()))})", summary)
