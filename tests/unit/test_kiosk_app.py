"""The kiosk, driven with Textual's pilot: bilingual and spoken verdicts, large text, the idle
timeout, and no way out without a signed-in technician."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from gate_support import card_record, demo_station
from textual.pilot import Pilot
from textual.widgets import Input

from offline_store.journal import AUDIT
from terminal.clock import sample_now
from terminal.credential import Credential
from terminal.staff import StaffSession, StaffSignIn
from terminal.station import Station
from terminal.ui import sign_in
from terminal.ui.kiosk import KioskApp
from terminal.ui.sign_in import SignInScreen
from terminal.ui.widgets import GATE_NOT_OPENED, VerdictPanel


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    with demo_station(tmp_path, sample_now()) as opened:
        yield opened


class Kiosk(KioskApp):
    """The kiosk with its exit and its voice recorded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.spoken: list[tuple[str, str]] = []
        self.exits = 0
        super().__init__(*args, speak=lambda zh, en: self.spoken.append((zh, en)), **kwargs)

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self.exits += 1


def kiosk(station: Station, idle_after: float = 60.0) -> Kiosk:
    return Kiosk(station, service="museum.entry", sample=sample_now, clear_after=600,
                 idle_after=idle_after)  # fmt: skip


async def settle(app: KioskApp, pilot: Pilot[None]) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def panel_text(app: KioskApp) -> str:
    return str(app.query_one(VerdictPanel).render())


@pytest.mark.anyio
async def test_a_tap_is_shown_in_both_languages_and_spoken(station: Station) -> None:
    app = kiosk(station)
    async with app.run_test(size=(100, 30)) as pilot:
        assert "请刷社保卡" in panel_text(app)
        assert "Tap your social security card" in panel_text(app)
        assert "长三角示范场馆" in str(app.query_one("#kiosk-venue").render())
        app.present_card(card_record("sh-gen3"))  # reserved today: admitted
        await settle(app, pilot)
        shown = panel_text(app)
        assert "通行" in shown
        assert "ADMIT" in shown
        assert app.spoken
        assert app.spoken[-1][0] in shown
        assert app.spoken[-1][1] in shown
        assert not app.query("#recent")  # other visitors are not shown to the next one


@pytest.mark.anyio
async def test_large_text_keeps_one_reason_and_the_idle_timeout_resets_it(
    station: Station,
) -> None:
    app = kiosk(station, idle_after=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        app.present_card(card_record("expired-gen2"))  # expired, and no reservation
        await settle(app, pilot)
        first, second = app.verdicts[-1].reasons[:2]
        assert second.en in panel_text(app)
        await pilot.press("f1")
        await pilot.pause()
        assert app.large_text
        assert app.screen.has_class("large")
        large = panel_text(app)
        assert first.zh in large
        assert first.en in large
        assert second.en not in large  # one reason only, spaced out
        await pilot.pause(0.8)
        assert not app.large_text
        assert not app.screen.has_class("large")
        assert app.query_one(VerdictPanel).has_class("idle")


@pytest.mark.anyio
async def test_only_a_signed_in_technician_can_close_the_kiosk(station: Station) -> None:
    app = kiosk(station)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        assert isinstance(app.screen, SignInScreen)
        assert app.exits == 0
        app.present_card(card_record("sh-staff-gen3"))  # a desk clerk may not
        await settle(app, pilot)
        assert "tech staff only" in str(app.screen.query_one("#sign-in-problem").render())
        assert app.screen.query_one("#pin", Input).disabled
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("ctrl+c")
        await settle(app, pilot)
        assert isinstance(app.screen, SignInScreen)
        app.present_card(card_record("zj-tech-gen2"))
        await settle(app, pilot)
        for character in "654321":
            await pilot.press(character)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.exits == 1
        actions = [r.body["action"] for r in station.store.journal.records(AUDIT)]
        assert actions[-2:] == ["sign-in", "kiosk-exit"]


@pytest.mark.anyio
async def test_the_command_palette_is_not_a_way_out(station: Station) -> None:
    app = kiosk(station)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        assert app.screen is app.screen_stack[0]
        assert app.exits == 0


@pytest.mark.anyio
async def test_the_idle_timeout_leaves_a_technician_typing_and_a_sign_in_closes_on_its_own(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sign_in, "SIGN_IN_TIMEOUT", 1.0)
    app = kiosk(station, idle_after=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f12")
        await settle(app, pilot)
        app.present_card(card_record("zj-tech-gen2"))
        await settle(app, pilot)
        for character in "6543":  # slower than the kiosk's idle time, faster than a minute
            await pilot.press(character)
            await pilot.pause(0.4)
        assert isinstance(app.screen, SignInScreen)
        await pilot.pause(1.5)  # the sign-in's own time without input
        assert not isinstance(app.screen, SignInScreen)
        assert app.exits == 0


@pytest.mark.anyio
async def test_escape_during_the_pin_check_signs_nobody_in(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    check = StaffSignIn.sign_in

    def slow_check(self: StaffSignIn, *args: Any) -> StaffSession:
        release.wait(10)  # the PIN check (scrypt) still running when Escape comes
        return check(self, *args)

    monkeypatch.setattr(StaffSignIn, "sign_in", slow_check)
    app = kiosk(station)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+q")
        await settle(app, pilot)
        app.present_card(card_record("zj-tech-gen2"))
        await settle(app, pilot)
        for character in "654321":
            await pilot.press(character)
        await pilot.press("enter")
        await pilot.press("escape")
        assert not isinstance(app.screen, SignInScreen)
        release.set()
        await settle(app, pilot)
        assert app.staff_session is None
        assert app.exits == 0
        records = station.store.journal.records(AUDIT)
        actions = [(r.body["action"], r.body["detail"]) for r in records]
        assert actions[-2:] == [("sign-in", "tech"), ("sign-out", "cancelled")]


@pytest.mark.anyio
async def test_an_admission_whose_gate_did_not_open_is_said_aloud(station: Station) -> None:
    app = kiosk(station)
    async with app.run_test(size=(100, 30)) as pilot:
        verdict = station.checkpoint.present(
            Credential.from_card(card_record("sh-gen3")), sample=sample_now(),
            service="museum.entry",
        )  # fmt: skip
        app.show_verdict(replace(verdict, gate_opened=False))
        await settle(app, pilot)
        assert app.spoken[-1] == GATE_NOT_OPENED
        assert "The gate did not open" in panel_text(app)
