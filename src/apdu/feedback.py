"""Reader feedback: the LED and buzzer that tell the cardholder "done" or "try again".

Chosen by reader name.  Feedback never fails a read: an unknown reader gets none (and no
error), and a known reader that refuses a feedback command is logged, not raised.

* ACR122U-style readers take a pseudo-APDU ``FF 00 40 P2 04 T1 T2 N B`` through the control
  channel (``SCardControl`` function 3500; bi-colour LED and buzzer in one command).
* ACR1251/1252/1255/1281/1283-style readers take CCID escape commands through
  ``SCardControl`` (function 3500): ``E0 00 00 29 01 LED`` and ``E0 00 00 28 01 T``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from apdu.errors import ApduError
from apdu.transport import Transport

log = logging.getLogger(__name__)

#: ``SCARD_CTL_CODE(3500)``: the CCID escape function on pcsc-lite.
CCID_ESCAPE = 3500


class Signal(Enum):
    SUCCESS = "success"  # green flash, one short beep
    FAILURE = "failure"  # red flashes, three beeps


class ReaderFeedback(Protocol):
    def signal(self, transport: Transport, signal: Signal) -> None: ...


@dataclass(frozen=True, slots=True)
class NoFeedback:
    """Readers we do not know: stay silent."""

    def signal(self, transport: Transport, signal: Signal) -> None:
        del transport, signal


@dataclass(frozen=True, slots=True)
class PseudoApduFeedback:
    """ACR122U: LED state byte and blink timing in one pseudo-APDU on the control channel."""

    # P2 bits: 7 green blink mask, 6 red blink mask, 5 initial green, 4 initial red,
    # 3 green state mask, 2 red state mask, 1 final green, 0 final red.
    # Data: T1 and T2 (units of 100 ms), repetitions, buzzer link (1: beep during T1).
    def command(self, signal: Signal) -> bytes:
        if signal is Signal.SUCCESS:
            return bytes.fromhex("FF0040A804 01 01 01 01".replace(" ", ""))
        return bytes.fromhex("FF00405404 02 01 03 01".replace(" ", ""))

    def signal(self, transport: Transport, signal: Signal) -> None:
        try:
            transport.control(CCID_ESCAPE, self.command(signal))
        except ApduError as exc:
            log.info("reader %s refused LED/buzzer command: %s", transport.reader, exc.message)


@dataclass(frozen=True, slots=True)
class EscapeFeedback:
    """ACR12x1-style: separate LED and buzzer escape commands through SCardControl."""

    def commands(self, signal: Signal) -> list[bytes]:
        if signal is Signal.SUCCESS:
            # LED byte: bit 0 red, bit 1 green.  Buzzer time in units of 10 ms.
            return [bytes.fromhex("E000002901") + b"\x02", bytes.fromhex("E000002801") + b"\x0a"]
        return [bytes.fromhex("E000002901") + b"\x01", bytes.fromhex("E000002801") + b"\x1e"]

    def signal(self, transport: Transport, signal: Signal) -> None:
        for command in self.commands(signal):
            try:
                transport.control(CCID_ESCAPE, command)
            except ApduError as exc:
                log.info("reader %s refused escape command: %s", transport.reader, exc.message)
                return


_BY_NAME: list[tuple[re.Pattern[str], ReaderFeedback]] = [
    (re.compile(r"ACR122", re.IGNORECASE), PseudoApduFeedback()),
    (re.compile(r"ACR12(5[1-5]|8[1-3])", re.IGNORECASE), EscapeFeedback()),
]


def feedback_for(reader: str) -> ReaderFeedback:
    """The feedback style for a reader, by its PC/SC name; :class:`NoFeedback` if unknown."""
    for pattern, feedback in _BY_NAME:
        if pattern.search(reader):
            return feedback
    return NoFeedback()
