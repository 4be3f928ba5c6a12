"""The run's options, each declared once: the CLI flag, the pytest option and the Settings keyword derive from it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

from .vocabulary import CAPABILITIES, ENDPOINTS, PROGRESS_MODES, PROPERTY_DEPTHS, SEMANTIC_MODES, TRANSPORTS

#: Defaults that also appear in help texts.
DEFAULT_TIMEOUT = 60.0
DEFAULT_BATCH_MAX_WAIT = 900.0
DEFAULT_PROPERTY_EXAMPLES = 3
PYTEST_PREFIX = "--conformance-"


@dataclass(frozen=True)
class Option:
    """One option: ``--FLAG`` on the command line, ``--conformance-FLAG`` under pytest, ``FIELD`` of
    :func:`conformance.settings.resolve`."""

    flag: str
    field: str
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    #: ``append`` (repeatable) or ``store_true`` (a switch); None: takes one value.
    action: str | None = None
    metavar: str | None = None
    #: The `conformance` subcommands that take it.
    commands: tuple[str, ...] = ("run",)
    #: Only for the plugin's own use (set by `conformance run`, hidden from users).
    internal: bool = False

    @property
    def cli_flag(self) -> str:
        return f"--{self.flag}"

    @property
    def pytest_flag(self) -> str:
        return PYTEST_PREFIX + self.flag

    @property
    def dest(self) -> str:
        return "conformance_" + self.field

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"help": self.help, "dest": self.dest}
        if self.action == "store_true":
            out.update(action="store_true", default=False)
            return out
        if self.action == "append":
            out.update(action="append", default=[])
        else:
            out["default"] = self.default
        for name in ("type", "choices", "metavar"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


_BOTH = ("run", "survey")


def _limit(text: str) -> float:
    """A rate limit: a number of 0 or more (0: none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number (0 for no limit), got {text!r}") from None
    if value < 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of 0 or more, got {text!r}")
    return value

def _budget(text: str) -> int:
    """``requests=N``: the most requests a run may send (N ≥ 1)."""
    name, _, number = text.partition("=")
    if name.strip() != "requests" or not number.strip().isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"expected requests=N with N a whole number of 1 or more, got {text!r}")
    return int(number)


OPTIONS: tuple[Option, ...] = (
    Option("base-url", "base_url", "base URL of the target, e.g. https://api.scaleway.ai/v1 (default: $OPENAI_BASE_URL, else the embedded reference server)", commands=_BOTH),
    Option("profile", "profile", "profile name (specs/profiles/NAME.yaml) or path to a profile YAML (default: scaleway; naming a hosted provider's profile explicitly makes its models 'configured')", commands=_BOTH),
    Option("model", "model_specs", f"model for a capability ({', '.join(CAPABILITIES)}); repeatable. Only models given here are 'configured' (listed and retrievable); a profile's defaults just run the cases", action="append", metavar="CAPABILITY=NAME", commands=_BOTH),
    Option("report-dir", "report_dir", "where report.json, report.html and junit.xml go (default: reports/)", default="reports", commands=_BOTH),
    Option("markdown", "markdown", "also write the report as Markdown to FILE: outcome, levels, the worst causes, the compatibility grid (a CI job summary; appended to $GITHUB_STEP_SUMMARY whenever that is set)", metavar="FILE"),
    Option("badge", "badge", "also write a shields.io endpoint badge (JSON: the outcome and the verdicts that hold) to FILE", metavar="FILE"),
    Option("api-key-env", "api_key_env", "environment variable holding the API key (default: OPENAI_API_KEY, then SCW_SECRET_KEY)", metavar="NAME", commands=_BOTH),
    Option("timeout", "timeout", f"seconds to wait for one response (default: {DEFAULT_TIMEOUT:g})", default=DEFAULT_TIMEOUT, type=float, commands=_BOTH),
    Option("fixtures-url", "fixtures_url", "where a remote target can fetch fixtures/ over https (image URLs); a local target is served them automatically", metavar="URL"),
    Option("s3-bucket", "s3_bucket", "bucket for batch files (default: $CONFORMANCE_S3_BUCKET; endpoint and credentials from the AWS_* variables; the embedded run starts its own)", metavar="NAME", commands=_BOTH),
    Option("batch-max-wait", "batch_max_wait", f"longest wait for a batch to finish; beyond it its checks are 'error' (default: {DEFAULT_BATCH_MAX_WAIT:g})", default=DEFAULT_BATCH_MAX_WAIT, type=float, metavar="SECONDS"),
    Option("endpoint", "endpoints", f"run only this endpoint's cases ({', '.join(ENDPOINTS)}); repeatable or comma-separated", action="append", metavar="NAME", commands=_BOTH),
    Option("transport", "transports", f"send the cases through these transports ({', '.join(TRANSPORTS)}: raw HTTP, the official Python SDK, the official Node SDK); repeatable or comma-separated (default: all; without Node.js the openai-node cases are skipped with the reason)", action="append", metavar="NAME", commands=("run",)),
    Option("property", "property_depth", "property-based runs generated from the OpenAPI spec: quick (default; one coverage case per kind of value or violation), deep (every coverage case; pair with --property-examples 50), off", default="quick", choices=PROPERTY_DEPTHS),
    Option("property-examples", "property_examples", f"random (fuzzed) requests per operation and mode in property-based runs (default: {DEFAULT_PROPERTY_EXAMPLES})", default=DEFAULT_PROPERTY_EXAMPLES, type=int, metavar="N"),
    Option("seed", "property_seed", "hypothesis seed of the property-based runs, to reproduce one (default: random; the report records it)", type=int, metavar="N"),
    Option("update-goldens", "update_goldens", "write the target's response shapes to fixtures/golden/ (the golden cases pass) instead of comparing; review the diff before committing", action="store_true"),
    Option("strict", "strict", "every warn (a recommended-level check that does not hold) counts as a fail", action="store_true"),
    Option("semantic", "semantic", "how semantic (model-quality) checks count: fail (default), warn (e.g. a random-weight model), off (not run)", default="fail", choices=SEMANTIC_MODES),
    Option("progress", "progress", "what the terminal shows while the run goes on: endpoint (default: a line when an endpoint's checks are all done, with its verdicts, requests and time, and every 30 s the endpoints still running), off", default="endpoint", choices=PROGRESS_MODES),
    Option("expectations", "expectations", "YAML file of known deviations (check id -> expected status): only unexpected verdicts decide the exit code; write one with `conformance expectations REPORT.json`", metavar="FILE"),
    Option("strict-expectations", "strict_expectations", "an expectation that no longer matches (the check now passes) fails the run", action="store_true"),
    Option("baseline", "baseline", "an earlier report.json: only regressions against it (and new failing verdicts) decide the exit code", metavar="REPORT"),
    Option("repeat", "repeat", "send each case N times; verdicts that differ between repetitions are marked intermittent (default: 1)", default=1, type=int, metavar="N"),
    Option("rpm", "rpm", "requests per minute the whole run keeps under (default: the profile's limits.requests_per_minute; 0: no limit)", type=_limit, metavar="N", commands=_BOTH),
    Option("concurrency", "concurrency", "requests in flight at most, across every worker, and the run keeps that many in flight (default: the profile's limits.concurrent_requests; 0: no limit, 4 in flight; a server on this machine without it: one per worker)", type=_limit, metavar="N", commands=_BOTH),
    Option("budget", "budget", "requests=N: refuse to start a run that needs more than N requests (saying how many it needs), and stop one that has sent N", type=_budget, metavar="requests=N", commands=_BOTH),
    Option("tpm", "tpm", "tokens per minute the whole run keeps under (default: the profile's limits.tokens_per_minute; 0: no limit)", type=_limit, metavar="N", commands=_BOTH),
    Option("embedded-url", "embedded_url", "(internal) URL of an embedded server started by `conformance run`.", internal=True),
)

BY_FIELD: dict[str, Option] = {option.field: option for option in OPTIONS}


class Handoff:
    """Registered by `conformance run` as a pytest plugin object (``pytest.main(plugins=[…])``): the
    Settings it resolved and probed, and the option values behind them (what xdist workers resolve)."""

    def __init__(self, settings: Any, values: dict[str, Any]) -> None:
        self.settings = settings
        self.values = values


def add_cli_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of ``command`` as argparse arguments (dest = ``conformance_FIELD``)."""
    for option in OPTIONS:
        if command in option.commands and not option.internal:
            parser.add_argument(option.cli_flag, **option.kwargs())


def add_pytest_options(group: Any) -> None:
    """Every option as ``--conformance-FLAG`` in a pytest option group."""
    for option in OPTIONS:
        group.addoption(option.pytest_flag, **option.kwargs())


def values(namespace: Any, command: str = "run") -> dict[str, Any]:
    """``resolve()`` keywords from a parsed namespace (argparse's or pytest's ``config.option``)."""
    return {o.field: getattr(namespace, o.dest) for o in OPTIONS if command in o.commands and hasattr(namespace, o.dest)}
