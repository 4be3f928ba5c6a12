"""The `conformance` command: `run` the suite against a target (or the embedded server), `serve` it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from . import __version__
from .settings import DEFAULT_BATCH_MAX_WAIT, DEFAULT_PROPERTY_EXAMPLES
from .vocabulary import PROPERTY_DEPTHS

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
#: Requests in flight against a remote target: latency-bound, far below providers' concurrency caps.
DEFAULT_REMOTE_WORKERS = 4


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conformance",
        description="Conformance and compatibility suite for OpenAI-compatible HTTP APIs.",
        epilog="Exit codes: 0 the target meets its profile, 1 it does not, 2 the suite could not judge.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the suite; with no --base-url, against the embedded reference server")
    run.add_argument("--base-url", help="target base URL, e.g. https://api.scaleway.ai/v1 (default: $OPENAI_BASE_URL, else the embedded server)")
    run.add_argument("--profile", default="scaleway", help="profile name or path to a profile YAML (default: scaleway)")
    run.add_argument("--model", action="append", default=[], metavar="CAPABILITY=NAME", help="model for a capability; repeatable")
    run.add_argument("--report-dir", default="reports", help="where report.json and report.html go (default: reports/)")
    run.add_argument("--api-key-env", metavar="NAME", help="environment variable holding the API key (default: OPENAI_API_KEY, then SCW_SECRET_KEY)")
    run.add_argument("--fixtures-url", metavar="URL", help="where a remote target can fetch fixtures/ over https (image URLs); local targets are served them automatically")
    run.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one response (default: 60)")
    run.add_argument("--s3-bucket", metavar="NAME", help="bucket for batch files (default: $CONFORMANCE_S3_BUCKET; endpoint and credentials from the AWS_* variables; the embedded run starts its own)")
    run.add_argument("--batch-max-wait", type=float, default=DEFAULT_BATCH_MAX_WAIT, metavar="SECONDS", help=f"longest wait for a batch to finish; beyond it its checks are 'error' (default: {DEFAULT_BATCH_MAX_WAIT:g})")
    run.add_argument("--endpoint", action="append", default=[], metavar="NAME", help="run only this endpoint's cases (models, chat, responses, embeddings, rerank, transcriptions, batches); repeatable or comma-separated")
    run.add_argument("--property", default="quick", choices=PROPERTY_DEPTHS, help="property-based runs generated from the OpenAPI spec: quick (default; one coverage case per kind of value or violation), deep (every coverage case; pair with --property-examples 50), off")
    run.add_argument("--property-examples", type=int, default=DEFAULT_PROPERTY_EXAMPLES, metavar="N", help=f"random (fuzzed) requests per operation and mode in property-based runs (default: {DEFAULT_PROPERTY_EXAMPLES})")
    run.add_argument("--seed", type=int, default=None, metavar="N", help="hypothesis seed of the property-based runs, to reproduce one (default: random; the report records it)")
    run.add_argument("--update-goldens", action="store_true", help="write the target's response shapes to fixtures/golden/ (the golden cases pass) instead of comparing; review the diff before committing")
    run.add_argument("--workers", default=None, help="parallel pytest-xdist workers: a number, 'auto', or 0 for none (default: 4 for a remote target, none for the embedded server)")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: passed to pytest (-k, -x, ...)")

    survey = sub.add_parser("survey", help="classify what a target does with each request parameter (honoured, rejected, ignored, broken); optionally write a draft profile")
    survey.add_argument("--base-url", help="target base URL (default: $OPENAI_BASE_URL, else the embedded server)")
    survey.add_argument("--profile", default="scaleway", help="profile giving the default models (its claims are not used; default: scaleway)")
    survey.add_argument("--model", action="append", default=[], metavar="CAPABILITY=NAME", help="model for a capability; repeatable")
    survey.add_argument("--api-key-env", metavar="NAME", help="environment variable holding the API key (default: OPENAI_API_KEY, then SCW_SECRET_KEY)")
    survey.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one response (default: 60)")
    survey.add_argument("--s3-bucket", metavar="NAME", help="bucket for the batch input file (default: $CONFORMANCE_S3_BUCKET)")
    survey.add_argument("--endpoint", action="append", default=[], metavar="NAME", help="survey only this endpoint; repeatable or comma-separated")
    survey.add_argument("--report-dir", default="reports", help="where survey.json goes (default: reports/)")
    survey.add_argument("--write-profile", metavar="PATH", help="write a draft profile YAML for the target there")
    survey.add_argument("--name", help="name of the drafted profile (default: from the target's host)")
    survey.add_argument("--workers", type=int, default=4, help="requests in flight (default: 4)")

    serve = sub.add_parser("serve", help="serve the embedded reference server (keys from $CONFORMANCE_SERVER_API_KEY, comma-separated)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default: 8080; 0 picks a free one)")
    return parser


def _fail_usage(message: str) -> int:
    print(f"conformance: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _embedded_unless_target(stack: ExitStack, args: argparse.Namespace) -> str | None:
    """Start the embedded reference server when no target is given; its URL, or None."""
    if args.base_url or os.environ.get("OPENAI_BASE_URL"):
        return None
    from .embedded import embedded_server

    return stack.enter_context(embedded_server())


def _settings(args: argparse.Namespace, embedded_url: str | None, **extra):
    """Settings from the options ``run`` and ``survey`` share (raises UsageError)."""
    from .settings import resolve

    return resolve(
        base_url=args.base_url,
        model_specs=args.model,
        report_dir=args.report_dir,
        api_key_env=args.api_key_env,
        timeout=args.timeout,
        embedded_url=embedded_url,
        s3_bucket=None if embedded_url else args.s3_bucket,
        endpoints=args.endpoint,
        **extra,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from .preflight import preflight
    from .settings import UsageError

    extra = list(args.pytest_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    with ExitStack() as stack:
        embedded_url = _embedded_unless_target(stack, args)
        try:
            settings = _settings(
                args,
                embedded_url,
                profile=args.profile,
                fixtures_url=args.fixtures_url,
                batch_max_wait=args.batch_max_wait,
                property_depth=args.property,
                property_examples=args.property_examples,
                property_seed=args.seed,
                update_goldens=args.update_goldens,
            )
            if args.seed is not None and args.seed < 0:
                raise UsageError(f"--seed must be 0 or more, got {args.seed}")
            preflight(settings)
        except UsageError as exc:
            return _fail_usage(str(exc))
        report_dir = Path(args.report_dir)
        report_json = report_dir / "report.json"
        if report_json.exists():
            report_json.unlink()
        pytest_args = [
            "--pyargs",
            "conformance.suite",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:schemathesis",
            "-q",
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            f"--conformance-profile={args.profile}",
            f"--conformance-report-dir={report_dir}",
            f"--conformance-timeout={args.timeout}",
            f"--conformance-batch-max-wait={args.batch_max_wait}",
            f"--conformance-property={args.property}",
            f"--conformance-property-examples={args.property_examples}",
            "--conformance-no-preflight",
            f"--junitxml={report_dir / 'junit.xml'}",
            "-o",
            "junit_family=legacy",
        ]
        pytest_args += [f"--conformance-model={m}" for m in args.model]
        if args.seed is not None:
            pytest_args.append(f"--conformance-seed={args.seed}")
        if args.update_goldens:
            pytest_args.append("--conformance-update-goldens")
        pytest_args += [f"--conformance-endpoint={e}" for e in args.endpoint]
        if embedded_url:
            pytest_args.append(f"--conformance-embedded-url={embedded_url}")
        else:
            pytest_args.append(f"--conformance-base-url={settings.base_url}")
        if args.fixtures_url:
            pytest_args.append(f"--conformance-fixtures-url={args.fixtures_url}")
        if args.api_key_env:
            pytest_args.append(f"--conformance-api-key-env={args.api_key_env}")
        if args.s3_bucket and not embedded_url:
            pytest_args.append(f"--conformance-s3-bucket={args.s3_bucket}")
        workers = args.workers if args.workers is not None else ("0" if embedded_url else str(DEFAULT_REMOTE_WORKERS))
        if workers not in ("0", "none"):
            pytest_args += ["-n", workers]
        pytest_args += extra
        import pytest

        code = pytest.main(pytest_args)
    if code not in (0, 1, 5):
        return _fail_usage(f"pytest stopped with exit code {int(code)}; see above")
    if not report_json.exists():
        return _fail_usage("no check ran, so no report was written (did -k deselect everything?)")
    outcome = json.loads(report_json.read_text())["outcome"]
    if outcome == "pass":
        return EXIT_PASS
    if outcome == "fail":
        return EXIT_FAIL
    print("conformance: some checks could not be judged (status error); see the report", file=sys.stderr)
    return EXIT_USAGE


def cmd_survey(args: argparse.Namespace) -> int:
    from .preflight import preflight
    from .settings import UsageError
    from .survey import draft_profile, run_survey, summary_lines
    from .transport import make_transport

    with ExitStack() as stack:
        embedded_url = _embedded_unless_target(stack, args)
        try:
            settings = _settings(args, embedded_url, profile="scaleway" if args.profile == "none" else args.profile)
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
        transport = make_transport("http", settings.base_url, settings.api_key, settings.timeout)
        try:
            survey = run_survey(settings, transport, workers=args.workers)
        finally:
            transport.close()
    from .redact import redact_obj

    survey = redact_obj(survey)
    report_dir = Path(args.report_dir)
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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "run" and args.profile == "none":
        # no claims to check: find out what the target does instead
        print("conformance: --profile none: surveying the target's parameters instead (see `conformance survey -h`)", file=sys.stderr)
        survey_args = ["survey", *(["--base-url", args.base_url] if args.base_url else []), *[f"--model={m}" for m in args.model], "--report-dir", args.report_dir, "--timeout", str(args.timeout), *[f"--endpoint={e}" for e in args.endpoint]]
        if args.api_key_env:
            survey_args += ["--api-key-env", args.api_key_env]
        if args.s3_bucket:
            survey_args += ["--s3-bucket", args.s3_bucket]
        return cmd_survey(_parser().parse_args(survey_args))
    if args.command == "run":
        return cmd_run(args)
    if args.command == "survey":
        return cmd_survey(args)
    return cmd_serve(args)


if __name__ == "__main__":
    sys.exit(main())
