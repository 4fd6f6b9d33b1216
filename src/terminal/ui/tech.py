"""``ykt run --mode tech``: the field technician's screen (tech staff only).

It opens with the staff sign-in for a *tech* member; cancelling it closes the app, and an idle
sign-out locks the screen again.  Then, keyboard only (F-keys; Tab and the arrows move between
the tabs; each F-key also has a Ctrl key, for ``ykt demo`` whose cards are on the F-keys):

* F3 **Readers**: every reader, card present or not, its ATR (masked) and what it means;
* **Trace**: the last card exchanges, masked (command headers, SELECT data only, response
  lengths and status words), refreshed every second;
* F4 **Self-test**: emulated cards (genuine, cloned, not a social security card) read through
  the real read path, each step timed;
* F5 **Sync now**, F6 **import from a stick** (the folder in the path field), F7 **export
  usage** to the stick, each with its outcome in words;
* F8 **Versions**: the software, and every list's version, size and age;
* **Log**: the last log lines (no personal data is ever logged).

A card tapped here is read and explained (the verdict it would get), not journalled.  Every
action goes to the audit log under the technician's staff id.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, Static, TabbedContent, TabPane

from apdu.errors import ApduError
from apdu.pcsc import PcscContext
from offline_store.errors import StoreError
from offline_store.journal import StaffAction
from offline_store.staff_roster import StaffRole
from terminal.clock import monotonic_seconds
from terminal.credential import Credential
from terminal.diagnostics import (
    ApduTrace,
    RecentLog,
    list_versions,
    reader_report,
    self_test,
    versions,
)
from terminal.enrolment import TerminalFiles
from terminal.errors import TerminalError
from terminal.staff import StaffSession
from terminal.sync.technician import export_usage, sync_lines, sync_once
from terminal.ui.app import GateApp
from terminal.ui.widgets import StatusBar, VerdictPanel
from terminal.verdict import Verdict

TECH_KEYS = (
    "F3/^R 读卡器 readers · F4/^T 自检 self-test · F5/^N 同步 sync now · F6/^G U盘导入 import · "
    "F7/^B 导出 export usage · F8/^Y 版本 versions · Tab 切换 switch tab · ^Q 退出 quit"
)
DEFAULT_STICK = "/media/usb"
#: everything a tech action may raise that is the terminal's or the machine's, not a bug
ACTION_ERRORS = (TerminalError, StoreError, ApduError, OSError)


class TechApp(GateApp):
    ENABLE_COMMAND_PALETTE = False
    unrecorded_note = "【仅测试，未记录 · TEST READ ONLY, NOT RECORDED】"
    BINDINGS = [  # noqa: RUF012  (Textual's API)
        Binding("f3,ctrl+r", "readers", "Readers"),
        Binding("f4,ctrl+t", "self_test", "Self-test"),
        Binding("f5,ctrl+n", "sync_now", "Sync now"),
        Binding("f6,ctrl+g", "import_stick", "Import from stick"),
        Binding("f7,ctrl+b", "export_usage", "Export usage"),
        Binding("f8,ctrl+y", "versions", "Versions"),
    ]

    def __init__(
        self,
        *args: Any,
        files: TerminalFiles,
        trace: ApduTrace | None = None,
        recent_log: RecentLog | None = None,
        open_context: Callable[[], PcscContext] = PcscContext,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.files = files
        self.trace = trace if trace is not None else ApduTrace(monotonic_seconds)
        self.recent_log = recent_log
        self.open_context = open_context

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield VerdictPanel(id="verdict")
        with TabbedContent(id="tech-tabs"):
            for tab, title in _TABS.items():
                with TabPane(title, id=tab):
                    yield Static(_FIRST_WORDS.get(tab, ""), id=f"{tab}-text")
        yield Input(value=DEFAULT_STICK, placeholder="U盘路径 · stick folder", id="stick")
        yield Static(TECH_KEYS, id="tech-keys")
        yield from self.presenter_line()

    def mounted(self) -> None:
        self.screen.add_class("tech")
        self.query_one(TabbedContent).focus()  # not the path field: a wedge scan is not a path
        self.set_interval(1.0, self._refresh_live)
        self.sign_in(StaffRole.TECH, otherwise=self.exit)

    def _staff_idle(self) -> None:
        before = self.staff_session
        super()._staff_idle()
        if before is not None and self.staff_session is None:  # idled out: lock again
            self.sign_in(StaffRole.TECH, otherwise=self.exit)

    # -- a card on the reader: explained, not journalled ------------------------------------
    def decide_card(self, credential: Credential) -> Verdict:
        return self.station.checkpoint.explain(
            credential, sample=self.sample(), service=self.service
        )

    # -- the panes --------------------------------------------------------------------------
    def _show(self, tab: str, lines: list[str]) -> None:
        base = self.screen_stack[0]  # not a sign-in open over it
        for pane in base.query(f"#{tab}-text").results(Static):
            pane.update("\n".join(lines) or "-")
        for tabs in base.query(TabbedContent).results(TabbedContent):
            tabs.active = tab

    def _refresh_live(self) -> None:
        if self.staff_session is None:
            return
        base = self.screen_stack[0]  # a sign-in may be open over it; panes mount lazily
        for pane in base.query("#trace-text").results(Static):
            pane.update("\n".join(self.trace.lines()) or "(no card exchanges yet: tap a card)")
        if self.recent_log is not None:
            for pane in base.query("#log-text").results(Static):
                pane.update("\n".join(self.recent_log.lines()) or "(nothing logged yet)")

    def _act(
        self, tab: str, action: StaffAction | None, work: Callable[[], tuple[list[str], bool]]
    ) -> None:
        """Run ``work`` in a worker (signed-in tech staff only), show its lines in ``tab``;
        audit ``action`` as done only when ``work`` says it succeeded."""
        session = self.staff_may(StaffRole.TECH)
        if session is None:
            self.sign_in(StaffRole.TECH, lambda _: self._act(tab, action, work), self.exit)
            return
        self._show(tab, ["…"])

        def run() -> None:
            lines: list[str]
            try:
                lines, succeeded = work()
                outcome = "done" if succeeded else "failed"
            except ACTION_ERRORS as error:
                title = getattr(error, "title", type(error).__name__)
                message = getattr(error, "message", str(error))
                lines, outcome = [f"⚠ {title}: {message}"], f"failed: {title}"
            self.call_from_thread(self._show, tab, lines)
            if action is not None:
                self._audit(session, action, outcome)

        self.run_worker(run, thread=True, group="tech")

    def _audit(self, session: StaffSession, action: StaffAction, outcome: str) -> None:
        self.station.staff.record(session, action, outcome, self.sample().wall)

    def _stick(self) -> Path:
        stick = self.screen_stack[0].query_one("#stick", Input)
        return Path(stick.value.strip() or DEFAULT_STICK)

    # -- the actions ------------------------------------------------------------------------
    def action_readers(self) -> None:
        def work() -> tuple[list[str], bool]:
            report = reader_report(self.open_context)
            return report.lines(), report.problem is None

        self._act("readers", None, work)

    def action_self_test(self) -> None:
        def work() -> tuple[list[str], bool]:
            report = self_test(clock=monotonic_seconds, trace=self.trace.record)
            verdict = "通过 PASSED" if report.passed else "失败 FAILED"
            return [verdict, *report.lines()], report.passed

        self._act("self-test", StaffAction.SELF_TEST, work)

    def _sync_from(self, source: str | None) -> tuple[list[str], bool]:
        outcome = sync_once(self.files, source, sample=self.sample)
        return sync_lines(outcome), not outcome.problems

    def action_sync_now(self) -> None:
        self._act("sync", StaffAction.SYNC, lambda: self._sync_from(None))

    def action_import_stick(self) -> None:
        stick = str(self._stick())
        self._act("sync", StaffAction.IMPORT, lambda: self._sync_from(stick))

    def action_export_usage(self) -> None:
        stick = self._stick()
        self._act(
            "sync", StaffAction.EXPORT, lambda: (export_usage(self.files, stick).lines(), True)
        )

    def action_versions(self) -> None:
        def work() -> tuple[list[str], bool]:
            software = [f"{name:<14}{version}" for name, version in versions().items()]
            lists = list_versions(self.station.checkpoint.lists, now=self.sample().wall)
            return [*software, "", *(facts.text for facts in lists)], True

        self._act("versions", None, work)


_TABS = {
    "readers": "读卡器 Readers",
    "trace": "APDU 记录 Trace",
    "self-test": "自检 Self-test",
    "sync": "同步 Sync",
    "versions": "版本 Versions",
    "log": "日志 Log",
}
_FIRST_WORDS = {
    "readers": "F3: list the readers and their cards",
    "self-test": "F4: read emulated cards through the real read path",
    "sync": "F5 sync now · F6 import from the stick folder below · F7 export usage to it",
    "versions": "F8: software and list versions",
}
