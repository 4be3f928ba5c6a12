"""The report contract: build report.json from verdicts, validate it, write it with its HTML."""

from __future__ import annotations

import json
import platform
from collections import Counter as Tally
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs

from .. import __version__
from ..paths import PACKAGE_DIR
from ..redact import redact_obj
from ..vocabulary import ERROR, FAIL, PASS, SKIP, STATUSES, UNSUPPORTED_OK, WARN
from .causes import causes, worst_causes

REPORT_VERSION = "3.3"


@cache
def report_schema() -> dict[str, Any]:
    return json.loads((PACKAGE_DIR / "schemas" / "report.schema.json").read_text())


def counts(results: list[dict[str, Any]]) -> dict[str, int]:
    tally = Tally(r["status"] for r in results)
    out = {status: tally.get(status, 0) for status in STATUSES}
    out["total"] = len(results)
    return out


def unexpected(result: dict[str, Any]) -> bool:
    """A verdict that did not hold and that no expectation (or baseline) allows."""
    if result["status"] in (PASS, UNSUPPORTED_OK, SKIP):
        return False
    expected = result.get("expected")
    return expected is None or not set(result.get("statuses") or [result["status"]]) <= set(expected)


def outcome(results: list[dict[str, Any]], stale_fails: bool = False) -> str:
    """fail: an unexpected fail (or a stale expectation under --strict-expectations); error: an
    unexpected error; else pass. Warns never decide it (--strict has already made them fails)."""
    statuses = {r["status"] for r in results if unexpected(r)}
    if FAIL in statuses or stale_fails:
        return "fail"
    if ERROR in statuses:
        return "error"
    return "pass"


def transport_differences(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The (case, check) whose verdicts differ between the transports that judged it (a skip, e.g.
    a transport unavailable or a check only an SDK can judge, is no verdict to differ from)."""
    by_key: dict[tuple[str, str], dict[str, str]] = {}
    for r in results:
        if r["status"] != "skip":
            by_key.setdefault((r["case"], r["check"]), {})[r["transport"]] = r["status"]
    return [
        {"case": case, "check": check, "statuses": statuses}
        for (case, check), statuses in sorted(by_key.items())
        if len(statuses) > 1 and len(set(statuses.values())) > 1
    ]


def share_evidence(results: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Store each distinct evidence once: results name it by ``evidence_id`` (the checks of one
    request share the same exchange, so this keeps the report a fraction of the size)."""
    ids: dict[str, str] = {}
    evidence: dict[str, Any] = {}
    out = []
    for result in results:
        result = dict(result)
        item = result.pop("evidence", None)
        if item:
            key = json.dumps(item, sort_keys=True)
            if key not in ids:
                ids[key] = f"e{len(ids) + 1}"
                evidence[ids[key]] = item
            result["evidence_id"] = ids[key]
        out.append(result)
    return out, evidence


def build_report(
    *, target: dict[str, Any], started: str, finished: str, duration_s: float, results: list[dict[str, Any]], usage: dict[str, int],
    property_based: dict[str, Any] | None = None, gate: dict[str, Any] | None = None, stopped: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None, openai_node: dict[str, Any] | None = None,
) -> dict[str, Any]:
    try:
        import openai

        openai_version = openai.__version__
    except ImportError:  # pragma: no cover - openai is a dependency
        openai_version = "absent"
    results, evidence = share_evidence(sorted(results, key=lambda r: (r["endpoint"], r["case"], r["check"], r["transport"])))
    totals = counts(results)
    gate = {"strict": False, "semantic": "fail", **(gate or {})}
    for r in results:
        r.setdefault("level", "required")
        r["unexpected"] = unexpected(r)
    gate["unexpected"] = counts([r for r in results if r["unexpected"]])
    stale_fails = bool(gate.get("strict_expectations") and gate.get("stale"))
    transports = sorted({r["transport"] for r in results})
    report = {
        "report_version": REPORT_VERSION,
        "suite": {"name": "conformance", "version": __version__, "python": platform.python_version(), "openai": openai_version, **({"openai_node": openai_node} if openai_node else {})},
        "target": target,
        "started": started,
        "finished": finished,
        "duration_s": round(duration_s, 2),
        "outcome": "error" if stopped else outcome(results, stale_fails),
        **({"stopped": stopped} if stopped else {}),
        "totals": totals,
        "by_level": {level: counts([r for r in results if r.get("level", "required") == level and not r.get("semantic")]) for level in ("required", "recommended")} | {"semantic": counts([r for r in results if r.get("semantic")])},
        "gate": gate,
        **({"changes": changes} if changes else {}),
        "by_transport": {t: counts([r for r in results if r["transport"] == t]) for t in transports},
        "usage": usage,
        **({"property_based": property_based} if property_based else {}),
        "transport_differences": transport_differences(results),
        "causes": causes(results, evidence),
        "results": results,
        "evidence": evidence,
    }
    return redact_obj(report)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The run in a few lines: target and outcome, totals by status and level, the gate, the files."""
    totals = report["totals"]
    parts = ", ".join(f"{totals[s]} {s}" for s in (PASS, UNSUPPORTED_OK, FAIL, WARN, ERROR, SKIP))
    usage = report["usage"]
    lines = [
        f"target {report['target']['base_url']} · profile {report['target']['profile']} · outcome {report['outcome'].upper()}",
        f"{parts} ({totals['total']} verdicts) · {usage['requests']} requests, {usage['prompt_tokens']}+{usage['completion_tokens']} tokens"
        + (f" · {usage['rate_limited']} × 429" if usage.get("rate_limited") else ""),
    ]
    if report.get("stopped"):
        lines.insert(1, f"STOPPED: {report['stopped']['message']}")
    node = report["suite"].get("openai_node")
    if node and not node["available"]:
        lines.append(f"openai-node: its cases are skipped: {node['reason']} (`conformance setup node` once Node.js is there)")
    if usage.get("by_endpoint"):
        lines.append("cost: " + " · ".join(f"{e} {u['requests']} requests, {u['prompt_tokens']}+{u['completion_tokens']} tokens" for e, u in usage["by_endpoint"].items()))
    levels = report.get("by_level", {})
    lines.append("by level: " + " · ".join(
        f"{level} {counts_[FAIL]} fail, {counts_[WARN]} warn" for level, counts_ in levels.items() if counts_["total"]
    ))
    gate = report.get("gate", {})
    if gate.get("expectations") or gate.get("baseline"):
        u = gate["unexpected"]
        against = " and ".join(f"{k} {gate[k]}" for k in ("expectations", "baseline") if gate.get(k))
        lines.append(f"gate ({against}): {u[FAIL]} unexpected fail, {u[ERROR]} unexpected error, {gate.get('matched', 0)}/{gate.get('entries', 0)} expectations held, {len(gate.get('stale', []))} stale")
        for entry in gate.get("stale", [])[:10]:
            lines.append(f"  stale: {entry['check']}" + (f" case={entry['case']}" if entry.get("case") else "") + f" (expected {'/'.join(entry['status'])}): {entry['reason'][:100]}")
    changes = report.get("changes")
    if changes:
        lines.append("since the baseline: " + ", ".join(f"{n} {section}" for section, n in changes["counts"].items()))
        for item in changes["regressions"][:5]:
            lines.append(f"  regression: {item['was']} -> {item['status']} {item['check']} [{item['case']} · {item['transport']}]")
    return lines


def cause_lines(report: dict[str, Any], limit: int = 5) -> list[str]:
    """What to fix first: the worst causes, one line each (and a second with its first evidence)."""
    found = report.get("causes") or []
    shown = worst_causes(report, limit)
    if not shown:
        return []
    lines = [f"causes ({len(found)}, worst first):"]
    for cause in shown:
        where = ", ".join(cause["endpoints"][:4]) + (" …" if len(cause["endpoints"]) > 4 else "")
        expected = "" if cause["unexpected"] else " (expected)"
        checks = cause["checks"][0] + (f" (+{len(cause['checks']) - 1} checks)" if len(cause["checks"]) > 1 else "")
        mixed = f" ({', '.join(f'{n} {s}' for s, n in cause['by_status'].items())})" if len(cause["by_status"]) > 1 else ""
        lines.append(f"  {cause['id']} {cause['status'].upper()} [{cause['level']}]{expected} ×{cause['count']}{mixed} {checks} · {where}: {cause['message'][:160]}")
    rest = len(found) - len(shown)
    if rest > 0:
        lines.append(f"  … {rest} more in the report (causes)")
    return lines


@cache
def _fast_report_validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft202012Validator(report_schema(), validate_formats=True)


def validate_report(report: dict[str, Any]) -> None:
    """Raise jsonschema's ValidationError unless ``report`` follows report.schema.json (jsonschema-rs
    answers for the valid ones, jsonschema explains the others)."""
    if _fast_report_validator().is_valid(report):
        return
    jsonschema.Draft202012Validator(report_schema(), format_checker=jsonschema.FormatChecker()).validate(report)


def write_report(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Validate, then write report.json and the report.html rendered from it."""
    from .html import render_html

    validate_report(report)
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    html_path = directory / "report.html"
    html_path.write_text(render_html(json.loads(json_path.read_text())))
    return json_path, html_path
