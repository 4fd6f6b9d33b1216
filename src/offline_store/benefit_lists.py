"""Allow, benefit and reservation lists: named, keyed by holder reference, with time windows.

A venue has several named lists ("resident-senior", "annual-pass", "library-readers",
"reservation-2026-11-23"...).  An entry says: this card (by its card-id reference) or this
holder (by the SSN reference) has these attributes between ``valid_from`` and ``valid_until``
(a reservation's time slot, a pass's year, a group membership).  A holder may have several
entries on one list (several slots); the key is (ref kind, holder ref, valid_from).

Record (the bundle's content format), big-endian::

    ref kind (1: card id, 2: SSN, 3: reservation id) || holder_ref (16)
    || valid_from (8, Unix seconds, signed) || valid_until (8)
    || attributes (canonical JSON, UTF-8: sorted keys, no spaces)

The first 33 bytes are the entry's key; a snapshot's records are in strictly ascending key
order.  Digest as for the deny list: the sum of SHA-256 of each record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum

from offline_store.canonical_json import canonical_json
from offline_store.errors import ContentMismatch
from offline_store.holder_refs import REF_BYTES

KEY_BYTES = 1 + REF_BYTES + 8
_HEAD_BYTES = KEY_BYTES + 8


class RefKind(IntEnum):
    CARD_ID = 1
    SSN = 2
    RESERVATION = 3  # keyed by a reservation code's id (a reservation list's code entries)


@dataclass(frozen=True, slots=True)
class BenefitEntry:
    ref_kind: RefKind
    holder_ref: bytes
    valid_from: dt.datetime
    valid_until: dt.datetime
    attributes: Mapping[str, str]

    def __post_init__(self) -> None:
        if len(self.holder_ref) != REF_BYTES:
            raise ValueError(f"a holder reference is {REF_BYTES} bytes")
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise ValueError("validity windows are aware datetimes (UTC)")
        if self.valid_until <= self.valid_from:
            raise ValueError("an entry's window must end after it starts")

    def to_record(self) -> bytes:
        return (
            bytes((self.ref_kind,))
            + self.holder_ref
            + int(self.valid_from.timestamp()).to_bytes(8, "big", signed=True)
            + int(self.valid_until.timestamp()).to_bytes(8, "big", signed=True)
            + canonical_attributes(self.attributes)
        )

    @classmethod
    def from_record(cls, record: bytes) -> BenefitEntry:
        ref_kind, holder_ref, start, end, attributes = parse_record(record)
        return cls(
            RefKind(ref_kind),
            holder_ref,
            dt.datetime.fromtimestamp(start, dt.UTC),
            dt.datetime.fromtimestamp(end, dt.UTC),
            attributes,
        )


_REF_KINDS = frozenset(int(kind) for kind in RefKind)


def canonical_attributes(attributes: Mapping[str, str]) -> bytes:
    return canonical_json(dict(attributes))


def parse_record(record: bytes) -> tuple[int, bytes, int, int, dict[str, str]]:
    """(ref kind, holder ref, valid_from, valid_until, attributes); ContentMismatch if bad."""
    if len(record) < _HEAD_BYTES + 2:
        raise ContentMismatch(f"a benefit record is at least {_HEAD_BYTES + 2} bytes")
    ref_kind = record[0]
    if ref_kind not in _REF_KINDS:
        raise ContentMismatch("a benefit record has an unknown reference kind")
    start = int.from_bytes(record[KEY_BYTES - 8 : KEY_BYTES], "big", signed=True)
    end = int.from_bytes(record[KEY_BYTES:_HEAD_BYTES], "big", signed=True)
    if end <= start:
        raise ContentMismatch("a benefit record's window ends before it starts")
    try:
        attributes = json.loads(record[_HEAD_BYTES:].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContentMismatch("a benefit record's attributes are not JSON") from exc
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise ContentMismatch("a benefit record's attributes are not text → text")
    if canonical_attributes(attributes) != record[_HEAD_BYTES:]:
        raise ContentMismatch("a benefit record's attributes are not in canonical form")
    return ref_kind, record[1 : 1 + REF_BYTES], start, end, attributes


@dataclass(frozen=True, slots=True)
class Entitlement:
    """What a holder is entitled to on one list at one moment."""

    list_name: str
    ref_kind: RefKind
    valid_from: dt.datetime
    valid_until: dt.datetime
    attributes: Mapping[str, str]
