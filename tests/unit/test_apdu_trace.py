"""terminal.diagnostics.trace: the technician's APDU trace is masked, bounded, relative in time,
safe across threads, and fed by real reads through ReadRequest(trace=...)."""

from __future__ import annotations

import threading

import pytest
from test_store_privacy import secrets_of_every_holder

from apdu.emulator import VirtualCard, load_holders
from apdu.scripted import EmulatedReaders
from apdu.security.software import MasterKeys
from apdu.ssc import Authenticity
from apdu.ssc.elements import SSSE_AID
from terminal.card_reading import ReadRequest, SecurityModuleChoice, read_one
from terminal.diagnostics.trace import ApduTrace, trace_entry
from terminal.reader_watch import ReaderWatch

READER = "Emulated Reader 00 00"


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_select_shows_its_data_and_the_response_only_length_and_sw() -> None:
    entry = trace_entry(
        0.0, bytes.fromhex("00A4040003A0B0C0"), bytes.fromhex("6F0184") + b"\x90\x00"
    )
    assert entry.data == bytes.fromhex("A0B0C0")
    assert entry.text.endswith("-> 3 bytes, SW 9000 (success)")
    assert "SELECT" in entry.text
    assert "00 A4 04 00 Lc=3 A0B0C0" in entry.text
    assert "6F0184" not in entry.text  # the response data, never shown


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("0088000010" + "11" * 16, "INTERNAL AUTHENTICATE 00 88 00 00 Lc=16 (data not shown)"),
        ("008200 0A 10".replace(" ", "") + "22" * 16, "EXTERNAL AUTHENTICATE 00 82 00 0A Lc=16"),
        ("0020000004" + "31323334", "VERIFY"),
        ("00DA000003" + "414243", "INS DA"),  # an instruction the table does not know
    ],
)
def test_other_command_data_is_never_shown(command: str, shown: str) -> None:
    raw = bytes.fromhex(command)
    entry = trace_entry(0.0, raw, b"\x90\x00")
    assert entry.data is None
    assert shown in entry.text
    assert raw[5:].hex().upper() not in entry.text.replace(" ", "")


def test_read_record_shows_header_and_le_and_no_response_data() -> None:
    value = b"310101198502141234"
    entry = trace_entry(0.0, bytes.fromhex("00B2080014"), b"\x08\x12" + value + b"\x90\x00")
    assert entry.text.split("ms  ", 1)[1] == (
        "READ RECORD           00 B2 08 00 Le=20  -> 20 bytes, SW 9000 (success)"
    )


def test_short_or_malformed_exchanges_are_kept_without_their_bytes() -> None:
    no_sw = trace_entry(0.0, bytes.fromhex("00B2080014"), b"\x42")
    assert no_sw.sw is None
    assert "1 bytes, no status word" in no_sw.text
    garbled = trace_entry(0.0, bytes.fromhex("00B20800FF99"), b"\x90\x00")  # Lc says 255 bytes
    assert garbled.data is None
    assert "99" not in garbled.text.split("->")[0][-12:]
    assert "READ RECORD" in garbled.text
    tiny = trace_entry(0.0, b"\x00", b"")
    assert "malformed command" in tiny.text


def test_times_are_relative_to_the_start_and_clear_restarts_them() -> None:
    clock = FakeClock(500.0)
    trace = ApduTrace(clock)
    clock.now = 500.0125
    trace.record(bytes.fromhex("0084000008"), bytes(8) + b"\x90\x00")
    assert trace.entries()[0].at_ms == pytest.approx(12.5)
    assert trace.lines()[0].startswith("+     12.5 ms  GET CHALLENGE")
    clock.now = 600.0
    trace.clear()
    assert trace.lines() == []
    assert trace.dropped == 0
    clock.now = 600.001
    trace.record(bytes.fromhex("0084000008"), bytes(8) + b"\x90\x00")
    assert trace.entries()[0].at_ms == pytest.approx(1.0)


def test_the_ring_keeps_the_last_lines() -> None:
    trace = ApduTrace(FakeClock(), capacity=3)
    for p1 in range(10):
        trace.record(bytes((0x00, 0xB2, p1, 0x00, 0x05)), b"\x6a\x83")
    assert len(trace) == 3
    assert trace.dropped == 7
    assert [entry.header[2] for entry in trace.entries()] == [7, 8, 9]
    with pytest.raises(ValueError, match="at least one"):
        ApduTrace(FakeClock(), capacity=0)


def test_writers_and_a_reader_in_other_threads() -> None:
    trace = ApduTrace(FakeClock(), capacity=50)
    start = threading.Barrier(5)
    seen: list[int] = []

    def write() -> None:
        start.wait()
        for _ in range(2000):
            trace.record(bytes.fromhex("00B2010012"), bytes(18) + b"\x90\x00")

    def read() -> None:
        start.wait()
        for _ in range(500):
            lines = trace.lines()
            assert all("READ RECORD" in line for line in lines)
            seen.append(len(lines))

    threads = [threading.Thread(target=write) for _ in range(4)] + [threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(trace) == 50
    assert trace.dropped == 4 * 2000 - 50
    assert max(seen) <= 50


def _assert_no_secrets(lines: list[str]) -> None:
    text = "\n".join(lines).encode()
    hexed = "\n".join(lines).replace(" ", "").upper().encode()
    for secret in secrets_of_every_holder():
        assert secret not in text
        assert secret.hex().upper().encode() not in hexed


def test_a_real_read_feeds_the_trace_without_holder_data(masters: MasterKeys) -> None:
    """Every holder's card read with the software module: the trace shows the application
    selected, the authentication steps, and none of the holder's data in any encoding."""
    trace = ApduTrace(FakeClock(), capacity=1000)  # every demo holder, none dropped
    module = SecurityModuleChoice("software").opened()
    for holder in load_holders().values():
        readers = EmulatedReaders({READER: VirtualCard(holder, masters)})
        request = ReadRequest(security_module=module, wait_seconds=1, trace=trace.record)
        record = read_one(readers, request)
        assert record.authentic is Authenticity.VERIFIED
    lines = trace.lines()
    assert trace.dropped == 0
    selects = [line for line in lines if SSSE_AID.hex().upper() in line]
    assert len(selects) == len(load_holders())  # one application SELECT per card
    assert any(line.split("ms  ")[1].startswith("INTERNAL AUTHENTICATE") for line in lines)
    assert any("READ RECORD" in line for line in lines)
    _assert_no_secrets(lines)


def test_the_reader_watch_feeds_the_trace(masters: MasterKeys) -> None:
    """The app's reader watch reads with the request it is given, so its taps reach the trace."""
    holder = load_holders()["zj-gen2"]
    readers = EmulatedReaders({READER: VirtualCard(holder, masters)})
    trace = ApduTrace(FakeClock())
    decided: list[object] = []
    watch: ReaderWatch

    def decide(record: object) -> bool:
        decided.append(record)
        readers.remove(READER)  # the holder takes the card away
        watch.stop()
        return True

    watch = ReaderWatch(
        ReadRequest(trace=trace.record), decide, on_state=lambda state: None,
        on_problem=lambda zh, en: None, open_context=lambda: readers,  # type: ignore[arg-type,return-value]
    )  # fmt: skip
    thread = threading.Thread(target=watch.run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert len(decided) == 1
    assert trace.lines()[0].split("ms  ")[1].startswith("SELECT")
    _assert_no_secrets(trace.lines())
