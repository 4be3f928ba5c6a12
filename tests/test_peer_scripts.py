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
