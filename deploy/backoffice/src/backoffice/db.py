"""``backoffice.db``: the schema (sqlite-utils migrations) and the one writer.

What is stored (never a plaintext card id, SSN, reservation id or name: the admin commands
hash them with the fleet's list key on input, ``offline-store.md``):

* list sources: ``deny_sources`` (card_ref → reason, region), ``benefit_sources`` (list name,
  ref kind, holder_ref, window, attributes), ``issuer_sources`` (ESSC1 issuer keys);
* ``signing_keys``: the back office's key ring (public halves and validity; the private keys
  are PEM files in ``keys/``);
* ``terminals``: id, enrolled public key, SHA-256 of the one-time enrolment token;
* ``batches`` and ``events``: usage received, deduplicated by batch id and by event id;
* ``published_lists``, ``published_deny``, ``published_benefit``: each list as last
  published, so that the next version is a delta from it;
* ``staff_members`` (m002): the staff roster's source: staff id, card_ref of the member's own
  card, role, PIN salt and verifier (``offline_store.staff_roster``; never the PIN or card id).

Every write is one ``BEGIN IMMEDIATE`` job under a lock (:meth:`BackOfficeDb.job`): threads
of the server cannot interleave, and a second process (the admin CLI) waits its turn.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from backoffice.errors import DatabaseError

migrations = Migrations("ykt-backoffice")


@migrations()
def m001_initial(db: Database) -> None:
    db.execute(
        """CREATE TABLE deny_sources (
            card_ref BLOB PRIMARY KEY,
            reason INTEGER NOT NULL,
            region TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE benefit_sources (
            list_name TEXT NOT NULL,
            ref_kind INTEGER NOT NULL,
            holder_ref BLOB NOT NULL,
            valid_from INTEGER NOT NULL,
            valid_until INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (list_name, ref_kind, holder_ref, valid_from)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE issuer_sources (
            kid BLOB NOT NULL,
            public_key BLOB NOT NULL,
            algorithm TEXT NOT NULL,
            regions TEXT NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            revoked INTEGER NOT NULL DEFAULT 0,
            test INTEGER NOT NULL DEFAULT 0,
            cross_region INTEGER NOT NULL DEFAULT 0,
            added_at TEXT NOT NULL,
            PRIMARY KEY (kid, public_key)
        )"""
    )
    db.execute(
        """CREATE TABLE signing_keys (
            key_id TEXT PRIMARY KEY,
            algorithm TEXT NOT NULL,
            public_key BLOB NOT NULL,
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            added_at TEXT NOT NULL,
            retired_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE terminals (
            terminal_id TEXT PRIMARY KEY,
            token_hash TEXT NOT NULL,
            public_key BLOB,
            added_at TEXT NOT NULL,
            enrolled_at TEXT,
            withdrawn_at TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE batches (
            batch_id TEXT PRIMARY KEY,
            sha256 TEXT NOT NULL,
            terminal_id TEXT NOT NULL,
            chain TEXT NOT NULL,
            number INTEGER NOT NULL,
            records INTEGER NOT NULL,
            new INTEGER NOT NULL,
            duplicates INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            repeats INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute(
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY,
            terminal_id TEXT NOT NULL,
            chain TEXT NOT NULL,
            seq INTEGER NOT NULL,
            body TEXT NOT NULL,
            batch_id TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX events_by_chain ON events (terminal_id, chain, seq)")
    db.execute(
        """CREATE TABLE published_lists (
            list_name TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            snapshot_version INTEGER NOT NULL,
            content_sha256 TEXT
        )"""
    )
    db.execute(
        """CREATE TABLE published_deny (
            card_ref BLOB PRIMARY KEY,
            record BLOB NOT NULL
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE published_benefit (
            list_name TEXT NOT NULL,
            entry_key BLOB NOT NULL,
            record BLOB NOT NULL,
            PRIMARY KEY (list_name, entry_key)
        ) WITHOUT ROWID"""
    )


@migrations()
def m002_staff(db: Database) -> None:
    db.execute(
        """CREATE TABLE staff_members (
            staff_id TEXT PRIMARY KEY,
            card_ref BLOB NOT NULL UNIQUE,
            role TEXT NOT NULL,
            pin_salt BLOB NOT NULL,
            pin_verifier BLOB NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )


class BackOfficeDb:
    """The database at ``path``: one write connection, its lock, and write jobs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=30
            )
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=FULL")
            self.connection.execute("PRAGMA busy_timeout=30000")
            self.connection.execute("PRAGMA foreign_keys=ON")
            self._lock = threading.RLock()
            with self._lock:
                migrations.apply(Database(self.connection))
        except sqlite3.Error as exc:
            raise DatabaseError(f"{path} cannot be opened: {exc}") from exc

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> BackOfficeDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def job(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` … ``COMMIT`` under the lock; rolled back on any error."""
        with self._lock:
            connection = self.connection
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _translate(exc) from exc
            try:
                yield connection
            except BaseException as exc:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _translate(exc) from exc
                raise
            try:
                connection.execute("COMMIT")
            except sqlite3.Error as exc:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise _translate(exc) from exc

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads (under the lock, so no job is half-way on it)."""
        with self._lock:
            try:
                yield self.connection
            except sqlite3.Error as exc:
                raise _translate(exc) from exc


def _translate(error: sqlite3.Error) -> DatabaseError:
    text = str(error).lower()
    if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in text:
        return DatabaseError("the disk is full: nothing was changed; free space and try again")
    if "locked" in text or "busy" in text:
        return DatabaseError(
            f"the database is busy ({error}): another back-office process holds it; try again"
        )
    return DatabaseError(f"the database failed: {error}")
