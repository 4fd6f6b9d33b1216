"""The technician's APDU trace: the last exchanges with the card, masked, in a ring buffer.

An :class:`ApduTrace` plugs into :class:`apdu.transport.CardChannel`'s trace hook (through
``ReadRequest(trace=trace.record)``), so every read the app does — the reader watch's worker
thread, the self test — adds one line per exchange, which the screen reads from its own thread.

What a line shows (the masking rule; holder data must never reach the screen or a log):

* a command: CLA INS P1 P2, the name of the instruction, Lc and Le.  Its data only for SELECT:
  application names and file identifiers are the same on every card and say nothing about the
  holder.  Every other command shows the length of its data, never the bytes: INTERNAL
  AUTHENTICATE carries random numbers and EXTERNAL AUTHENTICATE a cryptogram made with the
  card's key (not personal, but nothing a technician needs, and key material stays out of
  traces); any command this table does not know is treated the same, so a new command cannot
  leak by default.  READ RECORD, GET CHALLENGE and GET RESPONSE carry no data at all (READ
  RECORD's P1 names which element is read, not its value).
* a response: its length and status word with the status word's meaning, never its data: the
  holder's name, numbers and dates come back in READ RECORD (and READ BINARY) responses.

Times are milliseconds since the trace started (or was last cleared), from an injected clock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from apdu.command import Command
from apdu.status import describe

DEFAULT_CAPACITY = 200

#: Instructions by INS byte, for the trace's readers.
INSTRUCTIONS = {
    0xA4: "SELECT",
    0xB0: "READ BINARY",
    0xB2: "READ RECORD",
    0xC0: "GET RESPONSE",
    0x84: "GET CHALLENGE",
    0x88: "INTERNAL AUTHENTICATE",
    0x82: "EXTERNAL AUTHENTICATE",
    0x20: "VERIFY",
}

#: The only instructions whose command data the trace shows (see the module docstring).
DATA_SHOWN = frozenset({0xA4})


@dataclass(frozen=True, slots=True)
class TraceEntry:
    """One exchange as the trace keeps it: nothing in it comes from the holder's data."""

    at_ms: float
    header: bytes  # CLA INS P1 P2 (fewer bytes only for a malformed command)
    data_length: int  # Lc: 0 when the command has no data
    le: int | None
    data: bytes | None  # the command data, only where DATA_SHOWN allows it
    response_length: int  # response data bytes, without the status word
    sw: int | None  # None when the card answered less than two bytes

    @property
    def instruction(self) -> str:
        if len(self.header) < 2:
            return "malformed command"
        return INSTRUCTIONS.get(self.header[1], f"INS {self.header[1]:02X}")

    @property
    def text(self) -> str:
        command = f"{self.instruction:<21} {self.header.hex(' ').upper():<11}"
        if self.data is not None:
            command += f" Lc={self.data_length} {self.data.hex().upper()}"
        elif self.data_length:
            command += f" Lc={self.data_length} (data not shown)"
        if self.le is not None:
            command += f" Le={self.le}"
        if self.sw is None:
            answer = f"{self.response_length} bytes, no status word"
        else:
            answer = f"{self.response_length} bytes, SW {describe(self.sw)}"
        return f"+{self.at_ms:9.1f} ms  {command}  -> {answer}"


def trace_entry(at_ms: float, raw_command: bytes, raw_response: bytes) -> TraceEntry:
    """The masked record of one exchange."""
    try:
        command = Command.from_bytes(raw_command)
    except ValueError:  # not a well-formed APDU: keep the header, hide the rest
        header, data_length, le, data = raw_command[:4], max(0, len(raw_command) - 4), None, None
    else:
        header = raw_command[:4]
        data_length, le = len(command.data), command.le
        data = command.data if command.ins in DATA_SHOWN and command.data else None
    if len(raw_response) < 2:
        return TraceEntry(at_ms, header, data_length, le, data, len(raw_response), None)
    sw = int.from_bytes(raw_response[-2:], "big")
    return TraceEntry(at_ms, header, data_length, le, data, len(raw_response) - 2, sw)


class ApduTrace:
    """The last ``capacity`` exchanges, masked; fed from any thread, read from any other.

    Pass :meth:`record` as the trace hook: ``ReadRequest(trace=trace.record)``.
    """

    def __init__(self, clock: Callable[[], float], capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"a trace keeps at least one line, not {capacity}")
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: deque[TraceEntry] = deque(maxlen=capacity)
        self._started = clock()
        self._total = 0

    @property
    def capacity(self) -> int:
        return self._entries.maxlen or 0

    def record(self, raw_command: bytes, raw_response: bytes) -> None:
        """The trace hook (:data:`apdu.transport.TraceHook`): one exchange, masked at once."""
        now = self._clock()
        with self._lock:
            entry = trace_entry((now - self._started) * 1000, raw_command, raw_response)
            self._entries.append(entry)
            self._total += 1

    def entries(self) -> list[TraceEntry]:
        with self._lock:
            return list(self._entries)

    def lines(self) -> list[str]:
        """The kept exchanges, oldest first, as the screen shows them."""
        return [entry.text for entry in self.entries()]

    @property
    def dropped(self) -> int:
        """How many exchanges fell off the front of the ring."""
        with self._lock:
            return self._total - len(self._entries)

    def clear(self) -> None:
        """Forget every line and start the clock again."""
        now = self._clock()
        with self._lock:
            self._entries.clear()
            self._started = now
            self._total = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
