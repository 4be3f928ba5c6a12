"""The CI gate end to end: a server with known deviations -> `conformance expectations` -> a rerun
with --expectations passes; one more deviation fails naming it; --baseline and `diff` agree."""

from __future__ import annotations

import subprocess
import sys

from conformance.server import ServerThread
from tests.faulty import API_KEY, FAULTS, Fault, FaultyApp, load_faults

from .conftest import run_conformance

load_faults()
ARGS = ("--profile", "scaleway", "--workers", "0", "--endpoint", "models", "--property", "off")


def _both(first: Fault, second: Fault) -> Fault:
    """One server with two faults (both response rewrites)."""

    def hook(req, resp):
        first.on_response(req, resp)
        second.on_response(req, resp)

    return Fault(name=f"{first.name}+{second.name}", description="two faults", breaks=first.breaks | second.breaks, on_response=hook)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], capture_output=True, text=True)


def test_expectations_turn_known_deviations_into_a_pass_and_a_new_one_fails(tmp_path):
    known, extra = FAULTS["models_list_object_wrong"], FAULTS["models_retrieve_wrong_id"]
    env = {"OPENAI_API_KEY": API_KEY}
    with ServerThread(FaultyApp(known)) as server:
        (tmp_path / "one").mkdir()
        first = run_conformance(tmp_path / "one", "--base-url", server.base_url, *ARGS, env=env)
        assert first.code == 1 and "models.list.shape" in first.failing_checks()
        report = tmp_path / "one" / "reports" / "report.json"
        written = _cli("expectations", str(report))
        assert written.returncode == 0, written.stderr
        expectations = tmp_path / "expectations.yaml"
        expectations.write_text(written.stdout)
        assert "models.list.shape" in written.stdout and API_KEY not in written.stdout

        (tmp_path / "two").mkdir()
        again = run_conformance(tmp_path / "two", "--base-url", server.base_url, *ARGS, "--expectations", str(expectations), env=env)
        assert again.code == 0, again.stdout[-2000:] + again.stderr
        assert again.report["gate"]["expectations"] == str(expectations)
        assert again.report["gate"]["unexpected"]["fail"] == 0 and again.report["gate"]["stale"] == []
        assert all(r["expected"] == ["fail"] for r in again.report["results"] if r["status"] == "fail")

        (tmp_path / "base").mkdir()
        baseline = run_conformance(tmp_path / "base", "--base-url", server.base_url, *ARGS, "--baseline", str(report), env=env)
        assert baseline.code == 0, baseline.stdout[-2000:]
        assert baseline.report["changes"]["counts"]["regressions"] == 0 and baseline.report["changes"]["against"]["path"] == str(report)

    with ServerThread(FaultyApp(_both(known, extra))) as server:
        (tmp_path / "three").mkdir()
        worse = run_conformance(tmp_path / "three", "--base-url", server.base_url, *ARGS, "--expectations", str(expectations), env=env)
        assert worse.code == 1, worse.stdout[-2000:]
        unexpected = {r["check"] for r in worse.report["results"] if r["unexpected"]}
        assert "models.retrieve.shape" in unexpected and "models.list.shape" not in unexpected
        assert "models.retrieve.shape" in worse.stdout, "the terminal names the new deviation"
        (tmp_path / "four").mkdir()
        regressed = run_conformance(tmp_path / "four", "--base-url", server.base_url, *ARGS, "--baseline", str(report), env=env)
        assert regressed.code == 1
        changes = regressed.report["changes"]
        assert "models.retrieve.shape" in {r["check"] for r in changes["regressions"]} and changes["counts"]["regressions"] == len(changes["regressions"])
        assert all(r["was"] == "pass" and r["status"] == "fail" for r in changes["regressions"])
        assert "since the baseline: " in regressed.stdout and "regression: pass -> fail models.retrieve.shape" in regressed.stdout
        html = (tmp_path / "four" / "reports" / "report.html").read_text()
        section = html[html.index('id="changes"'):html.index("<h2>Matrix</h2>")]
        assert "models.retrieve.shape" in section and "models.list.shape" not in section

    from conformance.server import create_app

    with ServerThread(create_app([API_KEY])) as server:
        (tmp_path / "five").mkdir()
        fixed = run_conformance(tmp_path / "five", "--base-url", server.base_url, *ARGS, "--baseline", str(report), "--markdown", str(tmp_path / "five.md"), env=env)
        assert fixed.code == 0, fixed.stdout[-2000:]
        changes = fixed.report["changes"]
        assert changes["regressions"] == [] and "models.list.shape" in {r["check"] for r in changes["fixes"]}
        assert "### Since the baseline" in (tmp_path / "five.md").read_text()

    d = _cli("diff", str(report), str(tmp_path / "three" / "reports" / "report.json"))
    assert d.returncode == 1 and "models.retrieve.shape" in d.stdout and "regressions: " in d.stdout
    same = _cli("diff", str(report), str(report))
    assert same.returncode == 0 and "regressions: 0" in same.stdout


def test_a_stale_expectation_is_reported_and_fails_under_strict_expectations(tmp_path):
    expectations = tmp_path / "stale.yaml"
    expectations.write_text("version: 1\nexpectations:\n  models.list.shape: {status: fail, reason: fixed since}\n")
    from conformance.server import create_app

    with ServerThread(create_app([API_KEY])) as server:
        env = {"OPENAI_API_KEY": API_KEY}
        (tmp_path / "a").mkdir()
        lenient = run_conformance(tmp_path / "a", "--base-url", server.base_url, *ARGS, "--expectations", str(expectations), env=env)
        assert lenient.code == 0 and [e["check"] for e in lenient.report["gate"]["stale"]] == ["models.list.shape"]
        assert "stale: models.list.shape" in lenient.stdout
        (tmp_path / "b").mkdir()
        strict = run_conformance(tmp_path / "b", "--base-url", server.base_url, *ARGS, "--expectations", str(expectations), "--strict-expectations", env=env)
        assert strict.code == 1


def test_an_expectation_naming_an_unknown_check_is_bad_input(tmp_path):
    expectations = tmp_path / "typo.yaml"
    expectations.write_text("version: 1\nexpectations:\n  models.list.shap: {status: fail, reason: typo}\n")
    run = run_conformance(tmp_path, "--base-url", "http://127.0.0.1:9/v1", "--expectations", str(expectations), env={"OPENAI_API_KEY": "k"})
    assert run.code == 2 and "unknown check 'models.list.shap'" in run.stderr
