"""A credential: what a person presented, reduced to what the verdict needs.

A card read and a verified ESSC1 code become the same type, so that the policy never asks
where a credential came from except where the source itself matters (a code's replay, a card's
authentication).  A reservation code becomes one too: it identifies a reservation, not a card.

The credential holds plaintext identity in memory only, for the masked display and to compute
the keyed references; nothing here is written anywhere.  ``refs`` gives the keyed hashes that
lists and the journal use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from apdu.ssc import Authenticity, CardRecord
from offline_store.benefit_lists import RefKind
from offline_store.holder_refs import HolderKeyer
from terminal.masking import mask_birth_date, mask_card_id, mask_card_number, mask_name


class CredentialKind(StrEnum):
    CARD = "card"  # a physical card, read through PC/SC
    ESSC_QR = "essc-qr"  # the electronic card's offline code (ESSC1)
    RESERVATION_CODE = "reservation-code"  # a venue reservation's code
    PLATFORM_CODE = "platform-code"  # a national-platform code, checked online by the platform
    UNRECOGNISED_CODE = "unrecognised-code"  # a scanned text that is no code this terminal knows


@dataclass(frozen=True, slots=True)
class CodeFacts:
    """What only a code has: its token id and its lifetime."""

    code_id: bytes  # cti, 16 bytes
    issued_at: dt.datetime
    expires_at: dt.datetime
    issuer: str  # 6-digit issuing authority region
    level: int  # 1 identity, 2 identity + payment
    #: a replay: this code was already presented at this terminal within its validity
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Credential:
    kind: CredentialKind
    #: verified: card authenticated by the security module, or the code's signature holds
    authenticity: Authenticity
    #: card identification code (卡识别码), 32 hex chars; None for a reservation code
    card_id: str | None = None
    card_number: str | None = None
    ssn: str | None = None
    name: str | None = None
    birth_date: dt.date | None = None
    issue_date: dt.date | None = None
    expiry_date: dt.date | None = None
    #: a card read that could not read everything (no security module on a gen-3 card)
    incomplete: bool = False
    generation: int | None = None
    code: CodeFacts | None = None
    #: a reservation code's reservation id (only for RESERVATION_CODE)
    reservation_id: str | None = None

    @property
    def region(self) -> str | None:
        """Issuing region (6 digits): the first 6 characters of the card identification code."""
        if self.card_id is None or len(self.card_id) < 6 or not self.card_id[:6].isdigit():
            return None
        return self.card_id[:6]

    @property
    def province(self) -> str | None:
        """Province-level region (2 digits): 31 Shanghai, 32 Jiangsu, 33 Zhejiang, 34 Anhui."""
        region = self.region
        return None if region is None else region[:2]

    def refs(self, keyer: HolderKeyer) -> list[tuple[RefKind, bytes]]:
        """The keyed references lists may hold for this credential, most specific first."""
        refs: list[tuple[RefKind, bytes]] = []
        if self.reservation_id is not None:
            refs.append((RefKind.RESERVATION, keyer.reservation_ref(self.reservation_id)))
        if self.card_id is not None:
            refs.append((RefKind.CARD_ID, keyer.card_ref(self.card_id)))
        if self.ssn is not None:
            refs.append((RefKind.SSN, keyer.ssn_ref(self.ssn)))
        return refs

    def holder_ref(self, keyer: HolderKeyer) -> bytes:
        """The one reference the journal records the holder under.

        The card identification code when known: a card and an ESSC1 code of that card (which
        carries no SSN) are the same holder in the journal.  Then the SSN, then the
        reservation id.  Anti-passback and quotas look at every reference
        (:meth:`refs`), so a replacement card of the same holder counts too.
        """
        return primary_ref(self.refs(keyer))

    def age_on(self, day: dt.date) -> int | None:
        if self.birth_date is None:
            return None
        born = self.birth_date
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def masked(self) -> dict[str, str]:
        """The display form: what staff may see on a screen (never the full numbers)."""
        shown = {"kind": self.kind.value}
        if self.name:
            shown["name"] = mask_name(self.name)
        if self.card_id:
            shown["card_id"] = mask_card_id(self.card_id)
        if self.card_number:
            shown["card_number"] = mask_card_number(self.card_number)
        if self.birth_date:
            shown["birth_date"] = mask_birth_date(self.birth_date)
        if self.expiry_date:
            shown["expiry_date"] = self.expiry_date.isoformat()
        if self.region:
            shown["region"] = self.region
        if self.reservation_id:
            shown["reservation"] = _mask_reservation(self.reservation_id)
        return shown

    @classmethod
    def from_card(cls, record: CardRecord) -> Credential:
        return cls(
            kind=CredentialKind.CARD,
            authenticity=record.authentic,
            card_id=record.card_id,
            card_number=record.card_number,
            ssn=record.ssn,
            name=record.name,
            birth_date=record.birth_date,
            issue_date=record.issue_date,
            expiry_date=record.expiry_date,
            incomplete=not record.complete,
            generation=record.generation,
        )


def primary_ref(refs: list[tuple[RefKind, bytes]]) -> bytes:
    """Of a credential's references (:meth:`Credential.refs`), the one the journal keys on."""
    by_kind = dict(refs)
    for kind in (RefKind.CARD_ID, RefKind.SSN, RefKind.RESERVATION):
        if kind in by_kind:
            return by_kind[kind]
    raise ValueError("a credential identifies a card, a holder or a reservation")


def _mask_reservation(reservation_id: str) -> str:
    return reservation_id[:2] + "*" * max(0, len(reservation_id) - 5) + reservation_id[-3:]
