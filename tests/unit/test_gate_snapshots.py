"""Snapshots of the main screens (pytest-textual-snapshot): the gate's idle prompt and
verdicts, the desk explaining a refusal and asking for a staff card, the kiosk idle and in
large text, at a fixed clock so the pictures are stable.  Update them with
``pytest tests/unit/test_gate_snapshots.py --snapshot-update`` after looking at the change."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gate_support import card_record, demo_station
from textual.pilot import Pilot

from terminal.clock import ClockSample
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.station import Station
from terminal.ui.app import GateApp
from terminal.ui.desk import DeskApp
from terminal.ui.kiosk import KioskApp

#: a fixed moment (10:00 in Shanghai) so that ages, times and the clock read the same each run
FIXED = ClockSample(dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC), 1000.0, "snapshot-boot")
SIZE = (100, 24)


def fixed_sample() -> ClockSample:
    return FIXED


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    with demo_station(tmp_path, FIXED) as opened:
        yield opened


def scanning(text: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, GateApp)
        for character in text:
            await pilot.press(character)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


def gate(station: Station) -> GateApp:
    return GateApp(station, service="museum.entry", sample=fixed_sample, clear_after=600)


def test_the_idle_screen(station: Station, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(gate(station), terminal_size=SIZE)


def test_an_admitted_reservation(station: Station, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(
        gate(station), terminal_size=SIZE, run_before=scanning(f"YKTR1:{DEMO_RESERVATION_ID}")
    )


def test_an_unknown_reservation_is_refused(
    station: Station, snap_compare: Callable[..., bool]
) -> None:
    assert snap_compare(gate(station), terminal_size=SIZE, run_before=scanning("YKTR1:NOPE-0000"))


def tapping(holder: str, *then: str) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, GateApp)
        app.present_card(card_record(holder))
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        for key in then:
            await pilot.press(key)
            await pilot.pause()

    return run_before


def test_the_desk_explains_a_lost_card(station: Station, snap_compare: Callable[..., bool]) -> None:
    app = DeskApp(station, service="museum.entry", sample=fixed_sample, clear_after=600)
    assert snap_compare(app, terminal_size=(100, 32), run_before=tapping("sh-lost-gen3"))


def test_the_desk_asks_for_the_staff_card_before_an_override(
    station: Station, snap_compare: Callable[..., bool]
) -> None:
    app = DeskApp(station, service="museum.entry", sample=fixed_sample, clear_after=600)
    assert snap_compare(app, terminal_size=(100, 32), run_before=tapping("zj-gen2", "f5"))


def test_the_kiosk_idle_screen(station: Station, snap_compare: Callable[..., bool]) -> None:
    app = KioskApp(station, service="museum.entry", sample=fixed_sample, clear_after=600,
                   idle_after=600)  # fmt: skip
    assert snap_compare(app, terminal_size=SIZE)


def test_the_kiosk_in_large_text(station: Station, snap_compare: Callable[..., bool]) -> None:
    app = KioskApp(station, service="museum.entry", sample=fixed_sample, clear_after=600,
                   idle_after=600)  # fmt: skip
    assert snap_compare(app, terminal_size=SIZE, run_before=tapping("expired-gen2", "f1"))
