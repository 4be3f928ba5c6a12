"""Precision: servers that differ from the reference server only in ways the specs allow get no fail.

Each benign server is the reference app behind rewrites a correct server may do
(tests/faulty/benign.py); the whole suite runs against it and must end without a ``fail`` or an
``error`` verdict (``warn``, a recommended-level finding, is allowed).

* The server with every combinable variant always runs, and must be clean.
* The variants the suite still misjudges (``known_false`` in benign.py, each with the check ids
  and why the check is wrong) run together and must fail exactly those checks: when an owner fixes
  one, this test says to move the variant into the combined server.
* Each variant alone runs when ``CONFORMANCE_BENIGN_EACH=1`` is set (about 50 runs of a few
  endpoints each: for finding which variant a false verdict comes from).
"""

from __future__ import annotations

import os

import pytest

from conformance.server import ServerThread
from conformance.vocabulary import TRANSPORTS
from tests.faulty import API_KEY
from tests.faulty.benign import BENIGN, BenignApp, combined, known_false, run_args

from .conftest import DEFAULT_TEST_TRANSPORTS, EVERY_TRANSPORT, node_or_skip, run_conformance

#: Verdicts that are not allowed against a correct server.
_WRONG = ("fail", "error")


def _false_verdicts(run, transports=TRANSPORTS) -> list[dict]:
    return [r for r in run.report["results"] if r["status"] in _WRONG and r["transport"] in transports]


def _describe(results: list[dict]) -> str:
    lines = sorted({f"{r['status']} {r['check']} [{r['transport']}] {r['case']}: {str(r.get('message') or '')[:300]}" for r in results})
    return f"{len(lines)} false verdict(s):\n" + "\n".join(lines)


def _run(tmp_path, variants, s3_env, *, scope=None, transports=DEFAULT_TEST_TRANSPORTS):
    env = {"OPENAI_API_KEY": API_KEY, **s3_env}
    with ServerThread(BenignApp(variants)) as server:
        endpoints = [f"--endpoint={endpoint}" for endpoint in scope or ()]
        args = ("--base-url", server.base_url, "--workers", "0", "--property", "off", *endpoints, *transports, *run_args(variants))
        run = run_conformance(tmp_path, *args, env=env, timeout=600)
    assert run.report is not None, run.stderr + run.stdout[-3000:]
    return run


def test_every_variant_cites_what_allows_it():
    for name, variant in BENIGN.items():
        assert len(variant.description.splitlines()) >= 2, f"{name}: the docstring must cite the text that allows it"
        assert not variant.known_false or variant.known_false_reason, f"{name}: say why the known-false checks are wrong"


def test_combined_benign_server_gets_no_fail(tmp_path, local_s3_env):
    """Every combinable variant at once, every endpoint: no fail, no error, exit code 0."""
    # through every transport: a server the specs allow must not break the Node SDK either
    node_or_skip()
    run = _run(tmp_path, combined(), local_s3_env, transports=EVERY_TRANSPORT)
    assert {r["transport"] for r in run.report["results"]} == set(TRANSPORTS)
    wrong = _false_verdicts(run)
    assert not wrong, _describe(wrong)
    assert run.code == 0, run.stdout[-2000:] + run.stderr


def test_known_false_verdicts_are_exactly_the_documented_ones(tmp_path, local_s3_env):
    """The variants the suite still misjudges fail exactly their documented checks, nothing else."""
    variants = known_false()
    if not variants:
        pytest.skip("no known false verdicts left")
    run = _run(tmp_path, variants, local_s3_env, scope=sorted({e for v in variants for e in v.scope or ()}) or None)
    documented = {check: v.name for v in variants for check in v.known_false}
    wrong = _false_verdicts(run)
    unexpected = [r for r in wrong if r["check"] not in documented]
    assert not unexpected, "false verdicts beyond the documented ones: " + _describe(unexpected)
    fixed = sorted(set(documented) - {r["check"] for r in wrong})
    assert not fixed, f"these checks no longer fail: drop them from known_false in tests/faulty/benign.py: {[(c, documented[c]) for c in fixed]}"


@pytest.mark.skipif(not os.environ.get("CONFORMANCE_BENIGN_EACH"), reason="each variant alone: set CONFORMANCE_BENIGN_EACH=1")
@pytest.mark.parametrize("name", sorted(BENIGN))
def test_benign_variant_alone_gets_no_fail(name, tmp_path, local_s3_env):
    variant = BENIGN[name]
    run = _run(tmp_path, [variant], local_s3_env, scope=variant.scope)
    wrong = [r for r in _false_verdicts(run, variant.transports) if r["check"] not in variant.known_false]
    assert not wrong, f"{name}: " + _describe(wrong)
    if variant.known_false:
        still = {r["check"] for r in _false_verdicts(run, variant.transports)}
        assert variant.known_false <= still, f"{name}: {sorted(variant.known_false - still)} no longer fail: drop them from known_false"
    elif variant.transports == ("http", "openai"):
        assert run.code == 0, run.stdout[-2000:] + run.stderr
