"""The immutable record of one card read, saying what was verified and what was not read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from apdu.security import CardAlgorithm
from apdu.ssc.elements import Gender


class Authenticity(StrEnum):
    VERIFIED = "verified"  # INTERNAL AUTHENTICATE matched the security module
    FAILED = "failed"  # the card could not prove it is genuine: treat as a possible clone
    NOT_CHECKED = "not_checked"  # no security module: a clone cannot be told apart


@dataclass(frozen=True, slots=True)
class CardRecord:
    """What one read of a social security card established.

    Fields the terminal could not read are ``None`` and named in ``unavailable`` (a gen-3 card
    read without a security module shows only its identification code and spec version);
    a ``None`` is never a card's actual value.
    """

    reader: str
    atr: bytes
    generation: int
    spec_version: str
    card_id: str
    algorithm: CardAlgorithm
    authentic: Authenticity
    authentication_detail: str
    card_type: str | None = None
    issuer_org: str | None = None
    issue_date: dt.date | None = None
    expiry_date: dt.date | None = None
    card_number: str | None = None
    ssn: str | None = None
    name: str | None = None
    gender: Gender | None = None
    ethnicity: str | None = None
    birthplace: str | None = None
    birth_date: dt.date | None = None
    unavailable: frozenset[str] = field(default_factory=frozenset)

    @property
    def region(self) -> str:
        """Issuing region: the first 6 digits of the card identification code."""
        return self.card_id[:6]

    @property
    def complete(self) -> bool:
        return not self.unavailable
