"""The pytest plugin: options, run settings, case parametrization, verdict collection, the report.

It holds no check logic. It is inert unless the conformance suite is being run (the suite's
package is among the arguments, or a target is given with --conformance-base-url).
"""

from __future__ import annotations

import dataclasses
import json
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from .paths import PACKAGE_DIR
from .redact import redact

SUITE_DIR = PACKAGE_DIR / "suite"

BASE_URL = "--conformance-base-url"
PROFILE = "--conformance-profile"
MODEL = "--conformance-model"
REPORT_DIR = "--conformance-report-dir"
API_KEY_ENV = "--conformance-api-key-env"
TIMEOUT = "--conformance-timeout"
FIXTURES_URL = "--conformance-fixtures-url"
S3_BUCKET = "--conformance-s3-bucket"
BATCH_MAX_WAIT = "--conformance-batch-max-wait"
EMBEDDED_URL = "--conformance-embedded-url"
NO_PREFLIGHT = "--conformance-no-preflight"
ENDPOINT = "--conformance-endpoint"
PROPERTY = "--conformance-property"
PROPERTY_EXAMPLES = "--conformance-property-examples"
SEED = "--conformance-seed"
UPDATE_GOLDENS = "--conformance-update-goldens"

_SETTINGS = pytest.StashKey[Any]()
_STATE = pytest.StashKey[dict]()


# -- options ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "OpenAI-compatibility conformance suite")
    group.addoption(BASE_URL, dest="conformance_base_url", default=None, help="Base URL of the target, e.g. https://api.scaleway.ai/v1 (default: $OPENAI_BASE_URL, else the embedded reference server).")
    group.addoption(PROFILE, dest="conformance_profile", default="scaleway", help="Profile name (specs/profiles/NAME.yaml) or path to a profile file (default: scaleway).")
    group.addoption(MODEL, dest="conformance_model", action="append", default=[], metavar="CAPABILITY=NAME", help="Model for a capability (chat, tools, vision, audio, responses, embeddings, rerank, transcription); repeatable.")
    group.addoption(REPORT_DIR, dest="conformance_report_dir", default="reports", help="Where report.json and report.html are written (default: reports/).")
    group.addoption(API_KEY_ENV, dest="conformance_api_key_env", default=None, metavar="NAME", help="Read the API key from this environment variable (default: OPENAI_API_KEY, then SCW_SECRET_KEY).")
    group.addoption(TIMEOUT, dest="conformance_timeout", type=float, default=60.0, help="Seconds to wait for one response (default: 60).")
    group.addoption(FIXTURES_URL, dest="conformance_fixtures_url", default=None, metavar="URL", help="Where a remote target can fetch fixtures/ over https (image URLs); a local target is served them automatically.")
    group.addoption(S3_BUCKET, dest="conformance_s3_bucket", default=None, metavar="NAME", help="Bucket for batch input/output files (default: $CONFORMANCE_S3_BUCKET); endpoint and credentials from AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.")
    group.addoption(BATCH_MAX_WAIT, dest="conformance_batch_max_wait", type=float, default=None, metavar="SECONDS", help="Longest wait for a batch to finish; beyond it its checks are 'error' (default: 900).")
    group.addoption(EMBEDDED_URL, dest="conformance_embedded_url", default=None, help="(internal) URL of an embedded server started by `conformance run`.")
    group.addoption(ENDPOINT, dest="conformance_endpoints", action="append", default=[], metavar="NAME", help="Run only this endpoint's cases (models, chat, responses, embeddings, rerank, transcriptions, batches); repeatable or comma-separated.")
    group.addoption(PROPERTY, dest="conformance_property", default="quick", choices=("off", "quick", "deep"), help="Property-based runs generated from the OpenAPI spec: off, quick (default: one coverage case per kind of value or violation) or deep (every coverage case).")
    group.addoption(PROPERTY_EXAMPLES, dest="conformance_property_examples", type=int, default=None, metavar="N", help="Random (fuzzed) requests per operation and mode in property-based runs (default: 3).")
    group.addoption(SEED, dest="conformance_seed", type=int, default=None, metavar="N", help="Hypothesis seed of the property-based runs (default: random; the report records it).")
    group.addoption(UPDATE_GOLDENS, dest="conformance_update_goldens", action="store_true", default=False, help="Golden checks write the target's response shapes to fixtures/golden/ instead of comparing.")
    group.addoption(NO_PREFLIGHT, dest="conformance_no_preflight", action="store_true", default=False, help="(internal) skip the reachability probe.")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _suite_requested(config: pytest.Config) -> bool:
    if _is_worker(config):
        return bool(config.workerinput.get("conformance_active"))
    if config.getoption("conformance_base_url") or config.getoption("conformance_embedded_url"):
        return True
    for arg in config.args:
        name = str(arg).split("::")[0]
        if name in ("conformance", "conformance.suite") or name.startswith("conformance.suite."):
            return True
        path = Path(name).resolve()
        if path in (SUITE_DIR, PACKAGE_DIR) or SUITE_DIR in path.parents:
            return True
    return False


# -- set-up -------------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance: a conformance case run through one transport")
    if not _suite_requested(config):
        return
    from .preflight import preflight
    from .settings import UsageError, is_loopback, resolve

    state: dict[str, Any] = {"verdicts": [], "usage": {}, "started": datetime.now(timezone.utc), "t0": time.perf_counter(), "stack": ExitStack()}
    config.stash[_STATE] = state
    opt = config.option
    embedded_url = opt.conformance_embedded_url
    if _is_worker(config):
        embedded_url = config.workerinput.get("conformance_embedded_url")
    elif embedded_url is None and not opt.conformance_base_url:
        import os

        if not os.environ.get("OPENAI_BASE_URL"):
            from .embedded import embedded_server

            embedded_url = state["stack"].enter_context(embedded_server())
    state["embedded_url"] = embedded_url
    seed = opt.conformance_seed
    if _is_worker(config):
        seed = config.workerinput.get("conformance_seed", seed)
    elif seed is None:
        import random

        seed = random.SystemRandom().randrange(2**32)
    state["seed"] = seed
    try:
        settings = resolve(
            base_url=opt.conformance_base_url,
            profile=opt.conformance_profile,
            model_specs=opt.conformance_model,
            report_dir=opt.conformance_report_dir,
            api_key_env=opt.conformance_api_key_env,
            timeout=opt.conformance_timeout,
            embedded_url=embedded_url,
            fixtures_url=opt.conformance_fixtures_url,
            s3_bucket=None if embedded_url else opt.conformance_s3_bucket,
            batch_max_wait=opt.conformance_batch_max_wait,
            endpoints=opt.conformance_endpoints,
            property_depth=opt.conformance_property,
            property_examples=opt.conformance_property_examples,
            property_seed=seed,
            update_goldens=opt.conformance_update_goldens,
        )
        if settings.fixtures_url is None and is_loopback(settings.base_url):
            from .fixtures_server import serve_fixtures

            settings = dataclasses.replace(settings, fixtures_url=state["stack"].enter_context(serve_fixtures()))
        if not _is_worker(config) and not opt.conformance_no_preflight:
            preflight(settings)
    except UsageError as exc:
        state["stack"].close()
        pytest.exit(f"conformance: {exc}", returncode=2)
    config.stash[_SETTINGS] = settings


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Hand the controller's decisions to each xdist worker."""
    state = node.config.stash.get(_STATE, None)
    node.workerinput["conformance_active"] = state is not None
    if state is not None:
        node.workerinput["conformance_embedded_url"] = state["embedded_url"]
        node.workerinput["conformance_seed"] = state["seed"]


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        for transport in state.get("transports", {}).values():
            transport.close()
        state["stack"].close()


# -- collection ---------------------------------------------------------------------------------
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_property" in metafunc.fixturenames:
        _parametrize_property(metafunc)
    if "conformance_case" not in metafunc.fixturenames:
        return
    settings = metafunc.config.stash.get(_SETTINGS, None)
    params = []
    if settings is not None:
        from .cases import all_cases

        for case in (c for c in all_cases(settings.profile) if settings.selects(c.endpoint)):
            for transport in case.transports:
                params.append(pytest.param((case, transport), id=f"{case.id}-{transport}", marks=pytest.mark.conformance))
    metafunc.parametrize("conformance_case", params)


def _parametrize_property(metafunc: pytest.Metafunc) -> None:
    """One item per endpoint × mode × transport (none when --conformance-property off)."""
    settings = metafunc.config.stash.get(_SETTINGS, None)
    params = []
    if settings is not None and settings.property_depth != "off":
        from .propspec import MODES, load_operations
        from .vocabulary import TRANSPORTS

        endpoints = dict.fromkeys(op.endpoint for op in load_operations())
        for endpoint in (e for e in endpoints if settings.selects(e)):
            for mode in MODES:
                for transport in TRANSPORTS:
                    params.append(pytest.param((endpoint, mode, transport), id=f"property.{endpoint}.{mode}-{transport}", marks=pytest.mark.conformance))
    metafunc.parametrize("conformance_property", params)


def _transport(state: dict[str, Any], settings, name: str):
    from .transport import make_transport

    transports = state.setdefault("transports", {})
    if name not in transports:
        transports[name] = make_transport(name, settings.base_url, settings.api_key, settings.timeout)
    return transports[name]


def _record(request: pytest.FixtureRequest, verdicts: list, usage: dict[str, Any]) -> None:
    """Attach the verdicts and usage to the item; fail it on a fail or error, skip it when all skip."""
    from .vocabulary import ERROR, FAIL, SKIP

    request.node.user_properties.append(("conformance_verdicts", json.dumps([v.as_dict() for v in verdicts])))
    request.node.user_properties.append(("conformance_usage", json.dumps(usage)))
    failed = [v for v in verdicts if v.status == FAIL]
    errored = [v for v in verdicts if v.status == ERROR]
    if failed or errored:
        lines = [f"{v.status.upper()} {v.check}: {v.message}" for v in failed + errored]
        pytest.fail(redact("\n".join(lines)), pytrace=False)
    if verdicts and all(v.status == SKIP for v in verdicts):
        pytest.skip(verdicts[0].message)


@pytest.fixture
def conformance_property_run(request: pytest.FixtureRequest):
    """Run one property-based (endpoint, mode, transport): record its verdict."""
    config = request.config
    settings = config.stash[_SETTINGS]
    state = config.stash[_STATE]

    def run(endpoint: str, mode: str, transport_name: str) -> None:
        from .property_run import run_property
        from .transport import Counter

        counter = Counter()
        verdict = run_property(endpoint, mode, settings, _transport(state, settings, transport_name), counter)
        _record(request, [verdict], {**counter.as_dict(), "property_requests": counter.requests})

    return run


@pytest.fixture
def conformance_run(request: pytest.FixtureRequest):
    """Run one (case, transport): record its verdicts, then pass, fail or skip the test item."""
    config = request.config
    settings = config.stash[_SETTINGS]
    state = config.stash[_STATE]

    def run(case, transport_name: str) -> None:
        from .runner import run_case
        from .transport import Counter

        counter = Counter()
        # follow-up answers are cached per transport: one transport never judges by the other's answers
        verdicts = run_case(case, settings, _transport(state, settings, transport_name), counter, cache=state.setdefault("cache", {}).setdefault(transport_name, {}))
        _record(request, verdicts, counter.as_dict())

    return run


# -- results ------------------------------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.longrepr is not None and not isinstance(report.longrepr, tuple):
        report.longrepr = redact(str(report.longrepr))
    report.sections = [(k, redact(v)) for k, v in report.sections]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the verdicts from the call phase; every phase's report (JUnit writes the teardown
    one) then carries one line per verdict instead of the JSON with its evidence."""
    state = _controller_state()
    if state is None:
        return
    collect = report.when == "call"
    kept = []
    for name, value in report.user_properties:
        if name == "conformance_verdicts":
            verdicts = json.loads(value)
            if collect:
                state["verdicts"].extend(verdicts)
            kept += [("verdict", redact(f"{v['status']} {v['check']}" + (f": {v['message']}" if v["message"] else ""))) for v in verdicts]
        elif name == "conformance_usage":
            if collect:
                for key, number in json.loads(value).items():
                    state["usage"][key] = state["usage"].get(key, 0) + number
        else:
            kept.append((name, value))
    report.user_properties = kept


_CONTROLLER: dict[str, Any] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is not None and not _is_worker(session.config):
        _CONTROLLER["state"] = state


def _controller_state() -> dict[str, Any] | None:
    return _CONTROLLER.get("state")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or _is_worker(config):
        return
    _CONTROLLER.pop("state", None)
    settings = config.stash.get(_SETTINGS, None)
    if settings is None or not state["verdicts"]:
        return
    from .report import build_report, write_report

    usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "retries": 0, **state["usage"]}
    if "batch_wait_s" in usage:
        usage["batch_wait_s"] = round(usage["batch_wait_s"], 2)
    target = {
        "base_url": settings.display_url,
        "profile": settings.profile.name,
        "profile_title": settings.profile.title,
        "models": settings.models,
        "embedded": settings.embedded,
        "api_key_source": settings.api_key_source,
        **({"endpoints": list(settings.endpoints)} if settings.endpoints else {}),
    }
    report = build_report(
        target=target,
        started=state["started"].isoformat(timespec="seconds"),
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - state["t0"],
        results=state["verdicts"],
        usage=usage,
        property_based={"depth": settings.property_depth, "examples": settings.property_examples, "seed": settings.property_seed} if settings.property_depth != "off" else None,
    )
    state["report_paths"] = write_report(report, settings.report_dir)
    state["report"] = report


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is None or "report" not in state:
        return
    report = state["report"]
    totals = report["totals"]
    parts = ", ".join(f"{totals[s]} {s}" for s in ("pass", "unsupported-ok", "fail", "error", "skip"))
    usage = report["usage"]
    terminalreporter.write_sep("=", "conformance")
    terminalreporter.write_line(f"target {report['target']['base_url']} · profile {report['target']['profile']} · outcome {report['outcome'].upper()}")
    terminalreporter.write_line(f"{parts} ({totals['total']} verdicts) · {usage['requests']} requests, {usage['prompt_tokens']}+{usage['completion_tokens']} tokens")
    json_path, html_path = state["report_paths"]
    terminalreporter.write_line(f"report: {json_path} · {html_path}")
