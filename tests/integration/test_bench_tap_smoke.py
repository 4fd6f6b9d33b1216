"""The tap-to-journal benchmark on the real PC/SC stack, as a correctness smoke check.

``bench/tap_to_journal.py --check`` serves an emulated generation-3 card through pcscd + vpcd,
taps it a few times through ``read_one`` → ``Credential.from_card`` → ``Checkpoint.present``
and checks every record, verdict and journal record, beside its floors (``read_one`` alone,
bare ``SCardTransmit``).  No timing is asserted.  The ``stack`` fixture brings pcscd up (or
skips, and under ``CI=true`` fails); the benchmark then finds it running and leaves it be.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from apdu.emulator.stack import PcscStack

pytestmark = pytest.mark.pcsc

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tap_to_journal.py"


def test_tap_benchmark_reads_decides_and_journals(stack: PcscStack, tmp_path: Path) -> None:
    del stack  # pcscd is up; the benchmark serves its own card in the card slot
    result = subprocess.run(
        [sys.executable, str(BENCH), "--check", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tap to journal, gen-3 card sh-gen3" in result.stdout
    for figure in (
        "of which verdict + journal",
        "read_one + bare I/O",
        "read_one alone",
        "bare APDUs",
    ):
        assert figure in result.stdout
    assert "checks passed" in result.stdout
