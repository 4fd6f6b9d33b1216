"""The issuers' public keys that verify ESSC1 codes (the electronic card's offline QR code).

They reach the terminal only inside the signed ``issuers`` list (a snapshot manifest whose
``keys`` file is the JSON below), never from a code.  Several keys may share a ``kid`` (8
bytes): the verifier tries each.  A key says which issuing regions it may sign for (region
code prefixes, e.g. ``"31"`` or ``"310000"``), when it is valid, whether the back office has
revoked it, whether it is a *test* key (a production terminal refuses those) and whether it may
sign codes for cards of other regions (``cross_region``).

Keys file (UTF-8 JSON array, any order)::

    [{"kid": "<16 hex>", "algorithm": "es256" | "eddsa", "public_key": "<base64>",
      "regions": ["31", ...], "valid_from": "<ISO 8601 with offset>", "valid_until": "...",
      "revoked": false, "test": false, "cross_region": false}, ...]

``public_key``: ES256 an X9.62 uncompressed P-256 point (65 bytes); EdDSA a raw Ed25519 key
(32 bytes).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import sqlite3
from dataclasses import dataclass

from sqlite_utils import Database

from offline_store.canonical_json import canonical_json
from offline_store.errors import ContentMismatch

ISSUERS = "issuers"
ES256 = "es256"
EDDSA = "eddsa"
_PUBLIC_KEY_BYTES = {ES256: 65, EDDSA: 32}
KID_BYTES = 8
_REGION_PREFIX = re.compile(r"[0-9]{2,6}")


def create_issuer_key_table(db: Database) -> None:
    db.execute(
        """CREATE TABLE issuer_keys (
            kid BLOB NOT NULL,
            algorithm TEXT NOT NULL,
            public_key BLOB NOT NULL,
            regions TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            revoked INTEGER NOT NULL,
            test INTEGER NOT NULL,
            cross_region INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX issuer_keys_kid ON issuer_keys (kid)")


@dataclass(frozen=True, slots=True)
class IssuerKey:
    kid: bytes
    algorithm: str
    public_key: bytes
    regions: tuple[str, ...]
    valid_from: dt.datetime
    valid_until: dt.datetime
    revoked: bool = False
    test: bool = False
    cross_region: bool = False

    def __post_init__(self) -> None:
        what = f"issuer key {self.kid.hex()}"
        if len(self.kid) != KID_BYTES:
            raise ValueError(f"{what}: a kid is {KID_BYTES} bytes")
        expected = _PUBLIC_KEY_BYTES.get(self.algorithm)
        if expected is None:
            raise ValueError(f"{what}: algorithm must be {ES256} or {EDDSA}")
        if len(self.public_key) != expected:
            raise ValueError(f"{what}: an {self.algorithm} public key is {expected} bytes")
        if not self.regions or not all(_REGION_PREFIX.fullmatch(r) for r in self.regions):
            raise ValueError(f"{what}: regions are 2-6 digit region code prefixes")
        if self.valid_from.tzinfo is None or self.valid_until.tzinfo is None:
            raise ValueError(f"{what}: validity times must carry their offset")
        if self.valid_until <= self.valid_from:
            raise ValueError(f"{what}: its validity ends before it starts")

    def valid_at(self, moment: dt.datetime) -> bool:
        return not self.revoked and self.valid_from <= moment < self.valid_until

    def signs_for(self, region: str) -> bool:
        """Whether this key may sign for the 6-digit issuing region ``region``."""
        return any(region.startswith(prefix) for prefix in self.regions)

    def to_json(self) -> dict[str, object]:
        return {
            "kid": self.kid.hex(),
            "algorithm": self.algorithm,
            "public_key": base64.b64encode(self.public_key).decode(),
            "regions": list(self.regions),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "revoked": self.revoked,
            "test": self.test,
            "cross_region": self.cross_region,
        }


def issuer_keys_content(keys: list[IssuerKey]) -> bytes:
    return canonical_json([key.to_json() for key in keys])


def issuer_keys_from_content(content: bytes) -> list[IssuerKey]:
    try:
        items = json.loads(content)
        if not isinstance(items, list):
            raise TypeError("the keys file must hold a JSON array")
        keys = []
        for item in items:
            flags = {name: item.get(name, False) for name in ("revoked", "test", "cross_region")}
            if not all(isinstance(flag, bool) for flag in flags.values()):
                raise TypeError("revoked, test and cross_region are true or false")
            regions = item["regions"]
            if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
                raise TypeError("regions is an array of text")
            keys.append(
                IssuerKey(
                    bytes.fromhex(item["kid"]),
                    str(item["algorithm"]),
                    base64.b64decode(item["public_key"], validate=True),
                    tuple(regions),
                    _aware(item["valid_from"]),
                    _aware(item["valid_until"]),
                    **flags,
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
        raise ContentMismatch(f"the issuers list's key file is malformed ({exc})") from exc
    return keys


def _aware(text: object) -> dt.datetime:
    if not isinstance(text, str):
        raise TypeError("times are ISO 8601 text")
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("times must carry their offset")
    return moment


def replace_issuer_keys(connection: sqlite3.Connection, keys: list[IssuerKey]) -> None:
    """Inside the applying job: the new key set replaces the old one whole."""
    connection.execute("DELETE FROM issuer_keys")
    connection.executemany(
        "INSERT INTO issuer_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                k.kid, k.algorithm, k.public_key, ",".join(k.regions), k.valid_from.isoformat(),
                k.valid_until.isoformat(), int(k.revoked), int(k.test), int(k.cross_region),
            )
            for k in keys
        ],
    )  # fmt: skip


def issuer_keys_for(connection: sqlite3.Connection, kid: bytes) -> list[IssuerKey]:
    """Every key with this kid (several keys may share one)."""
    return [
        IssuerKey(
            bytes(row[0]), str(row[1]), bytes(row[2]), tuple(str(row[3]).split(",")),
            dt.datetime.fromisoformat(row[4]), dt.datetime.fromisoformat(row[5]),
            bool(row[6]), bool(row[7]), bool(row[8]),
        )
        for row in connection.execute("SELECT * FROM issuer_keys WHERE kid = ?", (kid,))
    ]  # fmt: skip
