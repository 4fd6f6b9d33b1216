"""``ykt run --mode kiosk``: the cardholder-facing self-service screen.

* Bilingual prompts and verdicts (Chinese first, English under it), spoken aloud when a speech
  engine is installed (``speak``; silently nothing otherwise); the reader beeps and flashes
  as at a gate (the verdict's feedback).
* Large-text mode for elderly cardholders (F1 — Ctrl+L in ``ykt demo``, whose cards are on
  the F-keys — or a click/touch on the help line): the verdict
  shrinks to its headline and one reason with space around each line.  A terminal program
  cannot grow its glyphs; the terminal does that (``docs/ui.md``: fbterm's font at 32 pixels,
  ``deploy/install --font-size 32``), this mode makes the words fewer and the spacing wider.
* No recent events (other people's visits are not for the next cardholder), no command
  palette, and no way out without a technician: Ctrl+Q, Ctrl+C and F12 open the staff sign-in
  for tech staff, and only a signed-in technician's exit is honoured (and audited).
* ``idle_after`` seconds without a tap or a key: back to the idle screen in normal text (a
  technician's sign-in in progress closes itself after a minute without input instead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Click, Key
from textual.timer import Timer
from textual.widgets import Static

from offline_store.journal import StaffAction
from offline_store.staff_roster import StaffRole
from terminal.staff import StaffSession
from terminal.ui.app import GateApp
from terminal.ui.sign_in import SignInScreen
from terminal.ui.widgets import GATE_NOT_OPENED, StatusBar, VerdictPanel
from terminal.verdict import Verdict

KIOSK_HELP = "{key} 大字模式 · Large text      " + (
    "请将卡片放在读卡区直到显示结果 · Keep the card on the reader"
)


def _silent(zh: str, en: str) -> None:
    del zh, en


class KioskHelp(Static):
    """The help line; a touch on it toggles large text (touch screens send clicks)."""

    def on_click(self, event: Click) -> None:
        del event
        app = self.app
        if isinstance(app, KioskApp):
            app.action_large_text()


class KioskApp(GateApp):
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [  # noqa: RUF012  (Textual's API)
        Binding("ctrl+q", "technician_exit", "Technician", show=False, priority=True),
        Binding("ctrl+c", "technician_exit", "Technician", show=False, priority=True),
        Binding("f12", "technician_exit", "Technician", show=False),
    ]

    def __init__(
        self,
        *args: Any,
        idle_after: float = 30.0,
        speak: Callable[[str, str], None] = _silent,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.idle_after = idle_after
        self.speak = speak
        self.large_text = False
        self._idle: Timer | None = None
        #: F1, unless the demo's card deck has it
        self.large_text_key = "ctrl+l" if "f1" in self.presenter_keys else "f1"
        self.bind(self.large_text_key, "large_text", show=False)

    def compose(self) -> ComposeResult:
        policy = self.station.policy
        yield Static(f"{policy.venue_zh}\n{policy.venue_en}", id="kiosk-venue")
        yield VerdictPanel(id="verdict")
        yield KioskHelp(KIOSK_HELP.format(key=self.large_text_key.upper()), id="kiosk-help")
        yield StatusBar(id="status")
        yield from self.presenter_line()

    def mounted(self) -> None:
        self.screen_stack[0].add_class("kiosk")
        self._restart_idle()

    @property
    def brief_verdicts(self) -> bool:
        return self.large_text

    # -- the cardholder ---------------------------------------------------------------------
    def show_verdict(self, verdict: Verdict) -> None:
        super().show_verdict(verdict)
        first = verdict.reasons[0] if verdict.reasons else None
        spoken = (
            GATE_NOT_OPENED  # admitted, but the gate stayed shut: say that instead
            if verdict.gate_opened is False
            else None
            if first is None
            else (first.zh, first.en)
        )
        if spoken is not None:  # starting the speech engine is a process start: not here
            self.run_worker(lambda: self.speak(*spoken), thread=True, group="voice")
        self._restart_idle()

    def action_large_text(self) -> None:
        self.large_text = not self.large_text
        self.screen_stack[0].set_class(self.large_text, "large")
        if self.verdicts and not self.query_one(VerdictPanel).has_class("idle"):
            self.query_one(VerdictPanel).show_verdict(self.verdicts[-1], brief=self.large_text)
        self._restart_idle()

    def on_key(self, event: Key) -> None:
        del event  # Textual calls GateApp.on_key too (the scanner's keys)
        self._restart_idle()

    def _restart_idle(self) -> None:
        if self._idle is not None:
            self._idle.stop()
        self._idle = self.set_timer(self.idle_after, self.back_to_idle)

    def back_to_idle(self) -> None:
        """The next cardholder starts from the idle screen in normal text.  A technician's
        sign-in in progress is left alone: it closes itself after a minute without input."""
        if isinstance(self.screen, SignInScreen):
            self._restart_idle()
            return
        self.large_text = False
        self.screen_stack[0].set_class(False, "large")
        self.clear_verdict()

    # -- the technician's way out -------------------------------------------------------------
    async def action_quit(self) -> None:
        self.action_technician_exit()

    def action_technician_exit(self) -> None:
        self.sign_in(StaffRole.TECH, self._leave)

    def _leave(self, session: StaffSession) -> None:
        self.station.staff.record(session, StaffAction.KIOSK_EXIT, "kiosk closed",
                                  self.sample().wall)  # fmt: skip
        self.exit()
