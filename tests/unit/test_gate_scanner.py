"""``[scanner] kind = "serial"`` in the running gate: codes from a serial scanner (a pty pair
stands in for it) reach the gate, and a missing scanner is said once, not every retry."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from gate_support import demo_station

from terminal.clock import ClockSample
from terminal.config import ScannerSection
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.gate import LaunchOptions, open_gate

START = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def at_start() -> ClockSample:
    return ClockSample(START, 1000.0, "boot")


def _wait(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)


def test_codes_from_a_serial_scanner_reach_the_gate(tmp_path: Path) -> None:
    with demo_station(tmp_path, at_start()) as station:
        settings = station.settings
    master, slave = os.openpty()
    try:
        scanner = ScannerSection(kind="serial", port=os.ttyname(slave), framing="cr")
        options = LaunchOptions(reader=None, scanner=scanner, service="museum.entry")
        with open_gate(settings, options, sample=at_start) as gate:
            codes: list[str] = []
            gate.on_code = codes.append
            gate.start_inputs()
            time.sleep(0.3)
            os.write(master, f"YKTR1:{DEMO_RESERVATION_ID}\r".encode())
            _wait(lambda: codes)
            assert codes == [f"YKTR1:{DEMO_RESERVATION_ID}"]
            assert gate.present_code(codes[0]).admits
    finally:
        os.close(master)
        os.close(slave)


def test_a_missing_serial_scanner_is_said_once(tmp_path: Path) -> None:
    with demo_station(tmp_path, at_start()) as station:
        settings = station.settings
    scanner = ScannerSection(kind="serial", port="/dev/ykt-scanner-not-there")
    options = LaunchOptions(reader=None, scanner=scanner)
    problems: list[tuple[str, str]] = []
    with open_gate(settings, options, sample=at_start) as gate:
        gate.on_problem = lambda zh, en: problems.append((zh, en))
        gate.start_inputs()
        _wait(lambda: problems)
        time.sleep(2.5)  # a retry, with the same problem: not said again
    assert len(problems) == 1
    assert problems[0][0] == "扫码器无法使用，请工作人员处理"
    assert "/dev/ykt-scanner-not-there" in problems[0][1]
