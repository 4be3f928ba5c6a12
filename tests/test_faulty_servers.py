"""Bowtie-style: each faulty server breaks one contract; the report must name exactly that check."""

from __future__ import annotations

import pytest

from conformance.server import ServerThread
from conformance.vocabulary import TRANSPORTS
from tests.faulty import API_KEY, FAULTS, FaultyApp, load_faults

load_faults()

#: Checks any fault may break along with its own: the golden comparison fails with every fault that
#: changes a documented field, constant or type (that is its job), whatever the fault's family.
ANY_FAULT_COLLATERAL = frozenset({"golden.shape.matches"})

from .conftest import node_or_skip, run_conformance


def same_exchange_collateral(run, fault) -> set[str]:
    """The checks failing only where one of the fault's own checks fails or warns too (the same
    case through the same transport: the same broken exchange): the collateral every fault may
    have, derived from the report instead of listed by hand."""
    broken = {(r["case"], r["transport"]) for r in run.report["results"] if r["check"] in fault.breaks and r["status"] in ("fail", "warn")}
    failing: dict[str, set] = {}
    for r in run.report["results"]:
        if r["status"] == "fail":
            failing.setdefault(r["check"], set()).add((r["case"], r["transport"]))
    return {check for check, where in failing.items() if where <= broken}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_faulty_server_is_caught(name, tmp_path, local_s3_env):
    fault = FAULTS[name]
    if "openai-node" in fault.transports:
        node_or_skip()
    env = {"OPENAI_API_KEY": API_KEY, **local_s3_env}
    with ServerThread(FaultyApp(fault)) as server:
        scope = [f"--endpoint={endpoint}" for endpoint in fault.scope or ()]
        depth = ["--seed", "1"] if fault.property else ["--property", "off"]
        scope.append("--transport=" + ",".join(TRANSPORTS if fault.only else fault.transports))
        # the profile named explicitly: its (hosted) models are the configured ones /models must list
        run = run_conformance(tmp_path, "--base-url", server.base_url, "--profile", fault.profile, "--workers", "0", *scope, *depth, env=env)
        if fault.property:
            # the example cases alone do not see it: only the generated requests do
            (tmp_path / "examples-only").mkdir()
            examples_only = run_conformance(tmp_path / "examples-only", "--base-url", server.base_url, "--profile", fault.profile, "--workers", "0", *scope, "--property", "off", env=env)
            assert examples_only.code == 0, f"{name}: the example cases catch it too: {sorted(examples_only.failing_checks())}"
            assert not (fault.breaks & examples_only.warning_checks()), f"{name}: the example cases catch it too (warn)"
    assert run.report is not None, run.stderr + run.stdout[-3000:]
    failing = run.failing_checks()
    if fault.outcome == "error":
        assert run.code == 2, run.stdout[-2000:]
        assert not failing, f"infrastructure trouble was turned into fails: {sorted(failing)}"
        assert run.report["totals"]["error"] > 0
        return
    fails, warns = fault.expected_fails(), fault.expected_warns()
    assert run.code == (1 if fails else 0), run.stdout[-2000:] + run.stderr
    for transport in fault.transports:
        missing = fails - run.failing_checks(transport)
        assert not missing, f"{name}: {sorted(missing)} did not fail through {transport}; failing: {sorted(run.failing_checks(transport))}"
        unwarned = warns - run.warning_checks(transport) - run.failing_checks(transport)
        assert not unwarned, f"{name}: {sorted(unwarned)} (recommended) did not warn through {transport}; warning: {sorted(run.warning_checks(transport))}"
    if fault.only:  # the other clients read these answers: no verdict of the fault's checks fails through them
        for transport in set(TRANSPORTS) - set(fault.transports):
            wrongly = (fails | warns) & (run.failing_checks(transport) | run.warning_checks(transport))
            assert not wrongly, f"{name}: {sorted(wrongly)} failed through {transport} too, the fault should break only {fault.transports}"
        named = {r["transport"] for r in run.report["results"] if r["check"] in fails and r["status"] == "fail"}
        assert named == set(fault.transports), f"{name}: the report names {sorted(named)}"
    # the run ends with its worst causes, not with one FAILED line per item (those on request: -rf)
    tail = run.stdout.splitlines()[-14:]
    assert "FAILED" not in run.stdout and any(line.startswith("causes (") for line in tail), run.stdout[-1500:]
    causes = run.report["causes"]
    named = {check for cause in causes for check in cause["checks"]}
    assert fails | warns <= named, f"{name}: the causes do not name {sorted((fails | warns) - named)}"
    if fault.breaks == {"errors.envelope"}:  # one defect of every refusal: one cause, the first
        assert causes[0]["checks"] == ["errors.envelope"] and causes[0]["count"] > 20, causes[:2]
        assert [c for c in causes if "errors.envelope" in c["checks"]] == causes[:1], [c["message"] for c in causes]
    unexpected = failing - fault.breaks - fault.collateral - ANY_FAULT_COLLATERAL - same_exchange_collateral(run, fault)
    assert not unexpected, f"{name}: checks outside the broken family failed too, on exchanges its own checks did not fail: {sorted(unexpected)}"
    for secret in (API_KEY, local_s3_env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in run.stdout + run.stderr
        assert secret not in str(run.report)


def test_collateral_is_derived_only_on_the_faults_own_exchanges():
    from types import SimpleNamespace

    from tests.conftest import Run

    def verdict(check, case, transport="http", status="fail"):
        return {"check": check, "case": case, "transport": transport, "status": status}

    report = {"results": [
        verdict("own.check", "a"), verdict("same.case", "a"),  # on the broken exchange: derived
        verdict("own.check", "b", status="warn"), verdict("beside.a.warn", "b"),  # a warn breaks it too
        verdict("other.exchange", "a"), verdict("other.exchange", "c"),  # fails elsewhere as well: not derived
        verdict("other.transport", "a", transport="openai"),  # the same case through another transport: not derived
        verdict("own.check", "d", status="pass"), verdict("where.own.passes", "d"),
    ]}
    run = Run(1, "", "", report)
    assert same_exchange_collateral(run, SimpleNamespace(breaks=frozenset({"own.check"}))) == {"same.case", "beside.a.warn", "own.check"}
