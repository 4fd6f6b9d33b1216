"""The security module interface the card reader uses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from apdu.security._crypto import CardAlgorithm, city_diversifier


class CardKey(IntEnum):
    """Card keys the terminal uses, by the key reference a PSAM knows them under."""

    INTERNAL_AUTHENTICATION = 0x12
    RKSSSE = 0x0A  # read key of the SSSE application (unlocks gen-3 protected data)

    @property
    def label(self) -> str:
        return {0x12: "internal authentication", 0x0A: "RKSSSE"}[self.value]


@dataclass(frozen=True, slots=True)
class Diversification:
    """What makes a card's keys its own: its ATR tail and its issuing city."""

    card: bytes  # last 8 bytes of the ATR
    city: bytes  # ASCII region code + "sx"

    @classmethod
    def for_card(cls, atr: bytes, region: str) -> Diversification:
        return cls(atr[-8:].rjust(8, b"\x00"), city_diversifier(region))


class SecurityModule(Protocol):
    """Computes card-authentication cryptograms without revealing master keys."""

    @property
    def description(self) -> str:
        """A short human name: ``PSAM in <reader>`` or ``software keys from <file>``."""
        ...

    @property
    def test_keys(self) -> bool:
        """True when the keys are the project's published test keys."""
        ...

    def cryptogram(
        self,
        key: CardKey,
        algorithm: CardAlgorithm,
        diversification: Diversification,
        process: bytes,
        source: bytes,
    ) -> bytes:
        """The 8-byte cryptogram the genuine card computes for ``process`` and ``source``.

        Raises :class:`~apdu.errors.SecurityModuleError` subclasses when the module is absent,
        lacks ``algorithm`` or lacks ``key``.
        """
        ...
