"""The reports as a person sees them: report.html and compare.html of real runs, opened in headless
Chromium (Debian's ``chromium``, driven by playwright without downloading a browser).

Without Chromium or playwright the browser tests skip, unless CONFORMANCE_BROWSER_TESTS=required
(set by .ci/run, which installs Chromium): then they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conformance.server import ServerThread, create_app

from .conftest import run_conformance

KEY = "sk-browser-test"
#: Chromium's flags on this machine: no sandbox as root, no GPU, and none of the background
#: connections a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two real runs of the models endpoint: the reference server, and one whose errors lack the
    OpenAI envelope (with the first as its baseline); and `conformance compare` of the two."""
    from conformance.cli import main
    from tests.faulty import FAULTS, FaultyApp, load_faults

    load_faults()
    root = tmp_path_factory.mktemp("browser")
    scope = ("--endpoint", "models", "--property", "off", "--workers", "0")
    out = {}
    for name, app in (("good", create_app([KEY])), ("bad", FaultyApp(FAULTS["errors_detail_envelope"], api_keys=[KEY]))):
        (root / name).mkdir()
        with ServerThread(app) as server:
            # the faulty run has the clean one as its baseline: its page says what changed
            baseline = ("--baseline", str(out["good"] / "report.json")) if name == "bad" else ()
            run = run_conformance(root / name, "--base-url", server.base_url, *scope, *baseline, env={"OPENAI_API_KEY": KEY})
        assert run.code == (0 if name == "good" else 1), run.stdout[-1500:] + run.stderr[-1500:]
        out[name] = root / name / "reports"
    reports = [str(out[name] / "report.json") for name in ("good", "bad")]
    assert main(["compare", *reports, "-o", str(root / "compare.html"), "-o", str(root / "compare.md")]) == 0
    out["compare.html"], out["compare.md"] = root / "compare.html", root / "compare.md"
    out["reports"] = reports  # type: ignore[assignment]
    return out


def test_compare_shows_the_cells_where_a_faulty_server_differs(runs, capsys):
    from conformance.cli import main

    markdown = runs["compare.md"].read_text()
    assert "| **PASS** | **FAIL** |" in markdown
    assert "| models | errors ◆ | ✅ pass | ❌ fail |" in markdown  # the differing cell, marked
    assert "| models | core | ✅ pass | ✅ pass |" in markdown  # what both do alike is not marked
    page = runs["compare.html"].read_text()
    assert page.count('<tr class="differs">') == markdown.count("◆") - 1 > 0  # the legend has one ◆ too
    assert main(["compare", runs["reports"][0]]) == 0 and "## Compatibility compared" in capsys.readouterr().out
    assert main(["compare", str(runs["compare.md"].parent / "missing.json")]) == 2


@pytest.fixture(scope="module")
def browser():
    required = os.environ.get("CONFORMANCE_BROWSER_TESTS") == "required"
    executable = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if executable is None or sync_playwright is None:
        why = "no Chromium on PATH (Debian: apt-get install chromium)" if executable is None else "playwright is not installed"
        if required:
            pytest.fail(f"the browser tests are required here: {why}")
        pytest.skip(why)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page that records every JavaScript error (an uncaught exception or a console error)."""
    page = browser.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    yield page
    assert not page.errors, page.errors
    page.close()


def test_report_html_shows_outcome_causes_and_grid_and_leads_to_the_evidence(runs, page):
    page.goto((runs["bad"] / "report.html").as_uri())
    assert page.locator(".badge.outcome").inner_text() == "FAIL"
    first = page.locator("#cause-c1")
    assert first.is_visible() and "errors.envelope" in first.inner_text()
    # the causes come first: above the matrix on the page
    assert page.locator("#causes").bounding_box()["y"] < page.locator("h2", has_text="Matrix").bounding_box()["y"]
    assert page.locator("table", has=page.locator("th", has_text="Feature")).first.is_visible()
    link = first.locator("a.ev")
    target = link.get_attribute("href").lstrip("#")
    link.click()
    record = page.locator(f"details#{target}")
    assert page.evaluate("location.hash") == f"#{target}"
    assert record.evaluate("element => element.open") is True
    assert record.locator("pre").last.is_visible()
    assert "errors" in record.inner_text() or "detail" in record.inner_text()
    assert KEY not in page.content()


def test_report_html_with_a_baseline_shows_what_changed_before_the_matrix(runs, page):
    page.goto((runs["bad"] / "report.html").as_uri())
    changes = page.locator("#changes")
    assert changes.is_visible() and changes.bounding_box()["y"] < page.locator("h2", has_text="Matrix").bounding_box()["y"]
    regressions = page.locator("details#changes-regressions")
    assert regressions.evaluate("element => element.open") is True
    assert "errors.envelope" in regressions.inner_text() and "pass" in regressions.inner_text()
    assert page.locator("details#changes-fixes").count() == 0


def test_report_html_of_a_clean_run_has_no_causes(runs, page):
    page.goto((runs["good"] / "report.html").as_uri())
    assert page.locator(".badge.outcome").inner_text() == "PASS"
    assert page.locator("#causes").count() == 0 and page.locator("#changes").count() == 0


def test_compare_html_shows_both_targets_and_filters_the_differing_rows(runs, page):
    page.goto(runs["compare.html"].as_uri())
    outcomes = page.locator("#targets .badge").all_inner_texts()
    assert outcomes[:2] == ["PASS", "FAIL"]
    differing, same = page.locator("#grid tr.differs"), page.locator("#grid tr.same")
    assert differing.count() > 0 and same.count() > 0
    assert differing.first.is_visible() and same.first.is_visible()
    page.check("#only-differing")
    assert differing.first.is_visible() and not same.first.is_visible()


def test_report_html_filters_the_verdicts_by_status_level_endpoint_and_transport(runs, page):
    page.goto((runs["bad"] / "report.html").as_uri())
    verdicts = page.locator("tr.verdict")
    total = verdicts.count()
    page.select_option("select[data-filter=status]", "fail")
    shown = [row for row in verdicts.all() if row.is_visible()]
    assert 0 < len(shown) < total
    assert {row.get_attribute("data-status") for row in shown} == {"fail"}
    page.select_option("select[data-filter=transport]", "openai")
    both = [row for row in verdicts.all() if row.is_visible()]
    assert both and {(r.get_attribute("data-status"), r.get_attribute("data-transport")) for r in both} == {("fail", "openai")}
    assert page.locator("#shown").inner_text() == f"{len(both)} verdicts shown"
    page.select_option("select[data-filter=status]", "")
    page.select_option("select[data-filter=transport]", "")
    assert all(row.is_visible() for row in verdicts.all()[:20])
