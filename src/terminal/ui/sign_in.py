"""Staff sign-in on screen: tap the staff card, then type the PIN (``terminal.staff``).

A modal screen over any mode.  While it is open the reader's next card goes to it, not to a
verdict.  The PIN check (one scrypt) runs in a worker thread; wrong PINs count down to a
lockout.  Escape, or a minute without input, closes it with no session.
"""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Input, Static

from offline_store.errors import StoreError
from offline_store.staff_roster import StaffMember, StaffRole
from terminal.clock import ClockSample
from terminal.credential import Credential
from terminal.errors import LockedOut, NotPermitted, NotStaff, StaffRefused, WrongPin
from terminal.staff import StaffSession, StaffSignIn

#: a sign-in left half done closes itself
SIGN_IN_TIMEOUT = 60.0


class SignInScreen(ModalScreen[StaffSession | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012  (Textual's API)

    def __init__(
        self, staff: StaffSignIn, needed: StaffRole, sample: Callable[[], ClockSample]
    ) -> None:
        super().__init__()
        self.staff = staff
        self.needed = needed
        self.sample = sample
        self.member: StaffMember | None = None
        self._timeout: Timer | None = None
        #: set once the screen is closed: a PIN check still running must not sign anyone in
        self.closed = False

    def compose(self) -> ComposeResult:
        with Vertical(id="sign-in"):
            yield Static(
                f"工作人员登录（{_ROLE_ZH[self.needed]}）  Staff sign-in ({self.needed.value})",
                id="sign-in-title",
            )
            yield Static("请刷工作人员本人社保卡\nTap your own staff card", id="sign-in-step")
            yield Input(placeholder="PIN", password=True, id="pin", disabled=True,
                        restrict=r"\d*", max_length=12)  # fmt: skip
            yield Static("", id="sign-in-problem")
            yield Static("Esc 取消 cancel", id="sign-in-keys")

    def on_mount(self) -> None:
        self._restart_timeout()

    def _restart_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.stop()
        self._timeout = self.set_timer(SIGN_IN_TIMEOUT, self.action_cancel)

    def action_cancel(self) -> None:
        self._close(None)

    def _close(self, session: StaffSession | None) -> None:
        if not self.closed:
            self.closed = True
            self.dismiss(session)

    # -- step 1: the card (called on the screen's thread) ---------------------------------
    def card_tapped(self, credential: Credential) -> None:
        self._restart_timeout()
        app = self.app  # a closed screen has none: the worker keeps the one it started on
        app.run_worker(lambda: self._identify(app, credential), thread=True, group="sign-in")

    def _identify(self, app: App[None], credential: Credential) -> None:
        now = self.sample().wall
        try:
            member = self.staff.identify(credential, now)
            if not member.role.may(self.needed):
                raise NotPermitted(f"{self.needed.value} staff only: this card is {member.role}")
        except (StaffRefused, StoreError) as error:
            app.call_from_thread(self._problem, error)
            return
        app.call_from_thread(self._ask_pin, member)

    def _ask_pin(self, member: StaffMember) -> None:
        self.member = member
        self.query_one("#sign-in-step", Static).update(
            f"{member.staff_id}：请输入PIN后按回车\n{member.staff_id}: type your PIN, then Enter"
        )
        self.query_one("#sign-in-problem", Static).update("")
        pin = self.query_one("#pin", Input)
        pin.disabled = False
        pin.focus()

    # -- step 2: the PIN -----------------------------------------------------------------
    @on(Input.Changed, "#pin")
    def _typing(self) -> None:
        self._restart_timeout()

    @on(Input.Submitted, "#pin")
    def _submitted(self, event: Input.Submitted) -> None:
        member, pin = self.member, event.value
        event.input.value = ""
        if member is None or not pin:
            return
        app = self.app
        app.run_worker(lambda: self._check(app, member, pin), thread=True, group="sign-in")

    def _check(self, app: App[None], member: StaffMember, pin: str) -> None:
        try:
            session = self.staff.sign_in(member, pin, self.sample().wall)
        except (StaffRefused, StoreError) as error:
            app.call_from_thread(self._problem, error)
            return
        app.call_from_thread(self._signed_in, session)

    def _signed_in(self, session: StaffSession) -> None:
        if self.closed:  # cancelled while the PIN was checked: no session after all
            self.staff.sign_out(session, self.sample().wall, "cancelled")
            return
        self._close(session)

    def _problem(self, error: StaffRefused | StoreError) -> None:
        if self.closed:
            return
        zh = _PROBLEM_ZH.get(type(error), "无法登录")
        self.query_one("#sign-in-problem", Static).update(f"⚠ {zh} · {error.message}")
        if isinstance(error, LockedOut | StoreError) or self.member is None:
            self.member = None
            self.query_one("#pin", Input).disabled = True
            self.query_one("#sign-in-step", Static).update(
                "请刷工作人员本人社保卡\nTap your own staff card"
            )


_ROLE_ZH = {StaffRole.DESK: "服务台", StaffRole.TECH: "技术人员"}
_PROBLEM_ZH: dict[type[Exception], str] = {
    NotStaff: "非工作人员卡",
    WrongPin: "PIN错误",
    LockedOut: "登录已锁定",
    NotPermitted: "无此权限",
}
