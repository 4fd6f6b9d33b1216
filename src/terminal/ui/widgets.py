"""The gate screen's parts: status bar, verdict panel, recent events.

A verdict is read from two metres: colour *and* icon *and* words, never colour alone; the
reason and what to do next under it.  Holder data is shown masked only (``Verdict.holder``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from terminal.verdict import Outcome, Verdict, verdict_banner

#: outcome → CSS class of the verdict panel (colours in app.tcss)
OUTCOME_CLASS = {
    Outcome.ADMIT: "admit",
    Outcome.ADMIT_WITH_BENEFIT: "admit",
    Outcome.DENY: "deny",
    Outcome.REFER: "refer",
}
#: under an admission whose gate relay failed (the verdict stands: it is in the journal)
GATE_NOT_OPENED = ("闸机未打开，请工作人员处理", "The gate did not open — staff please help")
IDLE_PROMPT = (
    "请刷社保卡或出示电子社保卡二维码\nTap your social security card or show your e-card QR code"
)


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What the status bar says; every field in words (the app fills it from the station)."""

    reader: str = "reader: starting"
    network: str = "network unknown"
    lists: str = "lists -"
    clock: str = "clock -"
    queue: str = "queue -"
    staff: str = ""  # "staff D-001 (desk)" while someone is signed in

    def line(self) -> str:
        parts = (self.reader, self.network, self.lists, self.clock, self.queue, self.staff)
        return " │ ".join(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class PresenterKey:
    """A function key that presents something (``ykt demo``: F1 a valid card, F2 a lost
    one...).  ``action`` runs in a worker thread, never on the screen's thread."""

    key: str  # Textual key name: "f1"
    label: str  # shown in the key line: "valid local card"
    action: Callable[[], None]


class StatusBar(Static):
    def show(self, facts: StatusFacts) -> None:
        self.update(facts.line())


class VerdictPanel(Static):
    """The big panel: the idle prompt, or the last verdict until it clears itself."""

    def on_mount(self) -> None:
        self.idle()

    def idle(self) -> None:
        self.set_classes("idle")
        self.update(Text(IDLE_PROMPT, justify="center"))

    def show_verdict(self, verdict: Verdict, *, brief: bool = False, note: str = "") -> None:
        """The banner and the first two reasons; ``brief`` (large-text mode): the first one,
        with space around every line; ``note`` above the banner (the tech screen's test
        reads)."""
        self.set_classes(OUTCOME_CLASS[verdict.outcome])
        lines = [note, verdict_banner(verdict), ""] if note else [verdict_banner(verdict), ""]
        for reason in verdict.reasons[: 1 if brief else 2]:
            lines += [reason.zh, "", reason.en] if brief else [reason.zh, reason.en]
        if verdict.gate_opened is False:
            lines += ["", "⚠ " + GATE_NOT_OPENED[0], GATE_NOT_OPENED[1]]
        self.update(Text("\n".join(lines), justify="center"))

    def show_problem(self, zh: str, en: str) -> None:
        """A read or scan that gave no verdict (card pulled, unreadable, not recognised)."""
        self.set_classes("refer")
        self.update(Text(f"⚠ {zh}\n{en}", justify="center"))


def event_line(verdict: Verdict, at: str) -> str:
    """One recent event, masked: time, outcome, credential kind, masked holder, first reason."""
    holder = " ".join(v for k, v in verdict.holder.items() if k in ("card_number", "name"))
    first = verdict.reasons[0].code.value if verdict.reasons else ""
    return (
        f"{at}  {verdict.outcome.value:<18} {verdict.credential_kind.value:<17} {holder}  {first}"
    )
