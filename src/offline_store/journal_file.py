"""The store's second file: the usage journal and everything a tap or the clock writes.

A store is two SQLite files, each with its own connection and its own writer, so that a list
being applied and a tap being recorded never wait for each other (SQLite lets one writer at a
time into a file: a 10-million-entry snapshot holds its file for ~40 s)::

    store.db          the list file: lists, list versions and manifest digests, trust and
                      issuer keys (everything a bundle applies)
    store-journal.db  the journal file: chain_records and chain_heads (usage journal, audit
                      log), admissions, seen_codes, clock_anchor (everything a tap writes)

The journal file's name is the list file's with ``-journal`` before its suffix (``.db`` if it
has none).  It is not SQLite's rollback journal ``store.db-journal``, which WAL mode does not
use; a suffix is always kept so that the two names can never be the same.

Each file knows the other: one random *store id* is written in the journal file
(``journal_file``) and in the list file (``journal_link``), so a journal file that is missing,
recreated or another store's is refused instead of silently replacing the evidence.

A store made before the split (migrations m001-m006) holds the tap-side tables in its one
file.  :func:`copy_tap_side_tables` and :func:`check_copy` move them (see ``Store.open``):
copied in one transaction on the journal file, checked, then dropped from the list file in
one transaction there.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from offline_store.errors import JournalMissing, JournalTampered
from offline_store.journal import add_head_tags, create_journal_tables
from offline_store.taps import create_tap_tables
from offline_store.write_job import Writer

JOURNAL_SET = "ykt-offline-journal"
STORE_ID_BYTES = 16

journal_migrations = Migrations(JOURNAL_SET)

#: the tables a tap or the clock writes, with their columns (in their creation order)
TAP_SIDE_TABLES = {
    "chain_records": (
        "chain", "seq", "body", "mac", "upload_state", "batch", "acknowledged_at",
    ),
    "chain_heads": ("chain", "anchor_seq", "anchor_mac", "head_seq", "head_mac", "head_tag"),
    "admissions": ("holder_ref", "service", "occurred_at", "seq"),
    "seen_codes": ("cti", "expires_at"),
    "clock_anchor": ("id", "wall", "monotonic", "boot_id", "source"),
}  # fmt: skip

#: the schema name the list file is attached under while its old tables are moved
LEGACY = "legacy"


@journal_migrations()
def j001_journal_and_taps(db: Database) -> None:
    """The tap-side schema exactly as m002, m005 and m006 made it in the one-file store."""
    create_journal_tables(db)
    add_head_tags(db)
    create_tap_tables(db)
    db.execute(
        """CREATE TABLE journal_file (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            store_id BLOB NOT NULL,
            moved_records INTEGER NOT NULL
        )"""
    )


@journal_migrations()
def j002_batch_index(db: Database) -> None:
    """Acknowledging a batch finds its records by batch number, not by a scan of every record
    still waiting (which made uploading 100,000 events quadratic)."""
    db.execute("CREATE INDEX chain_records_batch ON chain_records (batch)")


def journal_path_for(path: Path) -> Path:
    """The journal file beside the list file ``path``: ``store.db`` → ``store-journal.db``."""
    return path.with_name(f"{path.stem}-journal{path.suffix or '.db'}")


def read_only_uri(path: Path) -> str:
    """A ``file:`` URI opening ``path`` read-only (any character in the path is escaped)."""
    return path.absolute().as_uri() + "?mode=ro"


def migration_sets(connection: sqlite3.Connection) -> set[str]:
    """The sqlite-utils migration sets a file holds (none for a new or foreign file)."""
    if not connection.execute(
        "SELECT 1 FROM sqlite_master WHERE name = '_sqlite_migrations'"
    ).fetchone():
        return set()
    return {str(row[0]) for row in connection.execute(
        "SELECT DISTINCT migration_set FROM _sqlite_migrations"
    )}  # fmt: skip


def holds_other_data(connection: sqlite3.Connection) -> bool:
    """Whether a file without the journal's migrations holds anything but an empty migrations
    table (which sqlite-utils commits on its own before the first migration: a kill right
    after it leaves just that)."""
    tables = {str(row[0]) for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )}  # fmt: skip
    return bool(tables - {"_sqlite_migrations"}) or bool(migration_sets(connection))


def store_id_of(connection: sqlite3.Connection, table: str) -> bytes | None:
    """The store id in ``journal_file`` (journal file) or ``journal_link`` (list file)."""
    if not connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone():
        return None
    row = connection.execute(f"SELECT store_id FROM {table} WHERE id = 1").fetchone()  # noqa: S608
    return None if row is None else bytes(row[0])


def copy_tap_side_tables(writer: Writer, journal_path: Path) -> bytes:
    """Copy the tap-side tables of the list file (attached as ``legacy``) into the journal file,
    in one job, unless a previous open already did; the store id.

    The copy and the journal file's ``journal_file`` row commit together, so that row says the
    journal file holds a complete copy.  A journal file that holds records but no such row was
    not made from this list file: it is refused, and nothing is copied or dropped.
    """
    connection = writer.connection
    with writer.job():
        store_id = store_id_of(connection, "journal_file")
        if store_id is not None:
            return store_id
        if any(
            connection.execute(f"SELECT 1 FROM main.{table} LIMIT 1").fetchone()  # noqa: S608
            for table in TAP_SIDE_TABLES
        ):
            raise JournalTampered(
                f"{journal_path} already holds journal records, and the list file beside it "
                "still holds its own: neither is changed; keep both files and report it"
            )
        for table, columns in TAP_SIDE_TABLES.items():
            names = ", ".join(columns)
            connection.execute(
                f"INSERT INTO main.{table} ({names}) SELECT {names} FROM {LEGACY}.{table}"  # noqa: S608
            )
        moved = int(connection.execute("SELECT count(*) FROM main.chain_records").fetchone()[0])
        store_id = os.urandom(STORE_ID_BYTES)
        connection.execute("INSERT INTO journal_file VALUES (1, ?, ?)", (store_id, moved))
    return store_id


def check_copy(connection: sqlite3.Connection, journal_path: Path) -> None:
    """Every row of the list file's tap-side tables (attached as ``legacy``) is in the journal
    file, unchanged; raises JournalTampered otherwise (and nothing is dropped).

    Nothing writes the journal file between the copy and the drop (both happen inside
    ``Store.open``), so the journal file's copy holds at least what the list file holds.
    """
    for table, columns in TAP_SIDE_TABLES.items():
        names = ", ".join(columns)
        missing = connection.execute(
            f"""SELECT count(*) FROM (SELECT {names} FROM {LEGACY}.{table}
                EXCEPT SELECT {names} FROM main.{table})"""  # noqa: S608
        ).fetchone()[0]
        if missing:
            raise JournalTampered(
                f"{journal_path} lacks {missing} {table} rows that the list file beside it "
                "still holds from before the journal had a file of its own: neither is "
                "changed; keep both files and report it"
            )


def require_journal_file(journal_path: Path, list_path: Path) -> None:
    """A split store's journal file must exist and not be empty: it is the evidence."""
    if not journal_path.is_file() or journal_path.stat().st_size == 0:
        raise JournalMissing(
            f"the journal file {journal_path} beside {list_path} is missing or empty: it holds "
            "the usage journal and the audit log (evidence), and is not recreated; restore it "
            "from backup, or report it and move the list file aside too before re-enrolling"
        )
