"""The committed example reports of real servers (docs/examples/<server>/) stay valid against the current report schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.profiles import load_profile
from conformance.report import validate_report

EXAMPLES = sorted(Path(__file__).resolve().parent.parent.joinpath("docs", "examples").glob("*/report.json"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_report_validates_against_the_current_schema(path):
    report = json.loads(path.read_text())
    validate_report(report)
    assert not report["target"]["embedded"], "an example is a run against a real server"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_has_its_profile_and_rendered_html(path):
    profiles = [p for p in path.parent.glob("*.yaml") if "expectations" not in p.name]
    assert profiles, "the profile the run used sits beside its report"
    for profile in profiles:
        load_profile(str(profile))
    assert (path.parent / "report.html").exists()


def test_there_are_examples():
    assert EXAMPLES
