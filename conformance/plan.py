"""What a run will send: its items (case × transport, property run × transport) and the fewest requests they need."""

from __future__ import annotations

from dataclasses import dataclass

from .cases import Case, all_cases
from .settings import Settings


def case_items(settings: Settings) -> list[tuple[Case, str]]:
    """Every (case, transport) the run collects, in order."""
    return [
        (case, transport)
        for case in all_cases(settings.profile)
        if settings.selects(case.endpoint)
        for transport in case.transports
        if transport in settings.transports
    ]


def property_items(settings: Settings) -> list[tuple[str, str, str]]:
    """Every (endpoint, mode, transport) property-based run (none with --property off)."""
    if settings.property_depth == "off":
        return []
    from .propspec import MODES, load_operations
    from .vocabulary import PROPERTY_TRANSPORTS

    endpoints = dict.fromkeys(op.endpoint for op in load_operations())
    transports = [t for t in PROPERTY_TRANSPORTS if t in settings.transports]
    return [(endpoint, mode, transport) for endpoint in endpoints if settings.selects(endpoint) for mode in MODES for transport in transports]


@dataclass(frozen=True)
class Need:
    """The fewest requests a run sends against a target that answers everything at once: the
    probe, one per case that applies (per repetition), and the random examples of each property
    run. Follow-ups, controls, batch polls and retries come on top."""

    cases: int
    generated: int
    probe: int = 0

    @property
    def requests(self) -> int:
        return self.probe + self.cases + self.generated

    def describe(self) -> str:
        return f"at least {self.requests} requests ({self.cases} for the cases, {self.generated} generated, {self.probe} probe)"


def need(settings: Settings, probe: int = 0) -> Need:
    """What the run needs at least; ``probe``: the requests sent before it (preflight.REQUESTS)."""
    from .runner import applicable

    cases = sum(settings.repeat for case, _ in case_items(settings) if applicable(case, settings) is None)
    generated = sum(
        settings.property_examples for endpoint, _, _ in property_items(settings) if settings.profile.claims_endpoint(endpoint)
    )
    return Need(cases, generated, probe)
