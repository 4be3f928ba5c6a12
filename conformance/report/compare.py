"""Several reports side by side: per endpoint and feature, each target's worst verdict (a
browser-compatibility table), as Markdown or as HTML rendered from the reports alone."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

from ..vocabulary import FAIL, STATUSES, WARN
from .markdown import MARK, _cell


def label(report: dict[str, Any]) -> str:
    """A target's column title: its profile and host (the embedded server says so)."""
    target = report["target"]
    host = "embedded" if target.get("embedded") else (urlsplit(target["base_url"]).netloc or target["base_url"])
    return f"{target['profile']} @ {host}"


def _labels(reports: list[dict[str, Any]]) -> list[str]:
    """Column titles, made unique (two runs of one target are told apart by their position)."""
    labels = [label(r) for r in reports]
    return [f"{name} #{i}" if labels.count(name) > 1 else name for i, name in enumerate(labels, 1)]


def cells(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (endpoint, feature): the worst status over every transport, whether that worst is
    semantic only, the transports it came through and the counts by status."""
    by_row: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in report["results"]:
        by_row[(r["endpoint"], r["feature"])].append(r)
    out = {}
    for key, verdicts in by_row.items():
        worst = min((v["status"] for v in verdicts), key=STATUSES.index)
        at_worst = [v for v in verdicts if v["status"] == worst]
        out[key] = {
            "status": worst,
            "semantic": worst in (FAIL, WARN) and all(v.get("semantic") for v in at_worst),
            "transports": sorted({v["transport"] for v in at_worst}),
            "counts": {s: n for s in STATUSES if (n := sum(v["status"] == s for v in verdicts))},
            "checks": sorted({v["check"] for v in at_worst})[:5],
        }
    return out


def compare(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison: targets (label, outcome, totals) and rows (endpoint, feature, one cell per
    target, None where a target did not run it; ``differs`` when the targets' statuses differ)."""
    grids = [cells(r) for r in reports]
    keys = sorted({key for grid in grids for key in grid})
    rows = []
    for endpoint, feature in keys:
        row_cells = [grid.get((endpoint, feature)) for grid in grids]
        # a target that did not run the feature (not selected, not claimed) differs in coverage, not in verdict
        seen = {(c["status"], c["semantic"]) for c in row_cells if c}
        rows.append({"endpoint": endpoint, "feature": feature, "cells": row_cells, "differs": len(seen) > 1})
    targets = [
        {"label": name, "base_url": r["target"]["base_url"], "profile": r["target"]["profile"], "outcome": r["outcome"], "totals": r["totals"],
         "started": r["started"], "suite": r["suite"]["version"], "causes": (r.get("causes") or [])[:3]}
        for name, r in zip(_labels(reports), reports)
    ]
    return {"targets": targets, "rows": rows, "differing": sum(row["differs"] for row in rows)}


def _mark(cell: dict[str, Any] | None) -> str:
    if cell is None:
        return "—"
    return MARK[cell["status"]] + (" (semantic)" if cell["semantic"] else "")


def render_markdown(comparison: dict[str, Any]) -> str:
    targets = comparison["targets"]
    lines = ["## Compatibility compared", "", "| | " + " | ".join(_cell(t["label"]) for t in targets) + " |", "| --- | " + " | ".join("---" for _ in targets) + " |"]
    lines.append("| outcome | " + " | ".join(f"**{t['outcome'].upper()}**" for t in targets) + " |")
    lines.append("| verdicts | " + " | ".join(f"{t['totals']['pass'] + t['totals']['unsupported-ok']} hold, {t['totals']['fail']} fail, {t['totals']['warn']} warn, {t['totals']['error']} error" for t in targets) + " |")
    lines += ["", f"{comparison['differing']} of {len(comparison['rows'])} endpoint × feature rows differ (marked ◆).", ""]
    lines += ["| endpoint | feature | " + " | ".join(_cell(t["label"]) for t in targets) + " |", "| --- | --- | " + " | ".join("---" for _ in targets) + " |"]
    for row in comparison["rows"]:
        mark = " ◆" if row["differs"] else ""
        lines.append(f"| {row['endpoint']} | {row['feature']}{mark} | " + " | ".join(_mark(c) for c in row["cells"]) + " |")
    return "\n".join(lines) + "\n"


def render_html(comparison: dict[str, Any]) -> str:
    from .html import _ENV

    return _ENV.get_template("compare.html.j2").render(comparison=comparison, statuses=STATUSES)
