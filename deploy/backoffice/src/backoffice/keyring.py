"""The back office's signing key ring: Ed25519 keys in ``keys/<key id>.pem`` (0600).

Every active key signs every bundle, so a terminal that trusts any of them accepts it.
Rotation (``keys rotate``) adds a key; the next ``publish`` announces it in a trust version
signed by the keys terminals already trust, and from then on both sign.  Retirement
(``keys retire``) removes a key: its private key file is deleted and the next trust version,
signed by the remaining keys, drops it.  A key can be retired only when every remaining key
has been published in a trust version (else terminals would trust none of the signers).

Statements that carry one signature (the HTTP ``Ykt-Signature`` of an acknowledgement, a time
statement, an enrolment grant) are signed by the *oldest* active key: the one most terminals
trust.  Its public key is the root a technician gives ``ykt enrol --root-key``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backoffice.datadir import write_secret
from backoffice.db import BackOfficeDb
from backoffice.errors import KeyRingError
from offline_store.exchange import sign_document
from offline_store.trust import ED25519, Signature, SignerKey, TrustedKey, public_key_bytes

#: a key's validity starts a little before it is made: terminals whose clocks lag still accept it
BACKDATE = dt.timedelta(days=1)
DEFAULT_KEY_YEARS = 5


@dataclass(frozen=True, slots=True)
class SigningKey:
    trusted: TrustedKey
    private: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        return self.trusted.key_id

    def sign(self, document: bytes) -> Signature:
        return sign_document(document, self.key_id, self.private)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    trusted: TrustedKey
    added_at: dt.datetime
    retired_at: dt.datetime | None


class KeyRing:
    def __init__(self, keys_dir: Path, db: BackOfficeDb) -> None:
        self.keys_dir = keys_dir
        self.db = db

    def create(self, *, now: dt.datetime, years: int = DEFAULT_KEY_YEARS) -> TrustedKey:
        private = Ed25519PrivateKey.generate()
        with self.db.job() as connection:
            number = connection.execute("SELECT count(*) FROM signing_keys").fetchone()[0] + 1
            key_id = f"backoffice-{number}"
            trusted = TrustedKey(
                key_id,
                ED25519,
                public_key_bytes(private),
                now - BACKDATE,
                now + dt.timedelta(days=365 * years),
            )
            connection.execute(
                "INSERT INTO signing_keys VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (
                    key_id,
                    ED25519,
                    trusted.public_key,
                    trusted.valid_from.isoformat(),
                    trusted.valid_until.isoformat(),
                    now.isoformat(),
                ),
            )
            pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_secret(self.keys_dir / f"{key_id}.pem", pem)
        return trusted

    def all(self) -> list[KeyInfo]:
        with self.db.reading() as connection:
            rows = connection.execute(
                "SELECT key_id, algorithm, public_key, valid_from, valid_until, added_at, "
                "retired_at FROM signing_keys ORDER BY rowid"
            ).fetchall()
        return [
            KeyInfo(
                TrustedKey(
                    key_id,
                    algorithm,
                    bytes(public_key),
                    dt.datetime.fromisoformat(valid_from),
                    dt.datetime.fromisoformat(valid_until),
                ),
                dt.datetime.fromisoformat(added_at),
                None if retired_at is None else dt.datetime.fromisoformat(retired_at),
            )
            for key_id, algorithm, public_key, valid_from, valid_until, added_at, retired_at in rows
        ]

    def active(self) -> list[SigningKey]:
        """The keys that sign, oldest first; each with its private key loaded."""
        keys = []
        for info in self.all():
            if info.retired_at is not None:
                continue
            path = self.keys_dir / f"{info.trusted.key_id}.pem"
            try:
                private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (OSError, ValueError) as exc:
                raise KeyRingError(
                    f"the private key of {info.trusted.key_id} ({path}) cannot be read: {exc}"
                ) from exc
            if (
                not isinstance(private, Ed25519PrivateKey)
                or public_key_bytes(private) != info.trusted.public_key
            ):
                raise KeyRingError(f"{path} does not hold the key {info.trusted.key_id}")
            keys.append(SigningKey(info.trusted, private))
        if not keys:
            raise KeyRingError("the back office has no active signing key: run `keys rotate`")
        return keys

    def signers(self) -> list[tuple[str, SignerKey]]:
        return [(key.key_id, key.private) for key in self.active()]

    def statement_signer(self) -> SigningKey:
        """The oldest active key: the one that every enrolled terminal is likeliest to trust."""
        return self.active()[0]

    def retire(self, key_id: str, *, published: set[str], now: dt.datetime) -> None:
        """Stop signing with ``key_id`` and delete its private key.

        ``published``: the key ids of the last published trust version; every key that stays
        must be among them, or terminals would not trust what is signed next.
        """
        active = [key.key_id for key in self.active()]
        if key_id not in active:
            raise KeyRingError(f"{key_id} is not an active signing key (see `keys list`)")
        remaining = [k for k in active if k != key_id]
        if not remaining:
            raise KeyRingError(
                f"{key_id} is the only signing key: run `keys rotate`, then `publish`, let the "
                "terminals sync, and retire it after that"
            )
        unannounced = [k for k in remaining if k not in published]
        if unannounced:
            raise KeyRingError(
                f"terminals do not know {', '.join(unannounced)} yet: run `publish` (it announces "
                f"the key in a trust version), let the terminals sync, then retire {key_id}"
            )
        with self.db.job() as connection:
            connection.execute(
                "UPDATE signing_keys SET retired_at = ? WHERE key_id = ?", (now.isoformat(), key_id)
            )
        (self.keys_dir / f"{key_id}.pem").unlink(missing_ok=True)
