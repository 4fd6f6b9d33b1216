"""With CI=true a PC/SC stack that cannot come up fails the run; elsewhere it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from apdu.emulator.stack import PcscStack

pytestmark = pytest.mark.pcsc

ROOT = Path(__file__).resolve().parents[2]
PROBE = "tests/integration/test_pcsc_read.py::test_status_lists_both_virtual_readers"


def run_probe(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PCSCLITE_CSOCK_NAME="/nonexistent/pcscd.comm")
    env.pop("CI", None)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", PROBE, "-p", "no:cacheprovider", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_unreachable_stack_fails_the_run_in_ci(stack: PcscStack) -> None:
    del stack  # a pcscd is running, so a second one cannot start for the probe
    result = run_probe("true")
    assert result.returncode != 0, result.stdout
    assert "CI=true: the PC/SC stack (pcscd + vpcd) cannot come up" in result.stdout


def test_unreachable_stack_skips_outside_ci(stack: PcscStack) -> None:
    del stack
    result = run_probe(None)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
