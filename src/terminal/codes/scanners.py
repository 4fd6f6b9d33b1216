"""Code scanners: where scanned code texts come from.

A scanner yields one decoded text per scanned code; the dispatcher (``terminal.codes.dispatch``)
decides what the text is.  Two inputs:

- :class:`StreamScanner` — standard input or a keyboard-wedge scanner's TTY.  A keyboard-wedge
  scanner types the code and then Enter or Tab, so CR, LF, CRLF and TAB all end a code.  On a
  TTY the scanner switches the terminal to cbreak mode while it reads (no echo of scanned data,
  and a code ended by Tab alone is delivered at once instead of waiting for Enter); the
  previous mode is restored on close.
- :class:`SerialScanner` — a scanner on a serial port (RS-232, or USB in CDC/"virtual COM"
  mode), through pyserial: a device path (``/dev/ttyACM0``, ``/dev/serial/by-id/...``) or any
  pyserial URL (``loop://`` in tests).  Port, baud rate and framing (which suffix the scanner
  sends: ``cr``, ``lf``, ``crlf`` or ``any`` of CR/LF/TAB) are configurable.

Both split the byte stream into frames with a :class:`FrameSplitter`: a frame longer than
:data:`MAX_FRAME_BYTES` is dropped while it arrives (memory never grows past the limit) and
reported once, when its terminator comes; a frame that is not UTF-8 is reported and skipped.
Reports go to an ``on_discard`` callback (by default a log warning) and reading goes on.

Stopping: :meth:`close` may be called from another thread, or a shared ``stop`` event set
(one event can stop several scanners); a scanner blocked waiting for input notices within its
poll interval / read timeout and its :meth:`codes` iterator ends.

Scanned texts are personal data: nothing here prints or logs them, only lengths and reasons.
"""

from __future__ import annotations

import logging
import os
import re
import select
import termios
import threading
import tty
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import IO, Protocol, Self

import serial

from terminal.errors import ConfigError, ScannerError

__all__ = [
    "MAX_FRAME_BYTES",
    "DiscardHandler",
    "FrameDiscarded",
    "FrameSplitter",
    "Framing",
    "Scanner",
    "ScannerError",
    "SerialScanner",
    "StreamScanner",
]

log = logging.getLogger(__name__)

#: the longest frame kept; an ESSC1 code is well under 2 KiB
MAX_FRAME_BYTES = 8192
_READ_BYTES = 4096


class Framing(StrEnum):
    """What ends a code: the suffix the scanner is configured to send."""

    CR = "cr"
    LF = "lf"
    CRLF = "crlf"
    ANY = "any"  # any of CR, LF and TAB (CRLF is one end: the empty frame between is skipped)


_TERMINATORS: dict[Framing, re.Pattern[bytes]] = {
    Framing.CR: re.compile(rb"\r"),
    Framing.LF: re.compile(rb"\n"),
    Framing.CRLF: re.compile(rb"\r\n"),
    Framing.ANY: re.compile(rb"[\r\n\t]"),
}


@dataclass(frozen=True, slots=True)
class FrameDiscarded:
    """A frame that was skipped: ``too_long`` or ``not_utf8``; ``length`` in bytes."""

    reason: str
    length: int
    message: str


DiscardHandler = Callable[[FrameDiscarded], None]


class FrameSplitter:
    """Splits a byte stream into decoded frames, with bounded memory.

    :meth:`feed` takes any slice of the stream (a frame may arrive in pieces, a terminator
    too) and returns the frames it completed, in order: text, or :class:`FrameDiscarded`.
    Empty frames are skipped.  :meth:`finish` ends the stream and returns a last frame that
    had no terminator (the end of a piped input).
    """

    def __init__(self, framing: Framing, *, max_bytes: int = MAX_FRAME_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.framing = framing
        self.max_bytes = max_bytes
        self._terminator = _TERMINATORS[framing]
        self._buffer = bytearray()
        self._dropped = 0  # bytes already dropped of the current over-long frame

    def feed(self, data: bytes) -> list[str | FrameDiscarded]:
        self._buffer += data
        frames: list[str | FrameDiscarded] = []
        start = 0
        while match := self._terminator.search(self._buffer, start):
            frames.extend(self._complete(bytes(self._buffer[start : match.start()])))
            start = match.end()
        del self._buffer[:start]
        if len(self._buffer) > self.max_bytes:
            # Over-long: drop what came so far, keeping a CR that may start a split CRLF.
            keep = 1 if self.framing is Framing.CRLF and self._buffer.endswith(b"\r") else 0
            self._dropped += len(self._buffer) - keep
            del self._buffer[: len(self._buffer) - keep]
        return frames

    @property
    def pending(self) -> int:
        """Bytes held for the frame in progress (never more than ``max_bytes``)."""
        return len(self._buffer)

    def finish(self) -> list[str | FrameDiscarded]:
        rest = bytes(self._buffer)
        self._buffer.clear()
        return self._complete(rest)

    def _complete(self, frame: bytes) -> list[str | FrameDiscarded]:
        if self._dropped or len(frame) > self.max_bytes:
            length, self._dropped = self._dropped + len(frame), 0
            return [
                FrameDiscarded(
                    "too_long",
                    length,
                    f"discarded an over-long scan: {length} bytes before a terminator, over "
                    f"the {self.max_bytes}-byte limit — check the scanner's suffix setting "
                    f"(expected framing: {self.framing.value})",
                )
            ]
        if not frame:
            return []
        try:
            return [frame.decode("utf-8")]
        except UnicodeDecodeError as error:
            return [
                FrameDiscarded(
                    "not_utf8",
                    len(frame),
                    f"discarded a {len(frame)}-byte scan that is not UTF-8 (invalid byte at "
                    f"offset {error.start}) — set the scanner to UTF-8 output",
                )
            ]


class Scanner(Protocol):
    """A source of scanned code texts."""

    def codes(self) -> Iterator[str]:
        """Each scanned code's text, without its terminator; ends when the scanner closes."""
        ...

    def close(self) -> None:
        """Stop: safe from another thread, and more than once."""
        ...


def _log_discard(discarded: FrameDiscarded) -> None:
    log.warning("scanner: %s", discarded.message)


class _FramedScanner:
    """What both scanners share: the splitter, discard reports, the stop event."""

    def __init__(
        self,
        framing: Framing,
        *,
        max_frame_bytes: int,
        on_discard: DiscardHandler | None,
        stop: threading.Event | None,
    ) -> None:
        self._splitter = FrameSplitter(framing, max_bytes=max_frame_bytes)
        self._on_discard = on_discard or _log_discard
        self._stop = stop if stop is not None else threading.Event()
        #: how many frames were discarded (too long, not UTF-8) since the scanner started
        self.discarded = 0

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    def _emit(self, frames: Iterable[str | FrameDiscarded]) -> Iterator[str]:
        for frame in frames:
            if isinstance(frame, FrameDiscarded):
                self.discarded += 1
                self._on_discard(frame)
            else:
                log.debug("scanner: a code of %d characters", len(frame))
                yield frame

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()


class StreamScanner(_FramedScanner):
    """Codes from a text stream: standard input, a keyboard-wedge TTY, or an in-memory text.

    A stream with a file descriptor is read from the descriptor directly (``select`` with
    ``poll_interval``, so :meth:`close` from another thread stops a blocked read); the scanner
    owns the stream from its first byte.  Other streams (``io.StringIO``) are read a bounded
    line at a time.  CR, LF, CRLF and TAB end a code; a last code without one ends at end of
    input.  ``cbreak`` (default on) puts a TTY in cbreak mode while reading, see the module
    docstring.  The stream itself is left open: the caller owns it.
    """

    def __init__(
        self,
        stream: IO[str],
        *,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        poll_interval: float = 0.1,
        cbreak: bool = True,
        on_discard: DiscardHandler | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        super().__init__(
            Framing.ANY, max_frame_bytes=max_frame_bytes, on_discard=on_discard, stop=stop
        )
        if not poll_interval > 0:
            raise ValueError("poll_interval must be positive")
        self._stream = stream
        self._poll_interval = poll_interval
        self._cbreak = cbreak

    def codes(self) -> Iterator[str]:
        descriptor = _descriptor(self._stream)
        if descriptor is None:
            yield from self._text_codes()
        else:
            yield from self._descriptor_codes(descriptor)

    def _text_codes(self) -> Iterator[str]:
        while not self._stop.is_set():
            try:
                chunk = self._stream.readline(_READ_BYTES)
            except (OSError, UnicodeDecodeError) as error:
                raise ScannerError(
                    f"cannot read codes from the input stream ({type(error).__name__}): "
                    "it must be UTF-8 text"
                ) from error
            if not chunk:
                yield from self._emit(self._splitter.finish())
                return
            # surrogatepass: a lone surrogate (undecodable input) fails UTF-8 decoding later
            yield from self._emit(self._splitter.feed(chunk.encode("utf-8", "surrogatepass")))

    def _descriptor_codes(self, descriptor: int) -> Iterator[str]:
        with self._terminal_mode(descriptor):
            while not self._stop.is_set():
                try:
                    ready, _, _ = select.select([descriptor], [], [], self._poll_interval)
                    data = os.read(descriptor, _READ_BYTES) if ready else None
                except OSError as error:
                    if self._stop.is_set():
                        return
                    raise ScannerError(
                        f"cannot read codes from the input stream: {error.strerror or error} — "
                        "if this is a scanner's TTY, check that the scanner is still plugged in"
                    ) from error
                if data is None:
                    continue
                if not data:
                    yield from self._emit(self._splitter.finish())
                    return
                yield from self._emit(self._splitter.feed(data))

    @contextmanager
    def _terminal_mode(self, descriptor: int) -> Iterator[None]:
        if not (self._cbreak and os.isatty(descriptor)):
            yield
            return
        saved = termios.tcgetattr(descriptor)
        tty.setcbreak(descriptor, termios.TCSANOW)  # not TCSAFLUSH: keep what was typed
        try:
            yield
        finally:
            with suppress(termios.error, OSError):  # the TTY may be gone (unplugged)
                termios.tcsetattr(descriptor, termios.TCSADRAIN, saved)


def _descriptor(stream: IO[str]) -> int | None:
    try:
        return stream.fileno()
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
        return None


class SerialScanner(_FramedScanner):
    """Codes from a scanner on a serial port (pyserial).

    ``port`` is a device path or a pyserial URL; ``timeout`` is the read timeout, which is
    also how soon :meth:`close` from another thread takes effect.  The port is opened here, so
    a missing or busy port fails at once with a :class:`ScannerError` naming it.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        framing: Framing | str = Framing.ANY,
        timeout: float = 0.1,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        on_discard: DiscardHandler | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        try:
            chosen = Framing(framing)
        except ValueError:
            choices = ", ".join(item.value for item in Framing)
            raise ScannerError(
                f"scanner framing must be one of {choices} (got {framing!r})"
            ) from None
        if baudrate <= 0:
            raise ScannerError(f"the scanner's baud rate must be positive (got {baudrate})")
        if not timeout > 0:
            raise ScannerError(f"the scanner's read timeout must be positive (got {timeout})")
        super().__init__(chosen, max_frame_bytes=max_frame_bytes, on_discard=on_discard, stop=stop)
        self.port = port
        self._lock = threading.Lock()
        self._reading = False
        try:
            self._connection = serial.serial_for_url(port, baudrate=baudrate, timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as error:
            raise ScannerError(
                f"cannot open the scanner's serial port {port}: {error} — check that the "
                f"scanner is plugged in and powered, that {port} is its device (see "
                "/dev/serial/by-id/), that no other program holds it, and that this user may "
                "open it (group dialout)"
            ) from error
        log.info("scanner: serial port open (%d baud, framing %s)", baudrate, chosen.value)

    @property
    def connection(self) -> serial.Serial:
        """The open pyserial connection (tests write to a ``loop://`` port through it)."""
        return self._connection

    def codes(self) -> Iterator[str]:
        with self._lock:
            if self._stop.is_set() or self._reading:
                return
            self._reading = True
        broken = False
        try:
            while not self._stop.is_set():
                try:
                    data = self._connection.read(
                        min(max(self._connection.in_waiting, 1), _READ_BYTES)
                    )
                except (serial.SerialException, OSError, TypeError) as error:
                    if self._stop.is_set():
                        return
                    broken = True
                    raise ScannerError(
                        f"the scanner on {self.port} stopped working ({error}) — check that it "
                        f"is still plugged in and that no other program uses {self.port}"
                    ) from error
                if data:
                    yield from self._emit(self._splitter.feed(data))
        finally:
            with self._lock:
                self._reading = False
                if broken or self._stop.is_set():
                    self._close_connection()

    def close(self) -> None:
        """Stop reading and close the port (now, or when the reading thread notices)."""
        self._stop.set()
        with self._lock:
            if not self._reading:
                self._close_connection()

    def _close_connection(self) -> None:
        with suppress(serial.SerialException, OSError):
            self._connection.close()


def parse_serial_source(source: str) -> tuple[str, int, str]:
    """``serial:PORT[@BAUD][,cr|lf|crlf|any]`` as (port, baud rate, framing); a malformed
    source is a ConfigError (said before anything starts)."""
    spec, _, framing = source.removeprefix("serial:").partition(",")
    port, _, baud = spec.partition("@")
    if not port:
        raise ConfigError(f"{source!r}: serial:PORT needs a port, e.g. serial:/dev/ttyACM0")
    try:
        baudrate = int(baud) if baud else 9600
    except ValueError as exc:
        raise ConfigError(f"{source!r}: the baud rate must be a number") from exc
    if framing and framing not in {item.value for item in Framing}:
        choices = ", ".join(item.value for item in Framing)
        raise ConfigError(f"{source!r}: the framing must be one of {choices}")
    return port, baudrate, framing or Framing.ANY.value


def open_serial_source(source: str, *, stop: threading.Event | None = None) -> SerialScanner:
    """A serial scanner from ``serial:PORT[@BAUD][,framing]`` (``ykt check --from``, ``ykt run
    --scanner``); a port that cannot open is a ScannerError."""
    port, baudrate, framing = parse_serial_source(source)
    return SerialScanner(port, baudrate=baudrate, framing=framing, stop=stop)
