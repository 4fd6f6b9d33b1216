"""terminal.diagnostics: the reader report, the self test, versions, list versions and the
recent log the technician's screen shows; none of it shows a holder's data."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path

from gate_support import demo_station
from test_store_privacy import secrets_of_every_holder

from apdu.emulator import VirtualCard, VirtualPsam, load_holders, testing_masters
from apdu.errors import CardServiceUnavailable, NoReaderError
from apdu.pcsc import ReaderInterface, ReaderStatus
from apdu.scripted import EmulatedReaders
from apdu.security.software import MasterKeys
from offline_store.holder_refs import HolderKeyer
from offline_store.store import Store
from terminal.card_reading import ReadRequest, SecurityModuleChoice, read_one
from terminal.clock import ClockSample, monotonic_seconds, sample_now
from terminal.credential import Credential
from terminal.demo_lists import seed_demo_store
from terminal.diagnostics import (
    ApduTrace,
    RecentLog,
    describe_atr,
    list_versions,
    reader_report,
    self_test,
    versions,
)
from terminal.terminal_keys import TerminalKeys

ACR = "ACS ACR1281 1S Dual Reader PICC 00 00"
SAM = "ACS ACR1281 1S Dual Reader SAM 00 01"
HOLDERS = load_holders()


class Ticks:
    """A clock that advances 1 ms every time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


# -- the reader report -----------------------------------------------------------------------
class StatusOnly:
    def __init__(self, statuses: list[ReaderStatus]) -> None:
        self.statuses = statuses
        self.closed = False

    def __enter__(self) -> StatusOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        self.closed = True

    def status(self) -> list[ReaderStatus]:
        return self.statuses


def test_every_reader_with_card_or_not_atr_masked_and_explained(masters: MasterKeys) -> None:
    card = VirtualCard(HOLDERS["sh-gen3"], masters)
    psam = VirtualPsam(masters)
    readers = EmulatedReaders({ACR: card, SAM: psam, "Generic CCID Reader 00 00": None})
    report = reader_report(lambda: readers)
    assert report.problem is None
    acr, sam, generic = report.readers
    assert (acr.name, acr.interface, acr.card_present) == (ACR, "contactless", True)
    assert acr.atr_hex == card.atr.hex().upper()[:-16] + "*" * 16
    assert acr.atr_meaning == (
        "T=0, 13 historical bytes: the card emulator's social security card, generation 3"
    )
    assert acr.feedback == "LED + buzzer (ACR12x1 escape)"
    assert sam.interface == "sam"
    assert sam.atr_meaning.endswith("the card emulator's test PSAM")
    assert (generic.card_present, generic.atr_hex, generic.atr_meaning) == (False, "", "")
    assert generic.feedback == "no LED/buzzer known for this reader"
    assert report.lines()[2] == (
        "Generic CCID Reader 00 00  [contact]  empty  (no LED/buzzer known for this reader)"
    )
    assert card.atr[-8:].hex().upper() not in "\n".join(report.lines())


def test_pcscd_down_is_a_sentence_not_an_exception() -> None:
    def down() -> StatusOnly:
        raise CardServiceUnavailable("card service (pcscd) is not running: start it")

    report = reader_report(down)
    assert report.readers == ()
    assert report.lines() == ["card service (pcscd) is not running: start it"]


def test_a_reader_listing_failure_inside_the_context_is_reported_and_closes_it() -> None:
    context = StatusOnly([])

    def failing_status() -> list[ReaderStatus]:
        raise NoReaderError("no reader connected: plug one in")

    context.status = failing_status  # type: ignore[method-assign]
    report = reader_report(lambda: context)
    assert report.problem == "no reader connected: plug one in"
    assert context.closed


def test_no_readers_is_a_sentence() -> None:
    report = reader_report(lambda: StatusOnly([]))
    assert report.readers == ()
    assert report.problem is not None
    assert report.problem.startswith("no reader connected")


def test_unknown_and_broken_atrs() -> None:
    short = ReaderStatus(ACR, ReaderInterface.CONTACT, True, bytes.fromhex("3B8F8001804F0CA0"))
    broken = ReaderStatus(SAM, ReaderInterface.SAM, True, bytes.fromhex("1234"))
    first, second = reader_report(lambda: StatusOnly([short, broken])).readers
    assert first.atr_meaning == "ATR (this ATR) is missing historical bytes"
    assert second.atr_meaning == "answer to reset (this ATR) is not an ISO ATR"
    assert describe_atr(bytes.fromhex("3B021234")) == (
        "T=0, 2 historical bytes: card type not known from its ATR (read it to see what it is)"
    )
    assert describe_atr(bytes.fromhex("3B808001")).startswith("T=0/T=1, 0 historical bytes")


# -- the self test -------------------------------------------------------------------------
def test_self_test_passes_and_shows_masked_values_only() -> None:
    trace = ApduTrace(Ticks())
    report = self_test(clock=Ticks(), trace=trace.record)
    assert report.passed, report.lines()
    assert [step.name for step in report.steps] == [
        "test card and security module",
        "genuine card read and verified",
        "cloned card refused",
        "other card refused",
    ]
    assert all(step.duration_ms > 0 for step in report.steps)
    genuine = report.steps[1].detail
    assert "3101**********1234" in genuine
    assert "张*" in genuine
    assert "possible clone" in report.steps[2].detail
    assert report.lines()[0] == "self test passed (emulated cards in an in-process reader)"
    text = "\n".join(report.lines() + trace.lines())
    for secret in secrets_of_every_holder():
        assert secret not in text.encode()
    assert len(trace) > 20  # the self test's reads reached the trace


def test_self_test_fails_when_the_keys_do_not_match() -> None:
    """Cards made with other keys: the genuine card cannot verify (a broken security module
    would show the same), while a clone still fails: the report says which step failed."""
    other = {slot: bytes(reversed(key)) for slot, key in testing_masters().items()}
    report = self_test(clock=Ticks(), masters=other)
    assert not report.passed
    by_name = {step.name: step for step in report.steps}
    assert not by_name["genuine card read and verified"].passed
    genuine = by_name["genuine card read and verified"].detail
    assert genuine.startswith("authenticity failed (the card's cryptogram does not match")
    assert "fields left unread: " in genuine  # a gen-3 card stays locked
    assert "not as issued" not in genuine
    assert by_name["cloned card refused"].passed
    assert report.lines()[0].startswith("self test FAILED")


def test_self_test_without_security_module_cannot_prove_authenticity() -> None:
    report = self_test(clock=Ticks(), security_module=SecurityModuleChoice("none"))
    assert not report.passed
    genuine = report.steps[1]
    assert not genuine.passed
    assert genuine.detail.startswith("authenticity not_checked (no security module")
    assert "; fields left unread: birth_date, birthplace, card_number," in genuine.detail
    assert report.steps[2].detail == "a clone passed as not_checked: clones would go unnoticed"


def test_self_test_with_a_missing_key_file_stops_at_the_first_step(tmp_path: Path) -> None:
    choice = SecurityModuleChoice("software", str(tmp_path / "missing.toml"))
    report = self_test(clock=Ticks(), security_module=choice)
    assert not report.passed
    assert len(report.steps) == 1
    assert "does not exist" in report.steps[0].detail


# -- versions -------------------------------------------------------------------------------
def test_versions_name_the_software_and_the_platform() -> None:
    found = versions()
    assert list(found) == [
        "ykt-terminal", "python", "pyscard", "textual", "cryptography", "sqlite", "os",
    ]  # fmt: skip
    assert found["ykt-terminal"] == metadata.version("ykt-terminal")
    assert found["python"] == ".".join(map(str, sys.version_info[:3]))
    assert found["textual"] == metadata.version("textual")
    assert found["sqlite"] == sqlite3.sqlite_version
    assert found["os"].strip()


def test_the_library_under_the_screens_is_headless() -> None:
    """The technician's and the kiosk's library load without the UI."""
    code = (
        "import sys, terminal.diagnostics.inventory as v, terminal.diagnostics.recent_log, "
        "terminal.diagnostics.trace, terminal.speech\n"
        "v.versions()\n"
        "print(sorted(m.split('.')[0] for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(eval(result.stdout))
    assert {"terminal", "apdu"} <= loaded
    assert "textual" not in loaded


def test_list_versions_with_age_and_expiry(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    keys = TerminalKeys(b"versions list key 0123456789abcd", b"versions journal key 012345678ab")
    store = Store.open(tmp_path / "store.db", journal_key=keys.journal_key)
    try:
        seed_demo_store(
            store, HolderKeyer(keys.list_key), tmp_path / "repo",
            sample=ClockSample(now, 100.0, "boot"),
        )  # fmt: skip
        states = {state.name: state for state in store.list_states()}
        facts = list_versions(store, now=now + dt.timedelta(hours=2))
        assert [f.name for f in facts] == sorted(states)
        for fact in facts:
            state = states[fact.name]
            assert (fact.version, fact.entries) == (state.version, state.entry_count)
            assert fact.age == now + dt.timedelta(hours=2) - state.issued_at
            assert fact.expired is (state.valid_until <= now + dt.timedelta(hours=2))
            assert fact.text.startswith(f"{fact.name:<24} v{fact.version}")
        far = list_versions(store.reader(), now=now + dt.timedelta(days=3650))
        assert all(fact.expired and "EXPIRED" in fact.text for fact in far)
    finally:
        store.close()


# -- the recent log -------------------------------------------------------------------------
def test_recent_log_keeps_the_last_records_and_comes_off_again() -> None:
    logger = logging.getLogger("ykt.test.recent")
    logger.setLevel(logging.DEBUG)
    recent = RecentLog(capacity=3, level=logging.INFO).install(logger)
    try:
        for number in range(5):
            logger.info("line %d", number)
        logger.debug("below the handler's level")
        assert [line.split(": ", 1)[1] for line in recent.lines()] == ["line 2", "line 3", "line 4"]
        assert all(" INFO    ykt.test.recent: " in line for line in recent.lines())
    finally:
        recent.remove()
    logger.info("after removal")
    assert recent not in logger.handlers
    assert recent.lines()[-1].endswith("line 4")
    with RecentLog() as root_log:
        assert root_log in logging.getLogger().handlers
    assert root_log not in logging.getLogger().handlers


def test_recent_log_across_threads() -> None:
    logger = logging.getLogger("ykt.test.threads")
    logger.setLevel(logging.INFO)
    recent = RecentLog(capacity=100).install(logger)
    try:
        threads = [
            threading.Thread(target=lambda n=n: [logger.info("t%d %d", n, i) for i in range(500)])
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            assert len(recent.lines()) <= 100
        for thread in threads:
            thread.join()
        assert len(recent.lines()) == 100
    finally:
        recent.remove()


def test_no_personal_data_in_the_logs_or_trace_of_verdicts_on_demo_cards(
    tmp_path: Path, masters: MasterKeys
) -> None:
    """Every demo holder's card is read (through the traced read path) and decided at a gate
    with every log at DEBUG: neither the recent log nor the trace holds a name, SSN, card
    number or card code."""
    trace = ApduTrace(monotonic_seconds)
    module = SecurityModuleChoice("software").opened()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    recent = RecentLog(capacity=10_000, level=logging.DEBUG).install()
    verdicts = []
    try:
        with demo_station(tmp_path, sample_now()) as station:
            for holder in HOLDERS.values():
                readers = EmulatedReaders({ACR: VirtualCard(holder, masters)})
                request = ReadRequest(security_module=module, wait_seconds=1, trace=trace.record)

                def decide(record: object) -> bool:
                    verdict = station.checkpoint.present(
                        Credential.from_card(record),  # type: ignore[arg-type]
                        sample=sample_now(),
                        service="museum.entry",
                    )
                    verdicts.append(verdict)
                    return verdict.admits

                read_one(readers, request, accept=decide)
    finally:
        recent.remove()
        root.setLevel(level)
    assert len(verdicts) == len(HOLDERS)
    assert {v.outcome.value for v in verdicts} >= {"admit", "deny"}
    logged = "\n".join(recent.lines() + trace.lines())
    assert trace.lines(), "the reads were traced"
    for secret in secrets_of_every_holder():
        assert secret not in logged.encode()
