"""The back-office link benchmarks, small, as correctness checks against the real server.

``bench/sync_catchup.py --check`` catches a terminal up over loopback HTTP through deltas and
asserts the final version and entry count; ``bench/usage_upload.py --check`` uploads events
and asserts the back office holds each exactly once.  No timing is asserted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", ["sync_catchup", "usage_upload"])
def test_link_benchmark_runs_and_checks_its_result(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--check"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "target:" in result.stdout
    assert "bare HTTP" in result.stdout
