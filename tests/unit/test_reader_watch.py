"""The reader watch behind the gate screen: one tap per card, failures reported and retried
until the reader or pcscd comes back, no restart of the app."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from apdu.errors import CardRemovedError, CardServiceUnavailable, NoCardError, ReaderUnplugged
from terminal.card_reading import ReadRequest
from terminal.reader_watch import ReaderWatch


class FakeContext:
    """A PC/SC context whose waits for removal time out twice (the card left on the reader)."""

    def __init__(self) -> None:
        self.removal_waits = 0

    def __enter__(self) -> FakeContext:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def pick_reader(self, *args: object, **kwargs: object) -> str:
        return "Virtual PCD 00 00"

    def wait_for_removal(self, reader: str, timeout: float | None = None) -> None:
        self.removal_waits += 1
        if self.removal_waits % 3:
            raise NoCardError("still there")

    def cancel(self) -> None:
        pass


def run_script(steps: list[Any]) -> tuple[list[str], list[tuple[str, str]], int, FakeContext]:
    """Open the context and read as ``steps`` say (``("open", error)``: opening fails; an
    error: the read raises it; ``"card"``: a card is read and decided); stop when they run out."""
    states: list[str] = []
    problems: list[tuple[str, str]] = []
    decided: list[object] = []
    context = FakeContext()
    watch: ReaderWatch

    def open_context() -> FakeContext:
        if steps and isinstance(steps[0], tuple):  # ("open", error): the context cannot open
            raise steps.pop(0)[1]
        return context

    def read(ctx: object, request: ReadRequest, accept: Callable[[object], bool]) -> object:
        if not steps:
            watch.stop()
            raise NoCardError("stopping")
        step = steps.pop(0)
        if step == "card":
            accept("record")
            return "record"
        raise step

    watch = ReaderWatch(
        ReadRequest(), lambda record: decided.append(record) or True,
        on_state=states.append, on_problem=lambda zh, en: problems.append((zh, en)),
        retry_after=0.01, open_context=open_context, read=read,  # type: ignore[arg-type]
    )  # fmt: skip
    thread = threading.Thread(target=watch.run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    return states, problems, len(decided), context


def test_pcscd_down_then_back_recovers_without_a_restart() -> None:
    states, problems, taps, _ = run_script(
        [
            ("open", CardServiceUnavailable("pcscd is not running")),
            ("open", CardServiceUnavailable("still")),
            "card",
        ]
    )
    assert states[:3] == [
        "reader: card service down (card service (pcscd) is not running), retrying",
        "reader: card service down (card service (pcscd) is not running), retrying",
        "reader: ready",
    ]
    assert taps == 1
    assert problems == []


def test_a_card_left_on_the_reader_is_one_tap() -> None:
    _, _, taps, context = run_script(["card", NoCardError("idle"), "card"])
    assert taps == 2
    assert context.removal_waits == 6  # each card waited for until it was taken away


def test_a_card_pulled_mid_read_and_an_unplugged_reader_are_reported() -> None:
    states, problems, taps, _ = run_script(
        [CardRemovedError("pulled"), ReaderUnplugged("gone"), "card"]
    )
    assert problems[0][0] == "卡片移开过早，请重新刷卡"
    assert "retrying" in states[1]
    assert states[-1] == "reader: ready"
    assert taps == 1
