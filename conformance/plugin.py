"""The pytest plugin: options, run settings, case parametrization, verdict collection, the report.

It holds no check logic. It is inert unless the conformance suite is being run (the suite's
package is among the arguments, or a target is given with --conformance-base-url).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from .paths import PACKAGE_DIR
from .redact import redact

SUITE_DIR = PACKAGE_DIR / "suite"

#: Not options a user sets: `conformance run` hands its decisions over (skip the probe: it probed).
NO_PREFLIGHT = "--conformance-no-preflight"

#: What each endpoint's cases cost (the report's usage.by_endpoint).
COST_KEYS = ("requests", "prompt_tokens", "completion_tokens", "retries")

_SETTINGS = pytest.StashKey[Any]()
_STATE = pytest.StashKey[dict]()


# -- options ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    from .options import add_pytest_options

    group = parser.getgroup("conformance", "OpenAI-compatibility conformance suite")
    add_pytest_options(group)
    group.addoption(NO_PREFLIGHT, dest="conformance_no_preflight", action="store_true", default=False, help="(internal) skip the reachability probe.")


def _handoff(config: pytest.Config):
    from .options import Handoff

    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, Handoff)), None)


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _suite_requested(config: pytest.Config) -> bool:
    if _is_worker(config):
        return bool(config.workerinput.get("conformance_active"))
    if config.getoption("conformance_base_url") or config.getoption("conformance_embedded_url") or _handoff(config):
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

    from .transport import RunState

    state: dict[str, Any] = {"verdicts": [], "usage": {}, "started": datetime.now(timezone.utc), "t0": time.perf_counter(), "stack": ExitStack()}
    config.stash[_STATE] = state
    # one budget and one health for the whole run: the controller owns it, every worker shares it
    if _is_worker(config):
        state["run_state"] = RunState(config.workerinput["conformance_run_dir"])
    else:
        state["run_state"] = RunState()
        state["stack"].callback(state["run_state"].close)
    handoff = _handoff(config)
    if handoff is not None and not _is_worker(config):
        from .preflight import REQUESTS

        state["run_state"].update(sent=REQUESTS)  # `conformance run` probed the target: counted against --budget
    try:
        if handoff is not None:  # `conformance run` resolved and probed them
            values, settings = dict(handoff.values), handoff.settings
        else:
            values = _option_values(config, state)
            settings = resolve(**values)
            values["property_seed"] = settings.property_seed  # drawn once: the workers resolve the same
            if not _is_worker(config) and not config.option.conformance_no_preflight:
                _known_checks_only(settings)
                preflight(settings)
        state["values"] = values
        if settings.fixtures_url is None and is_loopback(settings.base_url):
            from .fixtures_server import serve_fixtures

            settings = dataclasses.replace(settings, fixtures_url=state["stack"].enter_context(serve_fixtures()))
    except UsageError as exc:
        state["stack"].close()
        pytest.exit(f"conformance: {exc}", returncode=2)
    config.stash[_SETTINGS] = settings
    if not _is_worker(config) and "openai-node" in settings.transports:
        from .transport.node_sdk import availability

        availability()  # the npm package is installed once, here, before any worker starts
    if not _is_worker(config) and settings.progress != "off":
        state["progress"] = _progress(config)


def _option_values(config: pytest.Config, state: dict[str, Any]) -> dict[str, Any]:
    """The resolve() keywords: a worker's from its controller; else from the pytest options, with
    the embedded server started when no target is given."""
    from .options import values

    if _is_worker(config):
        return dict(config.workerinput["conformance_values"])
    out = values(config.option)
    if out.get("embedded_url") is None and not out.get("base_url"):
        import os

        if not os.environ.get("OPENAI_BASE_URL"):
            from .embedded import embedded_server

            out["embedded_url"] = state["stack"].enter_context(embedded_server())
    if out.get("embedded_url"):
        out["s3_bucket"] = None
    return out


def _known_checks_only(settings) -> None:
    """Expectations may name only registered checks (a typo would silently expect nothing)."""
    from .checks import unknown_checks
    from .settings import UsageError

    unknown = unknown_checks(e.check for e in settings.expectations)
    if unknown:
        raise UsageError(f"--expectations {settings.expectations_path}: unknown check {unknown[0]!r}")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    """Hand the controller's decisions to each xdist worker."""
    state = node.config.stash.get(_STATE, None)
    node.workerinput["conformance_active"] = state is not None
    if state is not None:
        node.workerinput["conformance_values"] = state["values"]
        node.workerinput["conformance_run_dir"] = str(state["run_state"].directory)
        node.workerinput["conformance_dist"] = node.config.getoption("dist", "no")  # a worker's own option reads "no"


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        if "ahead" in state:  # before the transports its threads use
            state["ahead"].close()
        for transport in state.get("transports", {}).values():
            transport.close()
        state["stack"].close()


def _progress(config: pytest.Config):
    """Progress per endpoint, written on the controller's terminal between pytest's own lines."""
    from .report.progress import Progress

    def write(line: str) -> None:
        terminal = config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            if terminal._tw.width_of_current_line:  # after pytest's progress dots
                terminal._tw.line()
            terminal.write_line(line)

    return Progress(write)


# -- collection ---------------------------------------------------------------------------------
def _endpoints_by_param_id(settings) -> dict[str, str]:
    """The endpoint of every item's parametrize id (case ids do not always name their endpoint: auth., golden.)."""
    from .plan import case_items, property_items

    out = {f"{case.id}-{transport}": case.endpoint for case, transport in case_items(settings)}
    out.update({f"property.{endpoint}.{mode}-{transport}": endpoint for endpoint, mode, transport in property_items(settings)})
    return out


def _collected(config: pytest.Config, nodeids: list[str]) -> None:
    state = config.stash.get(_STATE, None)
    settings = config.stash.get(_SETTINGS, None)
    # every xdist worker reports the same collection: the plan is mapped once, for the first
    if state is not None and settings is not None and "progress" in state and nodeids and not state["progress"].endpoint_of:
        state["progress"].collected(nodeids, _endpoints_by_param_id(settings))


def pytest_collection_finish(session: pytest.Session) -> None:
    if not _is_worker(session.config):
        _collected(session.config, [item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids: list[str]) -> None:
    """Under xdist the controller learns the items from the workers' collections (all the same)."""
    _collected(node.config, list(ids))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_property" in metafunc.fixturenames:
        _parametrize_property(metafunc)
    if "conformance_case" not in metafunc.fixturenames:
        return
    settings = metafunc.config.stash.get(_SETTINGS, None)
    params = []
    if settings is not None:
        from .plan import case_items

        for case, transport in case_items(settings):
            params.append(pytest.param((case, transport), id=f"{case.id}-{transport}", marks=pytest.mark.conformance))
    metafunc.parametrize("conformance_case", params)


def _parametrize_property(metafunc: pytest.Metafunc) -> None:
    """One item per endpoint × mode × transport (none when --conformance-property off)."""
    settings = metafunc.config.stash.get(_SETTINGS, None)
    params = []
    if settings is not None:
        from .plan import property_items

        for endpoint, mode, transport in property_items(settings):
            params.append(pytest.param((endpoint, mode, transport), id=f"property.{endpoint}.{mode}-{transport}", marks=pytest.mark.conformance))
    metafunc.parametrize("conformance_property", params)


_MAKING = threading.Lock()


def _pacer(state: dict[str, Any], settings):
    from .transport import Pacer

    with _MAKING:
        if "pacer" not in state:
            state["pacer"] = Pacer(state["run_state"], settings.limits)
    return state["pacer"]


def _transport(state: dict[str, Any], settings, name: str):
    from .transport import make_transport

    pacer = _pacer(state, settings)
    with _MAKING:  # cases run ahead in threads: one transport of each kind per process
        transports = state.setdefault("transports", {})
        if name not in transports:
            transports[name] = make_transport(name, settings.base_url, settings.api_key, settings.timeout, pacer=pacer)
        return transports[name]


def _followup_cache(state: dict[str, Any], name: str):
    """Follow-up answers are cached per transport: one transport never judges by the other's answers."""
    from .checks import FollowupCache

    with _MAKING:
        return state.setdefault("cache", {}).setdefault(name, FollowupCache())


def _ahead(config: pytest.Config, state: dict[str, Any], settings):
    """This process's RunAhead: its share of the requests allowed in flight, one thread each
    (one process of N gets 1/N); a single thread where it cannot see which items come next."""
    if "ahead" not in state:
        from .ahead import RunAhead

        processes = int(config.workerinput.get("workercount", 1)) if _is_worker(config) else 1
        threads = -(-settings.limits.in_flight // processes) if _sees_ahead(config) else 1
        state["ahead"] = RunAhead(threads, lambda job: _case_runs(state, settings, *job))
    return state["ahead"]


def _sees_ahead(config: pytest.Config) -> bool:
    """Whether this process knows the items it runs next: always alone; under xdist only with
    ``--dist load``, whose workers keep the items they were given (work stealing takes some back)."""
    if not _is_worker(config):
        return True
    return config.workerinput.get("conformance_dist") == "load" and _xdist_queue(config) is not None


def _xdist_queue(config: pytest.Config):
    """The xdist worker's interactor, which holds the indices of the items it runs next (its
    ``nextitem_index`` and ``torun`` queue), or None."""
    for plugin in config.pluginmanager.get_plugins():
        if type(plugin).__name__ == "WorkerInteractor" and hasattr(plugin, "torun") and hasattr(plugin.torun, "lock"):
            return plugin
    return None


def _upcoming(item: pytest.Item, state: dict[str, Any]):
    """The (node id, (case, transport)) of the case items this process runs after ``item``, in order."""
    session, items = item.session, item.session.items
    interactor = _xdist_queue(item.config) if _is_worker(item.config) else None
    if interactor is None:
        positions = state.get("positions")
        if positions is None or len(positions) != len(items):
            positions = state["positions"] = {it.nodeid: i for i, it in enumerate(items)}
        indices: Any = range(positions.get(item.nodeid, len(items)) + 1, len(items))
    else:
        with interactor.torun.lock() as queue:
            indices = [interactor.nextitem_index, *queue]
    for index in indices:
        if session.shouldstop or session.shouldfail:
            return
        if not isinstance(index, int) or not 0 <= index < len(items):
            continue
        other = items[index]
        callspec = getattr(other, "callspec", None)
        job = callspec.params.get("conformance_case") if callspec is not None else None
        if job is not None:
            yield other.nodeid, job


def _case_runs(state: dict[str, Any], settings, case, transport_name: str):
    """Run one (case, transport), ``--repeat`` times: each repetition's verdicts, and what it cost."""
    from .runner import run_case
    from .transport import Counter

    counter = Counter()
    cache = _followup_cache(state, transport_name)
    transport = _transport(state, settings, transport_name)
    return [run_case(case, settings, transport, counter, cache=cache) for _ in range(settings.repeat)], counter


def _stop_if_down(request: pytest.FixtureRequest, state: dict[str, Any], settings) -> None:
    """The target stopped answering: no further item runs (this worker, and through xdist the others)."""
    down = _pacer(state, settings).health.down()
    if down:
        from .transport.pacing import down_message

        request.session.shouldstop = down_message(down)


def _record(request: pytest.FixtureRequest, verdicts: list, usage: dict[str, Any], endpoint: str) -> None:
    """Attach the verdicts and usage to the item; fail it on an unexpected fail or error, xfail it
    when every such verdict is expected (--expectations, --baseline), skip it when all skip (a
    warn is reported but passes the item)."""
    from .expectations import apply, is_unexpected
    from .vocabulary import ERROR, FAIL, SKIP

    records = [v.as_dict() for v in verdicts]
    request.node.user_properties.append(("conformance_verdicts", json.dumps(records)))
    request.node.user_properties.append(("conformance_usage", json.dumps(usage)))
    request.node.user_properties.append(("conformance_cost", json.dumps([endpoint, {k: usage.get(k, 0) for k in COST_KEYS}])))
    settings = request.config.stash[_SETTINGS]
    apply(records, settings.expectations + settings.baseline)
    bad = [r for r in records if r["status"] in (FAIL, ERROR)]
    unexpected = [r for r in bad if is_unexpected(r)]
    if unexpected:
        lines = [f"{r['status'].upper()} {r['check']}: {r['message']}" for r in unexpected]
        pytest.fail(redact("\n".join(lines)), pytrace=False)
    if bad:
        pytest.xfail(redact("expected: " + "; ".join(f"{r['status']} {r['check']}" for r in bad)))
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
        _stop_if_down(request, state, settings)
        _record(request, [verdict], {**counter.as_dict(), "property_requests": counter.requests}, endpoint)

    return run


@pytest.fixture
def conformance_run(request: pytest.FixtureRequest):
    """Run one (case, transport): record its verdicts, then pass, fail or skip the test item."""
    config = request.config
    settings = config.stash[_SETTINGS]
    state = config.stash[_STATE]

    def run(case, transport_name: str) -> None:
        from .runner import combine_repeats

        # the next items' cases are sent meanwhile, up to this process's share of the requests in flight
        ahead = _ahead(config, state, settings)
        runs, counter = ahead.result(request.node.nodeid, (case, transport_name), _upcoming(request.node, state))
        _stop_if_down(request, state, settings)
        _record(request, combine_repeats(runs), counter.as_dict(), case.endpoint)

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
    verdicts: list[dict[str, Any]] = []
    requests = 0
    for name, value in report.user_properties:
        if name == "conformance_verdicts":
            verdicts = json.loads(value)
            if collect:
                state["verdicts"].extend(verdicts)
            kept += [("verdict", redact(f"{v['status']} {v['check']} [{v.get('level', 'required')}]" + (f": {v['message']}" if v["message"] else ""))) for v in verdicts]
        elif name == "conformance_cost":
            if collect:
                endpoint, cost = json.loads(value)
                requests = cost.get("requests", 0)
                mine = state.setdefault("cost", {}).setdefault(endpoint, dict.fromkeys(COST_KEYS, 0))
                for key, number in cost.items():
                    mine[key] += number
        elif name == "conformance_usage":
            if collect:
                for key, number in json.loads(value).items():
                    state["usage"][key] = state["usage"].get(key, 0) + number
        else:
            kept.append((name, value))
    report.user_properties = kept
    if "progress" in state and (collect or (report.when == "setup" and not report.passed)):
        state["progress"].item_done(report.nodeid, verdicts if collect else [], requests)


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
    from .expectations import apply
    from .report import build_report, write_report

    usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "retries": 0, **state["usage"]}
    if state.get("cost"):
        usage["by_endpoint"] = dict(sorted(state["cost"].items()))
    if "batch_wait_s" in usage:
        usage["batch_wait_s"] = round(usage["batch_wait_s"], 2)
    target = {
        "base_url": settings.display_url,
        "profile": settings.profile.name,
        "profile_title": settings.profile.title,
        "models": settings.models,
        "model_origins": settings.model_origins,
        "configured_models": settings.configured_models(),
        "embedded": settings.embedded,
        "api_key_source": settings.api_key_source,
        "limits": settings.limits.as_dict(),
        **({"endpoints": list(settings.endpoints)} if settings.endpoints else {}),
    }
    down = state["run_state"].read().get("down")
    results = state["verdicts"]
    gate: dict[str, Any] = {"strict": settings.strict, "semantic": settings.semantic, "strict_expectations": settings.strict_expectations}
    if settings.expectations_path or settings.baseline_path:
        summary = apply(results, settings.expectations + settings.baseline)
        gate.update(
            expectations=settings.expectations_path, baseline=settings.baseline_path,
            entries=summary["entries"], matched=summary["matched"],
            # a baseline's entries going stale are fixes, not stale expectations
            stale=[e for e in summary["stale"] if not e["reason"].startswith("baseline: ")],
        )
    changes = None
    if settings.baseline_path:
        from .expectations import changes as changed_since, load_report

        changes = changed_since(load_report(settings.baseline_path), results, settings.baseline_path)
    report = build_report(
        gate=gate,
        changes=changes,
        openai_node=_openai_node(settings),
        target=target,
        started=state["started"].isoformat(timespec="seconds"),
        finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        duration_s=time.perf_counter() - state["t0"],
        results=results,
        usage=usage,
        property_based={"depth": settings.property_depth, "examples": settings.property_examples, "seed": settings.property_seed} if settings.property_depth != "off" else None,
        stopped=_stopped(down),
    )
    state["report_paths"] = write_report(report, settings.report_dir)
    state["report"] = report
    _write_summaries(report, settings)


def _openai_node(settings) -> dict[str, Any] | None:
    """The report's suite.openai_node when the run went through that transport."""
    if "openai-node" not in settings.transports:
        return None
    from .transport.node_sdk import availability

    info = availability()
    return {key: info[key] for key in ("sdk", "available", "node", "reason")}


def _write_summaries(report: dict[str, Any], settings) -> None:
    """--markdown and --badge, rendered from the report; the Markdown is also appended to a GitHub
    Actions job summary ($GITHUB_STEP_SUMMARY) when the run is one's step."""
    import os

    from .report.markdown import badge, render_markdown

    text = render_markdown(report)
    if settings.markdown:
        settings.markdown.parent.mkdir(parents=True, exist_ok=True)
        settings.markdown.write_text(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as out:
            out.write(text)
    if settings.badge:
        settings.badge.parent.mkdir(parents=True, exist_ok=True)
        settings.badge.write_text(json.dumps(badge(report)) + "\n")


def _stopped(down: dict[str, Any] | None) -> dict[str, Any] | None:
    """The report's ``stopped`` section: when and why the run stopped early (the target went down)."""
    if not down:
        return None
    from .transport.pacing import down_message

    return {"reason": down.get("kind", "target-down"), "since": datetime.fromtimestamp(down["since"], timezone.utc).isoformat(timespec="seconds"), "message": down_message(down)}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config):
    """The run's summary and its worst causes, after pytest's own (its short test summary)."""
    result = yield
    state = config.stash.get(_STATE, None)
    if state is None or "report" not in state:
        return result
    from .report import cause_lines, summary_lines

    report = state["report"]
    terminalreporter.write_sep("=", "conformance")
    for line in summary_lines(report) + cause_lines(report):
        terminalreporter.write_line(line)
    json_path, html_path = state["report_paths"]
    terminalreporter.write_line(f"report: {json_path} · {html_path}")
    return result
