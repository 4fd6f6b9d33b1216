"""The serial scanner watched for the screen: codes reach the gate, an unplugged scanner is
reported and retried, and a real serial line (a pty) carries a code to a verdict."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import demo_station

from terminal.clock import sample_now
from terminal.codes.scanners import parse_serial_source
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.errors import ConfigError, ScannerError
from terminal.gate import Gate, LaunchOptions
from terminal.scanner_watch import ScannerWatch
from terminal.verdict import Verdict


class FakeScanner:
    def __init__(self, texts: list[str], *, then_unplugged: bool = False) -> None:
        self.texts = texts
        self.then_unplugged = then_unplugged
        self.closed = False

    def codes(self) -> Iterator[str]:
        yield from self.texts
        if self.then_unplugged:
            raise ScannerError("the scanner on /dev/ttyACM0 stopped working")

    def close(self) -> None:
        self.closed = True


def watch_until(watch: ScannerWatch, done: threading.Event) -> None:
    thread = threading.Thread(target=watch.run, daemon=True)
    thread.start()
    assert done.wait(10), "the watch never got there"
    watch.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_codes_reach_the_gate_and_a_scanner_that_fails_to_open_is_retried() -> None:
    states: list[str] = []
    codes: list[str] = []
    done = threading.Event()
    opened = [ScannerError("cannot open the scanner's serial port /dev/ttyACM0"), None]

    def open_scanner(stop: threading.Event) -> FakeScanner:
        failure = opened.pop(0) if opened else None
        if failure is not None:
            raise failure
        return FakeScanner(["YKTR1:A", "  ", "YKTR1:B"])

    def on_code(text: str) -> None:
        codes.append(text)
        if len(codes) == 2:
            done.set()

    watch = ScannerWatch(open_scanner, on_code, on_state=states.append, retry_after=0.01)
    watch_until(watch, done)
    assert codes == ["YKTR1:A", "YKTR1:B"]  # blank frames are not codes
    assert states[0] == "scanner: scanner error, retrying"
    assert "scanner: ready" in states


def test_an_unplugged_scanner_is_reported_then_recovers() -> None:
    states: list[str] = []
    codes: list[str] = []
    done = threading.Event()
    scanners = [FakeScanner(["YKTR1:A"], then_unplugged=True), FakeScanner(["YKTR1:B"])]
    handed: list[FakeScanner] = []

    def open_scanner(stop: threading.Event) -> FakeScanner:
        handed.append(scanners.pop(0) if scanners else FakeScanner([]))
        return handed[-1]

    def on_code(text: str) -> None:
        codes.append(text)
        if text == "YKTR1:B":
            done.set()

    watch = ScannerWatch(open_scanner, on_code, on_state=states.append, retry_after=0.01)
    watch_until(watch, done)
    assert codes == ["YKTR1:A", "YKTR1:B"]
    assert "scanner: scanner error, retrying" in states
    assert handed[0].closed


@pytest.mark.parametrize(
    ("source", "fragment"),
    [("serial:", "needs a port"), ("serial:/dev/x@fast", "baud rate"),
     ("serial:/dev/x,zz", "framing")],
)  # fmt: skip
def test_a_malformed_scanner_source_is_a_configuration_error(source: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_serial_source(source)


def test_a_code_on_a_real_serial_line_becomes_a_verdict(tmp_path: Path) -> None:
    """A pty stands in for the scanner's USB serial port (pyserial opens its slave side)."""
    master, slave = os.openpty()
    try:
        verdicts: list[Verdict] = []
        arrived = threading.Event()
        options = LaunchOptions(service="museum.entry", reader=None,
                                scanner=f"serial:{os.ttyname(slave)}@115200,cr")  # fmt: skip

        def shown(verdict: Verdict) -> None:
            verdicts.append(verdict)
            arrived.set()

        with demo_station(tmp_path, sample_now()) as station:
            gate = Gate(station, options, None, sample_now)
            gate.on_verdict = shown
            gate.start_watch()
            deadline = time.monotonic() + 10
            while "scanner: ready" not in gate.reader_state() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert "scanner: ready" in gate.reader_state()
            os.write(master, f"YKTR1:{DEMO_RESERVATION_ID}\r".encode())
            assert arrived.wait(10)
            gate.stop()
        assert [v.outcome.value for v in verdicts] == ["admit"]
        assert verdicts[0].journal_seq == 1
    finally:
        os.close(master)
        os.close(slave)
