"""The issue-4 benchmarks of code verification and verdicts, as correctness smoke checks.

``bench/verify_code.py --check`` verifies every ESSC1 code of every case (ES256, EdDSA, a kid
shared by two keys) through the station's wiring and in memory, checks the floor's bare
verifies and refuses forged codes; ``bench/verdict.py --entries 100000 --check`` builds a
store through its own snapshot import and checks every verdict, the floor's finds, the journal
chain and the list.  No timing is asserted: a slow machine still passes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), "--check", *arguments],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def test_verify_code_benchmark_checks_every_case(tmp_path: Path) -> None:
    result = run_bench("verify_code.py", "--workdir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for case in ("ES256 (1 key(s) tried)", "EdDSA (1 key(s) tried)", "shared kid (2 key(s)"):
        assert case in result.stdout
    assert "floor: bare verify" in result.stdout
    assert "checks passed" in result.stdout


def test_verdict_benchmark_checks_every_verdict(tmp_path: Path) -> None:
    result = run_bench("verdict.py", "--entries", "100000", "--workdir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "100,000 generated deny entries (105,000 listed)" in result.stdout
    for kind in ("deny-hit", "miss", "reservation", "benefit", "all"):
        assert f"\n{kind}\n" in result.stdout
    assert "floor: SELECT + insert" in result.stdout
    assert "checks passed" in result.stdout
    # the built store, its list file and its journal file, is kept in the workdir for the next run
    kept = sorted(path.name for path in tmp_path.glob("verdict-base-100000-v*"))
    assert len(kept) == 2, kept
    assert kept[0].endswith("-journal.db")
    assert kept[1] == kept[0].replace("-journal.db", ".db")
