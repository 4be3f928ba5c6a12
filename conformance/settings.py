"""Run settings: where the target is, which key, profile and models; checked before anything runs."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .expectations import Expectation, ExpectationsError, from_baseline, load, load_report
from .options import DEFAULT_BATCH_MAX_WAIT, DEFAULT_PROPERTY_EXAMPLES, DEFAULT_TIMEOUT
from .profiles import Profile, ProfileError, load_profile
from .redact import register_secret
from .vocabulary import (
    CAPABILITIES, CAPABILITY_ENDPOINTS, CHAT_LIKE, ENDPOINTS, MODEL_CHAT_FALLBACK, MODEL_GIVEN, MODEL_PROFILE_DEFAULT,
    PROPERTY_DEPTHS, SEMANTIC_MODES, TRANSPORTS,
)

DEFAULT_KEY_VARS = ("OPENAI_API_KEY", "SCW_SECRET_KEY")
#: The variable through which the embedded run hands its generated key to the suite.
EMBEDDED_KEY_VAR = "CONFORMANCE_EMBEDDED_API_KEY"
#: The bucket batch cases upload their input files to (or the option --s3-bucket).
S3_BUCKET_VAR = "CONFORMANCE_S3_BUCKET"
#: The profile used when none is named (naming it explicitly is what makes a hosted profile's models "configured").
DEFAULT_PROFILE = "scaleway"
#: Requests a run keeps in flight when no limit says how many (a server that did not state its
#: concurrency may queue or refuse more: llama.cpp's default is a handful of slots); and at most,
#: whatever the limit (each is a thread).
DEFAULT_IN_FLIGHT = 4
MAX_IN_FLIGHT = 64


@dataclass(frozen=True)
class Limits:
    """What the run keeps under (None: no limit): requests per minute, requests in flight, tokens
    per minute (the target's), and the requests the whole run may send (the user's --budget)."""

    rpm: float | None = None
    concurrency: int | None = None
    tpm: float | None = None
    requests: int | None = None

    #: The requests the run keeps in flight at once (a thread each, shared out among the processes).
    in_flight: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"requests_per_minute": self.rpm, "concurrent_requests": self.concurrency, "tokens_per_minute": self.tpm, "requests": self.requests, "in_flight": self.in_flight}

    def describe(self) -> str:
        parts = []
        if self.rpm:
            parts.append(f"{self.rpm:g} requests/min")
        if self.concurrency:
            parts.append(f"{self.concurrency} in flight")
        if self.tpm:
            parts.append(f"{self.tpm:g} tokens/min")
        if self.requests:
            parts.append(f"a budget of {self.requests} requests")
        return ", ".join(parts) or "no limits"


class UsageError(ValueError):
    """Bad input to the suite: one clear line, exit code 2."""


@dataclass(frozen=True)
class S3Config:
    """S3-compatible object storage where batch input and output files live (the standard AWS variables)."""

    bucket: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    endpoint_url: str | None = None
    region: str | None = None


#: What batch cases need; the skip reason names them when one is missing.
S3_MISSING = (
    "no S3 object storage configured for batch files: set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
    f"AWS_ENDPOINT_URL_S3, AWS_DEFAULT_REGION and {S3_BUCKET_VAR} (or --s3-bucket)"
)


def find_s3(bucket_option: str | None) -> S3Config | None:
    """S3 settings from the environment (bucket from the option first); None when incomplete."""
    bucket = bucket_option or os.environ.get(S3_BUCKET_VAR)
    key_id, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (bucket and key_id and secret):
        return None
    register_secret(secret)
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    return S3Config(bucket=bucket, access_key_id=key_id, secret_access_key=secret, endpoint_url=endpoint, region=region)


@dataclass(frozen=True)
class Settings:
    base_url: str
    api_key: str | None = field(repr=False)
    api_key_source: str
    profile: Profile
    models: dict[str, str]
    report_dir: Path
    timeout: float
    embedded: bool = False
    #: Also the report as Markdown (--markdown) and as a shields.io badge (--badge).
    markdown: Path | None = None
    badge: Path | None = None
    #: Where the target can fetch fixtures/ over http(s) (image URLs); None: cases needing it skip.
    fixtures_url: str | None = None
    #: Object storage for batch files; None: batch cases that need it skip (reason S3_MISSING).
    s3: S3Config | None = None
    #: Seconds a batch may take to finish before its checks are ``error``.
    batch_max_wait: float = DEFAULT_BATCH_MAX_WAIT
    #: Only these endpoints' cases run (None: every endpoint).
    endpoints: tuple[str, ...] | None = None
    #: The transports the cases go through (--transport; default every one).
    transports: tuple[str, ...] = TRANSPORTS
    #: Property-based runs: depth (off, quick, deep), fuzzed examples per operation and mode, seed.
    property_depth: str = "quick"
    property_examples: int = DEFAULT_PROPERTY_EXAMPLES
    property_seed: int = 0
    #: Golden checks write the target's shapes to fixtures/golden/ instead of comparing.
    update_goldens: bool = False
    #: capability -> where its model comes from (given, profile-default, chat-fallback).
    model_origins: dict[str, str] = field(default_factory=dict)
    #: The profile's models count as configured (embedded run, or a hosted profile named explicitly).
    profile_models_configured: bool = False
    #: Every warn counts as a fail.
    strict: bool = False
    #: How semantic checks count: fail, warn, off.
    semantic: str = "fail"
    #: What the terminal shows while the run goes on: endpoint (a line per endpoint done), off.
    progress: str = "endpoint"
    #: Known deviations (--expectations FILE), and where they came from.
    expectations: tuple[Expectation, ...] = ()
    expectations_path: str | None = None
    strict_expectations: bool = False
    #: An earlier report's verdicts that did not hold (--baseline REPORT).
    baseline: tuple[Expectation, ...] = ()
    baseline_path: str | None = None
    #: Each case is sent this many times (intermittent verdicts are marked).
    repeat: int = 1
    #: What the whole run keeps under (the profile's limits, or --rpm/--concurrency/--tpm).
    limits: Limits = field(default_factory=Limits)

    def selects(self, endpoint: str) -> bool:
        return self.endpoints is None or endpoint in self.endpoints

    def model_for(self, capability: str) -> str | None:
        return self.models.get(capability)

    def configured_models(self) -> list[str]:
        """The models the run must find in /models: those given with --model (or the profile's, when
        they count as configured) whose endpoint the run selects."""
        wanted = (MODEL_GIVEN, MODEL_PROFILE_DEFAULT) if self.profile_models_configured else (MODEL_GIVEN,)

        def origin(capability: str) -> str | None:
            found = self.model_origins.get(capability, MODEL_GIVEN)
            return self.model_origins.get("chat") if found == MODEL_CHAT_FALLBACK else found

        # --endpoint models alone looks for every configured model; with other endpoints, theirs only
        scoped = self.endpoints is not None and set(self.endpoints) != {"models"}
        return sorted({
            model for capability, model in self.models.items()
            if origin(capability) in wanted and (not scoped or self.selects(CAPABILITY_ENDPOINTS[capability]))
        })

    @property
    def display_url(self) -> str:
        return public_url(self.base_url)


def public_url(url: str) -> str:
    """The URL without user:password and without a query string (may carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_model_specs(specs: list[str] | None) -> dict[str, str]:
    models: dict[str, str] = {}
    for spec in specs or ():
        capability, sep, name = spec.partition("=")
        capability, name = capability.strip(), name.strip()
        if not sep or not name:
            raise UsageError(f"--model expects CAPABILITY=NAME, got {spec!r}")
        if capability not in CAPABILITIES:
            raise UsageError(f"--model: unknown capability {capability!r} (one of: {', '.join(CAPABILITIES)})")
        models[capability] = name
    return models


def parse_transports(specs: list[str] | None) -> tuple[str, ...]:
    """``--transport`` values (repeatable, comma-separated); every transport when not given."""
    names = [n.strip() for spec in specs or () for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in TRANSPORTS]
    if unknown:
        raise UsageError(f"--transport: unknown transport {unknown[0]!r} (one of: {', '.join(TRANSPORTS)})")
    return tuple(t for t in TRANSPORTS if t in names) or TRANSPORTS


def parse_endpoints(specs: list[str] | None) -> tuple[str, ...] | None:
    """``--endpoint`` values (repeatable, comma-separated) as endpoint names; None when not given."""
    names = [n.strip() for spec in specs or () for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENDPOINTS]
    if unknown:
        raise UsageError(f"--endpoint: unknown endpoint {unknown[0]!r} (one of: {', '.join(ENDPOINTS)})")
    return tuple(dict.fromkeys(names)) or None


def resolve_models(profile: Profile, given: dict[str, str]) -> dict[str, str]:
    """Configured models win; then the profile's defaults; chat-like capabilities fall back to chat."""
    return {capability: model for capability, (model, _) in _models_with_origins(profile, given).items()}


def _models_with_origins(profile: Profile, given: dict[str, str]) -> dict[str, tuple[str, str]]:
    models = {c: (m, MODEL_PROFILE_DEFAULT) for c, m in profile.models.items()}
    models.update({c: (m, MODEL_GIVEN) for c, m in given.items()})
    if "chat" in given:  # an explicit chat model replaces the profile's chat-like defaults
        for capability in CHAT_LIKE:
            if capability not in given:
                models[capability] = (given["chat"], MODEL_CHAT_FALLBACK)
    for capability in CHAT_LIKE:
        if capability not in models and "chat" in models:
            models[capability] = (models["chat"][0], MODEL_CHAT_FALLBACK)
    return models


def resolve_limits(
    profile: Profile, embedded: bool, rpm: float | None, concurrency: float | None, tpm: float | None, *, named: bool = True, local: bool = False,
    budget: int | None = None,
) -> Limits:
    """The profile's rate limits, each replaced by its option when given (0: no limit). They are
    the provider's: never applied to the embedded server, nor to a server on this machine judged
    under the default profile without naming it (``named``/``local``)."""
    stated = {} if embedded or (local and not named) else profile.limits

    def pick(option: float | None, key: str) -> float | None:
        value = stated.get(key) if option is None else option
        return value or None

    slots = pick(concurrency, "concurrent_requests")
    if slots is not None and slots != int(slots):
        raise UsageError(f"--concurrency must be a whole number, got {slots:g}")
    # in flight: the concurrency allowed (DEFAULT_IN_FLIGHT without one), each request a thread; a
    # server on this machine, unless --concurrency says otherwise, one at a time in each process:
    # it shares the CPU with the run, whose threads would only contend for the interpreter lock
    # (576 requests to a local server took 1.9 s one at a time, 3.5 s four at a time, 7 s with 50)
    in_flight = 1 if local and concurrency is None else min(int(slots) if slots else DEFAULT_IN_FLIGHT, MAX_IN_FLIGHT)
    return Limits(rpm=pick(rpm, "requests_per_minute"), concurrency=int(slots) if slots else None, tpm=pick(tpm, "tokens_per_minute"), requests=budget, in_flight=in_flight)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def check_base_url(url: str, option: str = "--base-url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{option} must be an http(s) URL such as https://api.scaleway.ai/v1, got {public_url(url)!r}")
    return url.rstrip("/")


def find_api_key(api_key_env: str | None, embedded: bool) -> tuple[str | None, str]:
    if embedded:
        return os.environ.get(EMBEDDED_KEY_VAR), "embedded server"
    if api_key_env:
        value = os.environ.get(api_key_env)
        if not value:
            raise UsageError(f"--api-key-env {api_key_env}: that environment variable is not set or empty")
        return value, api_key_env
    for name in DEFAULT_KEY_VARS:
        if os.environ.get(name):
            return os.environ[name], name
    raise UsageError(
        "no API key: set OPENAI_API_KEY or SCW_SECRET_KEY, or name another variable with --api-key-env "
        "(any non-empty value for a server without authentication)"
    )


def resolve(
    base_url: str | None = None,
    profile: str | None = None,
    model_specs: list[str] | None = None,
    report_dir: str | os.PathLike[str] = "reports",
    markdown: str | os.PathLike[str] | None = None,
    badge: str | os.PathLike[str] | None = None,
    api_key_env: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    embedded_url: str | None = None,
    fixtures_url: str | None = None,
    s3_bucket: str | None = None,
    batch_max_wait: float | None = None,
    endpoints: list[str] | None = None,
    transports: list[str] | None = None,
    property_depth: str = "quick",
    property_examples: int | None = None,
    property_seed: int | None = None,
    update_goldens: bool = False,
    strict: bool = False,
    semantic: str = "fail",
    progress: str = "endpoint",
    expectations: str | None = None,
    strict_expectations: bool = False,
    baseline: str | None = None,
    repeat: int = 1,
    rpm: float | None = None,
    concurrency: float | None = None,
    tpm: float | None = None,
    budget: int | None = None,
) -> Settings:
    """Build :class:`Settings` from options (the keywords of conformance.options); raise
    :class:`UsageError` on bad input."""
    embedded = embedded_url is not None
    url = embedded_url or base_url or os.environ.get("OPENAI_BASE_URL")
    if not url:
        raise UsageError("no base URL: pass --base-url URL (or set OPENAI_BASE_URL), or run `conformance run` alone")
    url = check_base_url(url)
    try:
        loaded = load_profile(profile or DEFAULT_PROFILE)
    except ProfileError as exc:
        raise UsageError(str(exc)) from exc
    if semantic not in SEMANTIC_MODES:
        raise UsageError(f"--semantic must be one of {', '.join(SEMANTIC_MODES)}, got {semantic!r}")
    if repeat < 1:
        raise UsageError(f"--repeat must be 1 or more, got {repeat}")
    if property_seed is not None and property_seed < 0:
        raise UsageError(f"--seed must be 0 or more, got {property_seed}")
    try:
        expected = load(expectations) if expectations else ()
        base = from_baseline(load_report(baseline)) if baseline else ()
    except ExpectationsError as exc:
        raise UsageError(str(exc)) from exc
    origins = _models_with_origins(loaded, parse_model_specs(model_specs))
    key, source = find_api_key(api_key_env, embedded)
    register_secret(key)
    if timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout}")
    batch_max_wait = DEFAULT_BATCH_MAX_WAIT if batch_max_wait is None else batch_max_wait
    if batch_max_wait <= 0:
        raise UsageError(f"--batch-max-wait must be positive, got {batch_max_wait}")
    if property_depth not in PROPERTY_DEPTHS:
        raise UsageError(f"--property must be one of {', '.join(PROPERTY_DEPTHS)}, got {property_depth!r}")
    property_examples = DEFAULT_PROPERTY_EXAMPLES if property_examples is None else property_examples
    if property_examples < 0:
        raise UsageError(f"--property-examples must be 0 or more, got {property_examples}")
    limits = resolve_limits(loaded, embedded, rpm, concurrency, tpm, named=profile is not None, local=is_loopback(url), budget=budget)
    return Settings(
        limits=limits,
        base_url=url,
        api_key=key,
        api_key_source=source,
        profile=loaded,
        models={c: m for c, (m, _) in origins.items()},
        model_origins={c: o for c, (_, o) in origins.items()},
        profile_models_configured=embedded or (loaded.hosted and profile is not None),
        report_dir=Path(report_dir),
        markdown=Path(markdown) if markdown else None,
        badge=Path(badge) if badge else None,
        timeout=timeout,
        embedded=embedded,
        fixtures_url=check_base_url(fixtures_url, "--fixtures-url") if fixtures_url else None,
        s3=find_s3(s3_bucket),
        batch_max_wait=batch_max_wait,
        endpoints=parse_endpoints(endpoints),
        transports=parse_transports(transports),
        property_depth=property_depth,
        property_examples=property_examples,
        # drawn here when not given, so that every worker of the run and the report share it
        property_seed=random.SystemRandom().randrange(2**32) if property_seed is None else property_seed,
        update_goldens=update_goldens,
        strict=strict,
        semantic=semantic,
        progress=progress,
        expectations=expected,
        expectations_path=str(expectations) if expectations else None,
        strict_expectations=strict_expectations,
        baseline=base,
        baseline_path=str(baseline) if baseline else None,
        repeat=repeat,
    )
