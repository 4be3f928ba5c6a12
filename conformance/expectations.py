"""Expectations (known deviations) and baselines: which verdicts are expected, which are stale, what regressed.

An expectations file is YAML (WPT-style metadata, test262-style exceptions)::

    version: 1
    expectations:
      chat.stream.include_usage:            # a check id
        status: fail                        # or a list: [pass, fail] for an intermittent verdict
        reason: the server never sends the usage chunk
        link: https://github.com/org/server/issues/123
      chat.finish_reason.stop:              # or a list of entries, narrowed by case and transport
        - {case: "chat.max_tokens.*", transport: openai, status: fail, reason: "…"}

``case`` is an exact case id or a glob (fnmatch); the most specific matching entry wins (case and
transport, then case, then transport, then the check alone). A verdict is *expected* when its
status (every status, for an intermittent one) is in the entry's list. An entry none of whose
matched verdicts has an expected status is *stale* (the deviation is gone).
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .vocabulary import ERROR, FAIL, PASS, SKIP, STATUSES, TRANSPORTS, UNSUPPORTED_OK, WARN
from .yamlfile import load_yaml

VERSION = 1
#: Statuses a baseline remembers: a verdict that had one of these may keep it without failing the gate.
_REMEMBERED = (FAIL, WARN, ERROR)
#: Statuses that mean the check holds.
_GOOD = (PASS, UNSUPPORTED_OK)


class ExpectationsError(ValueError):
    """The expectations file or the baseline cannot be used (bad input: exit code 2)."""


@dataclass(frozen=True)
class Expectation:
    check: str
    statuses: tuple[str, ...]
    reason: str
    case: str | None = None
    transport: str | None = None
    link: str | None = None

    @property
    def specificity(self) -> int:
        return (2 if self.case else 0) + (1 if self.transport else 0)

    def matches(self, verdict: dict[str, Any]) -> bool:
        if verdict["check"] != self.check:
            return False
        if self.transport and verdict["transport"] != self.transport:
            return False
        return not self.case or fnmatch.fnmatchcase(verdict["case"], self.case)

    def key(self) -> str:
        return " ".join(p for p in (self.check, self.case and f"case={self.case}", self.transport and f"transport={self.transport}") if p)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"check": self.check, "status": list(self.statuses), "reason": self.reason}
        for name in ("case", "transport", "link"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out


def _entry(check: str, raw: Any, where: str) -> Expectation:
    if not isinstance(raw, dict):
        raise ExpectationsError(f"{where}: {check}: an entry must be a mapping with status and reason")
    unknown = set(raw) - {"status", "reason", "link", "case", "transport"}
    if unknown:
        raise ExpectationsError(f"{where}: {check}: unknown key(s) {', '.join(sorted(unknown))}")
    statuses = raw.get("status")
    statuses = [statuses] if isinstance(statuses, str) else statuses
    if not statuses or not all(isinstance(s, str) and s in STATUSES for s in statuses):
        raise ExpectationsError(f"{where}: {check}: status must be one of {', '.join(STATUSES)} or a list of them, got {raw.get('status')!r}")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ExpectationsError(f"{where}: {check}: every expectation needs a reason")
    transport = raw.get("transport")
    if transport is not None and transport not in TRANSPORTS:
        raise ExpectationsError(f"{where}: {check}: unknown transport {transport!r} (one of {', '.join(TRANSPORTS)})")
    return Expectation(check, tuple(dict.fromkeys(statuses)), reason.strip(), raw.get("case"), transport, raw.get("link"))


def parse(data: Any, where: str = "expectations", known_checks: set[str] | None = None) -> tuple[Expectation, ...]:
    """Expectations from the parsed YAML document (raises :class:`ExpectationsError`)."""
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("expectations"), dict):
        raise ExpectationsError(f"{where}: expected a mapping with 'version: {VERSION}' and 'expectations: {{check id: entry}}'")
    out: list[Expectation] = []
    for check, raw in data["expectations"].items():
        if known_checks is not None and check not in known_checks:
            raise ExpectationsError(f"{where}: unknown check {check!r}")
        for entry in raw if isinstance(raw, list) else [raw]:
            out.append(_entry(check, entry, where))
    return tuple(out)


def load(path: str | Path, known_checks: set[str] | None = None) -> tuple[Expectation, ...]:
    path = Path(path)
    try:
        data = load_yaml(path.read_text())
    except OSError as exc:
        raise ExpectationsError(f"--expectations {path}: cannot read it ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ExpectationsError(f"--expectations {path}: not valid YAML: {exc}") from exc
    return parse(data, str(path), known_checks)


def load_report(path: str | Path, option: str = "--baseline") -> dict[str, Any]:
    path = Path(path)
    try:
        report = json.loads(path.read_text())
    except OSError as exc:
        raise ExpectationsError(f"{option} {path}: cannot read it ({exc.strerror})") from exc
    except ValueError as exc:
        raise ExpectationsError(f"{option} {path}: not a JSON report: {exc}") from exc
    if not isinstance(report, dict) or not isinstance(report.get("results"), list):
        raise ExpectationsError(f"{option} {path}: not a conformance report (no results)")
    return report


def from_baseline(report: dict[str, Any]) -> tuple[Expectation, ...]:
    """What an earlier report allows: each verdict that did not hold may keep its status."""
    out = []
    for r in report["results"]:
        statuses = r.get("statuses") or [r["status"]]
        if any(s in _REMEMBERED for s in statuses):
            reason = f"baseline: {r['status']} in the earlier report" + (f" ({r['message'][:160]})" if r.get("message") else "")
            out.append(Expectation(r["check"], tuple(dict.fromkeys(statuses)), reason, r["case"], r["transport"]))
    return tuple(out)


def _statuses(verdict: dict[str, Any]) -> list[str]:
    return verdict.get("statuses") or [verdict["status"]]


def apply(results: list[dict[str, Any]], expectations: tuple[Expectation, ...]) -> dict[str, Any]:
    """Mark each verdict ``expected`` (its matching entry's statuses) in place; return the summary:
    the entries that matched, the stale ones, and the unexpected verdicts' counts."""
    best: list[tuple[Expectation | None, dict[str, Any]]] = []
    for verdict in results:
        matching = [e for e in expectations if e.matches(verdict)]
        entry = max(matching, key=lambda e: e.specificity) if matching else None
        best.append((entry, verdict))
    held: dict[Expectation, bool] = {e: False for e in expectations}
    for entry, verdict in best:
        if entry is None:
            continue
        verdict["expected"] = list(entry.statuses)
        verdict["expectation"] = entry.reason
        if entry.link:
            verdict["expectation_link"] = entry.link
        if set(_statuses(verdict)) <= set(entry.statuses) and verdict["status"] != SKIP:
            held[entry] = True
    stale = [e.as_dict() for e, ok in held.items() if not ok]
    return {"entries": len(expectations), "matched": sum(held.values()), "stale": stale}


def is_unexpected(verdict: dict[str, Any]) -> bool:
    """Whether the verdict decides the outcome: it did not hold and no expectation allows it."""
    if verdict["status"] in _GOOD or verdict["status"] == SKIP:
        return False
    expected = verdict.get("expected")
    return expected is None or not set(_statuses(verdict)) <= set(expected)


def write(report: dict[str, Any]) -> str:
    """An expectations file that makes ``report``'s run pass: every verdict that did not hold,
    with its message as the reason, grouped as coarsely as the verdicts allow (for a person to review)."""
    by_check: dict[str, list[dict[str, Any]]] = {}
    for r in report["results"]:
        by_check.setdefault(r["check"], []).append(r)
    doc: dict[str, Any] = {}
    for check, verdicts in sorted(by_check.items()):
        bad = [v for v in verdicts if any(s in _REMEMBERED for s in _statuses(v))]
        if not bad:
            continue
        statuses = sorted({s for v in bad for s in _statuses(v)}, key=STATUSES.index)
        if len(bad) == len([v for v in verdicts if v["status"] != SKIP]):
            doc[check] = {"status": _one(statuses), "reason": _reason(bad)}
            continue
        entries = []
        by_case: dict[str, list[dict[str, Any]]] = {}
        for v in bad:
            by_case.setdefault(v["case"], []).append(v)
        for case, vs in sorted(by_case.items()):
            all_of_case = [v for v in verdicts if v["case"] == case and v["status"] != SKIP]
            case_statuses = sorted({s for v in vs for s in _statuses(v)}, key=STATUSES.index)
            if len(vs) == len(all_of_case):
                entries.append({"case": case, "status": _one(case_statuses), "reason": _reason(vs)})
            else:
                for v in vs:
                    entries.append({"case": case, "transport": v["transport"], "status": _one(_statuses(v)), "reason": _reason([v])})
        doc[check] = entries
    header = (
        f"# Expectations written from the report of {report.get('target', {}).get('base_url', '?')} "
        f"({report.get('finished', '?')}, profile {report.get('target', {}).get('profile', '?')}).\n"
        "# Review every entry: replace the reason with why the deviation is known, add a link to the issue.\n"
    )
    return header + yaml.safe_dump({"version": VERSION, "expectations": doc}, sort_keys=False, allow_unicode=True, width=120)


def _one(statuses: list[str]) -> str | list[str]:
    return statuses[0] if len(statuses) == 1 else statuses


def _reason(verdicts: list[dict[str, Any]]) -> str:
    message = next((v["message"] for v in verdicts if v.get("message")), "") or verdicts[0]["status"]
    return message if len(message) <= 300 else message[:297] + "..."


# -- diff ----------------------------------------------------------------------------------------
def _key(r: dict[str, Any]) -> tuple[str, str, str]:
    return (r["check"], r["case"], r["transport"])


def _worse(old: str, new: str) -> bool:
    """A regression: the check now fails, or warns where it held."""
    return (new == FAIL and old != FAIL) or (new == WARN and old in _GOOD)


def diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Regressions, fixes, other changes, new and removed verdicts between two reports."""
    before = {_key(r): r for r in old["results"]}
    after = {_key(r): r for r in new["results"]}
    out: dict[str, list[dict[str, Any]]] = {"regressions": [], "fixes": [], "changed": [], "new": [], "removed": []}
    for key, r in sorted(after.items()):
        entry = {"check": key[0], "case": key[1], "transport": key[2], "status": r["status"], "message": r.get("message", "")}
        if key not in before:
            out["new"].append(entry)
            continue
        was = before[key]["status"]
        if was == r["status"]:
            continue
        entry["was"] = was
        if _worse(was, r["status"]):
            out["regressions"].append(entry)
        elif r["status"] in _GOOD and was in (FAIL, WARN):
            out["fixes"].append(entry)
        else:
            out["changed"].append(entry)
    for key, r in sorted(before.items()):
        if key not in after:
            out["removed"].append({"check": key[0], "case": key[1], "transport": key[2], "status": r["status"]})
    return out


def changes(old: dict[str, Any], results: list[dict[str, Any]], path: str) -> dict[str, Any]:
    """The report's `changes`: what this run's verdicts did against the baseline's (--baseline)."""
    result = diff(old, {"results": results})
    target = old.get("target", {})
    return {
        "against": {"path": path, "finished": old.get("finished"), "base_url": target.get("base_url"), "suite_version": old.get("suite", {}).get("version")},
        "counts": {section: len(items) for section, items in result.items()},
        **result,
    }


def diff_lines(result: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = []
    for section in ("regressions", "fixes", "changed", "new", "removed"):
        items = result[section]
        lines.append(f"{section}: {len(items)}")
        for item in items:
            was = f"{item['was']} -> " if "was" in item else ""
            message = f": {item['message'][:160]}" if item.get("message") and section in ("regressions", "new") and item["status"] in (FAIL, WARN, ERROR) else ""
            lines.append(f"  {was}{item['status']}  {item['check']}  [{item['case']} · {item['transport']}]{message}")
    return lines
