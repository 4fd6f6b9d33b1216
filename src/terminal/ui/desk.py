"""``ykt run --mode desk``: the service desk.

What the gate shows, plus what a clerk needs: every reason of the last verdict with the next
step for the hard cases (a lost card, a card that is not authentic, ...), a look-up field
(social security number or card identification code; a scanner's code typed into it is
presented as at the gate), and a staff override of a refusal.  Keyboard only:

* typing anywhere goes to the look-up field; Enter looks up (or presents a scanned code);
* F2 (or Ctrl+S) signs staff in (card + PIN) or out;
* F5 (or Ctrl+O) overrides the refusal on screen: sign in first if needed, then 1-4 picks the
  reason.  (The Ctrl keys are for ``ykt demo``, whose cards are on the F-keys.)

A tapped card is decided and journalled as at a gate (a desk is a staffed entry point); a typed
look-up is read-only.  The verdict stays on screen until the next card, code or look-up; F5
overrides only the refusal on screen.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.events import Key
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from offline_store.errors import StoreError
from offline_store.staff_roster import StaffRole
from terminal.codes.dispatch import CodeKind
from terminal.desk import LookupNotPossible, OverrideReason, clerk_steps, look_up, parse_lookup
from terminal.errors import NotPermitted, TerminalError
from terminal.staff import StaffSession
from terminal.ui.app import GateApp
from terminal.ui.widgets import StatusBar, VerdictPanel
from terminal.verdict import Verdict

DESK_KEYS = (
    "Enter 查询 look up · F2/Ctrl+S 工作人员登录/退出 staff sign-in/out · F5/Ctrl+O 放行 override"
)
#: longer than any number the desk looks up: a scanned code typed into the field
_LONGEST_NUMBER = 32


class OverrideScreen(ModalScreen[OverrideReason | None]):
    """Pick the override's reason: 1-4, Escape cancels.  It names whom (masked) and which
    refusal it overrides."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]  # noqa: RUF012  (Textual's API)

    def __init__(self, refused: Verdict) -> None:
        super().__init__()
        self.refused = refused

    def compose(self) -> ComposeResult:
        holder = " ".join(v for k, v in self.refused.holder.items() if k != "kind")
        first = self.refused.reasons[0] if self.refused.reasons else None
        lines = [
            f"放行 Override: {self.refused.credential_kind.value} {holder}".rstrip(),
            f"拒绝原因 refused: {first.zh} · {first.en}" if first else "",
            "",
            "放行原因（按数字键）  Why admit (press a number)",
            "",
        ]
        for number, why in enumerate(OverrideReason, start=1):
            lines.append(f"{number}  {why.zh} · {why.en}")
        lines += ["", "Esc 取消 cancel"]
        with Vertical(id="override"):
            yield Static("\n".join(lines))

    def on_key(self, event: Key) -> None:
        key = event.key
        reasons = list(OverrideReason)
        if key.isdigit() and 1 <= int(key) <= len(reasons):
            self.dismiss(reasons[int(key) - 1])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class DeskApp(GateApp):
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [  # noqa: RUF012  (Textual's API)
        Binding("f2,ctrl+s", "staff", "Staff sign-in/out"),
        Binding("f5,ctrl+o", "override", "Override"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield VerdictPanel(id="verdict")
        yield Static("", id="explain")
        yield Input(placeholder="社会保障号码或卡识别码 · social security number or card id",
                    id="lookup")  # fmt: skip
        yield Static("", id="recent")
        yield Static(DESK_KEYS, id="desk-keys")
        yield from self.presenter_line()

    def mounted(self) -> None:
        self.screen.add_class("desk")
        self.query_one("#lookup", Input).focus()

    # -- the verdict, explained -----------------------------------------------------------
    def _clear_later(self) -> None:
        """At a desk the verdict stays until the next card, code or look-up: the clerk reads
        it with the person and may override it (``--clear-after`` is for gates and kiosks)."""

    def show_verdict(self, verdict: Verdict) -> None:
        super().show_verdict(verdict)
        self.query_one("#explain", Static).update("\n".join(explanation(verdict)))

    # -- look-up --------------------------------------------------------------------------
    @on(Input.Submitted, "#lookup")
    def _look_up(self, event: Input.Submitted) -> None:
        text, event.input.value = event.value.strip(), ""
        if not text:
            return
        self.clear_verdict()  # the clerk moved on: the last refusal is no longer the subject
        if self.station.dispatcher.classify(text) is not CodeKind.UNRECOGNISED:
            self.present_code(text)
            return
        try:
            key = parse_lookup(text)
        except LookupNotPossible as refused:
            if len(text) > _LONGEST_NUMBER:  # a code of some other kind: a verdict says so
                self.present_code(text)
            else:
                self._explain([f"⚠ {refused.zh}", refused.en])
            return
        wall = self.sample().wall

        def run() -> None:
            try:
                found = look_up(key, self.station.checkpoint.lists, self.station.keyer, wall)
            except StoreError as error:
                self.call_from_thread(self._explain, [f"⚠ {error.title}: {error.message}"])
                return
            self.call_from_thread(self._explain, found.lines(self.station.policy.zone))

        self.run_worker(run, thread=True, group="look-up")

    def _explain(self, lines: list[str]) -> None:
        self.query_one("#explain", Static).update("\n".join(lines))

    # -- staff ----------------------------------------------------------------------------
    def action_staff(self) -> None:
        if self.staff_session is not None:
            self.sign_out("staff")
        else:
            self.sign_in(StaffRole.DESK)

    def action_override(self) -> None:
        refused = self.on_screen  # only what the clerk sees now: not a cleared or older one
        if refused is None or refused.admits:
            self._explain(["⚠ 当前没有可放行的拒绝结果 · No refusal on screen to override"])
            return
        if self.staff_may(StaffRole.DESK) is None:
            self.sign_in(StaffRole.DESK, lambda session: self._choose(refused, session))
        else:
            assert self.staff_session is not None
            self._choose(refused, self.staff_session)

    def _choose(self, refused: Verdict, session: StaffSession) -> None:
        def chosen(why: OverrideReason | None) -> None:
            if why is not None:
                self._override(refused, session, why)

        self.push_screen(OverrideScreen(refused), chosen)

    def _override(self, refused: Verdict, session: StaffSession, why: OverrideReason) -> None:
        def run() -> None:
            sample = self.sample()
            try:
                self.station.staff.require(session, StaffRole.DESK, sample.wall)
                verdict = self.station.checkpoint.override(
                    refused, staff_id=session.staff_id, why=why, sample=sample
                )
            except NotPermitted as refused_now:
                self.call_from_thread(self._explain, [f"⚠ {refused_now.message}"])
                return
            except (TerminalError, StoreError) as error:
                self.call_from_thread(self.show_problem, error.title, error.message)
                return
            self.call_from_thread(self.show_verdict, verdict)

        self.run_worker(run, thread=True, group="taps")


def explanation(verdict: Verdict) -> list[str]:
    """What the clerk reads under the verdict: the holder (masked), every reason, next steps."""
    holder = " ".join(f"{k}={v}" for k, v in verdict.holder.items() if k != "kind")
    lines = [f"{verdict.credential_kind.value}  {holder}".rstrip()]
    for why in verdict.reasons:
        lines.append(f"• {why.zh} · {why.en}")
    for zh, en in clerk_steps(verdict):
        lines += [f"→ {zh}", f"  {en}"]
    recorded = "未记录 not recorded" if verdict.journal_seq is None else f"#{verdict.journal_seq}"
    lines.append(f"记录 journal: {recorded}")
    return lines
