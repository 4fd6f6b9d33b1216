"""Benchmark: the terminal app's screens — start to ready, verdict on screen, memory.

``--mode gate`` (the default), ``desk`` (the verdict plus the clerk's explanation) or
``kiosk``.

Targets (issue 6): start to ready at most 1 s; a verdict on screen at most 50 ms after the
card read completes; memory growth at most 5 % over 100,000 verdicts.

Headless (Textual's ``run_test``), on a demo store:

* ``start to ready``  constructing ``GateApp`` on an open station until its first screen is
                      mounted and painted (status bar filled from the store), against a bare
                      Textual app with the same three widgets (the floor);
* ``verdict on screen`` from ``show_verdict`` (what the reader thread posts once the card is
                      decided and journalled) until the screen has refreshed after it
                      (``call_after_refresh``), against a bare ``Static.update`` of a line
                      (the floor);
* ``memory``          resident set size after 10,000 verdicts and after 100,000 (the growth
                      between them; the first 10,000 warm caches up).

Run: ``.venv/bin/python bench/gate_screen.py [--verdicts N] [--json FILE]``; ``--check`` runs a
small version (the tests use it) and asserts the screen shows each verdict, no timing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Static

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from latency import summary  # noqa: E402
from offline_store.holder_refs import HolderKeyer  # noqa: E402
from offline_store.store import Store  # noqa: E402
from terminal.clock import sample_now  # noqa: E402
from terminal.demo_lists import DEMO_RESERVATION_ID, seed_demo_store  # noqa: E402
from terminal.station import Station, StationSettings  # noqa: E402
from terminal.terminal_keys import TerminalKeys  # noqa: E402
from terminal.ui.app import GateApp  # noqa: E402
from terminal.ui.desk import DeskApp  # noqa: E402
from terminal.ui.kiosk import KioskApp  # noqa: E402
from terminal.ui.widgets import VerdictPanel  # noqa: E402
from terminal.verdict import Verdict  # noqa: E402

MODES: dict[str, type[GateApp]] = {"gate": GateApp, "desk": DeskApp, "kiosk": KioskApp}
SCREEN = GateApp


class BareApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("status", id="status")
        yield Static("verdict", id="verdict")
        yield Static("", id="recent")


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def start_to_ready(station: Station, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"screen": [], "bare app": []}
    for _ in range(rounds):
        for name, samples in times.items():
            began = time.perf_counter()
            app = (SCREEN(station, service="museum.entry", sample=sample_now)
                   if name == "screen" else BareApp())  # fmt: skip
            async with app.run_test() as pilot:
                await pilot.pause()
                samples.append(time.perf_counter() - began)
    return times


async def _until_painted(app: App[None], change: Callable[[], None]) -> float:
    """Seconds from ``change`` until the screen has refreshed after it."""
    painted = asyncio.Event()
    began = time.perf_counter()
    change()
    elapsed: list[float] = []

    def done() -> None:
        elapsed.append(time.perf_counter() - began)
        painted.set()

    app.call_after_refresh(done)
    await painted.wait()
    return elapsed[0]


async def on_screen(station: Station, verdict: Verdict, rounds: int, total: int) -> dict:
    app = SCREEN(station, service="museum.entry", sample=sample_now, clear_after=600)
    out: dict[str, object] = {}
    async with app.run_test() as pilot:
        panel = app.query_one(VerdictPanel)
        bare = app.query_one("#status", Static)
        ours: list[float] = []
        floor: list[float] = []
        for i in range(rounds):
            ours.append(await _until_painted(app, lambda: app.show_verdict(verdict)))
            floor.append(await _until_painted(app, lambda i=i: bare.update(f"verdict {i}")))
            await pilot.pause()
        assert "ADMIT" in str(panel.render())
        out["ours"], out["floor"] = ours, floor
        marks: dict[int, float] = {}
        for thousand in range(1, total // 1000 + 1):
            for _ in range(1000):
                app.show_verdict(verdict)
            await pilot.pause()
            if thousand * 1000 in (10_000, total):
                marks[thousand * 1000] = rss_mb()
        out["rss"] = marks
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verdicts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--mode", choices=sorted(MODES), default="gate")
    args = parser.parse_args()
    global SCREEN  # noqa: PLW0603  (one screen class per run)
    SCREEN = MODES[args.mode]
    print(f"mode: {args.mode}")
    if args.check:
        args.verdicts, args.rounds = 12_000, 5
    with tempfile.TemporaryDirectory(prefix="ykt-bench-gate-") as scratch:
        work = Path(scratch)
        keys = TerminalKeys(os.urandom(32), os.urandom(32))
        (work / "keys.toml").write_text(keys.to_toml())
        with Store.open(work / "store.db", journal_key=keys.journal_key) as store:
            seed_demo_store(store, HolderKeyer(keys.list_key), work / "repo", sample=sample_now())
        settings = StationSettings(work / "store.db", work / "keys.toml", production=False)
        with Station.open(settings) as station:
            verdict = station.checkpoint.present_code(
                f"YKTR1:{DEMO_RESERVATION_ID}", sample=sample_now(), service="museum.entry"
            )
            starts = asyncio.run(start_to_ready(station, 3 if args.check else 10))
            shown = asyncio.run(on_screen(station, verdict, args.rounds, args.verdicts))
    start = {k: statistics.median(v) for k, v in starts.items()}
    ours, floor = summary(shown["ours"]), summary(shown["floor"])  # type: ignore[arg-type]
    rss = shown["rss"]
    assert isinstance(rss, dict)
    growth = (rss[args.verdicts] - rss[10_000]) / rss[10_000] * 100
    print(f"start to ready: screen median {start['screen'] * 1000:.0f} ms, bare app "
          f"{start['bare app'] * 1000:.0f} ms ({start['screen'] / start['bare app']:.2f}x); "
          f"target <= 1 s ({'met' if start['screen'] <= 1 else 'NOT met'})")  # fmt: skip
    print(f"verdict on screen: p50 {ours['p50_ms']:.1f} ms p99 {ours['p99_ms']:.1f} ms; bare "
          f"Static.update p50 {floor['p50_ms']:.1f} p99 {floor['p99_ms']:.1f} ms "
          f"({ours['p99_ms'] / floor['p99_ms']:.2f}x at p99); target <= 50 ms "
          f"({'met' if ours['p99_ms'] <= 50 else 'NOT met'})")  # fmt: skip
    print(f"memory: {rss[10_000]:.1f} MB after 10,000 verdicts, {rss[args.verdicts]:.1f} MB after "
          f"{args.verdicts:,} ({growth:+.1f} %); target <= 5 % "
          f"({'met' if growth <= 5 else 'NOT met'})")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"start_s": start, "on_screen_ms": ours,
                                         "floor_ms": floor, "rss_mb": rss}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
