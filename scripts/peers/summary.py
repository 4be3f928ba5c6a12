"""A Markdown summary of one peer run, read only from its report.json (docs/examples/SERVER/SUMMARY.md).

Usage: python scripts/peers/summary.py docs/examples/SERVER/report.json > docs/examples/SERVER/SUMMARY.md
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

STATUSES = ("pass", "unsupported-ok", "fail", "warn", "error", "skip")


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def summary(report: dict) -> str:
    target, gate = report["target"], report.get("gate") or {}
    models = ", ".join(f"{c}=`{m}`" for c, m in sorted(target.get("models", {}).items())) or "none"
    lines = [
        f"# {target.get('profile_title') or target.get('profile')}: conformance run",
        "",
        f"- target: `{target['base_url']}`, profile `{target.get('profile')}`, models {models}",
        f"- suite {report['suite']['version']} (openai {report['suite'].get('openai')}), {report['started']}, {report['duration_s']:.0f} s",
        f"- **outcome {report['outcome'].upper()}**; expectations: {gate.get('matched', 0)}/{gate.get('entries', 0)} held, {len(gate.get('stale') or [])} stale; semantic checks count as `{gate.get('semantic', 'fail')}`",
        "",
        "| level | " + " | ".join(STATUSES) + " |",
        "| --- |" + " --- |" * len(STATUSES),
    ]
    for level, counts in report["by_level"].items():
        lines.append(f"| {level} | " + " | ".join(str(counts.get(s, 0)) for s in STATUSES) + " |")
    expected: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for verdict in report["results"]:
        if verdict.get("expected") and verdict["status"] in verdict["expected"] and verdict["status"] not in ("pass", "skip"):
            expected[(verdict["check"], verdict.get("expectation", ""), verdict.get("expectation_link", ""))].append(verdict)
    lines += ["", "## Known deviations (each reviewed, in expectations.yaml)", ""]
    if expected:
        lines += ["| check | cases | reason | link |", "| --- | --- | --- | --- |"]
        for (check, reason, link), verdicts in sorted(expected.items()):
            cases = ", ".join(f"`{c}`" for c in sorted({v["case"] for v in verdicts}))
            lines.append(f"| `{check}` | {cases} | {_cell(reason)} | {link and f'[source]({link})'} |")
    else:
        lines.append("None.")
    others = [v for v in report["results"] if v["status"] in ("fail", "error", "warn") and v not in sum(expected.values(), [])]
    if others:
        lines += ["", "## Other verdicts to read (warnings, unexpected)", "", "| status | check | case | transport | message |", "| --- | --- | --- | --- | --- |"]
        for v in sorted(others, key=lambda v: (v["status"], v["check"], v["case"], v["transport"])):
            lines.append(f"| {v['status']} | `{v['check']}` | `{v['case']}` | {v['transport']} | {_cell(v['message'])[:200]} |")
    lines += ["", "Full detail, with the evidence of every verdict: [report.html](report.html) (from [report.json](report.json)).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(summary(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
