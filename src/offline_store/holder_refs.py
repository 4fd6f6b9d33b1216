"""Pseudonymous references to cards and holders: keyed hashes, never plaintext.

Lists and the journal hold ``HMAC-SHA256(key, domain || 0x00 || value)`` truncated to 16 bytes
(128 bits: no accidental collision among hundreds of millions of cards).  The key comes with the
terminal's trust material, so a stolen database alone does not reveal who is on a list, and the
domain keeps a card-identification-code reference from ever equalling an SSN reference.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from enum import Enum

REF_BYTES = 16


class RefDomain(Enum):
    CARD_ID = b"card-id"  # 卡识别码: identifies one physical card
    SSN = b"ssn"  # 社会保障号码: identifies the holder across cards
    RESERVATION = b"reservation"  # a venue reservation's id, as its reservation code carries


@dataclass(frozen=True, slots=True)
class HolderKeyer:
    """Turns card identification codes and SSNs into list keys."""

    key: bytes = field(repr=False)  # never in a traceback or a log line

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the list key must be at least 16 bytes")

    def ref(self, domain: RefDomain, value: str) -> bytes:
        message = domain.value + b"\x00" + value.strip().upper().encode("ascii")
        return hmac.new(self.key, message, hashlib.sha256).digest()[:REF_BYTES]

    def card_ref(self, card_id: str) -> bytes:
        return self.ref(RefDomain.CARD_ID, card_id)

    def ssn_ref(self, ssn: str) -> bytes:
        return self.ref(RefDomain.SSN, ssn)

    def reservation_ref(self, reservation_id: str) -> bytes:
        return self.ref(RefDomain.RESERVATION, reservation_id)
