"""Renders report.html from report.json alone (Jinja2, autoescaped)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import jinja2

from ..vocabulary import STATUSES

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("conformance.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False)


def evidence_summary(item: dict[str, Any]) -> str:
    """One line for an evidence record: method, URL, status, follow-ups."""
    if "mode" in item and "sent" in item and "request" not in item:  # a passing property-based run
        statuses = ", ".join(f"{n}×{s}" for s, n in (item.get("statuses") or {}).items())
        return f"property-based, {item['mode']}: {item['sent']} generated requests ({statuses}) · seed {item.get('seed')}"
    request = item.get("request") or {}
    response = item.get("response") or {}
    line = f"{request.get('method', '')} {request.get('url', '')} → {response.get('status', 'no response')}".strip()
    followups = item.get("followups") or []
    return f"{line} (+{len(followups)} follow-up{'s' if len(followups) != 1 else ''})" if followups else line


_ENV.filters["evidence_summary"] = evidence_summary


def worst(statuses: list[str]) -> str:
    for status in STATUSES:
        if status in statuses:
            return status
    return "none"


def matrix(report: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """Rows endpoint × feature, columns transports; each cell: worst status and counts."""
    transports = sorted({r["transport"] for r in report["results"]})
    cells: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in report["results"]:
        cells[(r["endpoint"], r["feature"])][r["transport"]].append(r)
    rows = []
    for (endpoint, feature), by_transport in sorted(cells.items()):
        row = {"endpoint": endpoint, "feature": feature, "anchor": f"{endpoint}--{feature}", "cells": []}
        for t in transports:
            verdicts = by_transport.get(t, [])
            statuses = [v["status"] for v in verdicts]
            status = worst(statuses) if statuses else "none"
            # a cell whose worst is only the model's choice (semantic) is told apart from a protocol failure
            semantic = status in ("fail", "warn") and all(v.get("semantic") for v in verdicts if v["status"] == status)
            row["cells"].append(
                {"transport": t, "status": status, "semantic": semantic, "counts": {s: statuses.count(s) for s in STATUSES if statuses.count(s)}}
            )
        rows.append(row)
    return transports, rows


def render_html(report: dict[str, Any]) -> str:
    transports, rows = matrix(report)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in report["results"]:
        groups[f"{r['endpoint']}--{r['feature']}"].append(r)
    return _ENV.get_template("report.html.j2").render(report=report, transports=transports, rows=rows, groups=groups, statuses=STATUSES)
