"""The `conformance` command: `run` the suite against a target (or the embedded server), `serve` it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from . import __version__
from .options import add_cli_arguments, values

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: Requests in flight against a remote target: latency-bound, far below providers' concurrency caps.
DEFAULT_REMOTE_WORKERS = 4
#: Requests a run needs per worker it starts (a worker takes ~1 s of CPU to start; measured against
#: a local server answering in 200 ms: 15 requests are quicker in one process, 38 with two workers).
REQUESTS_PER_WORKER = 15
#: pytest's own plugins a run does without: the cache (a run never reruns its failures), doctests,
#: and the unraisable-exception and thread-exception hooks, which end every session with a full
#: garbage collection.
SUITE_DIR = Path(__file__).resolve().parent / "suite"
UNUSED_PYTEST_PLUGINS = ("cacheprovider", "doctest", "unraisableexception", "threadexception", "stepwise", "pastebin")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance",
        description="Conformance and compatibility suite for OpenAI-compatible HTTP APIs.",
        epilog="Exit codes: 0 the target meets its profile, 1 it does not, 2 the suite could not judge.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the suite; with no --base-url, against the embedded reference server")
    add_cli_arguments(run, "run")
    run.add_argument("--workers", default=None, help="parallel pytest-xdist workers: a number, 'auto', or 0 for none (default: 4 for a remote target, none for the embedded server)")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest (-k, -x, ...)")

    survey = sub.add_parser("survey", help="classify what a target does with each request parameter (honoured, rejected, ignored, broken); optionally write a draft profile")
    add_cli_arguments(survey, "survey")
    survey.add_argument("--write-profile", metavar="PATH", help="write a draft profile YAML for the target there")
    survey.add_argument("--name", help="name of the drafted profile (default: from the target's host)")
    survey.add_argument("--workers", type=int, default=4, help="requests in flight (default: 4)")

    expectations = sub.add_parser("expectations", help="print the expectations file that makes a report's run pass (every verdict that did not hold, to review)")
    expectations.add_argument("report", help="a report.json")

    diff = sub.add_parser("diff", help="regressions, fixes, new and removed verdicts between two reports (exit 1 on a regression)")
    diff.add_argument("old", help="the earlier report.json")
    diff.add_argument("new", help="the later report.json")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")

    compare = sub.add_parser("compare", help="several reports side by side per endpoint and feature (a compatibility table), as Markdown or HTML")
    compare.add_argument("reports", nargs="+", help="report.json files (one column each, in this order)")
    compare.add_argument("-o", "--output", action="append", default=[], metavar="FILE", help="write to FILE: HTML when it ends in .html, else Markdown; repeatable (default: Markdown on standard output)")

    setup = sub.add_parser("setup", help="install what a transport needs ahead of a run: `setup node` installs the pinned openai npm package for the openai-node transport (a run does it the first time otherwise)")
    setup.add_argument("what", choices=["node"], help="node: the openai npm package (needs Node.js >= 18 and npm on PATH)")

    serve = sub.add_parser("serve", help="serve the embedded reference server (keys from $CONFORMANCE_SERVER_API_KEY, comma-separated)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    return parser


def _fail_usage(message: str) -> int:
    print(f"conformance: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _embedded_unless_target(stack: ExitStack, args: argparse.Namespace) -> str | None:
    """Start the embedded reference server when no target is given; its URL, or None."""
    if args.conformance_base_url or os.environ.get("OPENAI_BASE_URL"):
        return None
    from .embedded import embedded_server

    return stack.enter_context(embedded_server())


def _resolved(args: argparse.Namespace, command: str, embedded_url: str | None) -> tuple[dict, object]:
    """The option values of ``command`` and the Settings they resolve to (raises UsageError)."""
    from .settings import resolve

    given = values(args, command)
    given["embedded_url"] = embedded_url
    if embedded_url:
        given["s3_bucket"] = None
    return given, resolve(**given)


def default_workers(settings, embedded_url: str | None) -> str:
    """pytest-xdist workers when --workers is not given: none for the embedded server, else
    DEFAULT_REMOTE_WORKERS, never more than the requests the target allows in flight, nor more
    than one per REQUESTS_PER_WORKER requests the run needs (starting a worker costs more than a
    few requests save)."""
    if embedded_url:
        return "0"
    from .plan import need

    slots = settings.limits.concurrency
    workers = min(DEFAULT_REMOTE_WORKERS, slots) if slots else DEFAULT_REMOTE_WORKERS
    workers = min(workers, need(settings).requests // REQUESTS_PER_WORKER)
    return "0" if workers <= 1 else str(workers)


def _within_budget(settings) -> None:
    """Refuse a run that needs more requests than --budget allows (UsageError), before sending any."""
    budget = settings.limits.requests
    if not budget:
        return
    from .plan import need
    from .preflight import REQUESTS
    from .settings import UsageError

    needed = need(settings, probe=REQUESTS)
    if needed.requests > budget:
        raise UsageError(f"--budget requests={budget}: this run needs {needed.describe()}; select less (--endpoint, --property off) or allow more")


def cmd_run(args: argparse.Namespace) -> int:
    from .options import Handoff
    from .preflight import preflight
    from .settings import UsageError

    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    with ExitStack() as stack:
        embedded_url = _embedded_unless_target(stack, args)
        try:
            given, settings = _resolved(args, "run", embedded_url)
            from .checks import unknown_checks

            unknown = unknown_checks(e.check for e in settings.expectations)
            if unknown:
                raise UsageError(f"--expectations {settings.expectations_path}: unknown check {unknown[0]!r}")
            _within_budget(settings)
            preflight(settings)
        except UsageError as exc:
            return _fail_usage(str(exc))
        given["property_seed"] = settings.property_seed  # the workers resolve the same seed
        report_dir = settings.report_dir
        report_json = report_dir / "report.json"
        if report_json.exists():
            report_json.unlink()
        pytest_args = [
            "--pyargs",
            "conformance.suite",
            # the suite's own configuration, whatever project the run is started in: no conftest.py
            # of the project (an autouse fixture there would run around every check)
            "-c",
            str(SUITE_DIR / "pytest.ini"),
            "--rootdir",
            str(SUITE_DIR),
            "--noconftest",
            # only the plugins a run needs, whatever else is installed (a plugin that reorders,
            # times out or reruns tests would change the verdicts); add others with -p NAME
            "--disable-plugin-autoload",
            "-p",
            "conformance.plugin",
            *[arg for name in UNUSED_PYTEST_PLUGINS for arg in ("-p", f"no:{name}")],
            "-q",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            f"--junitxml={report_dir / 'junit.xml'}",
            "-o",
            "junit_family=legacy",
        ]
        workers = args.workers if args.workers is not None else default_workers(settings, embedded_url)
        if workers not in ("0", "none"):
            pytest_args += ["-p", "xdist.plugin", "-n", workers]
        if not any(arg.startswith(("-v", "--verbose", "--tb", "-r")) for arg in extra):
            # the causes at the end say what failed; pytest's failure lines on request (-v, --tb, -r)
            pytest_args += ["--tb=no", "-rN"]
        pytest_args += extra
        import pytest

        code = pytest.main(pytest_args, plugins=[Handoff(settings, given)])
    report = json.loads(report_json.read_text()) if report_json.exists() else None
    if report is not None and report.get("stopped"):
        return _fail_usage(f"{report['stopped']['message']} (report: {report_json})")
    if code not in (0, 1, 5):
        return _fail_usage(f"pytest stopped with exit code {int(code)}; see above")
    if report is None:
        return _fail_usage("no check ran, so no report was written (did -k deselect everything?)")
    outcome = report["outcome"]
    if outcome == "pass":
        return EXIT_PASS
    if outcome == "fail":
        return EXIT_FAIL
    print("conformance: some checks could not be judged (status error); see the report", file=sys.stderr)
    return EXIT_USAGE


def cmd_expectations(args: argparse.Namespace) -> int:
    from .expectations import ExpectationsError, load_report, write

    try:
        report = load_report(args.report, "expectations")
    except ExpectationsError as exc:
        return _fail_usage(str(exc))
    sys.stdout.write(write(report))
    return EXIT_PASS


def cmd_diff(args: argparse.Namespace) -> int:
    from .expectations import ExpectationsError, diff, diff_lines, load_report

    try:
        old, new = load_report(args.old, "diff"), load_report(args.new, "diff")
    except ExpectationsError as exc:
        return _fail_usage(str(exc))
    result = diff(old, new)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print(f"diff {args.old} -> {args.new}")
        for line in diff_lines(result):
            print(line)
    return EXIT_FAIL if result["regressions"] else EXIT_PASS


def cmd_compare(args: argparse.Namespace) -> int:
    from .expectations import ExpectationsError, load_report
    from .report.compare import compare, render_html, render_markdown

    try:
        reports = [load_report(path, "compare") for path in args.reports]
    except ExpectationsError as exc:
        return _fail_usage(str(exc))
    comparison = compare(reports)
    if not args.output:
        sys.stdout.write(render_markdown(comparison))
    for output in args.output:
        path = Path(output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render_html(comparison) if path.suffix.lower() in (".html", ".htm") else render_markdown(comparison))
        except OSError as exc:
            return _fail_usage(f"compare -o {output}: cannot write it ({exc.strerror})")
        print(f"compare: {path} ({comparison['differing']} of {len(comparison['rows'])} rows differ)")
    return EXIT_PASS


def cmd_survey(args: argparse.Namespace) -> int:
    from .preflight import preflight
    from .settings import UsageError
    from .survey import draft_profile, run_survey, summary_lines
    from .transport import make_transport

    with ExitStack() as stack:
        embedded_url = _embedded_unless_target(stack, args)
        if args.conformance_profile == "none":
            args.conformance_profile = None
        try:
            _, settings = _resolved(args, "survey", embedded_url)
            if args.workers < 1:
                raise UsageError(f"--workers must be at least 1, got {args.workers}")
            preflight(settings)
        except UsageError as exc:
            return _fail_usage(str(exc))
        if settings.fixtures_url is None and embedded_url is None:
            from .settings import is_loopback

            if is_loopback(settings.base_url):
                from .fixtures_server import serve_fixtures

                import dataclasses

                settings = dataclasses.replace(settings, fixtures_url=stack.enter_context(serve_fixtures()))
        from .transport import Pacer, RunState

        from .preflight import REQUESTS

        run_state = RunState()
        run_state.update(sent=REQUESTS)  # the probe counts against --budget
        stack.callback(run_state.close)
        transport = make_transport("http", settings.base_url, settings.api_key, settings.timeout, pacer=Pacer(run_state, settings.limits))
        try:
            survey = run_survey(settings, transport, workers=args.workers)
        finally:
            transport.close()
    from .redact import redact_obj

    survey = redact_obj(survey)
    report_dir = Path(args.conformance_report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "survey.json").write_text(json.dumps(survey, indent=2, ensure_ascii=False) + "\n")
    print(f"survey of {survey['target']['base_url']} · {survey['usage']['requests']} requests")
    for line in summary_lines(survey):
        print(line)
    print(f"survey: {report_dir / 'survey.json'}")
    if args.write_profile:
        Path(args.write_profile).write_text(draft_profile(survey, args.name))
        print(f"draft profile: {args.write_profile} (review it before use)")
    return EXIT_PASS


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import serve

    keys = [k for k in os.environ.get("CONFORMANCE_SERVER_API_KEY", "sk-reference-server").split(",") if k]
    print(f"conformance reference server on http://{args.host}:{args.port}/v1 (accepts the key in $CONFORMANCE_SERVER_API_KEY, default sk-reference-server)", flush=True)
    serve(host=args.host, port=args.port, api_keys=keys)
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Install the openai-node transport's npm package into its cache directory (npm ci of the shipped lock file)."""
    from .transport.node_sdk import SDK_VERSION, ensure_installed, install_dir

    print(f"conformance: installing openai@{SDK_VERSION} (npm ci) into {install_dir()} …", flush=True)
    modules, detail = ensure_installed(verbose=True)
    if modules is None:
        return _fail_usage(f"the openai-node transport cannot be set up: {detail}")
    print(f"conformance: the openai-node transport is ready: openai@{SDK_VERSION} in {modules}, Node.js {detail}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run" and args.conformance_profile == "none":
        # no claims to check: find out what the target does instead
        print("conformance: --profile none: surveying the target's parameters instead (see `conformance survey -h`)", file=sys.stderr)
        survey = _parser().parse_args(["survey"])
        for name, value in vars(survey).items():
            if name.startswith("conformance_") and hasattr(args, name):
                setattr(survey, name, getattr(args, name))
        return cmd_survey(survey)
    commands = {"run": cmd_run, "survey": cmd_survey, "expectations": cmd_expectations, "diff": cmd_diff, "compare": cmd_compare, "serve": cmd_serve, "setup": cmd_setup}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
