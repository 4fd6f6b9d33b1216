"""The gate screen through Textual's pilot: a scanned code becomes a verdict on screen, masked,
in colour and icon and words, and the panel clears itself."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import demo_station

from terminal.clock import sample_now
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.station import Station
from terminal.ui.app import GateApp
from terminal.ui.widgets import IDLE_PROMPT, VerdictPanel


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    with demo_station(tmp_path, sample_now()) as opened:
        yield opened


async def _scan(app: GateApp, pilot: object, text: str) -> None:
    for character in text:
        await pilot.press(character)  # type: ignore[attr-defined]
    await pilot.press("enter")  # type: ignore[attr-defined]
    await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_a_scanned_reservation_code_is_admitted_on_screen(station: Station) -> None:
    app = GateApp(station, service="museum.entry", sample=sample_now, clear_after=30)
    async with app.run_test() as pilot:
        panel = app.query_one(VerdictPanel)
        assert IDLE_PROMPT.splitlines()[0] in str(panel.render())
        await _scan(app, pilot, f"YKTR1:{DEMO_RESERVATION_ID}")
        assert [v.outcome.value for v in app.verdicts] == ["admit"]
        shown = str(panel.render())
        assert "✔" in shown
        assert "ADMIT" in shown
        assert panel.has_class("admit")
        recent = str(app.query_one("#recent").render())
        assert "admit" in recent
        assert "reservation-code" in recent
        assert station.store.journal.counts("usage")  # journalled before it was shown


@pytest.mark.anyio
async def test_an_unknown_code_is_refused_with_words_and_the_panel_clears(
    station: Station,
) -> None:
    app = GateApp(station, service="museum.entry", sample=sample_now, clear_after=0.2)
    async with app.run_test() as pilot:
        panel = app.query_one(VerdictPanel)
        await _scan(app, pilot, "https://example.com/pay?x=1")
        shown = str(panel.render())
        assert not panel.has_class("admit")
        assert "✘" in shown or "⚠" in shown  # an icon, never colour alone
        await pilot.pause(0.4)
        assert panel.has_class("idle")
        assert IDLE_PROMPT.splitlines()[1] in str(panel.render())


@pytest.mark.anyio
async def test_the_status_bar_says_lists_clock_network_and_queue(station: Station) -> None:
    app = GateApp(station, service="museum.entry", sample=sample_now, online=lambda: True)
    async with app.run_test():
        status = app.status_facts()
    assert status.network == "online"
    assert status.clock == "clock trusted"
    assert status.lists.startswith("lists 5, oldest 0 h")
    assert status.queue == "queue 0"


def test_the_gate_screen_benchmark_runs_and_checks_what_it_shows() -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "gate_screen.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--check"], capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "start to ready" in result.stdout
    assert "memory:" in result.stdout
