"""The keys the terminal trusts to sign bundles, and how they change.

The root key is provisioned at enrolment (``provision_root``: only into an empty key set).
After that the set changes only through a *trust update*: a signed manifest of kind ``trust``
whose signature verifies under a key already trusted, carrying the next trust version.  Several
keys may be valid at once, so a back office can rotate: add the new key, sign with it, later
revoke the old one.

Algorithms: ``ed25519`` (32-byte raw public key) and ``ecdsa-p256-sha256`` (X9.62
uncompressed point, 65 bytes; signature DER).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlite_utils import Database

from offline_store.errors import TrustRejected
from offline_store.write_job import Writer

ED25519 = "ed25519"
ECDSA_P256 = "ecdsa-p256-sha256"
ALGORITHMS = (ED25519, ECDSA_P256)
TRUST = "trust"
SignerKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class Signature:
    """A detached signature: who signed, with which algorithm, and the signature bytes."""

    key_id: str
    algorithm: str
    value: bytes


def signature_over(message: bytes, key_id: str, private_key: SignerKey) -> Signature:
    """Sign ``message``: Ed25519 over the bytes, ECDSA P-256 over their SHA-256 (DER)."""
    if isinstance(private_key, Ed25519PrivateKey):
        return Signature(key_id, ED25519, private_key.sign(message))
    return Signature(key_id, ECDSA_P256, private_key.sign(message, ec.ECDSA(hashes.SHA256())))


def public_key_bytes(private_key: SignerKey) -> bytes:
    """The public half as this module stores it (Ed25519 raw, P-256 X9.62 uncompressed)."""
    if isinstance(private_key, Ed25519PrivateKey):
        return private_key.public_key().public_bytes_raw()
    return private_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def create_trust_tables(db: Database) -> None:
    db.execute(
        """CREATE TABLE trust_keys (
            key_id TEXT PRIMARY KEY,
            algorithm TEXT NOT NULL,
            public_key BLOB NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL
        )"""
    )


@dataclass(frozen=True, slots=True)
class TrustedKey:
    key_id: str
    algorithm: str
    public_key: bytes
    valid_from: dt.datetime
    valid_until: dt.datetime

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise TrustRejected(f"key {self.key_id}: algorithm must be one of {ALGORITHMS}")
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise TrustRejected(f"key {self.key_id}: validity times must carry their offset")
        if self.valid_until <= self.valid_from:
            raise TrustRejected(f"key {self.key_id}: its validity ends before it starts")

    def valid_at(self, moment: dt.datetime) -> bool:
        return self.valid_from <= moment < self.valid_until

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            if self.algorithm == ED25519:
                Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
            else:
                point = ec.EllipticCurvePublicKey.from_encoded_point(
                    ec.SECP256R1(), self.public_key
                )
                point.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True


def first_valid_signer(
    message: bytes,
    signatures: tuple[Signature, ...] | list[Signature],
    trusted: list[TrustedKey],
    *,
    valid_at: tuple[dt.datetime, ...],
) -> str | None:
    """The id of a trusted key, valid at every moment in ``valid_at``, whose signature holds."""
    by_id = {key.key_id: key for key in trusted}
    for signature in signatures:
        key = by_id.get(signature.key_id)
        if key is None or key.algorithm != signature.algorithm:
            continue
        if not all(key.valid_at(moment) for moment in valid_at):
            continue
        if key.verifies(signature.value, message):
            return key.key_id
    return None


class TrustKeys:
    """The store's trusted signing keys (on the store's write connection)."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._connection = writer.connection

    def all(self) -> list[TrustedKey]:
        return [
            TrustedKey(
                str(key_id),
                str(algorithm),
                bytes(public_key),
                dt.datetime.fromisoformat(valid_from),
                dt.datetime.fromisoformat(valid_until),
            )
            for key_id, algorithm, public_key, valid_from, valid_until in self._connection.execute(
                "SELECT * FROM trust_keys ORDER BY key_id"
            )
        ]

    def provision_root(self, key: TrustedKey) -> None:
        """Enrolment: the first trusted key.  Refused once any key is trusted."""
        with self._writer.job():
            if self._connection.execute("SELECT count(*) FROM trust_keys").fetchone()[0]:
                raise TrustRejected(
                    "this terminal already trusts signing keys: they change only through a "
                    "signed trust update"
                )
            self._insert(key)

    def replace(self, keys: list[TrustedKey]) -> None:
        """The new key set of a verified trust update (called inside the update's job)."""
        if not keys:
            raise TrustRejected("a trust update may not remove every key")
        self._connection.execute("DELETE FROM trust_keys")
        for key in keys:
            self._insert(key)

    def _insert(self, key: TrustedKey) -> None:
        try:
            self._connection.execute(
                "INSERT INTO trust_keys VALUES (?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    key.algorithm,
                    key.public_key,
                    key.valid_from.isoformat(),
                    key.valid_until.isoformat(),
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise TrustRejected(f"key id {key.key_id} appears twice in the key set") from exc
