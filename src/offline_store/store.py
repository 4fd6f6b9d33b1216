"""The terminal's SQLite store: schema by migrations, integrity on open, versioned deny list.

One :class:`Store` owns the one write connection; every write is one ``BEGIN IMMEDIATE`` job,
so a list version is applied whole or not at all.  Lookups use :class:`DenyListReader`, a
read-only connection of its own (WAL lets readers run while the writer writes).

List state digest (checked against what the bundle states after every apply)::

    entry_bytes = card_ref (16) || reason (1) || region (6 ASCII digits)
    digest      = SHA-256( (Σ SHA-256(entry_bytes) mod 2^256) as 32 bytes big-endian
                           || entry_count as 8 bytes big-endian )

The sum makes the digest order-free and updatable by a delta without rereading the list.  It
is an integrity check of the applied state; authenticity comes from the signed bundle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from offline_store.errors import (
    ContentMismatch,
    RollbackRefused,
    StoreCorrupt,
    StoreError,
    VersionGap,
)
from offline_store.holder_refs import REF_BYTES
from offline_store.journal import AUDIT, USAGE, Journal, create_journal_tables
from offline_store.write_job import WriteJob

MODULUS = 1 << 256
DENY_LIST = "deny"

migrations = Migrations("ykt-offline-store")


@migrations()
def m001_lists(db: Database) -> None:
    db.execute(
        """CREATE TABLE list_versions (
            list_name TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            digest BLOB NOT NULL,
            digest_sum BLOB NOT NULL,
            entry_count INTEGER NOT NULL,
            issued_at TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE deny_entries (
            card_ref BLOB PRIMARY KEY,
            reason INTEGER NOT NULL,
            region INTEGER NOT NULL
        ) WITHOUT ROWID"""
    )


@migrations()
def m002_journal(db: Database) -> None:
    create_journal_tables(db)


class DenyReason(IntEnum):
    LOST = 1  # 挂失
    CANCELLED = 2  # 注销
    REPLACED = 3  # 补换
    FRAUD = 4  # 冒用
    OTHER = 9


@dataclass(frozen=True, slots=True)
class DenyEntry:
    card_ref: bytes
    reason: DenyReason
    region: str  # issuing region: lost-card handling belongs to it

    def __post_init__(self) -> None:
        if len(self.card_ref) != REF_BYTES:
            raise ValueError(f"a card reference is {REF_BYTES} bytes")
        if len(self.region) != 6 or not self.region.isdigit():
            raise ValueError("the issuing region is 6 digits")

    def digest_term(self) -> int:
        raw = self.card_ref + bytes((self.reason,)) + self.region.encode("ascii")
        return int.from_bytes(hashlib.sha256(raw).digest(), "big")


@dataclass(frozen=True, slots=True)
class ListVersion:
    """What a bundle states about one version of one list."""

    version: int
    issued_at: dt.datetime
    valid_until: dt.datetime
    entry_count: int
    digest: bytes


def state_digest(digest_sum: int, entry_count: int) -> bytes:
    return hashlib.sha256(
        (digest_sum % MODULUS).to_bytes(32, "big") + entry_count.to_bytes(8, "big")
    ).digest()


def digest_of(entries: Iterable[DenyEntry]) -> tuple[bytes, int]:
    """Digest and count of a whole list (what a back office states in its bundle)."""
    total, count = 0, 0
    for entry in entries:
        total += entry.digest_term()
        count += 1
    return state_digest(total, count), count


class Store:
    """The offline store at ``path``.  Use :meth:`open`."""

    def __init__(self, path: Path, connection: sqlite3.Connection, journal_key: bytes) -> None:
        self.path = path
        self._write = connection
        self.db = Database(connection)
        self.journal = Journal(connection, journal_key)

    @classmethod
    def open(cls, path: Path, *, journal_key: bytes, max_page_count: int | None = None) -> Store:
        """Open (creating and upgrading) the store, check its integrity and its chains."""
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute("PRAGMA busy_timeout=5000")
            if max_page_count is not None:
                connection.execute(f"PRAGMA max_page_count={int(max_page_count)}")
            store = cls(path, connection, journal_key)
            store.check()
            migrations.apply(store.db)
            store.verify_chains()
        except sqlite3.DatabaseError as exc:
            connection.close()
            raise StoreCorrupt(
                f"the offline store {path} cannot be opened ({exc}): move it aside and re-sync "
                "the lists from the back office; keep the old file, its journal is evidence"
            ) from exc
        except StoreError:
            connection.close()
            raise
        return store

    def close(self) -> None:
        self._write.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- integrity -----------------------------------------------------------------------
    def check(self, *, full: bool = False) -> None:
        """``PRAGMA quick_check`` (or the full ``integrity_check``); raises StoreCorrupt."""
        pragma = "integrity_check" if full else "quick_check"
        rows = [str(row[0]) for row in self._write.execute(f"PRAGMA {pragma}")]
        if rows != ["ok"]:
            raise StoreCorrupt(
                f"the offline store {self.path} is damaged ({'; '.join(rows[:3])}): move it "
                "aside and re-sync the lists from the back office"
            )

    def verify_chains(self) -> dict[str, int]:
        """Verify the usage journal and the audit log; record counts per chain."""
        return {chain: self.journal.verify(chain) for chain in (USAGE, AUDIT)}

    # -- versions ------------------------------------------------------------------------
    def current(self, list_name: str) -> tuple[int, int, int] | None:
        """(version, digest sum, entry count) of a list, or None before its first version."""
        row = self._write.execute(
            "SELECT version, digest_sum, entry_count FROM list_versions WHERE list_name = ?",
            (list_name,),
        ).fetchone()
        if row is None:
            return None
        return int(row[0]), int.from_bytes(row[1], "big"), int(row[2])

    def version_of(self, list_name: str) -> int | None:
        state = self.current(list_name)
        return None if state is None else state[0]

    def _check_newer(self, list_name: str, stated: ListVersion) -> bool:
        """False when ``stated`` is exactly what is applied (a no-op); raises on rollback."""
        row = self._write.execute(
            "SELECT version, digest FROM list_versions WHERE list_name = ?", (list_name,)
        ).fetchone()
        if row is None:
            return True
        version, digest = int(row[0]), bytes(row[1])
        if stated.version == version and stated.digest == digest:
            return False
        if stated.version <= version:
            raise RollbackRefused(
                f"{list_name} list version {stated.version} is not newer than the applied "
                f"version {version}: the terminal never goes back to an older list"
            )
        return True

    def _record_version(
        self, list_name: str, stated: ListVersion, digest_sum: int, count: int, now: dt.datetime
    ) -> None:
        digest = state_digest(digest_sum, count)
        if count != stated.entry_count or digest != stated.digest:
            raise ContentMismatch(
                f"{list_name} list version {stated.version}: applying it gives {count} entries "
                f"and digest {digest.hex()[:16]}…, the bundle states {stated.entry_count} and "
                f"{stated.digest.hex()[:16]}…; the old version is kept"
            )
        self._write.execute(
            """INSERT INTO list_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (list_name) DO UPDATE SET version = excluded.version,
               digest = excluded.digest, digest_sum = excluded.digest_sum,
               entry_count = excluded.entry_count, issued_at = excluded.issued_at,
               valid_until = excluded.valid_until, applied_at = excluded.applied_at""",
            (
                list_name,
                stated.version,
                digest,
                (digest_sum % MODULUS).to_bytes(32, "big"),
                count,
                stated.issued_at.isoformat(),
                stated.valid_until.isoformat(),
                now.isoformat(),
            ),
        )

    # -- the deny list -------------------------------------------------------------------
    def apply_deny_snapshot(
        self, stated: ListVersion, entries: Iterable[DenyEntry], *, now: dt.datetime
    ) -> bool:
        """Replace the deny list by a full snapshot; False if it is already applied."""
        if not self._check_newer(DENY_LIST, stated):
            return False
        with WriteJob(self._write):
            self._write.execute("DELETE FROM deny_entries")
            total = 0

            def rows() -> Iterator[tuple[bytes, int, int]]:
                nonlocal total
                for entry in entries:
                    total += entry.digest_term()
                    yield entry.card_ref, int(entry.reason), int(entry.region)

            self._write.executemany("INSERT INTO deny_entries VALUES (?, ?, ?)", rows())
            count = int(self._write.execute("SELECT count(*) FROM deny_entries").fetchone()[0])
            self._record_version(DENY_LIST, stated, total, count, now)
        return True

    def apply_deny_delta(
        self,
        base_version: int,
        stated: ListVersion,
        upserts: Iterable[DenyEntry],
        removals: Iterable[bytes],
        *,
        now: dt.datetime,
    ) -> bool:
        """Apply a delta on top of ``base_version``; False if it is already applied."""
        if not self._check_newer(DENY_LIST, stated):
            return False
        current = self.current(DENY_LIST)
        if current is None or current[0] != base_version:
            have = "no deny list" if current is None else f"version {current[0]}"
            raise VersionGap(
                f"deny list delta {base_version}→{stated.version} does not apply to {have}: "
                "fetch the missing versions or a snapshot"
            )
        _, total, count = current
        with WriteJob(self._write):
            lookup = self._write.execute
            for card_ref in removals:
                old = lookup(
                    "DELETE FROM deny_entries WHERE card_ref = ? RETURNING reason, region",
                    (card_ref,),
                ).fetchone()
                if old is not None:
                    total -= _stored(card_ref, old).digest_term()
                    count -= 1
            for entry in upserts:
                old = lookup(
                    "SELECT reason, region FROM deny_entries WHERE card_ref = ?",
                    (entry.card_ref,),
                ).fetchone()
                if old is not None:
                    total -= _stored(entry.card_ref, old).digest_term()
                    count -= 1
                lookup(
                    "INSERT OR REPLACE INTO deny_entries VALUES (?, ?, ?)",
                    (entry.card_ref, int(entry.reason), int(entry.region)),
                )
                total += entry.digest_term()
                count += 1
            self._record_version(DENY_LIST, stated, total, count, now)
        return True

    def reader(self) -> DenyListReader:
        return DenyListReader(self.path)


def _stored(card_ref: bytes, row: tuple[int, int]) -> DenyEntry:
    return DenyEntry(card_ref, DenyReason(row[0]), f"{row[1]:06d}")


class DenyListReader:
    """A read-only connection for lookups (one per thread)."""

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False
        )

    def lookup(self, card_ref: bytes) -> DenyEntry | None:
        row = self._connection.execute(
            "SELECT reason, region FROM deny_entries WHERE card_ref = ?", (card_ref,)
        ).fetchone()
        return None if row is None else _stored(card_ref, row)

    def close(self) -> None:
        self._connection.close()
