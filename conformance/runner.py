"""Runs one case through one transport and turns what happened into verdicts, one per check."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .cases import Case, control_case, substitute_model
from .checks import CHECKS, CheckContext, CheckSpec, Failure, FollowupCache, Skip, claim, load_all
from .paths import fixtures_dir
from .redact import redact, redact_headers, redact_obj, register_secret
from .settings import S3_MISSING, Settings, public_url
from .transport import Counter, Exchange, Transport, Unjudgeable, policy, send_with_retry
from .transport.objects import open_store
from .vocabulary import ERROR, FAIL, PRESIGNED_URL, RECOMMENDED, REQUIRED, S3_URL, SKIP, WARN

EXCERPT = 2000
#: In a case's request or check parameters, ``$upload:REL`` is fixtures/REL (``$model`` replaced)
#: uploaded to the object store under a fresh key; the string becomes the object's URL.
UPLOAD = re.compile(r"\$upload:[\w./-]+")
_RUN_PREFIXES: dict[int, str] = {}
_PREFIXING = threading.Lock()


def run_prefix() -> str:
    """Keys of this process's uploads start with it (one folder per process: drawn when first
    needed, so that a forked process never reuses its parent's)."""
    pid = os.getpid()
    with _PREFIXING:  # the cases running ahead in threads share it
        if pid not in _RUN_PREFIXES:
            _RUN_PREFIXES[pid] = f"conformance/{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        return _RUN_PREFIXES[pid]

#: Why a semantic check is not run with ``--semantic off``.
SEMANTIC_OFF = "semantic (model-quality) checks are off (--semantic off)"


@dataclass
class Verdict:
    check: str
    case: str
    endpoint: str
    feature: str
    transport: str
    status: str
    message: str = ""
    semantic: bool = False
    #: The level of the check, or of the finding when it failed at a lower one.
    level: str = REQUIRED
    #: Where the check's strictness is written ("KIND: reference").
    source: str = ""
    description: str = ""
    duration_ms: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)
    #: With --repeat: every repetition's status, when they differ (the verdict is then intermittent).
    statuses: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The verdict as the report's JSON object (shallow: ``evidence`` is shared, not copied)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.statuses is None:
            del out["statuses"]
        else:
            out["statuses"] = list(self.statuses)
            out["intermittent"] = True
        return out


def combine_repeats(runs: list[list[Verdict]]) -> list[Verdict]:
    """One verdict per check from several repetitions of a case: the first, or — where the
    repetitions disagree — the worst, with every status seen (intermittent)."""
    from .vocabulary import STATUSES

    if len(runs) == 1:
        return runs[0]
    out = []
    for repeats in zip(*runs):
        seen = list(dict.fromkeys(v.status for v in repeats))
        if len(seen) == 1:
            out.append(repeats[0])
            continue
        worst = min(repeats, key=lambda v: STATUSES.index(v.status))
        worst.statuses = sorted(seen, key=STATUSES.index)
        worst.message = f"intermittent over {len(repeats)} repetitions ({', '.join(v.status for v in repeats)}): {worst.message}"
        out.append(worst)
    return out


def _excerpt(text: str, limit: int = EXCERPT) -> str:
    text = redact(text)
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    return f"{text[:head]}\n… [{len(text) - limit} characters elided] …\n{text[-(limit - head):]}"


def exchange_evidence(ex: Exchange) -> dict[str, Any]:
    request = ex.request
    if request.raw_body is not None:
        body: Any = _excerpt(request.raw_body.decode("utf-8", "replace"))
    else:
        body = redact_obj(request.body)
        if len(json.dumps(body)) > EXCERPT:
            body = _excerpt(json.dumps(body))
    return {
        "request": {
            "method": request.method,
            "url": public_url(ex.url),
            "auth": request.auth,
            "body": body,
        },
        "response": {
            "status": ex.status,
            "headers": redact_headers({k: v for k, v in ex.headers.items() if k in ("content-type", "retry-after", "x-request-id")}),
            "body": _excerpt(ex.text),
            "attempts": ex.attempts,
            "elapsed_ms": ex.elapsed_ms,
            **({"client_error": redact(ex.client_error)} if ex.client_error else {}),
            **({"client_note": redact(ex.client_note)} if ex.client_note else {}),
        },
    }


def _error_text(ex: Exchange) -> str:
    body = ex.json
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:200]
    return ex.text[:200]


def failure_status(spec: CheckSpec, failure: Failure, settings: Settings, case_level: str = REQUIRED) -> tuple[str, str, bool]:
    """The one status policy of findings: (status, level, semantic) for a failed check.

    The finding's level is its own when it names one, else the lower of the check's and the
    case's. A required finding is ``fail``; a recommended one ``warn`` (``fail`` with
    ``--strict``); a semantic one (the check's or the finding's) counts as ``--semantic`` says:
    fail, warn or off (``skip``)."""
    level = failure.level or (RECOMMENDED if RECOMMENDED in (spec.level, case_level) else REQUIRED)
    semantic = spec.semantic or failure.semantic
    if semantic:
        status = {"fail": FAIL, "warn": WARN, "off": SKIP}[settings.semantic]
        if status == FAIL and level == RECOMMENDED and not settings.strict:
            status = WARN
        return status, level, True
    if level == RECOMMENDED:
        return (FAIL if settings.strict else WARN), level, False
    return FAIL, level, False


def server_error_status(ex: Exchange, control: Exchange | None) -> tuple[str, str]:
    """(status, message) for a valid request answered with a non-gateway 5xx after its retry:
    ``fail`` when the endpoint's simplest valid request (``control``) is answered 2xx — this
    request breaks the server — else ``error`` (the server is down or flaky)."""
    if control is not None and control.ok:
        return FAIL, (
            f"the server breaks on this valid request: {ex.status} on {ex.attempts} attempt(s) "
            f"({_error_text(ex)}), while the endpoint's simplest valid request is answered {control.status}"
        )
    seen = f"answered {control.status}" if control is not None else "could not be sent"
    return ERROR, f"server error {ex.status} on a valid request after {ex.attempts} attempt(s), and the endpoint's simplest valid request {seen}; could not judge"


def send_control(case: Case, settings: Settings, transport: Transport, counter: Counter, cache: dict[str, Exchange] | None = None, fresh: bool = False) -> Exchange | None:
    """The simplest valid request to the case's endpoint (cases/controls.yaml), or None; an
    answered control is remembered for the run (a failed one is asked again next time), unless
    ``fresh``: the reproducible-5xx rule asks whether the server answers it *now*."""
    key = f"control:{case.endpoint}"
    control = control_case(case.endpoint)
    model = settings.model_for(control.capability) if control.capability else None
    if control.capability and not model:
        return None

    def send() -> Exchange | None:
        try:
            answer = send_with_retry(transport, control.build_request(model, settings.fixtures_url), counter)
        except Unjudgeable:
            return None
        if answer.ok and cache is not None:
            cache[key] = answer
        return answer

    if cache is None or fresh:
        return send()
    with claim(cache, key):
        return cache[key] if key in cache else send()


def applicable(case: Case, settings: Settings) -> str | None:
    """Why ``case`` cannot run against this target, or None when it can."""
    profile = settings.profile
    if not profile.claims_endpoint(case.endpoint):
        return f"profile {profile.name!r} does not claim endpoint {case.endpoint}"
    for feature in (case.feature, *case.requires):
        if not profile.claims(case.endpoint, feature):
            return f"profile {profile.name!r} does not claim feature {feature!r} on {case.endpoint}"
    reason = _batch_endpoint_reason(case, profile) or _tool_type_reason(case, profile)
    if reason:
        return reason
    if case.capability and not settings.model_for(case.capability):
        return f"no model configured for capability {case.capability!r} (use --model {case.capability}=NAME)"
    model = settings.model_for(case.capability) if case.capability else None
    if profile.model_lacks_feature(model, case.feature):
        return f"profile {profile.name!r} says model {model} lacks feature {case.feature!r}"
    if _uploads(case) and settings.s3 is None:
        return S3_MISSING
    if case.needs_media_url and not settings.fixtures_url:
        return "the target fetches images by URL: serve fixtures/ over https and pass --fixtures-url URL"
    return None


def _batch_endpoint_reason(case: Case, profile) -> str | None:
    """A batch case naming an endpoint the profile does not list (``batches.properties.endpoints``)
    does not apply; nor does a refusal case about the endpoint parameter naming one it lists."""
    documented = profile.endpoint_property("batches", "endpoints")
    target = (case.request.get("body") or {}).get("endpoint") if case.endpoint == "batches" else None
    if documented is None or not isinstance(target, str):
        return None
    about_endpoint = case.expect == "refusal" and any(params.get("parameter") == "endpoint" for _, params in case.checks)
    if about_endpoint and target in documented:
        return f"profile {profile.name!r} lists {target} as a batch endpoint: refusing it is not expected"
    if not about_endpoint and target not in documented:
        return f"profile {profile.name!r} does not list {target} among the batch endpoints"
    return None


def _tool_type_reason(case: Case, profile) -> str | None:
    """A refusal case sending a tool that is not a function tool applies only where the profile
    lists the tool types it accepts (``E.properties.tool_types``) and that type is not among them."""
    body = case.request.get("body") or {}
    if case.expect != "refusal" or not isinstance(body, dict):
        return None
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    kinds = {t["type"] for t in tools if isinstance(t, dict) and isinstance(t.get("type"), str) and t["type"] != "function"}
    items = body.get("input") if isinstance(body.get("input"), list) else []
    # custom_tool_call(_output) input items are custom tools' calls
    kinds |= {"custom" for i in items if isinstance(i, dict) and str(i.get("type", "")).startswith("custom_tool_call")}
    kinds = sorted(kinds)
    if not kinds:
        return None
    documented = profile.endpoint_property(case.endpoint, "tool_types")
    if documented is None:
        return f"profile {profile.name!r} does not list the tool types {case.endpoint} accepts (properties.tool_types): refusing a {'/'.join(kinds)} tool is not documented"
    listed = [k for k in kinds if k in documented]
    if listed:
        return f"profile {profile.name!r} lists {'/'.join(listed)} among the {case.endpoint} tool types: refusing it is not expected"
    return None


def _uploads(case: Case) -> list[str]:
    """The ``$upload:`` placeholders a case uses, in its request or its checks' parameters."""
    return sorted(set(UPLOAD.findall(json.dumps([case.request, case.checks, case.common_params]))))


def stage_uploads(case: Case, settings: Settings, model: str | None, transport: str) -> dict[str, dict[str, Any]]:
    """Upload each fixture the case names; return placeholder -> {url, key, lines}."""
    if settings.s3 is None:
        return {}
    store = open_store(**asdict(settings.s3))
    form = settings.profile.endpoint_property("batches", "input_file", S3_URL)
    staged = {}
    for placeholder in _uploads(case):
        rel = placeholder.split(":", 1)[1]
        text = (fixtures_dir() / rel).read_text().replace("$model", model or "")
        key = f"{run_prefix()}/{case.id}/{transport}/{rel.rsplit('/', 1)[-1]}"
        store.put(key, text.encode())
        url = store.url(key, form)
        if form == PRESIGNED_URL:
            register_secret(url)  # a presigned URL is a credential
        staged[placeholder] = {"url": url, "key": key, "lines": [_json_or_none(line) for line in text.splitlines() if line.strip()]}
    return staged


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def resolve_uploads(value: Any, staged: dict[str, dict[str, Any]]) -> Any:
    """``value`` with each ``$upload:`` placeholder replaced by its object's URL."""
    if isinstance(value, str):
        return staged[value]["url"] if value in staged else value
    if isinstance(value, list):
        return [resolve_uploads(v, staged) for v in value]
    if isinstance(value, dict):
        return {k: resolve_uploads(v, staged) for k, v in value.items()}
    return value


def run_case(
    case: Case, settings: Settings, transport: Transport, counter: Counter, cache: dict[str, Exchange] | None = None
) -> list[Verdict]:
    """Send the case's request, run each of its checks, return their verdicts."""
    load_all()
    started = time.perf_counter()
    model = settings.model_for(case.capability) if case.capability else None
    specs = [(CHECKS[name], params) for name, params in case.checks]

    def verdicts(status: str, message: str, evidence: dict[str, Any]) -> list[Verdict]:
        return [make(spec, status, message, evidence) for spec, _ in specs]

    def make(spec, status, message, evidence, level=None, semantic=None) -> Verdict:
        return Verdict(
            check=spec.id,
            case=case.id,
            endpoint=case.endpoint,
            feature=case.feature,
            transport=transport.name,
            status=status,
            message=redact(message),
            semantic=spec.semantic if semantic is None else semantic,
            level=level or case_level(spec),
            source=spec.source,
            description=spec.description,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            evidence=evidence,
        )

    def case_level(spec: CheckSpec) -> str:
        return RECOMMENDED if RECOMMENDED in (spec.level, case.level) else REQUIRED

    reason = applicable(case, settings) or getattr(transport, "unavailable", None)
    if reason:
        return verdicts(SKIP, reason, {})
    request = case.build_request(model, settings.fixtures_url)
    try:
        staged = stage_uploads(case, settings, model, transport.name)
    except Unjudgeable as exc:
        return verdicts(ERROR, str(exc), {})
    request.body = resolve_uploads(request.body, staged)
    try:
        ex = send_with_retry(transport, request, counter)
    except Unjudgeable as exc:
        return verdicts(ERROR, str(exc), {"request": {"method": request.method, "url": public_url(settings.base_url + request.path)}})
    evidence = exchange_evidence(ex)
    if policy.disposition(ex.status) == policy.UNJUDGEABLE:
        return verdicts(ERROR, policy.unjudgeable_message(ex.status, ex.attempts, ex.retry_note), evidence)
    if policy.disposition(ex.status) == policy.SERVER_ERROR:
        # one rule for valid and invalid requests: a 5xx is judged only when it is reproducible
        # while the endpoint's simplest valid request is answered (else the server is down or flaky)
        try:
            judged = policy.judge_server_error(ex, lambda: send_control(case, settings, transport, counter, cache, fresh=True), lambda: send_with_retry(transport, request, counter))
        except Unjudgeable as exc:
            return verdicts(ERROR, f"retrying a server error {ex.status}: {exc}", evidence)
        ex = judged.exchange
        evidence = exchange_evidence(ex)
        if judged.control is not None:
            evidence = {**evidence, "followups": [exchange_evidence(judged.control)]}
        if judged.outcome == "error" and policy.disposition(ex.status) == policy.UNJUDGEABLE:
            return verdicts(ERROR, policy.unjudgeable_message(ex.status, ex.attempts, ex.retry_note), evidence)
        if judged.outcome != "recovered":
            status, message = server_error_status(ex, judged.control)
            if status == ERROR or case.expect == "success":
                return verdicts(status, message, evidence)
    if case.expect == "success" and not ex.ok:
        return verdicts(FAIL, f"a valid request was refused with {ex.status}: {_error_text(ex)}", evidence)

    common = substitute_model(case.common_params, model or "", settings.fixtures_url)
    # The uploaded input files by URL, for checks that read them back.
    uploads = {"staged": {entry["url"]: entry for entry in staged.values()}} if staged else {}
    results = []
    for spec, params in specs:
        if spec.semantic and settings.semantic == "off":
            results.append(make(spec, SKIP, SEMANTIC_OFF, evidence))
            continue
        level, semantic = None, None
        ctx = CheckContext(settings=settings, transport=transport, counter=counter, params={**resolve_uploads({**common, **params}, staged), **uploads}, capability=case.capability or "chat", cache=cache if cache is not None else FollowupCache(), control=lambda: send_control(case, settings, transport, counter, cache, fresh=True))
        try:
            note = spec.fn(ctx, ex)
            status, message = spec.passing_status, note or ""
        except Failure as exc:
            status, level, semantic = failure_status(spec, exc, settings, case.level)
            message = str(exc)
        except Unjudgeable as exc:
            status, message = ERROR, f"could not judge: {exc}"
        except Skip as exc:
            status, message = SKIP, str(exc)
        except Exception as exc:  # noqa: BLE001 - a crashing check is our bug, never the target's fail
            status, message = ERROR, f"the check itself crashed: {type(exc).__name__}: {exc}"
        check_evidence = evidence
        if ctx.followups:
            check_evidence = {**evidence, "followups": [exchange_evidence(f) for f in ctx.followups]}
        results.append(make(spec, status, message, check_evidence, level, semantic))
    return results
