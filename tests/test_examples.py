"""The committed runs of real servers (docs/examples/<server>/, made by scripts/peers/check.sh): each
report validates against the current report schema, ran that server's shipped profile, passed with
the shipped expectations, and every expectation is reviewed (a reason in words and a link)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import expectations
from conformance.checks import unknown_checks
from conformance.profiles import available_profiles
from conformance.report import validate_report

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "docs" / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*/report.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_report_validates_against_the_current_schema(path):
    report = json.loads(path.read_text())
    validate_report(report)
    assert not report["target"]["embedded"], "an example is a run against a real server"
    assert report["target"]["profile"] == path.parent.name in available_profiles(), "the run used the server's shipped profile"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_passed_with_its_reviewed_expectations(path):
    report = json.loads(path.read_text())
    entries = expectations.load(path.parent / "expectations.yaml")
    assert not unknown_checks(e.check for e in entries)
    messages = {v["message"] for v in report["results"]}
    assert report["outcome"] == "pass", "check.sh exits 0 with the shipped expectations"
    assert report["gate"]["expectations"].endswith("expectations.yaml") and not report["gate"]["stale"]
    assert report["gate"]["matched"] == len(entries)
    for entry in entries:
        assert len(entry.reason.split()) >= 6, f"{entry.key()}: the reason says why, in words"
        assert entry.link and entry.link.startswith("https://"), f"{entry.key()}: a link to the documentation or issue"
        assert entry.reason not in messages, f"{entry.key()}: a reviewed reason, not the verdict's message"
    for name in ("report.html", "SUMMARY.md"):
        assert (path.parent / name).exists(), name


def test_every_peer_has_an_example():
    assert {p.parent.name for p in EXAMPLES} == {"infinity", "litellm", "llama-cpp-python", "transformers-serve"}
    assert {p.name for p in EXAMPLES_DIR.iterdir()} == {p.parent.name for p in EXAMPLES}, "no stale example directories"
