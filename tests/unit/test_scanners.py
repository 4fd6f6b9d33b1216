"""terminal.codes.scanners: framing, bounded frames, UTF-8, serial (loop:// and a real pty),
streams (in memory, a pipe, a TTY), and stopping from another thread."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import termios
import threading
import time
from collections.abc import Iterator

import pytest

from terminal.codes.scanners import (
    MAX_FRAME_BYTES,
    FrameDiscarded,
    FrameSplitter,
    Framing,
    Scanner,
    ScannerError,
    SerialScanner,
    StreamScanner,
)

CODE = "ESSC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3"


def texts(items: list[str | FrameDiscarded]) -> list[str]:
    return [item for item in items if isinstance(item, str)]


def discards(items: list[str | FrameDiscarded]) -> list[tuple[str, int]]:
    return [(item.reason, item.length) for item in items if isinstance(item, FrameDiscarded)]


# -- the frame splitter -----------------------------------------------------------------------

STREAM = b"A1\rB2\nC3\r\nD4\t"


@pytest.mark.parametrize(
    ("framing", "frames"),
    [
        (Framing.ANY, ["A1", "B2", "C3", "D4"]),
        (Framing.CR, ["A1", "B2\nC3"]),  # LF belongs to the frame; "\nD4\t" waits
        (Framing.LF, ["A1\rB2", "C3\r"]),  # "D4\t" waits for its LF
        (Framing.CRLF, ["A1\rB2\nC3"]),
    ],
)
def test_each_framing_ends_codes_at_its_own_terminator(framing: Framing, frames: list[str]) -> None:
    assert FrameSplitter(framing).feed(STREAM) == frames


@pytest.mark.parametrize("framing", list(Framing))
def test_a_code_split_into_single_bytes_frames_the_same(framing: Framing) -> None:
    whole = FrameSplitter(framing).feed(STREAM)
    splitter = FrameSplitter(framing)
    pieces: list[str | FrameDiscarded] = []
    for byte in STREAM:
        pieces.extend(splitter.feed(bytes([byte])))
    assert pieces == whole


def test_crlf_split_between_cr_and_lf_is_one_terminator() -> None:
    splitter = FrameSplitter(Framing.CRLF)
    assert splitter.feed(CODE.encode() + b"\r") == []
    assert splitter.feed(b"\nNEXT\r") == [CODE]
    assert splitter.feed(b"X\r\n") == ["NEXT\rX"]  # a lone CR is part of the code


def test_empty_frames_are_skipped() -> None:
    assert FrameSplitter(Framing.ANY).feed(b"\r\n\r\n\t\tA\r\n\n") == ["A"]
    assert FrameSplitter(Framing.CR).feed(b"\r\r\r") == []


def test_utf8_split_inside_a_character_is_reassembled() -> None:
    encoded = "YKTR1:预约\n".encode()
    splitter = FrameSplitter(Framing.LF)
    assert splitter.feed(encoded[:7]) == []  # half of 预
    assert splitter.feed(encoded[7:]) == ["YKTR1:预约"]


def test_invalid_utf8_is_discarded_and_the_next_code_still_comes() -> None:
    splitter = FrameSplitter(Framing.ANY)
    frames = splitter.feed(b"AB\xff\xfeCD\r" + CODE.encode() + b"\r")
    assert discards(frames) == [("not_utf8", 6)]
    assert texts(frames) == [CODE]
    (discarded,) = [frame for frame in frames if isinstance(frame, FrameDiscarded)]
    assert "invalid byte at offset 2" in discarded.message
    assert "UTF-8" in discarded.message


def test_gbk_output_is_reported_as_not_utf8() -> None:
    frames = FrameSplitter(Framing.CR).feed("预约码".encode("gbk") + b"\r")
    assert discards(frames) == [("not_utf8", 6)]


def test_a_frame_of_exactly_the_limit_is_kept_one_more_byte_is_not() -> None:
    splitter = FrameSplitter(Framing.CR, max_bytes=16)
    assert splitter.feed(b"A" * 16 + b"\r") == ["A" * 16]
    frames = splitter.feed(b"B" * 17 + b"\rOK\r")
    assert discards(frames) == [("too_long", 17)]
    assert texts(frames) == ["OK"]


def test_an_over_long_frame_is_dropped_as_it_arrives_and_reported_once() -> None:
    splitter = FrameSplitter(Framing.LF, max_bytes=MAX_FRAME_BYTES)
    reported: list[str | FrameDiscarded] = []
    chunk = b"X" * 4096
    for _ in range(256):  # 1 MiB without a terminator
        reported.extend(splitter.feed(chunk))
        assert splitter.pending <= MAX_FRAME_BYTES
    assert reported == []
    frames = splitter.feed(b"tail\n" + CODE.encode() + b"\n")
    assert discards(frames) == [("too_long", 256 * 4096 + 4)]
    assert texts(frames) == [CODE]
    (discarded,) = [frame for frame in frames if isinstance(frame, FrameDiscarded)]
    assert f"over the {MAX_FRAME_BYTES}-byte limit" in discarded.message
    assert "suffix setting (expected framing: lf)" in discarded.message


def test_an_over_long_frame_in_crlf_framing_keeps_a_trailing_cr() -> None:
    splitter = FrameSplitter(Framing.CRLF, max_bytes=8)
    assert splitter.feed(b"Y" * 20 + b"\r") == []
    assert splitter.pending == 1
    frames = splitter.feed(b"\nOK\r\n")
    assert discards(frames) == [("too_long", 20)]
    assert texts(frames) == ["OK"]


def test_finish_returns_a_last_code_without_terminator() -> None:
    splitter = FrameSplitter(Framing.ANY)
    assert splitter.feed(b"A\rLAST") == ["A"]
    assert splitter.finish() == ["LAST"]
    assert splitter.finish() == []
    dropping = FrameSplitter(Framing.ANY, max_bytes=4)
    dropping.feed(b"123456789")
    assert discards(dropping.finish()) == [("too_long", 9)]


def test_the_splitter_needs_a_positive_limit() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameSplitter(Framing.ANY, max_bytes=0)


# -- the stream scanner -----------------------------------------------------------------------


def test_stream_scanner_splits_at_cr_lf_crlf_and_tab() -> None:
    scanner: Scanner = StreamScanner(io.StringIO("A1\r\nB2\tC3\rD4\nE5"))
    assert list(scanner.codes()) == ["A1", "B2", "C3", "D4", "E5"]


def test_stream_scanner_skips_over_long_and_undecodable_lines_and_goes_on() -> None:
    reported: list[FrameDiscarded] = []
    text = "X" * 10_000 + "\n" + "bad\udcffbytes\n" + CODE + "\n"
    scanner = StreamScanner(io.StringIO(text), on_discard=reported.append)
    assert list(scanner.codes()) == [CODE]
    assert [(item.reason, item.length) for item in reported] == [
        ("too_long", 10_000),
        ("not_utf8", 11),
    ]
    assert scanner.discarded == 2


def test_stream_scanner_reads_chinese_text() -> None:
    assert list(StreamScanner(io.StringIO("YKTR1:预约\n")).codes()) == ["YKTR1:预约"]


def test_a_closed_stream_scanner_yields_nothing() -> None:
    scanner = StreamScanner(io.StringIO("A\nB\n"))
    codes = scanner.codes()
    assert next(codes) == "A"
    scanner.close()
    assert list(codes) == []
    assert scanner.closed


def test_stream_scanner_on_a_text_stream_that_is_not_utf8_is_an_error() -> None:
    stream = io.TextIOWrapper(io.BytesIO(b"\xff\xfe\xfd\n"), encoding="utf-8")
    with pytest.raises(ScannerError, match="must be UTF-8 text"):
        list(StreamScanner(stream).codes())


@pytest.fixture
def pipe() -> Iterator[tuple[io.TextIOWrapper, int]]:
    read_end, write_end = os.pipe()
    reader = os.fdopen(read_end, "r", encoding="utf-8")
    try:
        yield reader, write_end
    finally:
        reader.close()
        with contextlib.suppress(OSError):
            os.close(write_end)


def test_stream_scanner_on_a_pipe_reads_bytes_and_stops_from_another_thread(
    pipe: tuple[io.TextIOWrapper, int],
) -> None:
    reader, write_end = pipe
    os.write(write_end, CODE.encode() + b"\r\n" + b"\xc3\x28\n" + b"YKTR1:ABC123\t")
    reported: list[FrameDiscarded] = []
    scanner = StreamScanner(reader, poll_interval=0.02, on_discard=reported.append)
    codes = scanner.codes()
    assert next(codes) == CODE
    assert next(codes) == "YKTR1:ABC123"
    assert [item.reason for item in reported] == ["not_utf8"]
    stopper = threading.Timer(0.1, scanner.close)
    started = time.monotonic()
    stopper.start()
    assert list(codes) == []  # blocked waiting for input, then stopped
    stopper.join()
    assert time.monotonic() - started < 5


def test_stream_scanner_on_a_pipe_ends_at_end_of_input(
    pipe: tuple[io.TextIOWrapper, int],
) -> None:
    reader, write_end = pipe
    os.write(write_end, b"A\nLAST")
    os.close(write_end)
    assert list(StreamScanner(reader).codes()) == ["A", "LAST"]


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    try:
        yield master, slave
    finally:
        for descriptor in (master, slave):
            with contextlib.suppress(OSError):
                os.close(descriptor)


def test_stream_scanner_on_a_tty_delivers_a_tab_ended_code_without_enter(
    pty: tuple[int, int],
) -> None:
    master, slave = pty
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ICANON  # a fresh TTY is line-buffered: Tab alone would wait
    stream = os.fdopen(os.dup(slave), "r", encoding="utf-8")

    def type_once_in_cbreak_mode() -> None:  # the scanner switches the mode when it starts
        deadline = time.monotonic() + 10
        while termios.tcgetattr(slave)[3] & termios.ICANON and time.monotonic() < deadline:
            time.sleep(0.005)
        os.write(master, CODE.encode() + b"\t")

    with stream, StreamScanner(stream, poll_interval=0.02) as scanner:
        codes = scanner.codes()
        typist = threading.Thread(target=type_once_in_cbreak_mode)
        typist.start()
        assert next(codes) == CODE
        typist.join()
        during = termios.tcgetattr(slave)
        assert not during[3] & termios.ICANON
        assert not during[3] & termios.ECHO  # scanned data is not echoed
        os.write(master, b"YKTR1:ABC123\r")
        assert next(codes) == "YKTR1:ABC123"
        scanner.close()
        assert list(codes) == []
    assert termios.tcgetattr(slave) == before  # the TTY's mode is restored


# -- the serial scanner -----------------------------------------------------------------------


@pytest.fixture
def loop_scanner() -> Iterator[SerialScanner]:
    scanner = SerialScanner("loop://", baudrate=115200, framing="any", timeout=0.02)
    try:
        yield scanner
    finally:
        scanner.close()


def test_serial_loop_frames_cr_lf_crlf_and_tab(loop_scanner: SerialScanner) -> None:
    loop_scanner.connection.write(b"A1\rB2\nC3\r\nD4\t" + CODE.encode() + b"\r")
    codes = loop_scanner.codes()
    assert [next(codes) for _ in range(5)] == ["A1", "B2", "C3", "D4", CODE]


@pytest.mark.parametrize(
    ("framing", "sent", "expected"),
    [
        ("cr", b"A1\nX\rB2\r", ["A1\nX", "B2"]),
        ("lf", b"A1\rX\nB2\n", ["A1\rX", "B2"]),
        ("crlf", b"A1\rX\nY\r\nB2\r\n", ["A1\rX\nY", "B2"]),
    ],
)
def test_serial_loop_honours_the_configured_framing(
    framing: str, sent: bytes, expected: list[str]
) -> None:
    with SerialScanner("loop://", framing=framing, timeout=0.02) as scanner:
        scanner.connection.write(sent)
        codes = scanner.codes()
        assert [next(codes) for _ in expected] == expected


def test_serial_loop_skips_over_long_and_invalid_frames(caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.DEBUG, logger="terminal.codes"),
        SerialScanner("loop://", framing="cr", timeout=0.02, max_frame_bytes=64) as scanner,
    ):
        scanner.connection.write(b"Z" * 200 + b"\r" + b"\x80bad\r" + CODE.encode() + b"\r")
        codes = scanner.codes()
        assert next(codes) == CODE
        assert scanner.discarded == 2
    assert "over-long scan: 200 bytes" in caplog.text
    assert "not UTF-8" in caplog.text
    assert f"a code of {len(CODE)} characters" in caplog.text
    assert CODE not in caplog.text  # scanned data is never logged
    assert "ZZZZ" not in caplog.text


def test_serial_scanner_stops_from_another_thread_and_closes_the_port(
    loop_scanner: SerialScanner,
) -> None:
    codes = loop_scanner.codes()
    stopper = threading.Timer(0.1, loop_scanner.close)
    stopper.start()
    assert list(codes) == []
    stopper.join()
    assert not loop_scanner.connection.is_open
    assert list(loop_scanner.codes()) == []  # closed for good


def test_one_shared_stop_event_stops_several_scanners(pty: tuple[int, int]) -> None:
    stop = threading.Event()
    serial_scanner = SerialScanner(os.ttyname(pty[1]), timeout=0.02, stop=stop)
    stream_scanner = StreamScanner(io.StringIO("A\nB\n"), stop=stop)
    results: list[list[str]] = []
    reader = threading.Thread(target=lambda: results.append(list(serial_scanner.codes())))
    reader.start()
    threading.Timer(0.1, stop.set).start()
    reader.join(timeout=10)
    assert not reader.is_alive()
    assert results == [[]]
    assert not serial_scanner.connection.is_open  # the reader closed the port on its way out
    assert list(stream_scanner.codes()) == []
    assert serial_scanner.closed
    assert stream_scanner.closed


def test_closing_a_serial_scanner_that_is_not_reading_closes_the_port() -> None:
    scanner = SerialScanner("loop://", timeout=0.02)
    assert scanner.connection.is_open
    scanner.close()
    scanner.close()  # twice is fine
    assert not scanner.connection.is_open


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"framing": "etx"}, "framing must be one of cr, lf, crlf, any"),
        ({"baudrate": 0}, "baud rate must be positive"),
        ({"timeout": 0}, "read timeout must be positive"),
    ],
)
def test_bad_serial_settings_are_scanner_errors(options: dict[str, object], said: str) -> None:
    with pytest.raises(ScannerError, match=said):
        SerialScanner("loop://", **options)  # type: ignore[arg-type]


def test_a_missing_serial_port_is_a_scanner_error_naming_it() -> None:
    with pytest.raises(ScannerError) as caught:
        SerialScanner("/dev/ttyYKT-no-such-scanner")
    assert "/dev/ttyYKT-no-such-scanner" in caught.value.message
    assert "plugged in" in caught.value.message
    assert "dialout" in caught.value.message
    assert caught.value.title == "scanner error"


def test_serial_over_a_real_pty(pty: tuple[int, int]) -> None:
    master, _ = pty
    with SerialScanner(os.ttyname(pty[1]), baudrate=9600, framing="any", timeout=0.02) as scanner:
        os.write(master, b"A1\rB2\nC3\r\nD4\t\xff\xfe\r" + "YKTR1:预约-1".encode() + b"\n")
        codes = scanner.codes()
        assert [next(codes) for _ in range(5)] == ["A1", "B2", "C3", "D4", "YKTR1:预约-1"]
        assert scanner.discarded == 1


@pytest.mark.parametrize("framing", ["cr", "crlf", "any"])
def test_serial_over_a_real_pty_with_split_writes(pty: tuple[int, int], framing: str) -> None:
    master, slave = pty
    terminator = b"\r\n" if framing == "crlf" else b"\r"
    message = CODE.encode() + terminator + b"YKTR1:ABC123" + terminator

    def type_slowly() -> None:
        for at in range(0, len(message), 7):  # pieces split codes and the CR LF pair
            os.write(master, message[at : at + 7])
            time.sleep(0.01)

    with SerialScanner(os.ttyname(slave), framing=framing, timeout=0.02) as scanner:
        writer = threading.Thread(target=type_slowly)
        writer.start()
        codes = scanner.codes()
        received = [next(codes), next(codes)]
        writer.join()
    assert received == [CODE, "YKTR1:ABC123"]


def test_serial_over_a_real_pty_drops_an_over_long_frame(pty: tuple[int, int]) -> None:
    master, slave = pty
    reported: list[FrameDiscarded] = []
    with SerialScanner(
        os.ttyname(slave), framing="lf", timeout=0.02, max_frame_bytes=256,
        on_discard=reported.append,
    ) as scanner:  # fmt: skip
        os.write(master, b"Q" * 1000 + b"\n" + CODE.encode() + b"\n")
        assert next(scanner.codes()) == CODE
    assert [(item.reason, item.length) for item in reported] == [("too_long", 1000)]


def test_an_unplugged_serial_scanner_is_a_scanner_error(pty: tuple[int, int]) -> None:
    master, slave = pty
    port = os.ttyname(slave)
    scanner = SerialScanner(port, timeout=0.02)
    os.write(master, b"A\r")
    codes = scanner.codes()
    assert next(codes) == "A"
    os.close(master)  # the device goes away
    with pytest.raises(ScannerError) as caught:
        next(codes)
    assert port in caught.value.message
    assert "still plugged in" in caught.value.message
    assert not scanner.connection.is_open
