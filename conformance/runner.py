"""Runs one case through one transport and turns what happened into verdicts, one per check."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .cases import Case, substitute_model
from .checks import CHECKS, CheckContext, Failure, Skip, load_all
from .redact import redact, redact_headers, redact_obj
from .settings import Settings, public_url
from .transport import Counter, Exchange, Transport, Unjudgeable, send_with_retry
from .vocabulary import ERROR, FAIL, SKIP

EXCERPT = 2000
#: Statuses that say nothing about the contract: rate limiting and gateway trouble.
UNJUDGEABLE_STATUSES = frozenset({429, 502, 503, 504})


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
    description: str = ""
    duration_ms: float = 0.0
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        },
    }


def _error_text(ex: Exchange) -> str:
    body = ex.json
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message", ""))[:200]
    return ex.text[:200]


def applicable(case: Case, settings: Settings) -> str | None:
    """Why ``case`` cannot run against this target, or None when it can."""
    profile = settings.profile
    if not profile.claims_endpoint(case.endpoint):
        return f"profile {profile.name!r} does not claim endpoint {case.endpoint}"
    if not profile.claims(case.endpoint, case.feature):
        return f"profile {profile.name!r} does not claim feature {case.feature!r} on {case.endpoint}"
    if case.capability and not settings.model_for(case.capability):
        return f"no model configured for capability {case.capability!r} (use --model {case.capability}=NAME)"
    if case.needs_media_url and not settings.fixtures_url:
        return "the target fetches images by URL: serve fixtures/ over https and pass --fixtures-url URL"
    return None


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

    def make(spec, status, message, evidence) -> Verdict:
        return Verdict(
            check=spec.id,
            case=case.id,
            endpoint=case.endpoint,
            feature=case.feature,
            transport=transport.name,
            status=status,
            message=redact(message),
            semantic=spec.semantic,
            description=spec.description,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            evidence=evidence,
        )

    reason = applicable(case, settings)
    if reason:
        return verdicts(SKIP, reason, {})
    request = case.build_request(model, settings.fixtures_url)
    try:
        ex = send_with_retry(transport, request, counter)
    except Unjudgeable as exc:
        return verdicts(ERROR, str(exc), {"request": {"method": request.method, "url": public_url(settings.base_url + request.path)}})
    evidence = exchange_evidence(ex)
    if ex.status in UNJUDGEABLE_STATUSES:
        return verdicts(ERROR, f"status {ex.status} (rate limit or gateway trouble) after {ex.attempts} attempt(s); could not judge", evidence)
    if case.expect == "success" and ex.status >= 500:
        return verdicts(ERROR, f"server error {ex.status} on a valid request after {ex.attempts} attempt(s); could not judge", evidence)
    if case.expect == "success" and not ex.ok:
        return verdicts(FAIL, f"a valid request was refused with {ex.status}: {_error_text(ex)}", evidence)

    common = substitute_model(case.common_params, model or "", settings.fixtures_url)
    results = []
    for spec, params in specs:
        ctx = CheckContext(settings=settings, transport=transport, counter=counter, params={**common, **params}, capability=case.capability or "chat", cache=cache if cache is not None else {})
        try:
            note = spec.fn(ctx, ex)
            status, message = spec.passing_status, note or ""
        except Failure as exc:
            status, message = FAIL, str(exc)
        except Unjudgeable as exc:
            status, message = ERROR, f"could not judge: {exc}"
        except Skip as exc:
            status, message = SKIP, str(exc)
        except Exception as exc:  # noqa: BLE001 - a crashing check is our bug, never the target's fail
            status, message = ERROR, f"the check itself crashed: {type(exc).__name__}: {exc}"
        check_evidence = evidence
        if ctx.followups:
            check_evidence = {**evidence, "followups": [exchange_evidence(f) for f in ctx.followups]}
        results.append(make(spec, status, message, check_evidence))
    return results
