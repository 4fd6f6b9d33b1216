"""The technician's screen, driven with Textual's pilot: tech sign-in first, readers and ATRs,
the masked trace, the self-test, sync now, import from a stick, export usage, versions, the
log, and every action in the audit log."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from gate_support import card_record, demo_station
from textual.pilot import Pilot
from textual.widgets import Input, TabbedContent

from apdu.emulator import VirtualCard, load_holders, testing_masters
from apdu.scripted import EmulatedReaders
from offline_store.journal import AUDIT, USAGE
from terminal.clock import monotonic_seconds, sample_now
from terminal.credential import Credential
from terminal.demo_lists import demo_root
from terminal.diagnostics import ApduTrace, RecentLog
from terminal.enrolment import Enrolment, TerminalFiles
from terminal.station import Station
from terminal.terminal_keys import TerminalKeys
from terminal.ui.sign_in import SignInScreen
from terminal.ui.tech import TechApp

HOLDERS = load_holders()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    with demo_station(tmp_path, sample_now()) as opened:
        yield opened


class Tech(TechApp):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.exits = 0
        super().__init__(*args, **kwargs)

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self.exits += 1


def tech(station: Station, **kwargs: Any) -> Tech:
    files = TerminalFiles.beside(station.settings.store_path, station.settings.keys_path)
    return Tech(station, service="museum.entry", sample=sample_now, clear_after=600,
                files=files, **kwargs)  # fmt: skip


async def settle(app: TechApp, pilot: Pilot[None]) -> None:
    for _ in range(4):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def signed_in(app: TechApp, pilot: Pilot[None]) -> None:
    await settle(app, pilot)
    assert isinstance(app.screen, SignInScreen)
    app.present_card(card_record("zj-tech-gen2"))
    await settle(app, pilot)
    for character in "654321":
        await pilot.press(character)
    await pilot.press("enter")
    await settle(app, pilot)
    assert app.staff_session is not None


def pane(app: TechApp, tab: str) -> str:
    return str(app.query_one(f"#{tab}-text").render())


@pytest.mark.anyio
async def test_tech_mode_opens_with_a_tech_sign_in_and_closes_when_cancelled(
    station: Station,
) -> None:
    app = tech(station)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, SignInScreen)
        app.present_card(card_record("sh-staff-gen3"))  # desk staff: not enough
        await settle(app, pilot)
        assert "tech staff only" in str(app.screen.query_one("#sign-in-problem").render())
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.exits == 1


@pytest.mark.anyio
async def test_readers_with_their_atrs_masked(station: Station) -> None:
    readers = EmulatedReaders({"Test Reader 00 00": None, "Test Reader 01 00": None})
    readers.insert("Test Reader 00 00", VirtualCard(HOLDERS["sh-gen3"], testing_masters()))
    app = tech(station, open_context=lambda: readers)
    async with app.run_test(size=(120, 40)) as pilot:
        await signed_in(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        shown = pane(app, "readers")
        assert app.query_one(TabbedContent).active == "readers"
        assert "Test Reader 00 00" in shown
        assert "Test Reader 01 00" in shown
        assert "*" in shown  # the card's own ATR bytes are masked


@pytest.mark.anyio
async def test_the_self_test_passes_and_fills_the_masked_trace(station: Station) -> None:
    trace = ApduTrace(monotonic_seconds)
    app = tech(station, trace=trace)
    async with app.run_test(size=(120, 40)) as pilot:
        await signed_in(app, pilot)
        await pilot.press("f4")
        await settle(app, pilot)
        assert "PASSED" in pane(app, "self-test")
        await pilot.pause(1.2)  # the trace pane refreshes every second
        shown = pane(app, "trace")
        assert "SELECT" in shown
        holder = HOLDERS["sh-gen3"]
        for secret in (holder.name, holder.ssn, holder.card_number, holder.card_id):
            assert secret not in shown
        audit = [(r.body["action"], r.body["detail"]) for r in station.store.journal.records(AUDIT)]
        assert ("self-test", "done") in audit


@pytest.mark.anyio
async def test_sync_import_and_export_say_what_happened(station: Station, tmp_path: Path) -> None:
    app = tech(station)
    async with app.run_test(size=(120, 40)) as pilot:
        await signed_in(app, pilot)
        await pilot.press("f5")  # a demo store is not enrolled: it says so
        await settle(app, pilot)
        assert "not enrolled" in pane(app, "sync")
        stick = app.query_one("#stick", Input)
        stick.value = str(tmp_path / "repo")  # the demo lists' folder, as on a stick
        await pilot.press("f6")
        await settle(app, pilot)
        assert "lists    up to date" in pane(app, "sync")
        stick.value = str(tmp_path / "no-such-stick")
        await pilot.press("f6")  # the stick is not there: said, and audited as failed
        await settle(app, pilot)
        assert "no-such-stick" in pane(app, "sync")
        await pilot.press("f7")
        await settle(app, pilot)
        assert "not enrolled" in pane(app, "sync")
        actions = [
            (r.body["action"], r.body["detail"]) for r in station.store.journal.records(AUDIT)
        ]
        assert ("import", "done") in actions
        assert ("import", "failed") in actions
        assert ("sync", "failed: terminal not enrolled") in actions


@pytest.mark.anyio
async def test_export_usage_to_a_stick_on_an_enrolled_terminal(
    station: Station, tmp_path: Path
) -> None:
    signing = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    keys = TerminalKeys.from_file(station.settings.keys_path)
    station.settings.keys_path.write_text(
        TerminalKeys(keys.list_key, keys.journal_key, signing).to_toml()
    )
    files = TerminalFiles.beside(station.settings.store_path, station.settings.keys_path)
    files.enrolment.write_text(
        Enrolment("T-0042", "http://127.0.0.1:9", None, demo_root(),
                  dt.datetime(2026, 11, 1, tzinfo=dt.UTC)).to_toml()
    )  # fmt: skip
    station.checkpoint.present(  # one usage event to export
        Credential.from_card(card_record("sh-gen3")), sample=sample_now(), service="museum.entry"
    )
    assert station.store.journal.verify(USAGE) == 1
    stick = tmp_path / "stick"
    stick.mkdir()
    app = tech(station)
    async with app.run_test(size=(120, 40)) as pilot:
        await signed_in(app, pilot)
        app.query_one("#stick", Input).value = str(tmp_path / "not-mounted")
        await pilot.press("f7")
        await settle(app, pilot)
        assert "is not a folder" in pane(app, "sync")
        app.query_one("#stick", Input).value = str(stick)
        await pilot.press("f7")
        await settle(app, pilot)
        # the tap's usage event; the technician's sign-in and failed export (the audit log
        # travels too)
        assert "exported 2 batch(es), 3 record(s)" in pane(app, "sync")
    assert list((stick / "outbox" / "T-0042").glob("*.json"))


@pytest.mark.anyio
async def test_versions_and_the_recent_log(station: Station) -> None:
    recent = RecentLog()
    recent.install()
    try:
        app = tech(station, recent_log=recent)
        async with app.run_test(size=(120, 40)) as pilot:
            await signed_in(app, pilot)
            await pilot.press("f8")
            await settle(app, pilot)
            shown = pane(app, "versions")
            assert "ykt-terminal" in shown
            assert "textual" in shown
            assert "deny" in shown
            logging.getLogger("terminal.test").warning("a line for the technician %s", os.getpid())
            await pilot.pause(1.2)
            assert f"a line for the technician {os.getpid()}" in pane(app, "log")
    finally:
        recent.remove()


@pytest.mark.anyio
async def test_a_card_tapped_in_tech_mode_is_explained_not_journalled(station: Station) -> None:
    app = tech(station)
    async with app.run_test(size=(120, 40)) as pilot:
        await signed_in(app, pilot)
        app.present_card(card_record("sh-lost-gen3"))
        await settle(app, pilot)
        assert app.verdicts[-1].outcome.value == "deny"
        assert app.verdicts[-1].journal_seq is None
        assert "NOT RECORDED" in str(app.query_one("#verdict").render())
        assert station.store.journal.verify(USAGE) == 0
