"""``ykt demo``: the terminal app on a complete demo venue, the product's main job on embedded
defaults (``./dev demo``).

The venue (:mod:`terminal.demo_venue`): the reference back office on loopback with published
lists, a staff roster and signed time; this terminal enrolled and synced; emulated cards in the
real PC/SC stack (or read in-process where pcscd cannot run).  The app is ``ykt run``'s
(:func:`terminal.ui.launch.launch_terminal`), with presenter keys: F1 to F11 each put a
card on the reader or show a code (:data:`~terminal.demo_venue.DEMO_KEYS`).

``script``: no screen; each key is pressed once, in order, and each verdict printed as a line
(``F1  valid card  admit  reservation_ok: ...``), through the same reader watch and checkpoint
(:func:`terminal.gate.open_gate`).  That is how a test shows every kind of verdict in a minute.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from apdu.ssc import CardRecord
from offline_store.errors import StoreError
from terminal.clock import ClockSample, sample_now
from terminal.demo_venue import (
    DEMO_KEYS,
    DEMO_STAFF,
    DemoDeck,
    DemoVenue,
    Presenter,
    open_demo_venue,
)
from terminal.errors import DemoError, TerminalError
from terminal.gate import Gate, LaunchOptions, open_gate
from terminal.ui.app import GateApp
from terminal.ui.launch import launch_terminal
from terminal.ui.widgets import PresenterKey
from terminal.verdict import Outcome, Verdict

Echo = Callable[[str], None]
T = TypeVar("T")
#: seconds a key may take to show its verdict in a script run
KEY_TIMEOUT = 15.0


def run(
    echo: Echo,
    *,
    script: bool = False,
    use_pcsc: bool = True,
    use_backoffice: bool = True,
    mode: str = "gate",
    sample: Callable[[], ClockSample] = sample_now,
) -> None:
    """Build the venue and run the app on it (or the script); the venue goes at the end."""
    echo("building the demo venue (a temporary folder, removed at exit)...")
    with open_demo_venue(
        sample=sample, use_pcsc=use_pcsc, use_backoffice=use_backoffice,
        min_hold=0.0 if script else 2.0, echo=echo,
    ) as venue:  # fmt: skip
        _introduce(venue, echo)
        options = LaunchOptions(mode=mode, reader=venue.read_request, reader_off=venue.reader_note)
        if script:
            run_script(venue, options, echo, sample=sample)
            return
        launch_terminal(
            venue.settings, options, sample=sample,
            presenter_keys=[PresenterKey(k.key, k.label, venue.deck.action(k)) for k in DEMO_KEYS],
            on_app=partial(_attach, venue.deck),
        )  # fmt: skip


def _introduce(venue: DemoVenue, echo: Echo) -> None:
    echo(f"lists:  {venue.lists_source}")
    echo(f"reader: {venue.reader_note}")
    for note in venue.notes:
        echo(f"note:   {note}")
    staff = ", ".join(f"{m.staff_id} ({m.role}) PIN {m.pin}" for m in DEMO_STAFF)
    echo(f"staff:  {staff} (demo PINs)")
    stages = ", ".join(f"{k} {v:.2f}" for k, v in venue.timings.items() if k != "ready")
    echo(f"ready in {venue.timings['ready']:.1f} s ({stages})")
    for key in DEMO_KEYS:
        echo(f"  {key.key.upper():<4}{key.label:<24}{key.shows}")


def _attach(deck: DemoDeck, app: GateApp, gate: Gate) -> None:
    """The deck presents through the app; once the app has taken a card from the reader (a
    verdict shown, or a staff sign-in given the card) the deck may take it back."""
    on_card, show_problem = gate.on_card, gate.on_problem

    def card(record: CardRecord) -> bool:
        try:
            return on_card(record)
        finally:
            deck.settle()

    def problem(zh: str, en: str) -> None:
        show_problem(zh, en)
        deck.settle()

    gate.on_card, gate.on_problem = card, problem
    deck.attach(
        Presenter(
            card=lambda record: app.call_from_thread(app.present_card, record),
            code=lambda text: app.call_from_thread(app.present_code, text),
            problem=lambda zh, en: app.call_from_thread(app.show_problem, zh, en),
        )
    )


def verdict_line(verdict: Verdict) -> str:
    """One verdict as ``ykt demo --script`` prints it: outcome, first reason's code and words."""
    first = verdict.reasons[0] if verdict.reasons else None
    why = f"{first.code.value}: {first.en}" if first is not None else ""
    return f"{verdict.outcome.value:<19}{why}"


def run_script(
    venue: DemoVenue, options: LaunchOptions, echo: Echo, *, sample: Callable[[], ClockSample]
) -> None:
    """Press each key once, in order; print what each shows.  Raises :class:`DemoError` when a
    key showed nothing (every key shows a verdict or a problem)."""
    results: queue.Queue[str] = queue.Queue()
    deck = venue.deck
    started = sample().monotonic
    with open_gate(venue.settings, options, sample=sample) as gate:

        def shown(verdict: Verdict) -> None:
            results.put(verdict_line(verdict))
            deck.settle()

        def problem(zh: str, en: str) -> None:
            del zh
            results.put(f"{'problem':<19}{en}")
            deck.settle()

        def decide(present: Callable[[T], Verdict], what: T) -> None:
            try:
                shown(present(what))
            except (TerminalError, StoreError) as error:
                problem(error.title, f"{error.title}: {error.message}")

        gate.on_verdict, gate.on_problem = shown, problem
        deck.attach(
            Presenter(
                card=partial(decide, gate.present_card),
                code=partial(decide, gate.present_code),
                problem=problem,
            )
        )
        gate.start_watch()
        silent: list[str] = []
        outcomes: set[str] = set()
        for key in DEMO_KEYS:
            while not results.empty():  # a late answer to an earlier key is not this key's
                echo(f"  (late: {results.get_nowait()})")
            deck.press(key)
            try:
                line = results.get(timeout=KEY_TIMEOUT)
            except queue.Empty:
                silent.append(key.key.upper())
                line = f"{'nothing':<19}no verdict within {KEY_TIMEOUT:g} s"
            outcomes.add(line.split(maxsplit=1)[0])
            echo(f"{key.key.upper():<4}{key.label:<24}{line}")
    kinds = [o.value for o in Outcome]
    missing = [kind for kind in kinds if kind not in outcomes]
    echo(
        f"{len(DEMO_KEYS)} keys in {sample().monotonic - started:.1f} s; "
        + (f"not shown: {', '.join(missing)}" if missing else f"every kind: {', '.join(kinds)}")
    )
    if silent:
        raise DemoError(f"no verdict for {', '.join(silent)}")
