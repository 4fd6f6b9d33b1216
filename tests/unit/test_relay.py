"""terminal.relay and the checkpoint's gate: the exact bytes a serial relay board gets (a pty
pair stands in for it), a port that disappears, a GPIO line through a stand-in, and in every
failure the journal still holds the tap and the verdict says the gate did not open."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner
from gate_support import demo_station
from test_checkpoint import AT, HOLDER, LOST, TRUSTED, ready_store
from verdict_support import KEYER, card, policy, sample

from offline_store.journal import USAGE
from offline_store.store import Store
from terminal.checkpoint import Checkpoint
from terminal.cli import main
from terminal.clock import sample_now
from terminal.config import RelaySection
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.errors import RelayFailed
from terminal.logs import fields_of
from terminal.relay import GpioRelay, LogRelay, SerialRelay, relay_from
from terminal.station import Station
from terminal.ui.app import GateApp
from terminal.ui.widgets import GATE_NOT_OPENED, VerdictPanel
from terminal.verdict import Outcome

LCUS_OPEN = bytes.fromhex("A00101A2")
LCUS_CLOSE = bytes.fromhex("A00100A1")


class Board:
    """A pty pair: the relay writes to the slave's name, the test reads the master."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.port = os.ttyname(self.slave)

    def read(self, count: int, timeout: float = 2.0) -> bytes:
        data = b""
        while len(data) < count:
            ready, _, _ = select.select([self.master], [], [], timeout)
            if not ready:
                break
            data += os.read(self.master, count - len(data))
        return data

    def quiet(self, timeout: float = 0.2) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        return not ready

    def unplug(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self.slave = -1


@pytest.fixture
def board() -> Iterator[Board]:
    made = Board()
    yield made
    made.unplug()


def _raw(port: str, **settings: object) -> serial.SerialBase:
    return serial.serial_for_url(port, **settings)


class Timers:
    """A timer factory whose releases the test fires by hand."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, seconds: float, action: Callable[[], None]) -> threading.Timer:
        entry = (seconds, action)
        self.pending.append(entry)
        timer = threading.Timer(3600, lambda: None)  # started, never fires within a test

        def cancel() -> None:  # a cancelled release never fires
            if entry in self.pending:
                self.pending.remove(entry)

        timer.cancel = cancel  # type: ignore[method-assign]
        return timer

    def fire(self) -> None:
        pending, self.pending = self.pending, []
        for _, action in pending:
            action()


def test_a_serial_board_gets_the_exact_open_and_close_bytes(board: Board) -> None:
    relay = SerialRelay(board.port, baudrate=9600)
    try:
        relay.open_for(0.05)
        assert board.read(4) == LCUS_OPEN
        assert board.read(4) == LCUS_CLOSE  # released by the timer after the pulse
        assert board.quiet()
        relay.open_for(0.05)
        assert board.read(8) == LCUS_OPEN + LCUS_CLOSE
    finally:
        relay.close()


def test_other_byte_strings_and_a_pulse_held_until_released(board: Board) -> None:
    timers = Timers()
    relay = SerialRelay(board.port, open_bytes=b"\xff\x01\x01", close_bytes=b"\xff\x01\x00",
                        timer=timers)  # fmt: skip
    try:
        relay.open_for(2.5)
        assert board.read(3) == b"\xff\x01\x01"
        assert board.quiet()
        assert [seconds for seconds, _ in timers.pending] == [2.5]
        timers.fire()
        assert board.read(3) == b"\xff\x01\x00"
    finally:
        relay.close()


def test_closing_the_relay_releases_a_gate_it_holds_open(board: Board) -> None:
    relay = SerialRelay(board.port, timer=Timers())
    relay.open_for(30)
    assert board.read(4) == LCUS_OPEN
    relay.close()
    assert board.read(4) == LCUS_CLOSE


def test_a_missing_port_is_relay_failed_naming_it() -> None:
    relay = SerialRelay("/dev/ykt-relay-that-is-not-there")
    with pytest.raises(RelayFailed, match="ykt-relay-that-is-not-there cannot be opened"):
        relay.open_for(0.1)
    relay.close()


def test_a_port_that_disappears_fails_and_a_board_plugged_back_in_works(board: Board) -> None:
    second = Board()
    ports = iter([board.port, second.port])
    relay = SerialRelay("/dev/ykt-relay", timer=Timers(),
                        connect=lambda _port, **kw: _raw(next(ports), **kw))  # fmt: skip
    try:
        relay.open_for(1)
        assert board.read(4) == LCUS_OPEN
        board.unplug()  # the board's cable is pulled: writes to the pty now fail
        with pytest.raises(RelayFailed, match="stopped answering"):
            relay.open_for(1)
        relay.open_for(1)  # plugged back in: the port is opened again
        assert second.read(4) == LCUS_OPEN
    finally:
        relay.close()
        second.unplug()


class FakeLine:
    def __init__(self, fail_set: bool = False) -> None:
        self.values: list[bool] = []
        self.released = False
        self.fail_set = fail_set

    def set_active(self, active: bool) -> None:
        if self.fail_set:
            raise OSError(errno.EIO, "Input/output error")
        self.values.append(active)

    def release(self) -> None:
        self.released = True


def test_a_gpio_line_is_active_for_the_pulse_then_inactive() -> None:
    line = FakeLine()
    timers = Timers()
    relay = GpioRelay(lambda: line, where="GPIO line 17 on /dev/gpiochip0", timer=timers)
    relay.open_for(0.5)
    assert line.values == [True]
    timers.fire()
    assert line.values == [True, False]
    relay.close()
    assert line.released


def test_a_busy_gpio_line_is_relay_failed_and_requested_again_next_time() -> None:
    line = FakeLine()
    answers: list[FakeLine | OSError] = [OSError(errno.EBUSY, "Device or resource busy"), line]

    def request() -> FakeLine:
        answer = answers.pop(0)
        if isinstance(answer, OSError):
            raise answer
        return answer

    relay = GpioRelay(request, where="GPIO line 17 on /dev/gpiochip0", timer=Timers())
    with pytest.raises(RelayFailed, match=r"GPIO line 17 on /dev/gpiochip0 cannot be requested"):
        relay.open_for(1)
    relay.open_for(1)
    assert line.values == [True]
    relay.close()


def test_gpio_without_the_gpiod_package_is_relay_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)  # import gpiod now raises ImportError
    relay = relay_from(RelaySection.model_validate({"kind": "gpio", "gpio": {"line": 4}}))
    assert relay is not None
    with pytest.raises(RelayFailed, match=r"pip install 'ykt-terminal\[gpio\]'"):
        relay.open_for(1)


def test_relay_from_builds_each_kind(board: Board) -> None:
    assert relay_from(RelaySection(kind="none")) is None
    assert isinstance(relay_from(RelaySection()), LogRelay)
    serial_relay = relay_from(
        RelaySection.model_validate(
            {"kind": "serial", "serial": {"port": board.port, "open": "0102", "close": "0304"}}
        )
    )
    assert isinstance(serial_relay, SerialRelay)
    assert (serial_relay.open_bytes, serial_relay.close_bytes) == (b"\x01\x02", b"\x03\x04")
    gpio = relay_from(RelaySection.model_validate({"kind": "gpio", "gpio": {"line": 4}}))
    assert isinstance(gpio, GpioRelay)
    assert gpio.where == "GPIO line 4 on /dev/gpiochip0"


def test_the_log_relay_logs_gate_would_open(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="terminal.relay")
    LogRelay().open_for(1.5)
    assert [fields_of(r) for r in caplog.records] == [{"event": "gate_would_open", "seconds": 1.5}]


# -- the checkpoint: the journal first, the gate second, a failure changes nothing recorded ----
class BrokenRelay:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def open_for(self, seconds: float) -> None:
        self.calls += 1
        raise self.error

    def close(self) -> None:
        pass


def _tap(store: Store, relay: object, holder: object = HOLDER) -> tuple[Checkpoint, object]:
    checkpoint = Checkpoint(store, policy(), KEYER, "T1", relay=relay)  # type: ignore[arg-type]
    verdict = checkpoint.present(holder, sample=sample(AT, trusted_at=TRUSTED),  # type: ignore[arg-type]
                                 service="library.entry")  # fmt: skip
    return checkpoint, verdict


FAILURES = [
    pytest.param(
        RelayFailed("the gate relay's serial port /dev/ykt-relay cannot be opened"),
        id="port missing",
    ),
    pytest.param(RelayFailed("the gate relay on /dev/ykt-relay stopped answering"), id="unplugged"),
    pytest.param(OSError(errno.EBUSY, "Device or resource busy"), id="gpio busy"),
    pytest.param(RuntimeError("a bug in a relay driver"), id="anything else"),
]


@pytest.mark.parametrize("error", FAILURES)
def test_a_failing_relay_keeps_the_journal_entry_and_says_the_gate_did_not_open(
    tmp_path: Path, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="terminal.checkpoint")
    store = ready_store(tmp_path / "s.db")
    relay = BrokenRelay(error)
    checkpoint, verdict = _tap(store, relay)
    assert relay.calls == 1
    assert verdict.outcome is Outcome.ADMIT  # type: ignore[attr-defined]
    assert verdict.journal_seq == 1  # type: ignore[attr-defined]
    assert verdict.gate_opened is False  # type: ignore[attr-defined]
    assert verdict.to_json()["gate_opened"] is False  # type: ignore[attr-defined]
    assert store.journal.verify(USAGE) == 1
    (record,) = store.journal.records()
    assert record.body["verdict"] == "admit"
    assert checkpoint.gate_failures == 1
    events = [fields_of(r) for r in caplog.records]
    failed = [e for e in events if e and e["event"] == "gate_not_opened"]
    assert [e["seq"] for e in failed] == [1]
    verdict_event = next(e for e in events if e and e["event"] == "verdict")
    assert verdict_event["gate"] == "failed"
    assert verdict_event["seq"] == 1


def test_a_serial_relay_on_a_pty_opens_after_the_journal_holds_the_tap(
    tmp_path: Path, board: Board
) -> None:
    store = ready_store(tmp_path / "s.db")
    seen: list[int] = []

    class Watching(SerialRelay):
        def open_for(self, seconds: float) -> None:
            seen.append(store.journal.verify(USAGE))
            super().open_for(seconds)

    relay = Watching(board.port, timer=Timers())
    _, verdict = _tap(store, relay)
    assert verdict.gate_opened is True  # type: ignore[attr-defined]
    assert seen == [1]  # the journal held the tap when the gate opened
    assert board.read(4) == LCUS_OPEN
    relay.close()


def test_an_unplugged_board_at_the_gate_loses_nothing(tmp_path: Path, board: Board) -> None:
    store = ready_store(tmp_path / "s.db")
    relay = SerialRelay(board.port, timer=Timers())
    _, first = _tap(store, relay)
    assert first.gate_opened is True  # type: ignore[attr-defined]
    board.unplug()
    _, second = _tap(store, relay, LOST)  # a deny: the relay is not asked
    assert second.gate_opened is None  # type: ignore[attr-defined]
    _, third = _tap(store, relay, card("310100", 3))
    assert third.outcome is Outcome.ADMIT  # type: ignore[attr-defined]
    assert third.journal_seq == 3  # type: ignore[attr-defined]
    assert third.gate_opened is False  # type: ignore[attr-defined]
    assert store.journal.verify(USAGE) == 3
    relay.close()


def test_no_gate_for_a_denial(tmp_path: Path) -> None:
    store = ready_store(tmp_path / "s.db")
    relay = BrokenRelay(RelayFailed("never asked"))
    _, verdict = _tap(store, relay, LOST)
    assert verdict.outcome is Outcome.DENY  # type: ignore[attr-defined]
    assert relay.calls == 0
    assert verdict.gate_opened is None  # type: ignore[attr-defined]


def test_a_feedback_hook_sees_the_gate_outcome(tmp_path: Path) -> None:
    store = ready_store(tmp_path / "s.db")
    shown: list[bool | None] = []
    checkpoint = Checkpoint(store, policy(), KEYER, "T1", relay=BrokenRelay(OSError("gone")),
                            feedback=lambda v: shown.append(v.gate_opened))  # fmt: skip
    checkpoint.present(HOLDER, sample=sample(AT, trusted_at=TRUSTED), service="library.entry")
    assert shown == [False]


# -- ykt relay test ----------------------------------------------------------------------------
def test_ykt_relay_test_pulses_the_configured_board(tmp_path: Path, board: Board) -> None:
    config = tmp_path / "terminal.toml"
    config.write_text(
        f'[relay]\nkind = "serial"\npulse_seconds = 0.1\n[relay.serial]\nport = "{board.port}"\n'
    )
    result = CliRunner().invoke(main, ["relay", "test", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "gate opened for 0.1 s" in result.output
    assert board.read(8) == LCUS_OPEN + LCUS_CLOSE


def test_ykt_relay_test_exits_19_when_the_board_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "terminal.toml"
    config.write_text('[relay]\nkind = "serial"\n[relay.serial]\nport = "/dev/ykt-none"\n')
    result = CliRunner().invoke(main, ["relay", "test", "--config", str(config)])
    assert result.exit_code == 19
    assert "ykt: the gate relay's serial port /dev/ykt-none cannot be opened" in result.output
    config.write_text('[relay]\nkind = "none"\n')
    none = CliRunner().invoke(main, ["relay", "test", "--config", str(config)])
    assert none.exit_code == 15


# -- the gate screen ---------------------------------------------------------------------------
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _scan_reservation(station: Station, relay: object) -> tuple[str, GateApp]:
    station.checkpoint.relay = relay  # type: ignore[assignment]
    app = GateApp(station, service="museum.entry", sample=sample_now, clear_after=30)
    async with app.run_test() as pilot:
        for character in f"YKTR1:{DEMO_RESERVATION_ID}":
            await pilot.press(character)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        return str(app.query_one(VerdictPanel).render()), app


@pytest.mark.anyio
async def test_the_gate_screen_says_the_gate_did_not_open(tmp_path: Path) -> None:
    with demo_station(tmp_path, sample_now()) as station:
        shown, app = await _scan_reservation(station, BrokenRelay(RelayFailed("unplugged")))
        assert [v.outcome.value for v in app.verdicts] == ["admit"]
        assert "ADMIT" in shown
        assert "闸机未打开，请工作人员处理" in shown
        assert "The gate did not open — staff please help" in shown
        assert station.store.journal.verify(USAGE) == 1  # the tap is recorded all the same


@pytest.mark.anyio
async def test_the_gate_screen_says_nothing_of_the_gate_when_it_opened(tmp_path: Path) -> None:
    with demo_station(tmp_path, sample_now()) as station:
        shown, _ = await _scan_reservation(station, LogRelay())
        assert "ADMIT" in shown
        assert GATE_NOT_OPENED[1] not in shown


def test_a_failed_pulse_during_a_pulse_still_releases_the_gate() -> None:
    """Pulse 1 holds the contact; pulse 2's write fails: pulse 1's release still comes."""
    line = FakeLine()
    timers = Timers()
    relay = GpioRelay(lambda: line, where="GPIO line 17 on /dev/gpiochip0", timer=timers)
    relay.open_for(5)
    line.fail_set = True  # the line errs once
    with pytest.raises(RelayFailed):
        relay.open_for(5)
    line.fail_set = False
    timers.fire()
    assert line.values[-1] is False  # released: the gate is not left open
