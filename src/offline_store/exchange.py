"""What a terminal and its back office exchange besides bundles: usage batches and the signed
statements that answer them (acknowledgement, time, enrolment grant).

Every document is a UTF-8 JSON object, serialised canonically (sorted keys, no spaces) by its
producer, and signed *as bytes*: the receiver verifies the bytes it received, then parses
them.  A signature travels detached: in the ``Ykt-Signature`` HTTP header
(``<key id> <algorithm> <base64 value>``) or, on a USB stick, in a ``.sig`` file beside the
document (a JSON array of ``{"key_id", "algorithm", "value"}``, as for bundles).

* A **usage batch** is signed by the terminal's own Ed25519 key (key id = terminal id).
* An **acknowledgement**, a **time statement** and an **enrolment grant** are signed by a key
  the terminal trusts for bundles (``offline_store.trust``).

``docs/protocol.md`` is the normative description; this module is its implementation, used by
the terminal and by the reference back office alike.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from offline_store.canonical_json import canonical_json
from offline_store.errors import DocumentRejected
from offline_store.trust import (
    ED25519,
    Signature,
    SignerKey,
    TrustedKey,
    first_valid_signer,
    signature_over,
)

USAGE_FORMAT = "ykt-usage/1"
ACK_FORMAT = "ykt-ack/1"
TIME_FORMAT = "ykt-time/1"
GRANT_FORMAT = "ykt-enrolment/1"
SIGNATURE_HEADER = "Ykt-Signature"
#: the chains a terminal uploads (``offline_store.journal``)
CHAINS = ("usage", "audit")
#: at most this many records in one batch (and 8 MiB of batch bytes)
MAX_BATCH_RECORDS = 5000
MAX_BATCH_BYTES = 8 * 1024 * 1024
_KEY_ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
_T = TypeVar("_T")


# -- detached signatures --------------------------------------------------------------------
def signature_header(signature: Signature) -> str:
    return f"{signature.key_id} {signature.algorithm} {base64.b64encode(signature.value).decode()}"


def parse_signature_header(text: str | None) -> Signature:
    if not text:
        raise DocumentRejected(f"the document carries no {SIGNATURE_HEADER}: unsigned")
    parts = text.strip().split(" ")
    if len(parts) != 3 or not _KEY_ID.fullmatch(parts[0]):
        raise DocumentRejected(f"malformed {SIGNATURE_HEADER} header")
    try:
        value = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DocumentRejected(f"malformed {SIGNATURE_HEADER} header ({exc})") from exc
    return Signature(parts[0], parts[1], value)


def signatures_file(signatures: list[Signature]) -> bytes:
    return canonical_json(
        [
            {
                "key_id": s.key_id,
                "algorithm": s.algorithm,
                "value": base64.b64encode(s.value).decode(),
            }
            for s in signatures
        ]
    )


def parse_signatures_file(raw: bytes, where: str) -> list[Signature]:
    try:
        items = json.loads(raw)
        if not isinstance(items, list):
            raise TypeError("not a JSON array")
        return [
            Signature(
                _field(item, "key_id", str),
                _field(item, "algorithm", str),
                base64.b64decode(_field(item, "value", str), validate=True),
            )
            for item in items
        ]
    except (TypeError, ValueError, KeyError, binascii.Error) as exc:
        raise DocumentRejected(f"{where}: malformed signatures file ({exc})") from exc


def sign_document(document: bytes, key_id: str, private_key: SignerKey) -> Signature:
    if not _KEY_ID.fullmatch(key_id):
        raise DocumentRejected(f"key id {key_id!r} must be 1-64 of A-Z a-z 0-9 . _ : @ -")
    return signature_over(document, key_id, private_key)


def verify_from_backoffice(
    document: bytes,
    signatures: list[Signature],
    trusted: list[TrustedKey],
    *,
    now: dt.datetime,
    what: str,
) -> str:
    """The trusted key that signed a back-office statement; else :class:`DocumentRejected`."""
    signer = first_valid_signer(document, signatures, trusted, valid_at=(now,))
    if signer is None:
        raise DocumentRejected(
            f"the {what} is not signed by a key this terminal trusts (signed by "
            f"{', '.join(s.key_id for s in signatures) or 'nobody'}): ignored"
        )
    return signer


def verify_from_terminal(
    document: bytes, signature: Signature, terminal_id: str, public_key: bytes
) -> None:
    """A usage batch's signature by the enrolled terminal's Ed25519 public key (32 bytes)."""
    if signature.key_id != terminal_id or signature.algorithm != ED25519:
        raise DocumentRejected(
            f"the batch is signed by {signature.key_id} ({signature.algorithm}), not by "
            f"terminal {terminal_id} (ed25519)"
        )
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature.value, document)
    except (InvalidSignature, ValueError) as exc:
        raise DocumentRejected(
            f"the batch's signature does not verify under terminal {terminal_id}'s key"
        ) from exc


# -- documents ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One journal record as uploaded: its chain position and its body (no plaintext)."""

    seq: int
    event: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class UsageBatch:
    """Records of one chain of one terminal, numbered ``number`` by that terminal."""

    terminal_id: str
    chain: str
    number: int
    records: tuple[UsageRecord, ...]

    @property
    def batch_id(self) -> str:
        return f"{self.terminal_id}/{self.chain}/{self.number}"

    def event_ids(self) -> list[str]:
        """``<terminal id>/<chain>/<seq>``: what the back office deduplicates events by."""
        return [f"{self.terminal_id}/{self.chain}/{r.seq}" for r in self.records]

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": USAGE_FORMAT,
                "terminal_id": self.terminal_id,
                "chain": self.chain,
                "batch": self.number,
                "batch_id": self.batch_id,
                "records": [{"seq": r.seq, "event": dict(r.event)} for r in self.records],
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> UsageBatch:
        if len(raw) > MAX_BATCH_BYTES:
            raise DocumentRejected(f"the batch is {len(raw)} bytes, over {MAX_BATCH_BYTES}")

        def build(document: dict[str, object]) -> UsageBatch:
            records = _field(document, "records", list)
            if not records or len(records) > MAX_BATCH_RECORDS:
                raise ValueError(f"a batch holds 1 to {MAX_BATCH_RECORDS} records")
            batch = cls(
                terminal_id=_key_id(_field(document, "terminal_id", str)),
                chain=_field(document, "chain", str),
                number=_positive(_field(document, "batch", int)),
                records=tuple(
                    UsageRecord(_positive(_field(r, "seq", int)), _field(r, "event", dict))
                    for r in records
                ),
            )
            if batch.chain not in CHAINS:
                raise ValueError(f"chain must be one of {CHAINS}")
            if _field(document, "batch_id", str) != batch.batch_id:
                raise ValueError("batch_id does not match terminal_id/chain/batch")
            seqs = [r.seq for r in batch.records]
            if seqs != sorted(set(seqs)):
                raise ValueError("records must be in strictly ascending seq order")
            return batch

        return _parse(raw, USAGE_FORMAT, "usage batch", build)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """The back office's receipt for one batch: after it, the terminal may forget the batch."""

    batch_id: str
    terminal_id: str
    #: SHA-256 of the batch bytes received: the terminal checks it is the batch it sent
    sha256: str
    records: int
    new: int
    duplicates: int
    received_at: dt.datetime

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": ACK_FORMAT,
                "batch_id": self.batch_id,
                "terminal_id": self.terminal_id,
                "sha256": self.sha256,
                "records": self.records,
                "new": self.new,
                "duplicates": self.duplicates,
                "received_at": self.received_at.isoformat(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> Acknowledgement:
        def build(document: dict[str, object]) -> Acknowledgement:
            return cls(
                batch_id=_field(document, "batch_id", str),
                terminal_id=_field(document, "terminal_id", str),
                sha256=_field(document, "sha256", str),
                records=_field(document, "records", int),
                new=_field(document, "new", int),
                duplicates=_field(document, "duplicates", int),
                received_at=_aware(_field(document, "received_at", str)),
            )

        return _parse(raw, ACK_FORMAT, "acknowledgement", build)

    def confirms(self, batch: UsageBatch, batch_bytes: bytes) -> bool:
        return (
            self.batch_id == batch.batch_id
            and self.terminal_id == batch.terminal_id
            and self.sha256 == hashlib.sha256(batch_bytes).hexdigest()
            and self.records == len(batch.records)
        )


@dataclass(frozen=True, slots=True)
class TimeStatement:
    """The back office's time, answering the terminal's nonce (so it cannot be replayed)."""

    time: dt.datetime
    nonce: str

    def to_bytes(self) -> bytes:
        return canonical_json(
            {"format": TIME_FORMAT, "time": self.time.isoformat(), "nonce": self.nonce}
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> TimeStatement:
        def build(document: dict[str, object]) -> TimeStatement:
            return cls(
                _aware(_field(document, "time", str)),
                _field(document, "nonce", str),
            )

        return _parse(raw, TIME_FORMAT, "time statement", build)


@dataclass(frozen=True, slots=True)
class EnrolmentGrant:
    """What a terminal receives at enrolment: its id, the fleet's list key, where to sync."""

    terminal_id: str
    list_key: bytes
    backoffice_url: str
    repository_url: str | None
    issued_at: dt.datetime

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": GRANT_FORMAT,
                "terminal_id": self.terminal_id,
                "list_key": self.list_key.hex(),
                "backoffice_url": self.backoffice_url,
                "repository_url": self.repository_url,
                "issued_at": self.issued_at.isoformat(),
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> EnrolmentGrant:
        def build(document: dict[str, object]) -> EnrolmentGrant:
            repository = document.get("repository_url")
            list_key = bytes.fromhex(_field(document, "list_key", str))
            if len(list_key) < 16:
                raise ValueError("list_key must be at least 16 bytes")
            return cls(
                terminal_id=_key_id(_field(document, "terminal_id", str)),
                list_key=list_key,
                backoffice_url=_field(document, "backoffice_url", str),
                repository_url=repository if isinstance(repository, str) else None,
                issued_at=_aware(_field(document, "issued_at", str)),
            )

        return _parse(raw, GRANT_FORMAT, "enrolment grant", build)


# -- parsing ---------------------------------------------------------------------------------
def _parse(raw: bytes, expected: str, what: str, build: Callable[[dict[str, object]], _T]) -> _T:
    try:
        document = json.loads(raw)
        if not isinstance(document, dict) or document.get("format") != expected:
            raise DocumentRejected(f"not a {expected} {what}")
        return build(document)
    except DocumentRejected:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        # json's and our own messages name fields and positions, never field values
        raise DocumentRejected(f"malformed {what}: {type(exc).__name__}: {exc}") from exc


def _field(document: object, name: str, kind: type[_T]) -> _T:
    if not isinstance(document, dict):
        raise TypeError("a document part is not an object")
    value = document[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{name} must be {kind.__name__}")
    return value


def _positive(number: int) -> int:
    if number < 1:
        raise ValueError("batch and seq numbers start at 1")
    return number


def _key_id(text: str) -> str:
    if not _KEY_ID.fullmatch(text):
        raise ValueError("a terminal id is 1-64 of A-Z a-z 0-9 . _ : @ -")
    return text


def _aware(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("times must carry their offset")
    return moment
