"""In-process transports for unit tests and for the demo when no PC/SC stack is available.

* :class:`ScriptedTransport` replays a script of expected commands and canned responses and
  fails loudly on any command the script did not expect.
* :class:`EmulatedTransport` hands each command to an emulated card object in this process.
* :class:`EmulatedReaders` is a set of named readers holding emulated cards, with the part of
  :class:`~apdu.pcsc.PcscContext` that reads use (picking a reader, waiting for a card or its
  removal, connecting), for the terminal's self test and for tests without pcscd.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from apdu.errors import CardRemovedError, NoCardError, ReaderUnplugged, WaitCancelled
from apdu.pcsc import InterfacePreference, ReaderStatus, choose_reader, interface_of


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


class EmulatedReaders:
    """Named readers in this process, each empty or holding an emulated card.

    Cards are put in and taken out from any thread (:meth:`insert`, :meth:`remove`); waits
    wake at once on the change, and :meth:`cancel` ends them as ``SCardCancel`` does.
    """

    def __init__(self, cards: Mapping[str, EmulatedCard | None]) -> None:
        self._cards: dict[str, EmulatedCard | None] = dict(cards)
        self._changed = threading.Condition()
        self._cancels = 0

    def __enter__(self) -> EmulatedReaders:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing to release (the readers outlive a context that is closed and reopened)."""

    def insert(self, reader: str, card: EmulatedCard) -> None:
        with self._changed:
            self._cards[reader] = card
            self._changed.notify_all()

    def remove(self, reader: str) -> None:
        with self._changed:
            self._cards[reader] = None
            self._changed.notify_all()

    def readers(self) -> list[str]:
        with self._changed:
            return list(self._cards)

    def status(self) -> list[ReaderStatus]:
        with self._changed:
            return [
                ReaderStatus(name, interface_of(name), card is not None,
                             card.atr if card is not None else b"")
                for name, card in self._cards.items()
            ]  # fmt: skip

    def pick_reader(
        self,
        pattern: str | None = None,
        preference: InterfacePreference = InterfacePreference.AUTO_CONTACT_FIRST,
        *,
        exclude: Sequence[str] = (),
    ) -> str:
        return choose_reader(self.status(), pattern, preference, exclude=exclude)

    def _wait(self, reader: str, want_present: bool, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            cancels = self._cancels
            while True:
                if reader not in self._cards:
                    raise ReaderUnplugged(f"reader {reader!r} is not connected (any more)")
                card = self._cards[reader]
                if want_present and card is not None:
                    return card.atr
                if not want_present and card is None:
                    return b""
                if self._cancels != cancels:
                    raise WaitCancelled("waiting for a card was cancelled")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    what = "no card was presented" if want_present else "the card stayed"
                    raise NoCardError(f"{what} within {timeout:g} s on reader {reader!r}")
                self._changed.wait(left)

    def wait_for_card(self, reader: str, timeout: float | None = None) -> bytes:
        return self._wait(reader, want_present=True, timeout=timeout)

    def wait_for_removal(self, reader: str, timeout: float | None = None) -> None:
        self._wait(reader, want_present=False, timeout=timeout)

    def cancel(self) -> None:
        with self._changed:
            self._cancels += 1
            self._changed.notify_all()

    def connect(self, reader: str) -> EmulatedTransport:
        with self._changed:
            if reader not in self._cards:
                raise ReaderUnplugged(f"reader {reader!r} is not connected (any more)")
            card = self._cards[reader]
        if card is None:
            raise NoCardError(f"no card in reader {reader!r}: insert or tap the card")
        return EmulatedTransport(card, reader)
