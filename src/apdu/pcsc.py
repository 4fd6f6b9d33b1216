"""Real readers through PC/SC (pyscard → libpcsclite → pcscd).

This is the only module that imports :mod:`smartcard`.  It uses pyscard's thin ``scard``
layer (one C call per APDU, no observers), lists and picks readers, waits for a card to arrive
or leave with ``SCardGetStatusChange`` (no sleeps), and turns every PC/SC failure into an
:class:`~apdu.errors.ApduError` with a sentence a technician can act on.
"""

from __future__ import annotations

import fnmatch
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from smartcard import scard

from apdu.errors import (
    ApduError,
    CardRemovedError,
    CardServiceError,
    CardServiceUnavailable,
    NoCardError,
    NoReaderError,
    ReaderCommunicationError,
    ReaderUnplugged,
    WaitCancelled,
)

# --- PC/SC result codes -------------------------------------------------------------------
# Named here because pyscard's constants are platform-dependent attributes without types.
SCARD_S_SUCCESS = 0x00000000
SCARD_E_CANCELLED = 0x80100002
SCARD_E_INVALID_HANDLE = 0x80100003
SCARD_E_UNKNOWN_READER = 0x80100009
SCARD_E_TIMEOUT = 0x8010000A
SCARD_E_SHARING_VIOLATION = 0x8010000B
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_E_PROTO_MISMATCH = 0x8010000F
SCARD_E_NOT_TRANSACTED = 0x80100016
SCARD_E_READER_UNAVAILABLE = 0x80100017
SCARD_E_NO_SERVICE = 0x8010001D
SCARD_E_SERVICE_STOPPED = 0x8010001E
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_F_COMM_ERROR = 0x80100013
SCARD_W_UNRESPONSIVE_CARD = 0x80100066
SCARD_W_UNPOWERED_CARD = 0x80100067
SCARD_W_RESET_CARD = 0x80100068
SCARD_W_REMOVED_CARD = 0x80100069

# SCARD_F_COMM_ERROR is pcsc-lite's "RPC transport error": the client lost pcscd.
_SERVICE_DOWN = frozenset({SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_F_COMM_ERROR})
_READER_GONE = frozenset({SCARD_E_UNKNOWN_READER, SCARD_E_READER_UNAVAILABLE})
_CARD_GONE = frozenset({SCARD_E_NO_SMARTCARD, SCARD_W_REMOVED_CARD})

_SERVICE_DOWN_MESSAGE = (
    "card service (pcscd) is not running: start it (e.g. `pcscd` or `systemctl start "
    "pcscd.socket`) and try again"
)


def _code(result: int) -> int:
    return result & 0xFFFFFFFF


def describe_result(result: int) -> str:
    """PC/SC's own text for a result code, with the code, for logs and messages."""
    text = str(scard.SCardGetErrorMessage(result)).strip().rstrip(".")
    return f"{text} (0x{_code(result):08X})"


def error_for(result: int, step: str, reader: str = "") -> ApduError:
    """The card-layer error for a failed PC/SC call made during ``step``."""
    code = _code(result)
    where = f" on reader {reader!r}" if reader else ""
    if code in _SERVICE_DOWN:
        if code == SCARD_E_NO_SERVICE:
            return CardServiceUnavailable(_SERVICE_DOWN_MESSAGE)
        return CardServiceUnavailable(
            f"card service (pcscd) stopped while {step} ({describe_result(result)}): "
            "start it again and tap the card again"
        )
    if code == SCARD_E_NO_READERS_AVAILABLE:
        return NoReaderError(
            "no reader connected: plug in a PC/SC card reader (check `ykt readers`)"
        )
    if code in _READER_GONE:
        return ReaderUnplugged(
            f"reader unplugged{where} while {step}: plug it back in and tap the card again"
        )
    if code in _CARD_GONE:
        return CardRemovedError(
            f"card removed during read{where}: hold the card on the reader until the "
            "result shows, then tap again"
        )
    if code in (SCARD_W_UNRESPONSIVE_CARD, SCARD_W_UNPOWERED_CARD):
        return ReaderCommunicationError(
            f"the card does not answer{where} ({describe_result(result)}): take it out, check "
            "it is inserted the right way round (chip first, contacts down) and try again"
        )
    if code == SCARD_W_RESET_CARD:
        return ReaderCommunicationError(
            f"another program reset the card{where} while {step}: close other card programs "
            "and tap again"
        )
    if code == SCARD_E_SHARING_VIOLATION:
        return ReaderCommunicationError(
            f"another program holds the card{where} exclusively: close it and tap again"
        )
    if code == SCARD_E_CANCELLED:
        return WaitCancelled(f"{step} was cancelled")
    return ReaderCommunicationError(
        f"reader communication error{where} while {step}: {describe_result(result)}; "
        "reconnect the reader and try again"
    )


# --- readers ------------------------------------------------------------------------------
class ReaderInterface(Enum):
    """What kind of slot a reader name denotes."""

    CONTACT = "contact"
    CONTACTLESS = "contactless"
    SAM = "sam"


_CONTACTLESS_NAME = re.compile(r"PICC|contactless|\bCL\b|ACR122|NFC", re.IGNORECASE)
_SAM_NAME = re.compile(r"\bSAM\b", re.IGNORECASE)


def interface_of(reader: str) -> ReaderInterface:
    """Guess the slot kind from the reader name, as PC/SC drivers name their slots."""
    if _SAM_NAME.search(reader):
        return ReaderInterface.SAM
    if _CONTACTLESS_NAME.search(reader):
        return ReaderInterface.CONTACTLESS
    return ReaderInterface.CONTACT


class InterfacePreference(IntEnum):
    """The vendor SDK's ``iType``: which slot to read when a reader has several."""

    CONTACT = 1
    CONTACTLESS = 2
    AUTO_CONTACT_FIRST = 3
    AUTO_CONTACTLESS_FIRST = 4

    def order(self) -> tuple[ReaderInterface, ...]:
        contact, contactless = ReaderInterface.CONTACT, ReaderInterface.CONTACTLESS
        return {
            InterfacePreference.CONTACT: (contact,),
            InterfacePreference.CONTACTLESS: (contactless,),
            InterfacePreference.AUTO_CONTACT_FIRST: (contact, contactless),
            InterfacePreference.AUTO_CONTACTLESS_FIRST: (contactless, contact),
        }[self]


def matches(reader: str, pattern: str) -> bool:
    """A reader name matches a glob (``*ACR*``) or, without wildcards, a substring; any case."""
    name, wanted = reader.casefold(), pattern.casefold()
    if any(ch in wanted for ch in "*?["):
        return fnmatch.fnmatchcase(name, wanted)
    return wanted in name


@dataclass(frozen=True, slots=True)
class ReaderStatus:
    name: str
    interface: ReaderInterface
    card_present: bool
    atr: bytes


def choose_reader(
    statuses: Sequence[ReaderStatus],
    pattern: str | None = None,
    preference: InterfacePreference = InterfacePreference.AUTO_CONTACT_FIRST,
    *,
    exclude: Sequence[str] = (),
) -> str:
    """The reader to read cards from, among ``statuses``.

    With ``pattern``, the first reader whose name matches it.  Without, the first reader
    of the preferred interface kinds, preferring one that holds a card.  SAM slots are
    never picked for cards unless named by the pattern.
    """
    statuses = [s for s in statuses if s.name not in exclude]
    if not statuses:
        raise NoReaderError(
            "no reader connected: plug in a PC/SC card reader (check `ykt readers`)"
        )
    if pattern is not None:
        if not pattern.strip():
            raise NoReaderError("an empty reader pattern matches no reader: name one")
        for reader_status in statuses:
            if matches(reader_status.name, pattern):
                return reader_status.name
        names = ", ".join(s.name for s in statuses)
        raise NoReaderError(f"no reader matches {pattern!r}; connected readers: {names}")
    for kind in preference.order():
        candidates = [s for s in statuses if s.interface is kind]
        with_card = [s for s in candidates if s.card_present]
        if with_card or candidates:
            return (with_card or candidates)[0].name
    kinds = " or ".join(k.value for k in preference.order())
    raise NoReaderError(f"no {kinds} reader connected (readers: {statuses[0].name}, ...)")


# --- the context ----------------------------------------------------------------------------
class PcscContext:
    """One PC/SC context: readers, waiting for cards, connecting.  Close it when done."""

    def __init__(self) -> None:
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if result != SCARD_S_SUCCESS:
            raise error_for(result, "connecting to the card service")
        self._context: Any = context
        self._lock = threading.Lock()

    def __enter__(self) -> PcscContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            scard.SCardReleaseContext(context)

    def readers(self) -> list[str]:
        result, names = scard.SCardListReaders(self._context, [])
        if _code(result) == SCARD_E_NO_READERS_AVAILABLE:
            return []
        if result != SCARD_S_SUCCESS:
            raise error_for(result, "listing readers")
        return [str(name) for name in names]

    def status(self) -> list[ReaderStatus]:
        """Every reader with whether a card is in it and the card's ATR."""
        names = self.readers()
        if not names:
            return []
        states = [(name, scard.SCARD_STATE_UNAWARE) for name in names]
        result, new_states = scard.SCardGetStatusChange(self._context, 0, states)
        if result not in (SCARD_S_SUCCESS, SCARD_E_TIMEOUT):
            raise error_for(result, "reading reader status")
        return [
            ReaderStatus(
                name=str(name),
                interface=interface_of(str(name)),
                card_present=bool(state & scard.SCARD_STATE_PRESENT),
                atr=bytes(atr),
            )
            for name, state, atr in new_states
        ]

    def pick_reader(
        self,
        pattern: str | None = None,
        preference: InterfacePreference = InterfacePreference.AUTO_CONTACT_FIRST,
        *,
        exclude: Sequence[str] = (),
    ) -> str:
        """The reader to read cards from: see :func:`choose_reader`."""
        return choose_reader(self.status(), pattern, preference, exclude=exclude)

    def _wait(self, reader: str, want_present: bool, timeout: float | None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        known = scard.SCARD_STATE_UNAWARE
        while True:
            if deadline is None:
                wait_ms = scard.INFINITE
            else:
                wait_ms = max(0, int((deadline - time.monotonic()) * 1000))
            result, states = scard.SCardGetStatusChange(self._context, wait_ms, [(reader, known)])
            code = _code(result)
            if code == SCARD_E_TIMEOUT:
                what = "no card was presented" if want_present else "the card was not taken out"
                raise NoCardError(f"{what} within {timeout:g} s on reader {reader!r}")
            if code in (SCARD_E_UNKNOWN_READER,):
                raise ReaderUnplugged(f"reader {reader!r} is not connected (any more)")
            if code != SCARD_S_SUCCESS:
                raise error_for(result, "waiting for a card", reader)
            _, event, atr = states[0]
            if event & (scard.SCARD_STATE_UNKNOWN | scard.SCARD_STATE_UNAVAILABLE):
                raise ReaderUnplugged(f"reader unplugged: {reader!r} went away; plug it back in")
            present = bool(event & scard.SCARD_STATE_PRESENT)
            mute = bool(event & scard.SCARD_STATE_MUTE)
            if want_present and present and not mute:
                return bytes(atr)
            if not want_present and not present:
                return b""
            known = event & ~scard.SCARD_STATE_CHANGED

    def wait_for_card(self, reader: str, timeout: float | None = None) -> bytes:
        """Block until a card sits in ``reader`` (returns its ATR); ``None`` waits forever."""
        return self._wait(reader, want_present=True, timeout=timeout)

    def wait_for_removal(self, reader: str, timeout: float | None = None) -> None:
        """Block until ``reader`` is empty."""
        self._wait(reader, want_present=False, timeout=timeout)

    def cancel(self) -> None:
        """Wake any thread blocked in :meth:`wait_for_card` (it raises WaitCancelled)."""
        if self._context is not None:
            scard.SCardCancel(self._context)

    def connect(self, reader: str, *, exclusive: bool = False) -> PcscTransport:
        """Connect to the card in ``reader`` over T=0 or T=1."""
        share = scard.SCARD_SHARE_EXCLUSIVE if exclusive else scard.SCARD_SHARE_SHARED
        protocols = scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        result, handle, protocol = scard.SCardConnect(self._context, reader, share, protocols)
        code = _code(result)
        if code in _CARD_GONE:
            raise NoCardError(f"no card in reader {reader!r}: insert or tap the card")
        if code == SCARD_E_PROTO_MISMATCH:
            raise ReaderCommunicationError(
                f"the card in {reader!r} speaks neither T=0 nor T=1: it is not a "
                "social security card"
            )
        if result != SCARD_S_SUCCESS:
            raise error_for(result, "connecting to the card", reader)
        return PcscTransport(self, reader, handle, protocol)

    def card_left(self, reader: str, within: float) -> bool:
        """Whether ``reader`` is, or within ``within`` seconds becomes, empty or gone."""
        try:
            self.wait_for_removal(reader, timeout=within)
        except NoCardError:
            return False
        except ReaderUnplugged:
            return True
        return True


#: How long a transport waits for PC/SC to report a card gone after an empty answer.  Some
#: drivers (vpcd among them) answer an exchange with the card already gone with zero bytes
#: and report the removal only at their next presence poll (~400 ms).
REMOVAL_GRACE = 1.0


class PcscTransport:
    """One connected card.  ``transmit`` is a single ``SCardTransmit`` and a bytes copy."""

    def __init__(self, context: PcscContext, reader: str, handle: Any, protocol: int) -> None:
        self._context = context
        self._reader = reader
        self._handle: Any = handle
        self._pci = (
            scard.SCARD_PCI_T0 if protocol == scard.SCARD_PROTOCOL_T0 else (scard.SCARD_PCI_T1)
        )
        self._atr: bytes | None = None

    @property
    def reader(self) -> str:
        return self._reader

    @property
    def atr(self) -> bytes:
        if self._atr is None:
            result, _reader, _state, _protocol, atr = scard.SCardStatus(self._handle)
            if result != SCARD_S_SUCCESS:
                raise error_for(result, "reading the card's ATR", self._reader)
            self._atr = bytes(atr)
        return self._atr

    def transmit(self, apdu: bytes) -> bytes:
        result, response = scard.SCardTransmit(self._handle, self._pci, list(apdu))
        if result != SCARD_S_SUCCESS:
            raise self._failure(result, "reading the card")
        if not response and self._context.card_left(self._reader, REMOVAL_GRACE):
            raise error_for(SCARD_W_REMOVED_CARD, "reading the card", self._reader)
        return bytes(response)

    def _failure(self, result: int, step: str) -> ApduError:
        """Tell a pulled card from a broken link: a failed exchange often just means removal."""
        error = error_for(result, step, self._reader)
        if isinstance(error, CardServiceError) and not isinstance(
            error, CardRemovedError | CardServiceUnavailable | ReaderUnplugged
        ):
            status_result, *_ = scard.SCardStatus(self._handle)
            if _code(status_result) in _CARD_GONE:
                return error_for(SCARD_W_REMOVED_CARD, step, self._reader)
            if _code(status_result) in _READER_GONE:
                return error_for(SCARD_E_READER_UNAVAILABLE, step, self._reader)
        return error

    def control(self, code: int, data: bytes) -> bytes:
        """Reader escape command ``SCARD_CTL_CODE(code)`` (3500 is CCID escape on pcsc-lite)."""
        result, response = scard.SCardControl(self._handle, scard.SCARD_CTL_CODE(code), list(data))
        if result != SCARD_S_SUCCESS:
            raise error_for(result, "sending a reader control command", self._reader)
        return bytes(response)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)

    def __enter__(self) -> PcscTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
