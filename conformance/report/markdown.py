"""Renders a report.json as Markdown (a CI job summary) and as a shields.io endpoint badge."""

from __future__ import annotations

from typing import Any

from ..vocabulary import ERROR, FAIL, PASS, SKIP, UNSUPPORTED_OK, WARN
from .causes import worst_causes

#: What a cell of the grid shows for its worst status.
MARK = {FAIL: "❌ fail", ERROR: "⚠️ error", WARN: "🟡 warn", PASS: "✅ pass", UNSUPPORTED_OK: "🚫 refused", SKIP: "· skip"}
#: The badge's colour by outcome (shields.io named colours).
BADGE_COLOURS = {"pass": "brightgreen", "fail": "red", "error": "orange"}


def _cell(text: Any) -> str:
    """Text safe inside a Markdown table cell (one line, no pipe)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def grid(report: dict[str, Any]) -> tuple[list[str], list[tuple[str, str, dict[str, str]]]]:
    """Transports, and per endpoint × feature the worst status through each (the HTML's matrix; a
    semantic fail or warn said so)."""
    from .html import matrix

    transports, rows = matrix(report)
    return transports, [
        (row["endpoint"], row["feature"], {c["transport"]: "" if c["status"] == "none" else MARK[c["status"]] + (" (semantic)" if c["semantic"] else "") for c in row["cells"]})
        for row in rows
    ]


def render_markdown(report: dict[str, Any], limit: int = 10) -> str:
    """The outcome, totals by level, the worst causes and the compatibility grid."""
    target, totals = report["target"], report["totals"]
    lines = [
        f"## Conformance: {report['outcome'].upper()} — {_cell(target['base_url'])}",
        "",
        f"Profile `{target['profile']}` · {totals['total']} verdicts: "
        + ", ".join(f"{totals[s]} {s}" for s in (PASS, UNSUPPORTED_OK, FAIL, WARN, ERROR, SKIP))
        + f" · {report['usage']['requests']} requests · suite {report['suite']['version']}",
        "",
    ]
    if report.get("stopped"):
        lines += [f"**Stopped:** {_cell(report['stopped']['message'])}", ""]
    levels = report.get("by_level") or {}
    if levels:
        lines += ["| level | fail | warn | of |", "| --- | --- | --- | --- |"]
        lines += [f"| {level} | {c[FAIL]} | {c[WARN]} | {c['total']} |" for level, c in levels.items() if c["total"]]
        lines.append("")
    gate = report.get("gate") or {}
    if gate.get("expectations") or gate.get("baseline"):
        u = gate["unexpected"]
        lines += [f"Gate: {u[FAIL]} unexpected fail, {u[ERROR]} unexpected error · {gate.get('matched', 0)}/{gate.get('entries', 0)} expectations held · {len(gate.get('stale', []))} stale", ""]
    changes = report.get("changes")
    if changes:
        lines += ["### Since the baseline", "", " · ".join(f"{n} {section}" for section, n in changes["counts"].items()), ""]
        if changes["regressions"]:
            lines += ["| regression | case | transport | message |", "| --- | --- | --- | --- |"]
            lines += [f"| `{r['check']}` {r['was']} → {r['status']} | {_cell(r['case'])} | {r['transport']} | {_cell(r.get('message', '')[:200])} |" for r in changes["regressions"][:limit]]
            if len(changes["regressions"]) > limit:
                lines.append(f"\n… {len(changes['regressions']) - limit} more in report.json")
            lines.append("")
    causes = report.get("causes") or []
    if causes:
        shown = worst_causes(report, limit)
        lines += [f"### Causes ({len(causes)}, worst first)", "", "| cause | verdicts | check | what happened | endpoints |", "| --- | --- | --- | --- | --- |"]
        for c in shown:
            expected = "" if c["unexpected"] else " (expected)"
            lines.append(f"| {c['id']} {c['status']} [{c['level']}]{expected} | {c['count']} | `{c['checks'][0]}`{' +' + str(len(c['checks']) - 1) if len(c['checks']) > 1 else ''} | {_cell(c['message'][:200])} | {', '.join(c['endpoints'])} |")
        if len(causes) > len(shown):
            rest = len(causes) - len(shown)
            lines.append(f"\n… {rest} more cause{'s' if rest != 1 else ''} in report.json")
        first = shown[0]
        if first.get("curl"):
            lines += ["", f"Reproduce {first['id']}:", "", "```sh", first["curl"], "```"]
        lines.append("")
    transports, rows = grid(report)
    lines += ["### Compatibility", "", "| endpoint | feature | " + " | ".join(transports) + " |", "| --- | --- | " + " | ".join("---" for _ in transports) + " |"]
    lines += [f"| {endpoint} | {feature} | " + " | ".join(shown[t] for t in transports) + " |" for endpoint, feature, shown in rows]
    return "\n".join(lines) + "\n"


def badge(report: dict[str, Any]) -> dict[str, Any]:
    """A shields.io endpoint badge (https://shields.io/badges/endpoint-badge): the outcome and the
    share of judged verdicts that hold."""
    totals = report["totals"]
    held = totals[PASS] + totals[UNSUPPORTED_OK]
    judged = held + totals[FAIL] + totals[ERROR] + totals[WARN]
    return {
        "schemaVersion": 1,
        "label": "OpenAI compatibility",
        "message": f"{report['outcome']} · {held}/{judged}",
        "color": BADGE_COLOURS.get(report["outcome"], "lightgrey"),
    }
