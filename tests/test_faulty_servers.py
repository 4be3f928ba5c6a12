"""Bowtie-style: each faulty server breaks one contract; the report must name exactly that check."""

from __future__ import annotations

import pytest

from conformance.server import ServerThread
from tests.faulty import API_KEY, FAULTS, FaultyApp, load_faults

load_faults()

#: Checks any fault may break along with its own: the golden comparison fails with every fault that
#: changes a documented field, constant or type (that is its job), whatever the fault's family.
ANY_FAULT_COLLATERAL = frozenset({"golden.shape.matches"})

from .conftest import run_conformance


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_faulty_server_is_caught(name, tmp_path, local_s3_env):
    fault = FAULTS[name]
    env = {"OPENAI_API_KEY": API_KEY, **local_s3_env}
    with ServerThread(FaultyApp(fault)) as server:
        scope = [f"--endpoint={endpoint}" for endpoint in fault.scope or ()]
        depth = ["--seed", "1"] if fault.property else ["--property", "off"]
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
    unexpected = failing - fault.breaks - fault.collateral - ANY_FAULT_COLLATERAL
    assert not unexpected, f"{name}: checks outside the broken family failed too: {sorted(unexpected)}"
    for secret in (API_KEY, local_s3_env["AWS_SECRET_ACCESS_KEY"]):
        assert secret not in run.stdout + run.stderr
        assert secret not in str(run.report)
