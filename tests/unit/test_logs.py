"""terminal.logs: key=value lines (journald priorities when standard error is the journal), and
a day of demo taps whose log holds no name, identity number or card number — not even masked."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import sys
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
