"""Every screen with its real reader watch (an in-process reader, the same read path as PC/SC):
the watch starts once, and one card on the reader is one journalled tap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_support import demo_station
from textual.pilot import Pilot

from apdu.emulator import VirtualCard, load_holders, testing_masters
from apdu.scripted import EmulatedReaders
from offline_store.journal import USAGE
from terminal.card_reading import ReadRequest, SecurityModuleChoice
from terminal.clock import sample_now
from terminal.enrolment import TerminalFiles
from terminal.reader_watch import ReaderWatch
from terminal.station import Station
from terminal.ui.app import GateApp
from terminal.ui.desk import DeskApp
from terminal.ui.kiosk import KioskApp
from terminal.ui.tech import TechApp

READER = "Emulated Reader 00 00"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    with demo_station(tmp_path, sample_now()) as opened:
        yield opened


def extra(app_class: type[GateApp], station: Station) -> dict[str, Any]:
    if app_class is TechApp:
        return {"files": TerminalFiles.beside(station.settings.store_path,
                                              station.settings.keys_path)}  # fmt: skip
    return {}


@pytest.mark.anyio
@pytest.mark.parametrize("app_class", [GateApp, DeskApp, KioskApp, TechApp])
async def test_the_reader_watch_starts_once(station: Station, app_class: type[GateApp]) -> None:
    started: list[int] = []
    app = app_class(station, service="museum.entry", sample=sample_now,
                    on_ready=lambda: started.append(1), **extra(app_class, station))  # fmt: skip
    async with app.run_test() as pilot:
        await pilot.pause()
        assert started == [1]


@pytest.mark.anyio
@pytest.mark.parametrize("app_class", [GateApp, DeskApp, KioskApp])
async def test_one_card_on_the_reader_is_one_journalled_tap(
    station: Station, app_class: type[GateApp]
) -> None:
    readers = EmulatedReaders({READER: None})
    app_ref: list[GateApp] = []
    watch = ReaderWatch(
        ReadRequest(security_module=SecurityModuleChoice("software").opened()),
        lambda record: app_ref[0].card_from_reader(record),  # noqa: PLW0108 (app made below)
        on_state=lambda state: None, on_problem=lambda zh, en: None,
        open_context=lambda: readers,  # type: ignore[arg-type,return-value]
    )  # fmt: skip
    thread = threading.Thread(target=watch.run, daemon=True)
    app = app_class(station, service="museum.entry", sample=sample_now, clear_after=600,
                    reader_state=lambda: watch.state, on_ready=thread.start)  # fmt: skip
    app_ref.append(app)
    async with app.run_test() as pilot:
        readers.insert(READER, VirtualCard(load_holders()["sh-gen3"], testing_masters()))
        await _until(pilot, lambda: bool(app.verdicts))
        await pilot.pause(0.5)  # a second reader thread would have journalled it again by now
        assert [v.outcome.value for v in app.verdicts] == ["admit"]
        assert station.store.journal.verify(USAGE) == 1
        watch.stop()
    thread.join(10)


async def _until(pilot: Pilot[None], condition: Any, seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("it never happened")
