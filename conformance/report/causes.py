"""Groups the verdicts that did not hold into causes: one reason, however many verdicts it breaks.

Two verdicts share a cause when they come from the same check with the same message once the
values that vary from case to case (quoted values, numbers, ids, URLs, the excerpt of what the
server sent) are blanked out; and the
causes of several checks that failed on exactly the same exchanges are one (the exchange broke
them all). A cause names its count, the endpoints, features and transports it touches, its level
and source, and its first evidence with a curl command to reproduce it.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from ..vocabulary import ERROR, FAIL, RECOMMENDED, REQUIRED, STATUSES, WARN

#: The statuses a cause is made of (a verdict that did not hold).
CAUSE_STATUSES = (FAIL, ERROR, WARN)

_VARYING = [
    (re.compile(r"https?://\S+"), "URL"),
    # an excerpt of what the server sent (a body, an object, a list) runs to the end of the message
    (re.compile(r"[\[{].*$"), "{…}"),
    (re.compile(r"'(?:[^'\\]|\\.){0,200}'"), "'…'"),
    (re.compile(r'"(?:[^"\\]|\\.){0,200}"'), '"…"'),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "ID"),
    (re.compile(r"\b[A-Za-z]+[_-][A-Za-z0-9]{8,}\b"), "ID"),
    (re.compile(r"\d+(?:\.\d+)?"), "N"),
]
#: What a curl command sends for each kind of key the exchange used.
CURL_AUTH = {"valid": 'Authorization: Bearer $OPENAI_API_KEY', "wrong": "Authorization: Bearer sk-wrong-key", "none": None}


def normalised(message: str) -> str:
    """``message`` with what varies between cases blanked out (the values, not the words)."""
    text = message.split("\n", 1)[0][:400]
    for pattern, blank in _VARYING:
        text = pattern.sub(blank, text)
    return text


def curl(evidence: dict[str, Any] | None) -> str | None:
    """A ready-to-paste curl command sending the evidence's request (the key as $OPENAI_API_KEY)."""
    request = (evidence or {}).get("request")
    if not request or not request.get("url"):
        return None
    parts = ["curl", "-sS", "-X", request.get("method", "GET"), shlex.quote(request["url"])]
    auth = CURL_AUTH.get(request.get("auth", "valid"))
    if auth:
        parts += ["-H", f'"{auth}"' if "$" in auth else shlex.quote(auth)]
    body = request.get("body")
    if body is not None:
        data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        parts += ["-H", shlex.quote("Content-Type: application/json"), "--data-binary", shlex.quote(data)]
    return " ".join(parts)


def _rank(cause: dict[str, Any]) -> tuple:
    """Worst first: unexpected before expected, fail before error before warn, required before
    recommended, protocol before semantic, then the most verdicts."""
    return (not cause["unexpected"], STATUSES.index(cause["status"]), cause["level"] != REQUIRED, cause["semantic"], -cause["count"], cause["checks"][0], cause["message"])


def causes(results: list[dict[str, Any]], evidence: dict[str, Any]) -> list[dict[str, Any]]:
    """The causes of the report's verdicts that did not hold, worst first (report.json ``causes``)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in results:
        if result["status"] in CAUSE_STATUSES:
            groups.setdefault((result["check"], normalised(result.get("message", ""))), []).append(result)
    # the checks that failed on exactly the same exchanges: one cause (that exchange broke them all)
    merged: dict[Any, list[dict[str, Any]]] = {}
    for key, members in groups.items():
        exchanges = frozenset(r.get("evidence_id") for r in members)
        same = exchanges if None not in exchanges else key
        merged.setdefault(same, []).extend(members)
    out = [_cause(members, evidence) for members in merged.values()]
    out.sort(key=_rank)
    for index, cause in enumerate(out, 1):
        cause["id"] = f"c{index}"
    return out


def _cause(members: list[dict[str, Any]], evidence: dict[str, Any]) -> dict[str, Any]:
    first = min(members, key=lambda r: (STATUSES.index(r["status"]), r["endpoint"], r["case"], r["transport"]))
    checks = sorted({r["check"] for r in members}, key=lambda c: (c != first["check"], c))
    evidence_id = first.get("evidence_id") or next((r["evidence_id"] for r in members if r.get("evidence_id")), None)
    return {
        "id": "",
        "status": min((r["status"] for r in members), key=STATUSES.index),
        "level": REQUIRED if any(r.get("level", REQUIRED) == REQUIRED for r in members) else RECOMMENDED,
        "semantic": all(r.get("semantic") for r in members),
        "unexpected": any(r.get("unexpected", True) for r in members),
        "count": len(members),
        # one reason may break a required case (fail) and a recommended one (warn) alike
        "by_status": {status: n for status in STATUSES if (n := sum(r["status"] == status for r in members))},
        "message": first.get("message", ""),
        "checks": checks,
        "source": first.get("source", ""),
        "description": first.get("description", ""),
        "endpoints": sorted({r["endpoint"] for r in members}),
        "features": sorted({f"{r['endpoint']}/{r['feature']}" for r in members}),
        "transports": sorted({r["transport"] for r in members}),
        "cases": len({r["case"] for r in members}),
        "first": {"case": first["case"], "check": first["check"], "transport": first["transport"]},
        "evidence_id": evidence_id,
        "curl": curl(evidence.get(evidence_id)) if evidence_id else None,
    }


def worst_causes(report: dict[str, Any], limit: int = 5) -> list[dict[str, Any]]:
    """The first ``limit`` causes that decide the outcome (unexpected fails and errors), else any."""
    found = report.get("causes") or []
    deciding = [c for c in found if c["unexpected"] and c["status"] in (FAIL, ERROR)]
    return (deciding or found)[:limit]
