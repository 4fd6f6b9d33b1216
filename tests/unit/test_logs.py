"""terminal.logs: key=value lines (journald priorities when standard error is the journal), and
a day of demo taps whose log holds no name, identity number or card number — not even masked."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import demo_station
from test_store_privacy import secrets_of_every_holder

from apdu.emulator import load_holders
from apdu.ssc import Authenticity
from terminal.clock import ClockSample
from terminal.codes.issuer import IssuerSimulator
from terminal.config import LoggingSection
from terminal.credential import Credential, CredentialKind
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.desk import OverrideReason
from terminal.errors import RelayFailed
from terminal.logs import (
    JournalSocketHandler,
    KeyValueFormatter,
    StreamTargetHandler,
    TextFormatter,
    configure_logging,
    is_journal,
    log_event,
)
from terminal.relay import LogRelay
from terminal.verdict import Verdict


def _record(logger: logging.Logger, emit: object) -> logging.LogRecord:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logger.addHandler(keep)
    logger.setLevel(logging.DEBUG)
    try:
        emit()  # type: ignore[operator]
    finally:
        logger.removeHandler(keep)
    (record,) = records
    return record


def test_an_event_is_one_line_of_key_value_pairs() -> None:
    logger = logging.getLogger("ykt.test.logs")
    record = _record(logger, lambda: log_event(
        logger, logging.INFO, "verdict", outcome="admit", reasons=["reservation_ok", "benefit"],
        seq=12, gate=None, override=False, error='port "x" = gone\nnow',
    ))  # fmt: skip
    line = KeyValueFormatter().format(record)
    assert line.startswith("ts=")
    assert line.split(" ", 1)[1] == (
        "level=info logger=ykt.test.logs event=verdict outcome=admit "
        "reasons=reservation_ok,benefit seq=12 gate=- override=false "
        'error="port \\"x\\" = gone\\nnow"'
    )
    journal = KeyValueFormatter(journal=True).format(record)
    assert journal.startswith("<6>level=info ")  # journald's PRIORITY; journald stamps the time
    assert "ts=" not in journal
    assert "\n" not in line


def test_other_records_are_a_quoted_message_and_text_format_reads_plainly() -> None:
    logger = logging.getLogger("ykt.test.logs")
    record = _record(logger, lambda: logger.warning("sync %s failed: %s", "upload", "timeout"))
    assert (
        KeyValueFormatter()
        .format(record)
        .endswith('level=warning logger=ykt.test.logs msg="sync upload failed: timeout"')
    )
    assert TextFormatter().format(record) == "WARNING ykt.test.logs: sync upload failed: timeout"
    assert TextFormatter(journal=True).format(record).startswith("<4>WARNING ")
    error = _record(logger, lambda: log_event(logger, logging.ERROR, "gate_not_opened", seq=3))
    assert KeyValueFormatter(journal=True).format(error).startswith("<3>")


def test_a_stream_is_the_journal_only_when_journal_stream_names_it() -> None:
    status = os.fstat(2)
    assert is_journal(2, {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino}"})
    assert not is_journal(2, {"JOURNAL_STREAM": f"{status.st_dev}:{status.st_ino + 1}"})
    assert not is_journal(2, {"JOURNAL_STREAM": "garbage"})
    assert not is_journal(2, {})


def test_configure_logging_replaces_its_handler_and_follows_the_section() -> None:
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging(LoggingSection(level="warning", format="text"), environ={})
        handler = configure_logging(LoggingSection(level="error"), environ={})
        ours = [h for h in root.handlers if isinstance(h, StreamTargetHandler)]
        assert ours == [handler]
        assert root.level == logging.ERROR
        assert isinstance(handler.formatter, KeyValueFormatter)  # type: ignore[union-attr]
        configure_logging(LoggingSection(level="error"), verbose=2, environ={})
        assert root.level == logging.DEBUG
    finally:
        for h in [h for h in root.handlers if isinstance(h, StreamTargetHandler)]:
            root.removeHandler(h)
        root.setLevel(level)


# -- a day of demo taps: no holder data in any log line -------------------------------------------
START = dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


class FlakyRelay:
    """Opens the gate on every other admission; fails on the rest."""

    def __init__(self) -> None:
        self.calls = 0
        self.inner = LogRelay()

    def open_for(self, seconds: float) -> None:
        self.calls += 1
        if self.calls % 2 == 0:
            raise RelayFailed("the gate relay on /dev/ykt-relay stopped answering (EIO)")
        self.inner.open_for(seconds)

    def close(self) -> None:
        pass


def test_a_day_of_demo_taps_logs_no_names_identity_or_card_numbers(tmp_path: Path) -> None:
    root = logging.getLogger()
    level = root.level
    written = io.StringIO()
    handler = StreamTargetHandler(lambda: written)
    handler.setFormatter(KeyValueFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    verdicts: list[Verdict] = []
    issuer = IssuerSimulator()
    holders = list(load_holders().values())
    try:
        first = ClockSample(START, 1000.0, "boot")
        with demo_station(tmp_path, first) as station:
            station.checkpoint.relay = FlakyRelay()
            for hour in range(10):  # 09:00 to 18:00, every holder once an hour
                for index, holder in enumerate(holders):
                    at = START + dt.timedelta(hours=hour, minutes=index)
                    sample = ClockSample(at, 1000.0 + (at - START).total_seconds(), "boot")
                    card = Credential(
                        kind=CredentialKind.CARD, authenticity=Authenticity.VERIFIED,
                        card_id=holder.card_id, card_number=holder.card_number, ssn=holder.ssn,
                        name=holder.name, birth_date=holder.birth_date,
                        expiry_date=holder.expiry_date,
                    )  # fmt: skip
                    service = ("museum.entry", "library.entry", "scenic.entry")[hour % 3]
                    verdict = station.checkpoint.present(card, sample=sample, service=service)
                    verdicts.append(verdict)
                    code = issuer.issue(
                        card_id=holder.card_id, card_number=holder.card_number,
                        name=holder.name, birth_date=holder.birth_date, iat=at,
                    )  # fmt: skip
                    verdicts.append(
                        station.checkpoint.present_code(code, sample=sample, service=service)
                    )
                    if not verdict.admits and verdict.journal_seq is not None:
                        verdicts.append(
                            station.checkpoint.override(
                                verdict, staff_id="D-001", why=next(iter(OverrideReason)),
                                sample=sample,
                            )
                        )  # fmt: skip
                at = START + dt.timedelta(hours=hour, minutes=50)
                sample = ClockSample(at, 1000.0 + (at - START).total_seconds(), "boot")
                for text in (f"YKTR1:{DEMO_RESERVATION_ID}", "https://pay.example/x?id=1"):
                    verdicts.append(
                        station.checkpoint.present_code(text, sample=sample, service="museum.entry")
                    )
            assert station.checkpoint.gate_failures > 0
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    log = written.getvalue()
    outcomes = {v.outcome.value for v in verdicts}
    assert {"admit", "deny"} <= outcomes
    assert log.count("event=verdict ") == len(verdicts)
    assert "event=gate_not_opened" in log
    assert "event=gate_would_open" in log
    for secret in secrets_of_every_holder():
        assert secret not in log.encode("utf-8"), secret
    masked = {
        value for v in verdicts for key, value in v.holder.items()
        if key != "kind" and "*" in value
    }  # fmt: skip
    assert masked, "the verdicts carry masked holder data"
    for value in masked:  # not even the masked forms: a log is not a screen
        assert value not in log, value
    for line in log.splitlines():
        assert line.startswith("ts="), line


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_screen_logs_to_standard_output_never_to_its_own_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Textual draws on standard error: ``ykt run`` logs to standard output (the journal under
    systemd), and not at all when standard output is the interactive terminal."""
    root = logging.getLogger()
    level = root.level
    out = io.StringIO()
    monkeypatch.setattr(sys, "__stdout__", out)
    try:
        handler = configure_logging(LoggingSection(), screen=True, environ={})
        assert handler is not None
        log_event(logging.getLogger("ykt.test.screen"), logging.WARNING, "gate_not_opened", seq=4)
        assert "event=gate_not_opened seq=4" in out.getvalue()
        monkeypatch.setattr(sys, "__stdout__", _Terminal())
        assert configure_logging(LoggingSection(), screen=True, environ={}) is None
        assert not [h for h in root.handlers if isinstance(h, StreamTargetHandler)]
    finally:
        for h in [h for h in root.handlers if isinstance(h, StreamTargetHandler)]:
            root.removeHandler(h)
        root.setLevel(level)


# -- [logging] target = "journal": journald's syslog socket ---------------------------------------
@pytest.fixture
def dev_log() -> Iterator[tuple[str, socket.socket]]:
    """A Unix datagram socket standing in for journald's /dev/log (a short path: sun_path holds
    at most 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="ykt-log-") as folder:
        address = os.path.join(folder, "log")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(address)
        server.settimeout(5)
        try:
            yield address, server
        finally:
            server.close()


def _received(server: socket.socket) -> list[bytes]:
    datagrams = [server.recv(65536)]
    server.settimeout(0.2)
    try:
        while True:
            datagrams.append(server.recv(65536))
    except TimeoutError:
        return datagrams
    finally:
        server.settimeout(5)


def _drop_journal_handlers(root: logging.Logger) -> None:
    for h in [h for h in root.handlers if isinstance(h, JournalSocketHandler)]:
        root.removeHandler(h)
        h.close()


def test_the_journal_target_sends_a_verdicts_line_to_the_syslog_socket_without_holder_data(
    dev_log: tuple[str, socket.socket], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under fbterm both standard streams are the screen: ``target = "journal"`` sends each line
    to journald's syslog socket instead, as ykt-terminal[PID] with the syslog priority, no time
    stamp (journald's), and the same key=value fields: no name, number or masked form."""
    address, server = dev_log
    root = logging.getLogger()
    level = root.level
    holder = load_holders()["sh-gen3"]
    try:
        handler = configure_logging(
            LoggingSection(target="journal"), screen=True, environ={}, syslog_address=address
        )
        assert isinstance(handler, JournalSocketHandler)
        assert not [h for h in root.handlers if isinstance(h, StreamTargetHandler)]
        first = ClockSample(START, 1000.0, "boot")
        with demo_station(tmp_path, first) as station:
            card = Credential(
                kind=CredentialKind.CARD, authenticity=Authenticity.VERIFIED,
                card_id=holder.card_id, card_number=holder.card_number, ssn=holder.ssn,
                name=holder.name, birth_date=holder.birth_date, expiry_date=holder.expiry_date,
            )  # fmt: skip
            verdict = station.checkpoint.present(card, sample=first, service="museum.entry")
        datagrams = _received(server)
    finally:
        _drop_journal_handlers(root)
        root.setLevel(level)
    lines = [d for d in datagrams if b" event=verdict " in d]
    assert len(lines) == 1, datagrams
    (line,) = lines
    header = f"<30>ykt-terminal[{os.getpid()}]: ".encode()  # facility daemon (3), info (6)
    assert line.startswith(header + b"level=info logger=terminal.checkpoint event=verdict ")
    fields = line.split(b" ")
    assert f"outcome={verdict.outcome.value}".encode() in fields
    assert f"seq={verdict.journal_seq}".encode() in fields
    assert b"ts=" not in line
    assert not line.endswith(b"\0")
    assert b"\n" not in line
    everything = b"".join(datagrams)
    for secret in secrets_of_every_holder():
        assert secret not in everything, secret
    for key, value in verdict.holder.items():
        if key != "kind":
            assert value.encode("utf-8") not in everything, value  # not even masked
    assert capsys.readouterr() == ("", "")  # nothing on the streams: they are the screen


def test_the_journal_target_maps_levels_to_syslog_priorities_and_keeps_text_format(
    dev_log: tuple[str, socket.socket],
) -> None:
    address, server = dev_log
    root = logging.getLogger()
    level = root.level
    logger = logging.getLogger("ykt.test.journal")
    try:
        configure_logging(LoggingSection(target="journal"), environ={}, syslog_address=address)
        log_event(logger, logging.ERROR, "gate_not_opened", seq=3)
        assert server.recv(65536).endswith(b"]: level=error logger=ykt.test.journal "
                                           b"event=gate_not_opened seq=3")  # fmt: skip
        configure_logging(
            LoggingSection(target="journal", format="text"), environ={}, syslog_address=address
        )
        assert len([h for h in root.handlers if isinstance(h, JournalSocketHandler)]) == 1
        logger.warning("sync %s failed", "upload")
        text = f"<28>ykt-terminal[{os.getpid()}]: WARNING ykt.test.journal: sync upload failed"
        assert server.recv(65536) == text.encode()
    finally:
        _drop_journal_handlers(root)
        root.setLevel(level)


def test_a_missing_syslog_socket_drops_lines_and_never_writes_on_the_screen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    level = root.level
    try:
        handler = configure_logging(
            LoggingSection(target="journal"), screen=True, environ={},
            syslog_address=str(tmp_path / "no-journald"),
        )  # fmt: skip
        assert isinstance(handler, JournalSocketHandler)
        log_event(logging.getLogger("ykt.test.journal"), logging.WARNING, "sync_failed")
        log_event(logging.getLogger("ykt.test.journal"), logging.WARNING, "sync_failed")
        assert handler.dropped == 2
    finally:
        _drop_journal_handlers(root)
        root.setLevel(level)
    assert capsys.readouterr() == ("", "")
