"""``bench/tap_during_sync.py`` at 20,000 entries, as a correctness smoke check (no timing):
taps journalled in order while deltas and snapshots are applied by a thread and by a process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tap_during_sync.py"


def test_tap_during_sync_benchmark_checks_its_store(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--entries", "20000", "--check", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "20,000 deny entries, 2 deltas of 10,000 changes per mode" in result.stdout
    for phase in ("delta (thread)", "snapshot (thread)", "delta (process)", "snapshot (process)"):
        assert f"{phase}: " in result.stdout
    assert result.stdout.count(" taps recorded meanwhile, 0 refused (not recorded)") == 4
    assert "checks passed" in result.stdout
    assert list(tmp_path.iterdir()) == []  # the store was made in a temporary folder, removed
