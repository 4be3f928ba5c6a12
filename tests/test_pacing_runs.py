"""Whole runs against a server under load: rate limits kept, faults absorbed, a target that dies."""

from __future__ import annotations

import threading
import time

from conformance.server import ServerThread, create_app
from conformance.server.chaos import Chaos

from .conftest import run_conformance

KEY = "sk-pacing-run-test"
ENV = {"OPENAI_API_KEY": KEY}
SCOPE = ("--endpoint", "models", "--endpoint", "embeddings", "--property", "off")


def verdicts(run) -> dict[tuple[str, str, str], str]:
    return {(r["check"], r["case"], r["transport"]): r["status"] for r in run.report["results"]}


def test_a_run_within_the_limits_meets_no_429(tmp_path):
    """The server allows 600 requests a minute and 2 in flight; the run, told so, shares that budget
    across its two workers and is never refused."""
    app = Chaos(create_app([KEY]), rpm=600, concurrency=2, latency=0.02)
    with ServerThread(app) as server:
        run = run_conformance(tmp_path, "--base-url", server.base_url, *SCOPE, "--rpm", "600", "--concurrency", "2", "--workers", "2", "--tpm", "0", env=ENV)
    assert run.report is not None, run.stderr[-2000:]
    assert app.stats["429 rate"] == 0 and app.stats["429 concurrency"] == 0, app.stats
    assert run.report["usage"]["rate_limited"] == 0
    assert run.report["totals"]["error"] == 0 and run.code == 0, run.stdout[-2000:]
    assert run.report["target"]["limits"] == {"requests_per_minute": 600, "concurrent_requests": 2, "tokens_per_minute": None, "requests": None, "in_flight": 2}
    assert app.peak_in_flight <= 2
    by_endpoint = run.report["usage"]["by_endpoint"]
    assert set(by_endpoint) == {"models", "embeddings"}
    assert sum(u["requests"] for u in by_endpoint.values()) == run.report["usage"]["requests"]
    assert "cost: embeddings" in run.stdout


def test_a_quarter_of_the_answers_failing_changes_no_verdict(tmp_path):
    """500s, 503s and connections dropped after the headers on 25 % of the requests: retried within
    the budget, never a fail, and the verdicts are those of the clean run."""
    clean_dir, faulty_dir = tmp_path / "clean", tmp_path / "faulty"
    clean_dir.mkdir()
    faulty_dir.mkdir()
    args = ("--endpoint", "models", "--endpoint", "chat", "--property", "off", "--rpm", "0", "--tpm", "0", "--workers", "0")
    with ServerThread(create_app([KEY])) as server:
        clean = run_conformance(clean_dir, "--base-url", server.base_url, *args, env=ENV)
    app = Chaos(create_app([KEY]), fault_rate=0.25, seed=12)
    with ServerThread(app) as server:
        faulty = run_conformance(faulty_dir, "--base-url", server.base_url, *args, env=ENV)
    assert clean.code == 0, clean.stdout[-2000:]
    assert faulty.report is not None, faulty.stderr[-2000:]
    assert min(app.stats["500"], app.stats["503"], app.stats["drop"]) > 10, app.stats  # every kind of trouble was met
    changed = {k: (v, verdicts(faulty).get(k)) for k, v in verdicts(clean).items() if verdicts(faulty).get(k) != v}
    assert not changed, changed
    assert faulty.code == 0 and faulty.report["usage"]["retries"] > 0


def test_cases_run_ahead_in_threads_are_judged_as_one_at_a_time(tmp_path, local_s3_env):
    """With --concurrency 8 and no worker process, the cases run ahead in threads (requests in flight
    follow the concurrency, not the processes), and every verdict is the one of the run that sends
    one request at a time: the follow-ups shared between cases, the batches listed, the SDK's wire
    capture."""
    args = ("--endpoint", "chat", "--endpoint", "embeddings", "--endpoint", "batches", "--endpoint", "models", "--property", "off", "--rpm", "0", "--tpm", "0", "--workers", "0")
    env = {**ENV, **local_s3_env}
    (tmp_path / "one").mkdir()
    (tmp_path / "ahead").mkdir()
    with ServerThread(create_app([KEY])) as server:
        serial = run_conformance(tmp_path / "one", "--base-url", server.base_url, *args, env=env)
    app = Chaos(create_app([KEY]), latency=0.02)  # the answers overlap
    with ServerThread(app) as server:
        ahead = run_conformance(tmp_path / "ahead", "--base-url", server.base_url, *args, "--concurrency", "8", env=env)
    assert serial.code == 0 and ahead.code == 0, serial.stdout[-2000:] + ahead.stdout[-2000:] + ahead.stderr[-2000:]
    assert serial.report["target"]["limits"]["in_flight"] == 1  # a server on this machine: one at a time
    assert ahead.report["target"]["limits"]["in_flight"] == 8
    assert 4 < app.peak_in_flight <= 8, app.peak_in_flight
    changed = {k: (v, verdicts(ahead).get(k)) for k, v in verdicts(serial).items() if verdicts(ahead).get(k) != v}
    assert not changed, changed
    assert len(verdicts(ahead)) == len(verdicts(serial))


def test_a_target_that_dies_mid_run_stops_the_run_with_one_line(tmp_path):
    seen = []

    class Counting:
        def __init__(self, app):
            self.app = app

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                seen.append(time.monotonic())
            await self.app(scope, receive, send)

    server = ServerThread(Counting(create_app([KEY]))).start()
    died: list[float] = []

    def kill_after_some_requests():
        while len(seen) < 40:
            time.sleep(0.01)
        server.stop(timeout=5)
        died.append(time.time())

    killer = threading.Thread(target=kill_after_some_requests, daemon=True)
    killer.start()
    try:
        run = run_conformance(tmp_path, "--base-url", server.base_url, "--property", "off", "--rpm", "0", "--tpm", "0", "--workers", "2", env=ENV, timeout=120)
    finally:
        server.stop()
        killer.join(10)
    finished = time.time()
    assert run.code == 2, run.stdout[-2000:] + run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith("conformance: ")]
    assert len(lines) == 1 and "stopped answering at" in lines[0], run.stderr[-2000:]
    stopped = run.report["stopped"]
    assert stopped["reason"] == "target-down" and run.report["outcome"] == "error"
    assert not [r for r in run.report["results"] if r["status"] == "fail"], "a dead target was judged"
    assert died and finished - died[0] < 30  # it stops, rather than running every case (done-when: 10 s, scripts/benchmark.py)


def test_a_budget_refuses_a_run_that_needs_more_and_stops_one_that_reaches_it(tmp_path):
    """--budget requests=N: a run whose cases alone need more is refused before any request, with
    the number it needs; a run that starts within it never sends more than N (the probe included)."""
    app = Chaos(create_app([KEY]))
    scope = ("--endpoint", "embeddings", "--property", "off", "--workers", "2")
    with ServerThread(app) as server:
        refused = run_conformance(tmp_path, "--base-url", server.base_url, *scope, "--budget", "requests=5", env=ENV)
        assert refused.code == 2 and app.stats["requests"] == 0, (refused.stderr, app.stats)
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "--budget requests=5: this run needs at least" in lines[0], lines
        needed = int(lines[0].split("needs at least ")[1].split()[0])
        (tmp_path / "stopped").mkdir()
        stopped = run_conformance(tmp_path / "stopped", "--base-url", server.base_url, *scope, "--budget", f"requests={needed + 2}", env=ENV)
    assert stopped.code == 2, stopped.stdout[-2000:] + stopped.stderr
    assert app.stats["requests"] <= needed + 2, app.stats  # the follow-ups did not fit: never more than the budget
    assert stopped.report["stopped"]["reason"] == "budget" and stopped.report["target"]["limits"]["requests"] == needed + 2
    assert not stopped.failing_checks(), "a spent budget is no failure of the target"
    assert len(stopped.stderr.strip().splitlines()) == 1 and "budget of" in stopped.stderr
