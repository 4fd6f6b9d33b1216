"""Every reader, whether a card is in it, and what its answer to reset says: for the
technician's screen, which shows a problem (pcscd down, no reader) as a sentence, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from apdu.atr import parse_atr
from apdu.errors import ApduError, CardDataError
from apdu.feedback import EscapeFeedback, PseudoApduFeedback, feedback_for
from apdu.pcsc import PcscContext, ReaderStatus
from terminal.masking import mask_atr_hex

#: The historical bytes the project's card emulator gives its cards: 00 "SSC" generation.
_EMULATED_CARD = b"\x00SSC"
#: The historical bytes of the emulator's test PSAM.
_EMULATED_PSAM = b"PSAMYSSE"


class ReaderStatuses(Protocol):
    def status(self) -> list[ReaderStatus]: ...


@dataclass(frozen=True, slots=True)
class ReaderFacts:
    """One reader as the technician sees it.  ``atr_hex`` hides the ATR's last 8 bytes: on a
    social security card they are the card's own diversifier, a stable per-card identifier."""

    name: str
    interface: str  # contact, contactless or sam
    card_present: bool
    atr_hex: str  # masked; empty when no card
    atr_meaning: str  # what the ATR says, or why it cannot be read; empty when no card
    feedback: str  # the LED and buzzer the terminal drives on this reader

    @property
    def text(self) -> str:
        if not self.card_present:
            return f"{self.name}  [{self.interface}]  empty  ({self.feedback})"
        return (
            f"{self.name}  [{self.interface}]  card {self.atr_hex}: {self.atr_meaning}  "
            f"({self.feedback})"
        )


@dataclass(frozen=True, slots=True)
class ReaderReport:
    readers: tuple[ReaderFacts, ...]
    #: why there is nothing to show (pcscd down, no reader connected); None when readers show
    problem: str | None = None

    def lines(self) -> list[str]:
        if self.problem is not None:
            return [self.problem]
        return [reader.text for reader in self.readers]


def describe_atr(atr: bytes) -> str:
    """Protocols, historical bytes and, where the project knows the card, what it is."""
    try:
        parsed = parse_atr(atr)
    except CardDataError as error:
        return error.message.replace(atr.hex().upper(), "(this ATR)")
    protocols = "/".join(f"T={p}" for p in parsed.protocols)
    historical = parsed.historical
    facts = f"{protocols}, {len(historical)} historical bytes"
    if historical.startswith(_EMULATED_CARD) and len(historical) > len(_EMULATED_CARD):
        generation = historical[len(_EMULATED_CARD)]
        return f"{facts}: the card emulator's social security card, generation {generation}"
    if historical.startswith(_EMULATED_PSAM):
        return f"{facts}: the card emulator's test PSAM"
    return f"{facts}: card type not known from its ATR (read it to see what it is)"


def describe_feedback(reader: str) -> str:
    feedback = feedback_for(reader)
    if isinstance(feedback, PseudoApduFeedback):
        return "LED + buzzer (ACR122 pseudo-APDU)"
    if isinstance(feedback, EscapeFeedback):
        return "LED + buzzer (ACR12x1 escape)"
    return "no LED/buzzer known for this reader"


def reader_facts(status: ReaderStatus) -> ReaderFacts:
    atr_hex = mask_atr_hex(status.atr.hex().upper()) if status.card_present else ""
    meaning = describe_atr(status.atr) if status.card_present else ""
    return ReaderFacts(
        status.name,
        status.interface.value,
        status.card_present,
        atr_hex,
        meaning,
        describe_feedback(status.name),
    )


def reader_report(
    open_context: Callable[[], AbstractContextManager[ReaderStatuses]] = PcscContext,
) -> ReaderReport:
    """Every reader, card present or not; a card-layer failure becomes the report's problem."""
    try:
        with open_context() as context:
            statuses = context.status()
    except ApduError as error:
        return ReaderReport((), error.message)
    if not statuses:
        return ReaderReport(
            (), "no reader connected: plug in a PC/SC card reader (check its USB cable)"
        )
    return ReaderReport(tuple(reader_facts(status) for status in statuses))
