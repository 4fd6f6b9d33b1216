"""``ykt run --mode gate``: the gate screen, and the base of the desk, kiosk and tech screens.

A status bar (reader, network, list ages, clock trust, upload queue), the verdict panel
(colour + icon + words, the reason and what to do next, clearing itself after
``clear_after`` seconds), and the recent events (masked).  It never blocks: a card read or a
scanned code is decided in a worker thread (``Checkpoint`` journals before it answers), and
the result is posted back to the screen; the sync loop runs in its own thread.

A keyboard-wedge scanner types into the terminal: printable keys collect into a code, Enter
(or Tab) presents it, Escape drops it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from textual.app import App, ComposeResult
from textual.events import Key
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Static

from apdu.errors import ApduError
from apdu.ssc import CardRecord
from offline_store.errors import StoreError
from offline_store.journal import UploadState
from offline_store.staff_roster import StaffRole
from terminal.clock import ClockSample
from terminal.credential import Credential
from terminal.errors import NotPermitted, TerminalError
from terminal.staff import StaffSession
from terminal.station import Station
from terminal.ui.sign_in import SignInScreen
from terminal.ui.widgets import (
    PresenterKey,
    StatusBar,
    StatusFacts,
    VerdictPanel,
    event_line,
)
from terminal.verdict import Verdict

RECENT = 6


class GateApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "ykt-terminal"

    def __init__(
        self,
        station: Station,
        *,
        service: str | None,
        sample: Callable[[], ClockSample],
        clear_after: float = 6.0,
        online: Callable[[], bool] = lambda: False,
        reader_state: Callable[[], str] = lambda: "reader: not watched",
        on_ready: Callable[[], None] | None = None,
        presenter_keys: Sequence[PresenterKey] = (),
    ) -> None:
        super().__init__()
        self.station = station
        self.service = service
        self.sample = sample
        self.clear_after = clear_after
        self.online = online
        self.reader_state = reader_state
        self._on_ready = on_ready
        self.presenter_keys = {k.key: k for k in presenter_keys}
        self._code: list[str] = []
        #: typed keys make a scanned code (``[scanner] kind = "none"``: they do not)
        self.typed_codes = True
        self._sign_in: SignInScreen | None = None
        self.staff_session: StaffSession | None = None
        #: the verdict on the panel now (None: the idle prompt or a problem)
        self.on_screen: Verdict | None = None
        self._clear: Timer | None = None
        self._recent: list[str] = []
        #: the last few verdicts shown (bounded: a gate runs for months)
        self.verdicts: deque[Verdict] = deque(maxlen=RECENT)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield VerdictPanel(id="verdict")
        yield Static("", id="recent")
        yield from self.presenter_line()

    def presenter_line(self) -> ComposeResult:
        """The demo's key line (nothing on a real terminal)."""
        if self.presenter_keys:
            yield Static(
                "  ".join(f"{k.key.upper()} {k.label}" for k in self.presenter_keys.values()),
                id="keys",
            )

    def on_mount(self) -> None:
        # Textual calls every class's own on_mount; the screens extend ``mounted`` instead, so
        # this (and the reader watch it starts) runs once
        self.refresh_status()
        self.set_interval(2.0, self.refresh_status)
        self.set_interval(5.0, self._staff_idle)
        self.mounted()
        if self._on_ready is not None:  # e.g. start the reader watch once the screen is up
            self._on_ready()

    def mounted(self) -> None:
        """A screen's own set-up once mounted (before the reader watch starts)."""

    # -- input: the keyboard wedge ------------------------------------------------------------
    def on_key(self, event: Key) -> None:
        presenter = self.presenter_keys.get(event.key)
        if presenter is not None:  # the demo's cards: also while a staff sign-in waits for one
            self.run_worker(presenter.action, thread=True, group="presenters")
            event.stop()
            event.prevent_default()
        elif isinstance(self.screen, ModalScreen):
            return  # the sign-in takes its own keys
        elif isinstance(self.focused, Input):
            return  # a typed field (the desk's look-up) takes the scanner's keys itself
        elif not self.typed_codes:
            return
        elif event.key in ("enter", "tab"):
            code, self._code = "".join(self._code), []
            if code:
                self.present_code(code)
            event.stop()
        elif event.key == "escape":
            self._code = []
        elif event.character and event.character.isprintable():
            self._code.append(event.character)
            event.stop()

    def present_code(self, text: str) -> None:
        """Decide a scanned code in a worker thread; the verdict comes back to the screen."""
        self.run_worker(lambda: self._decide_code(text), thread=True, group="taps")

    def present_card(self, record: CardRecord) -> None:
        """A card read elsewhere (an in-process demo reader): handled in a worker thread."""
        self.run_worker(lambda: self.card_from_reader(record), thread=True, group="taps")

    def post(self, callback: Callable[..., object], *args: object) -> None:
        """``callback(*args)`` on the screen's thread, from a watch or worker thread; nothing
        once the app has stopped (a read may still be finishing while the app closes)."""
        if self.is_running:
            with contextlib.suppress(RuntimeError):
                self.call_from_thread(callback, *args)

    def card_from_reader(self, record: CardRecord) -> bool:
        """A card on the reader (called on the reader's thread while the card is still there):
        to the staff sign-in if one is open, else decided.  True to flash the reader green."""
        credential = Credential.from_card(record)
        sign_in = self._sign_in
        if sign_in is not None:
            self.post(sign_in.card_tapped, credential)
            return False
        try:
            verdict = self.decide_card(credential)
        except (TerminalError, StoreError) as error:
            self.post(self.show_problem, error.title, error.message)
            return False
        self.post(self.show_verdict, verdict)
        # green only when recorded, and not when the gate failed to open (staff must help)
        return (
            verdict.admits and verdict.journal_seq is not None and verdict.gate_opened is not False
        )

    def decide_card(self, credential: Credential) -> Verdict:
        """The verdict on a card (worker thread); journalled before it is returned."""
        return self.station.checkpoint.present(
            credential, sample=self.sample(), service=self.service
        )

    # -- staff --------------------------------------------------------------------------------
    def sign_in(
        self,
        needed: StaffRole,
        then: Callable[[StaffSession], None] | None = None,
        otherwise: Callable[[], None] | None = None,
    ) -> None:
        """Open the staff sign-in; ``then`` runs with the new session once signed in,
        ``otherwise`` when it is cancelled or times out."""
        if self._sign_in is not None:
            return
        screen = SignInScreen(self.station.staff, needed, self.sample)
        self._sign_in = screen

        def done(session: StaffSession | None) -> None:
            self._sign_in = None
            if session is not None:
                self.staff_session = session
                self.refresh_status()
                if then is not None:
                    then(session)
            elif otherwise is not None:
                otherwise()

        self.push_screen(screen, done)

    def sign_out(self, why: str) -> None:
        session, self.staff_session = self.staff_session, None
        if session is not None:
            self.station.staff.sign_out(session, self.sample().wall, why)
        self.refresh_status()

    def staff_may(self, needed: StaffRole) -> StaffSession | None:
        """The signed-in session if it may do ``needed`` now (the idle time restarts)."""
        try:
            self.station.staff.require(self.staff_session, needed, self.sample().wall)
        except NotPermitted:
            return None
        return self.staff_session

    def _staff_idle(self) -> None:
        session = self.staff_session
        if session is not None and session.idle_expired(self.sample().wall):
            self.sign_out("idle")

    def _decide_code(self, text: str) -> None:
        try:
            verdict = self.station.checkpoint.present_code(
                text, sample=self.sample(), service=self.service
            )
        except (TerminalError, StoreError) as error:
            self.call_from_thread(self.show_problem, error.title, error.message)
            return
        self.call_from_thread(self.show_verdict, verdict)

    # -- output -------------------------------------------------------------------------------
    def show_verdict(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)
        self.on_screen = verdict
        note = "" if verdict.journal_seq is not None else self.unrecorded_note
        self.query_one(VerdictPanel).show_verdict(verdict, brief=self.brief_verdicts, note=note)
        local = verdict.clock.wall.astimezone(ZoneInfo(self.station.policy.timezone))
        self._recent.insert(0, event_line(verdict, local.strftime("%H:%M:%S")))
        del self._recent[RECENT:]
        for recent in self.query("#recent").results(Static):  # not on a kiosk
            recent.update("\n".join(self._recent))
        self._clear_later()
        self.refresh_status()

    #: above a verdict that was not journalled (the tech screen explains cards, records none)
    unrecorded_note = ""

    @property
    def brief_verdicts(self) -> bool:
        """Only the first reason, spaced out (the kiosk's large-text mode)."""
        return False

    def show_problem(self, zh: str, en: str) -> None:
        self.on_screen = None
        self.query_one(VerdictPanel).show_problem(zh, en)
        self._clear_later()

    def _clear_later(self) -> None:
        if self._clear is not None:
            self._clear.stop()
        self._clear = self.set_timer(self.clear_after, self.clear_verdict)

    def clear_verdict(self) -> None:
        """Back to the idle prompt: the verdict is no longer on screen (nor overridable)."""
        self.on_screen = None
        self.query_one(VerdictPanel).idle()

    def refresh_status(self) -> None:
        self.query_one(StatusBar).show(self.status_facts())

    def status_facts(self) -> StatusFacts:
        sample = self.sample()
        try:
            states = self.station.store.list_states()
            clock = self.station.checkpoint.clock_facts(sample, states)
            counts = self.station.store.journal.counts("usage")
        except (StoreError, ApduError) as error:
            return StatusFacts(reader=self.reader_state(), lists=f"store: {error.title}")
        oldest = min((s.issued_at for s in states), default=None)
        age = "none" if oldest is None else f"{(sample.wall - oldest).total_seconds() / 3600:.0f} h"
        unsent = counts.get(UploadState.PENDING, 0) + counts.get(UploadState.IN_BATCH, 0)
        return StatusFacts(
            reader=self.reader_state(),
            network="online" if self.online() else "offline",
            lists=f"lists {len(states)}, oldest {age}",
            clock=f"clock {clock.state.value}",
            queue=f"queue {unsent}",
            staff=self._staff_line(),
        )

    def _staff_line(self) -> str:
        session = self.staff_session
        return "" if session is None else f"staff {session.staff_id} ({session.role.value})"
