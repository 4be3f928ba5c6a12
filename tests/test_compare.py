"""`conformance compare`: targets side by side per endpoint and feature."""

from __future__ import annotations

from conformance.report.compare import compare, render_html, render_markdown

from .test_causes import report_of
from .test_report import verdict


def test_rows_differ_on_verdicts_not_on_coverage():
    a = report_of([verdict("chat.tools.called", "chat.tools", "http", "pass", feature="tools"), verdict("models.list.shape", "models.list", "http", "pass", endpoint="models")])
    b = report_of([verdict("chat.tools.called", "chat.tools", "http", "fail", feature="tools", semantic=True, message="no tool called")])
    comparison = compare([a, b])
    rows = {(r["endpoint"], r["feature"]): r for r in comparison["rows"]}
    assert rows[("chat", "tools")]["differs"] and rows[("chat", "tools")]["cells"][1]["semantic"]
    assert not rows[("models", "core")]["differs"] and rows[("models", "core")]["cells"][1] is None  # b did not run it
    text = render_markdown(comparison)
    assert "| chat | tools ◆ | ✅ pass | ❌ fail (semantic) |" in text
    assert "| models | core | ✅ pass | — |" in text
    assert [t["label"] for t in comparison["targets"]] == ["scaleway @ api.example.test #1", "scaleway @ api.example.test #2"]  # one target twice


def test_the_html_escapes_what_the_reports_hold():
    xss = "<script>alert(1)</script>"
    report = report_of([verdict("chat.tools.called", "chat.tools", "http", "fail", feature="tools", message=xss)])
    page = render_html(compare([report]))
    assert xss not in page and "&lt;script&gt;" in page
