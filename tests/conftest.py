"""Shared fixtures for the suite's own tests: running `conformance run` against a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Variables that could point our own tests at a real provider or real object storage, or leak a real key into output.
_REAL_TARGET_VARS = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "SCW_SECRET_KEY", "CONFORMANCE_EMBEDDED_API_KEY",
    "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "CONFORMANCE_S3_BUCKET",
)


#: Modules whose tests are whole runs of several seconds each: run first, so that with pytest-xdist
#: no worker is left with one of them while the others have finished.
SLOW_FIRST = ("test_survey_peers.py", "test_benign_servers.py", "test_pacing_runs.py", "test_cli.py", "test_gate_cli.py", "test_survey.py")
#: Modules of whole runs (`conformance run` or `survey` against a server): marked ``whole_run``, so
#: that ``-m "not whole_run"`` is the fast tier for development.
WHOLE_RUNS = (*SLOW_FIRST, "test_faulty_servers.py", "test_browser.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in WHOLE_RUNS:
            item.add_marker(pytest.mark.whole_run)
    items.sort(key=lambda item: item.path.name not in SLOW_FIRST)  # stable: the order otherwise kept


@pytest.fixture(autouse=True)
def _no_real_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our own tests only ever talk to servers they start on 127.0.0.1."""
    for name in _REAL_TARGET_VARS:
        monkeypatch.delenv(name, raising=False)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    report: dict | None

    def statuses(self, check: str) -> dict[tuple[str, str], str]:
        """(case, transport) -> status for one check id."""
        return {(r["case"], r["transport"]): r["status"] for r in self.report["results"] if r["check"] == check}

    def failing_checks(self, transport: str | None = None) -> set[str]:
        return self.checks_with("fail", transport)

    def warning_checks(self, transport: str | None = None) -> set[str]:
        return self.checks_with("warn", transport)

    def checks_with(self, status: str, transport: str | None = None) -> set[str]:
        return {r["check"] for r in self.report["results"] if r["status"] == status and transport in (None, r["transport"])}


#: The servers the tests start have no rate limits (the default profile's are Scaleway's): runs
#: are not paced unless a test asks for it (``--rpm``/``--tpm`` given later win).
UNPACED = ("--rpm", "0", "--tpm", "0")
#: The transports a test's run goes through unless it names them (``--transport``): the wire and
#: the Python SDK. The Node SDK's process adds a third of the time to every run; the runs about it
#: name it (the embedded run, the key test, the combined benign server, the Node-only faults).
DEFAULT_TEST_TRANSPORTS = ("--transport", "http,openai")
EVERY_TRANSPORT = ("--transport", "http,openai,openai-node")


def run_conformance(tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 240, fork: bool = True) -> Run:
    """Run the `conformance` command in its own process; return its exit code, output and report.

    The process is forked from a preloaded one (tests/forked.py) unless ``fork`` is false: then it
    is ``python -m conformance``, as a user starts it.
    """
    report_dir = tmp_path / "reports"
    full_env = {k: v for k, v in os.environ.items() if k not in _REAL_TARGET_VARS}
    full_env.update(env or {})
    named = any(arg.startswith("--transport") for arg in args)
    argv = ["run", "--report-dir", str(report_dir), *UNPACED, *(() if named else DEFAULT_TEST_TRANSPORTS), *args]
    if fork:
        from .forked import run_forked

        code, stdout, stderr = run_forked(argv, full_env, tmp_path, timeout)
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", *argv], capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=timeout
        )
        code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    path = report_dir / "report.json"
    report = json.loads(path.read_text()) if path.exists() else None
    return Run(code, stdout, stderr, report)


@pytest.fixture
def conformance_cli(tmp_path):
    def run(*args: str, env: dict[str, str] | None = None) -> Run:
        return run_conformance(tmp_path, *args, env=env)

    return run


@pytest.fixture(scope="session")
def s3_variables():
    """A local S3 store (moto's server mode on 127.0.0.1) for this test process, as the AWS variables naming it."""
    from conformance.s3 import local_s3

    with local_s3() as env:
        yield env


@pytest.fixture
def local_s3_env(s3_variables, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The local S3 store's variables, set in this process (an in-process server reads them) for one test."""
    for name, value in s3_variables.items():
        monkeypatch.setenv(name, value)
    return s3_variables


def node_or_skip() -> None:
    """Skip a test that needs the openai-node transport where Node.js is missing (a failure where
    CONFORMANCE_NODE_TESTS=required, as in .ci/run)."""
    from conformance.transport.node_sdk import availability

    info = availability()
    if not info["available"]:
        if os.environ.get("CONFORMANCE_NODE_TESTS") == "required":
            pytest.fail(f"the openai-node transport must run here: {info['reason']}")
        pytest.skip(info["reason"])
