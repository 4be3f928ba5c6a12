"""The peer scripts (scripts/peers/, opt-in): valid shell, loopback only, one per server with a profile."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conformance.profiles import available_profiles

PEERS = Path(__file__).resolve().parent.parent / "scripts" / "peers"
SCRIPTS = sorted(PEERS.glob("*.sh"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_script_is_valid_bash(path):
    subprocess.run(["bash", "-n", str(path)], check=True)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_servers_bind_loopback_only(path):
    text = path.read_text()
    assert "0.0.0.0" not in text
    for host in re.findall(r"--host[ =](\S+)", text):
        assert host == "127.0.0.1", f"{path.name} binds {host}"


def test_check_knows_a_shipped_profile_for_every_server():
    text = (PEERS / "check.sh").read_text()
    servers = re.findall(r"^  ([a-z-]+)\)$", text, re.M)
    assert set(servers) == {"llama-cpp-python", "transformers-serve", "infinity", "litellm"}
    assert set(servers) <= set(available_profiles())


def test_check_refuses_an_unknown_server():
    run = subprocess.run(["bash", str(PEERS / "check.sh"), "telepathy"], capture_output=True, text=True)
    assert run.returncode == 2 and "unknown server 'telepathy'" in run.stderr


def test_a_server_whose_profile_claims_auth_is_started_with_a_key():
    from conformance.profiles import load_profile

    text = (PEERS / "check.sh").read_text()
    blocks = re.findall(r"^  ([a-z-]+)\)\n(.*?);;", text, re.M | re.S)
    assert blocks
    for server, block in blocks:
        script = re.search(r"SCRIPT=(\S+?);", block).group(1)
        profile = load_profile(server)
        claims_auth = any(profile.claims(endpoint, "auth") for endpoint in profile.endpoints)
        starts_with_key = re.search(r"api[-_]key|master_key", (PEERS / script).read_text()) is not None
        assert claims_auth == starts_with_key, f"{server}: profile claims auth {claims_auth}, {script} sets a key {starts_with_key}"


def test_the_summary_is_rendered_from_a_report(tmp_path):
    import json
    import subprocess
    import sys

    report = sorted((PEERS.parent.parent / "docs" / "examples").glob("*/report.json"))[0]
    out = subprocess.run([sys.executable, str(PEERS / "summary.py"), str(report)], capture_output=True, text=True, check=True).stdout
    data = json.loads(report.read_text())
    assert f"outcome {data['outcome'].upper()}" in out and "## Known deviations" in out
