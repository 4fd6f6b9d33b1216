"""In-process transports for unit tests and for the demo when no PC/SC stack is available.

* :class:`ScriptedTransport` replays a script of expected commands and canned responses and
  fails loudly on any command the script did not expect.
* :class:`EmulatedTransport` hands each command to an emulated card object in this process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from apdu.errors import CardRemovedError


class ScriptMismatch(AssertionError):
    """The code under test sent a command the script did not expect."""


class ScriptedTransport:
    def __init__(
        self,
        exchanges: Iterable[tuple[str, str]],
        *,
        atr: bytes = bytes.fromhex("3B6D00000053534303000000000000A10001"),
        reader: str = "Scripted Reader 00 00",
    ) -> None:
        self._script = [(bytes.fromhex(c), bytes.fromhex(r)) for c, r in exchanges]
        self._position = 0
        self._atr = atr
        self._reader = reader
        self.controls: list[tuple[int, bytes]] = []

    @property
    def reader(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        return self._atr

    @property
    def finished(self) -> bool:
        return self._position == len(self._script)

    def transmit(self, apdu: bytes) -> bytes:
        if self._position >= len(self._script):
            raise ScriptMismatch(f"unexpected extra command {apdu.hex().upper()}")
        expected, response = self._script[self._position]
        if apdu != expected:
            raise ScriptMismatch(
                f"command {self._position}: expected {expected.hex().upper()}, "
                f"got {apdu.hex().upper()}"
            )
        self._position += 1
        return response

    def control(self, code: int, data: bytes) -> bytes:
        self.controls.append((code, data))
        return b""

    def close(self) -> None:
        pass


class EmulatedCard(Protocol):
    """What a transport needs of an emulated card (the virtual card and the virtual PSAM)."""

    @property
    def atr(self) -> bytes: ...

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def process(self, raw: bytes) -> bytes: ...


class EmulatedTransport:
    """An emulated card in an imaginary reader, in this process."""

    def __init__(self, card: EmulatedCard, reader: str = "Emulated Reader 00 00") -> None:
        self.card = card
        self._reader = reader
        card.power_on()

    @property
    def reader(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        return self.card.atr

    def transmit(self, apdu: bytes) -> bytes:
        try:
            return self.card.process(apdu)
        except Exception as exc:  # the emulator's "card pulled" fault, or its own bug
            raise CardRemovedError(
                "card removed during read: hold the card on the reader until the result shows"
            ) from exc

    def control(self, code: int, data: bytes) -> bytes:
        del code, data
        return b""

    def close(self) -> None:
        pass
