"""The gate relay: what opens the turnstile when a verdict admits.

:meth:`GateRelay.open_for` closes the gate's contact now and releases it ``seconds`` later (on a
timer thread: the verdict on the screen does not wait for the pulse to end).  It raises
:class:`~terminal.errors.RelayFailed` when the gate did not open; the checkpoint runs it only
after the verdict is in the journal, and a failure never changes the recorded verdict — the
screen says the gate did not open and staff help (:mod:`terminal.checkpoint`).

Kinds (``[relay] kind`` in the configuration, docs/configuration.md):

* ``none`` — no relay;
* ``log`` (the default) — :class:`LogRelay` logs "gate would open" (a desk, or a gate before its
  relay is wired);
* ``serial`` — :class:`SerialRelay`: a relay board on a serial port (pyserial), driven by two
  byte strings, e.g. the common LCUS-1 USB relay: ``A0 01 01 A2`` closes, ``A0 01 00 A1``
  releases;
* ``gpio`` — :class:`GpioRelay`: one GPIO line through libgpiod v2 (the ``gpiod`` package,
  imported only when this kind is used, so it is optional).

A relay that is missing or unplugged at start does not stop the terminal: the port or line is
opened at the first pulse, and opened again after a failure, so plugging the board back in is
enough.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import serial

from terminal.config import RelaySection
from terminal.errors import RelayFailed
from terminal.logs import log_event

log = logging.getLogger(__name__)


class GateRelay(Protocol):
    """What the checkpoint pulses on an admission."""

    def open_for(self, seconds: float) -> None:
        """Open the gate now for ``seconds``; raises RelayFailed if it did not open."""
        ...

    def close(self) -> None:
        """Release the gate (if open) and let go of the port or line."""
        ...


class LogRelay:
    """No hardware: each admission logs ``gate would open``."""

    def __init__(self) -> None:
        self.pulses: list[float] = []

    def open_for(self, seconds: float) -> None:
        self.pulses.append(seconds)
        del self.pulses[:-100]  # bounded: a terminal runs for months
        log_event(log, logging.INFO, "gate_would_open", seconds=seconds)

    def close(self) -> None:
        pass


#: seconds a relay write may take before it counts as failed (the verdict waits this at most)
WRITE_TIMEOUT = 0.25


class _Pulse:
    """Closes a contact, and releases it later on a timer; a new pulse while one is running
    extends it.  Subclasses say how to set the contact."""

    def __init__(self, timer: Callable[[float, Callable[[], None]], threading.Timer]) -> None:
        self._lock = threading.Lock()
        self._timer = timer
        self._release: threading.Timer | None = None

    def _set(self, closed: bool) -> None:
        raise NotImplementedError

    def _let_go(self) -> None:
        raise NotImplementedError

    def open_for(self, seconds: float) -> None:
        with self._lock:
            # raises RelayFailed: the gate did not open.  A pulse still holding the contact
            # keeps its release timer then, so a failed write never leaves the gate latched
            self._set(True)
            if self._release is not None:  # extended: the new release replaces the old
                self._release.cancel()
                self._release = None
            release = self._timer(seconds, self._released)
            release.daemon = True
            release.name = "ykt-relay"
            self._release = release
            release.start()

    def _released(self) -> None:
        with self._lock:
            self._release = None
            try:
                self._set(False)
            except RelayFailed as error:  # the board is gone: it cannot hold the gate either
                log_event(log, logging.ERROR, "gate_release_failed", error=error.message)

    def close(self) -> None:
        with self._lock:
            if self._release is not None:
                self._release.cancel()
                self._release = None
                try:
                    self._set(False)
                except RelayFailed as error:
                    log_event(log, logging.ERROR, "gate_release_failed", error=error.message)
            self._let_go()


class SerialRelay(_Pulse):
    """A relay board on a serial port: ``open_bytes`` closes the contact, ``close_bytes``
    releases it.  ``connect`` opens the port (pyserial's ``serial_for_url``; tests pass a pty).
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        open_bytes: bytes = bytes.fromhex("A00101A2"),
        close_bytes: bytes = bytes.fromhex("A00100A1"),
        connect: Callable[..., serial.SerialBase] = serial.serial_for_url,
        timer: Callable[[float, Callable[[], None]], threading.Timer] = threading.Timer,
    ) -> None:
        super().__init__(timer)
        self.port = port
        self.baudrate = baudrate
        self.open_bytes = open_bytes
        self.close_bytes = close_bytes
        self._connect = connect
        self._connection: serial.SerialBase | None = None

    def _connected(self) -> serial.SerialBase:
        if self._connection is None:
            try:
                # a stuck board fails within WRITE_TIMEOUT: the verdict is held no longer
                self._connection = self._connect(
                    self.port, baudrate=self.baudrate, timeout=0.5, write_timeout=WRITE_TIMEOUT
                )
            except (serial.SerialException, OSError, ValueError) as error:
                raise RelayFailed(
                    f"the gate relay's serial port {self.port} cannot be opened ({error}): "
                    "check that the relay board is plugged in (see /dev/serial/by-id/) and that "
                    "no other program holds the port"
                ) from error
        return self._connection

    def _set(self, closed: bool) -> None:
        connection = self._connected()
        data = self.open_bytes if closed else self.close_bytes
        try:
            written = connection.write(data)
            connection.flush()
        except (serial.SerialException, OSError, ValueError) as error:
            self._let_go()  # opened again at the next pulse (the board may come back)
            raise RelayFailed(
                f"the gate relay on {self.port} stopped answering ({error}): check its cable"
            ) from error
        if written is not None and written != len(data):
            self._let_go()
            raise RelayFailed(f"the gate relay on {self.port} took {written} of {len(data)} bytes")

    def _let_go(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                connection.close()


class GpioLine(Protocol):
    """One requested GPIO output line (libgpiod v2's line request, or a test's stand-in)."""

    def set_active(self, active: bool) -> None: ...

    def release(self) -> None: ...


class GpioRelay(_Pulse):
    """A GPIO line driving the relay: active for the pulse, inactive after.  ``request`` asks
    for the line (by default through libgpiod v2, :func:`request_gpio_line`)."""

    def __init__(
        self,
        request: Callable[[], GpioLine],
        *,
        where: str = "GPIO",
        timer: Callable[[float, Callable[[], None]], threading.Timer] = threading.Timer,
    ) -> None:
        super().__init__(timer)
        self._request = request
        self.where = where
        self._line: GpioLine | None = None

    def _set(self, closed: bool) -> None:
        if self._line is None:
            try:
                self._line = self._request()
            except (OSError, ValueError, ImportError) as error:
                raise RelayFailed(
                    f"the gate relay's {self.where} cannot be requested ({error}): check the "
                    "chip and line in [relay.gpio], and that no other program holds the line"
                ) from error
        try:
            self._line.set_active(closed)
        except (OSError, ValueError) as error:
            self._let_go()
            raise RelayFailed(f"the gate relay's {self.where} cannot be set ({error})") from error

    def _let_go(self) -> None:
        line, self._line = self._line, None
        if line is not None:
            with contextlib.suppress(OSError, ValueError):
                line.release()


class _LibgpiodLine:
    """A libgpiod v2 line request for one output line."""

    def __init__(self, request: Any, offset: int, values: Any) -> None:
        self._request = request
        self._offset = offset
        self._values = values

    def set_active(self, active: bool) -> None:
        value = self._values.ACTIVE if active else self._values.INACTIVE
        self._request.set_value(self._offset, value)

    def release(self) -> None:
        self._request.release()


def request_gpio_line(chip: str, offset: int, *, active_low: bool) -> GpioLine:
    """Request ``offset`` on ``chip`` as an output, inactive, through libgpiod v2."""
    try:
        import gpiod  # noqa: PLC0415 - optional: only a terminal with a GPIO relay needs it
        from gpiod.line import Direction, Value  # noqa: PLC0415
    except ImportError as error:
        raise ImportError(
            "the gpiod package (libgpiod v2 bindings) is not installed: deploy/install puts it "
            "in every release; elsewhere pip install 'ykt-terminal[gpio]'"
        ) from error
    settings = gpiod.LineSettings(
        direction=Direction.OUTPUT, active_low=active_low, output_value=Value.INACTIVE
    )
    request = gpiod.request_lines(chip, consumer="ykt-gate", config={offset: settings})
    return _LibgpiodLine(request, offset, Value)


def relay_from(section: RelaySection) -> GateRelay | None:
    """The relay ``[relay]`` describes (not yet opened: that happens at the first pulse)."""
    if section.kind == "none":
        return None
    if section.kind == "log":
        return LogRelay()
    if section.kind == "serial":
        board = section.serial
        return SerialRelay(
            board.port,
            baudrate=board.baud,
            open_bytes=bytes.fromhex(board.open),
            close_bytes=bytes.fromhex(board.close),
        )
    gpio = section.gpio
    return GpioRelay(
        lambda: request_gpio_line(gpio.chip, gpio.line, active_low=gpio.active_low),
        where=f"GPIO line {gpio.line} on {gpio.chip}",
    )
