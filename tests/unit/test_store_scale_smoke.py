"""The offline-store benchmark at 100,000 entries, as a correctness smoke check (no timing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "store_scale.py"


def test_store_benchmark_runs_and_checks_its_results(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--entries", "100000", "--check", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "100,000 deny entries" in result.stdout
    assert "durable appends/s" in result.stdout
    assert "checks passed" in result.stdout
