"""The terminal's SQLite store: schema by migrations, integrity on open, versioned deny list.

A store is two files (``journal_file.py``): the *list file* (``store.db``: lists, versions,
trust and issuer keys) and the *journal file* beside it (``store-journal.db``: the usage
journal and audit log, admissions, seen codes, the trusted time).  One :class:`Store` owns one
write connection per file, each with its own :class:`~offline_store.write_job.Writer`; every
write is one ``BEGIN IMMEDIATE`` job on one file, so a list version is applied whole or not at
all, and applying one never holds up a tap's journal record (nor the other way round).
Lookups use :class:`ListReader`, read-only connections of its own (WAL lets readers run while
the writers write).

No job writes both files.  A tap's journal record, its admissions and its seen code are one job
on the journal file; a list version (with its manifest digest) or a key set is one job on the
list file.  The one operation that touches both is moving the tap-side tables out of a store
made before the split (:meth:`Store._move_tap_side_tables`): two jobs in a fixed order, copy
then drop, each crash-safe, the copy checked before the drop.

A deny entry travels as a 20-byte *record* (the bundle's content format)::

    record = card_ref (16) || reason (1) || issuing region (3 bytes BCD, e.g. 31 01 00)

A snapshot is its records in strictly ascending ``card_ref`` order (so it streams into the
table as appends, and a duplicate cannot hide).  List state digest, checked against what the
bundle states after every apply::

    digest = SHA-256( (Σ SHA-256(record) mod 2^256) as 32 bytes big-endian
                      || entry_count as 8 bytes big-endian )

The sum makes the digest order-free and updatable by a delta without rereading the list.  It
is an integrity check of the applied state; authenticity comes from the signed bundle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from offline_store.benefit_lists import (
    KEY_BYTES,
    Entitlement,
    RefKind,
    canonical_attributes,
    parse_record,
)
from offline_store.errors import (
    ContentMismatch,
    JournalMissing,
    ListDamaged,
    RollbackRefused,
    StoreCorrupt,
    StoreError,
    VersionGap,
)
from offline_store.holder_refs import REF_BYTES
from offline_store.issuer_keys import (
    ISSUERS,
    IssuerKey,
    create_issuer_key_table,
    issuer_keys_for,
    replace_issuer_keys,
)
from offline_store.journal import (
    AUDIT,
    USAGE,
    Journal,
    UsageEvent,
    add_head_tags,
    create_journal_tables,
)
from offline_store.journal_file import (
    JOURNAL_SET,
    LEGACY,
    TAP_SIDE_TABLES,
    check_copy,
    copy_tap_side_tables,
    holds_other_data,
    journal_migrations,
    journal_path_for,
    migration_sets,
    read_only_uri,
    require_journal_file,
    store_id_of,
)
from offline_store.taps import (
    TapFacts,
    TrustedTime,
    admissions_since,
    code_seen,
    create_tap_tables,
    last_tap,
    read_trusted_time,
    record_tap_facts,
    write_trusted_time,
)
from offline_store.trust import TRUST, TrustedKey, TrustKeys, create_trust_tables
from offline_store.write_job import Writer

log = logging.getLogger(__name__)

MODULUS = 1 << 256
WAL_CHECKPOINT_PAGES = 4000
PAGE_BYTES = 1024  # a 100k delta over 10 M entries writes ~90 MB of WAL, not ~250 MB at 4 KiB
WRITER_CACHE_KIB = -32768  # 32 MiB page cache for the writer's jobs
DELTA_CACHE_KIB = -262144  # 256 MiB while a delta runs, released after
DENY_LIST = "deny"
POLICY_LIST = "policy"
STAFF_LIST = "staff"  # the staff roster (``offline_store.staff_roster``)
#: lists that travel as one document, kept as bytes (``apply_document``)
DOCUMENT_LISTS = (POLICY_LIST, STAFF_LIST)
GIL_YIELD_RECORDS = 512  # see _yielding

LIST_SET = "ykt-offline-store"
migrations = Migrations(LIST_SET)

_DENY_TABLE = """CREATE TABLE {name} (
    card_ref BLOB PRIMARY KEY,
    reason INTEGER NOT NULL,
    region INTEGER NOT NULL
) WITHOUT ROWID"""


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
    db.execute(_DENY_TABLE.format(name="deny_entries"))


@migrations()
def m002_journal(db: Database) -> None:
    create_journal_tables(db)


@migrations()
def m003_benefit_lists(db: Database) -> None:
    db.execute(
        """CREATE TABLE benefit_entries (
            list_name TEXT NOT NULL,
            ref_kind INTEGER NOT NULL,
            holder_ref BLOB NOT NULL,
            valid_from INTEGER NOT NULL,
            valid_until INTEGER NOT NULL,
            attributes TEXT NOT NULL,
            PRIMARY KEY (list_name, ref_kind, holder_ref, valid_from)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX benefit_entries_holder ON benefit_entries (holder_ref, valid_from)")


@migrations()
def m004_manifest_chain_and_trust(db: Database) -> None:
    db.execute("ALTER TABLE list_versions ADD COLUMN manifest_digest BLOB NOT NULL DEFAULT x''")
    create_trust_tables(db)


@migrations()
def m005_chain_head_tags(db: Database) -> None:
    add_head_tags(db)


@migrations()
def m006_issuer_keys_and_taps(db: Database) -> None:
    create_issuer_key_table(db)
    create_tap_tables(db)


SPLIT = "m007_journal_split"


@migrations(name=SPLIT)
def m007_journal_split(db: Database) -> None:
    """The tap-side tables leave the list file: the journal file holds them now.

    m002, m005 and m006 still create them here (a store made before the split has them, and
    history is not rewritten); this drops them and records the store id the journal file
    carries.  It runs only inside :meth:`Store._move_tap_side_tables`, after the journal
    file's copy has been checked, which leaves the store id in ``temp.journal_split``; run
    any other way it refuses, so that no code path can drop a journal that was not copied.
    """
    if not db.execute("SELECT 1 FROM sqlite_temp_master WHERE name = 'journal_split'").fetchone():
        raise StoreError(
            "the journal tables leave the list file only through Store.open, once the journal "
            "file holds a checked copy of them"
        )
    (store_id,) = db.execute("SELECT store_id FROM temp.journal_split").fetchone()
    for table in TAP_SIDE_TABLES:
        db.execute(f"DROP TABLE {table}")
    db.execute(
        """CREATE TABLE journal_link (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            store_id BLOB NOT NULL
        )"""
    )
    db.execute("INSERT INTO journal_link VALUES (1, ?)", [store_id])


@migrations()
def m008_list_documents(db: Database) -> None:
    # lists that travel as one document (the venue policy): the applied document's bytes
    db.execute(
        """CREATE TABLE list_documents (
            list_name TEXT PRIMARY KEY,
            content BLOB NOT NULL
        )"""
    )


_BENEFIT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def benefit_list_key(name: str) -> str:
    """The list_versions name of a benefit list (``benefit:<name>``)."""
    if not _BENEFIT_NAME.fullmatch(name):
        raise StoreError(f"benefit list name {name!r}: use 1-64 of a-z, 0-9 and '-'")
    return f"benefit:{name}"


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

    def to_record(self) -> bytes:
        return self.card_ref + bytes((self.reason,)) + bytes.fromhex(self.region)

    @classmethod
    def from_record(cls, record: bytes) -> DenyEntry:
        reason, region = _check_record(record)
        return cls(record[:REF_BYTES], DenyReason(reason), f"{region:06d}")


RECORD_BYTES = REF_BYTES + 4
_REASONS = frozenset(int(reason) for reason in DenyReason)


def _digest_term(record: bytes) -> int:
    return int.from_bytes(hashlib.sha256(record).digest(), "big")


def _check_record(record: bytes) -> tuple[int, int]:
    """(reason, region as an int) of a well-formed record; ContentMismatch otherwise."""
    if len(record) != RECORD_BYTES:
        raise ContentMismatch(f"a deny record is {RECORD_BYTES} bytes, got {len(record)}")
    reason = record[REF_BYTES]
    region = record[REF_BYTES + 1 :].hex()
    if reason not in _REASONS or not region.isdigit():
        raise ContentMismatch("a deny record has an unknown reason or a non-BCD region")
    return reason, int(region)


def deny_records(entries: Iterable[DenyEntry]) -> list[bytes]:
    """Entries as a snapshot's records: encoded and in ``card_ref`` order."""
    return sorted(entry.to_record() for entry in entries)


@dataclass(frozen=True, slots=True)
class ListVersion:
    """What a bundle states about one version of one list."""

    version: int
    issued_at: dt.datetime
    valid_until: dt.datetime
    entry_count: int
    digest: bytes
    #: SHA-256 of the signed manifest that carried this version (the next one chains to it)
    manifest_digest: bytes = b""


@dataclass(frozen=True, slots=True)
class ListState:
    """A list as applied on this terminal."""

    name: str
    version: int
    entry_count: int
    digest: bytes
    issued_at: dt.datetime
    valid_until: dt.datetime
    applied_at: dt.datetime


def state_digest(digest_sum: int, entry_count: int) -> bytes:
    return hashlib.sha256(
        (digest_sum % MODULUS).to_bytes(32, "big") + entry_count.to_bytes(8, "big")
    ).digest()


def digest_of(records: Iterable[bytes]) -> tuple[bytes, int]:
    """Digest and count of a whole list's records (what a back office states in its bundle)."""
    total, count = 0, 0
    for record in records:
        total += _digest_term(record)
        count += 1
    return state_digest(total, count), count


LIST_FILE = "list file"
JOURNAL_FILE = "journal file"
#: what to do about a damaged file of each kind
_WAY_OUT = {
    LIST_FILE: "move it aside and keep it (a store made before the journal file had one holds "
    "its journal too); leave the journal file beside it, which goes on; re-enrol the terminal "
    "and re-sync the lists from the back office",
    JOURNAL_FILE: "keep it, it holds the usage journal (evidence), and report it; then move "
    "both files aside and re-enrol the terminal",
}


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(
            path.absolute().as_uri(), uri=True, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StoreError(f"the offline store {path} cannot be opened: {exc}") from exc


def _configure(connection: sqlite3.Connection, max_page_count: int | None) -> None:
    """The pragmas of a store file's write connection (both files: the same)."""
    # before any table exists: small pages, so that a delta scattered over a big list
    # rewrites less of it.  (No auto_vacuum: its pointer maps triple a delta's WAL;
    # a snapshot reuses the old list's pages instead, see apply_deny_snapshot.)
    connection.execute(f"PRAGMA page_size={PAGE_BYTES}")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=5000")
    # a checkpoint runs inside whichever commit crosses the threshold: on the journal file, a
    # tap's.  4,000 pages (4 MB) make that one tap in ~680 instead of one in ~170: verdict
    # p99 at 10 M entries 1.36-1.39 ms instead of 1.70-1.92 ms (bench/verdict.py)
    connection.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
    connection.execute(f"PRAGMA cache_size={WRITER_CACHE_KIB}")
    if max_page_count is not None:
        connection.execute(f"PRAGMA max_page_count={int(max_page_count)}")


def _check_file(
    connection: sqlite3.Connection, path: Path, what: str, *, full: bool = False
) -> None:
    pragma = "integrity_check" if full else "quick_check"
    rows = [str(row[0]) for row in connection.execute(f"PRAGMA {pragma}")]
    if rows != ["ok"]:
        raise StoreCorrupt(
            f"the offline store's {what} {path} is damaged ({'; '.join(rows[:3])}): "
            + _WAY_OUT[what]
        )


def _applied(connection: sqlite3.Connection) -> set[str]:
    return {m.name for m in migrations.applied(Database(connection))}


@contextmanager
def _opening(path: Path, what: str) -> Iterator[None]:
    """SQLite's errors while opening one of the store's files, as ours, naming the file."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreError(
            f"the offline store's {what} {path} cannot be opened ({exc}): check its "
            "permissions and that no other program holds it"
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise StoreCorrupt(
            f"the offline store's {what} {path} cannot be opened ({exc}): {_WAY_OUT[what]}"
        ) from exc


class Store:
    """The offline store whose list file is ``path``.  Use :meth:`open`."""

    def __init__(
        self,
        path: Path,
        lists: sqlite3.Connection,
        journal: sqlite3.Connection,
        journal_key: bytes,
    ) -> None:
        self.path = path
        self.journal_path = journal_path_for(path)
        self._write = lists
        self._writer = Writer(lists)
        self.db = Database(lists)
        self._journal_writer = Writer(journal)
        self.journal_db = Database(journal)
        self.journal = Journal(self._journal_writer, journal_key)
        self.trust = TrustKeys(self._writer)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        journal_key: bytes,
        create: bool = True,
        max_page_count: int | None = None,
    ) -> Store:
        """Open (creating and upgrading) the store, check both files' integrity and the chains.

        ``path`` is the list file; the journal file is beside it (:func:`journal_path_for`).
        With ``create=False`` (``ykt store check``/``stats``) a missing, empty or foreign list
        file is refused rather than turned into a new, empty store.  A journal file is created
        only for a list file that never had one (a new store, or one made before the split,
        whose journal then moves into it); once a list file has had one, a missing, empty,
        recreated or foreign journal file is refused (:class:`JournalMissing`): it is the
        evidence.  ``max_page_count`` caps each file (disk-full handling, tests).
        """
        if not create and (not path.is_file() or path.stat().st_size == 0):
            raise StoreCorrupt(
                f"{path} is missing or empty: it is not an offline store (its journal is gone "
                "if it was one); restore it from backup or re-enrol the terminal"
            )
        journal_path = journal_path_for(path)
        lists = _connect(path)
        journal: sqlite3.Connection | None = None
        try:
            with _opening(path, LIST_FILE):
                sets = migration_sets(lists)
                if JOURNAL_SET in sets:
                    raise StoreCorrupt(
                        f"{path} is an offline store's journal file, not its list file: give "
                        "the list file (the journal file's name without -journal)"
                    )
                if not create and LIST_SET not in sets:
                    raise StoreCorrupt(f"{path} is an SQLite file but not an offline store")
                _configure(lists, max_page_count)
                _check_file(lists, path, LIST_FILE)
                split = SPLIT in _applied(lists)
                if not split:  # a new store, or one made before the split: up to m006
                    migrations.apply(Database(lists), stop_before=SPLIT)
            if split:
                require_journal_file(journal_path, path)
            journal = _connect(journal_path)
            with _opening(journal_path, JOURNAL_FILE):
                if JOURNAL_SET not in migration_sets(journal):
                    if split:
                        raise JournalMissing(
                            f"{journal_path} is not the journal file of {path} (it holds no "
                            "offline store journal): the journal is not recreated; restore the "
                            "store's journal file from backup, or report it"
                        )
                    if holds_other_data(journal):
                        raise StoreCorrupt(
                            f"{journal_path}, where the journal file of {path} goes, is another "
                            "SQLite file: move it aside"
                        )
                _configure(journal, max_page_count)
                _check_file(journal, journal_path, JOURNAL_FILE)
                journal_migrations.apply(Database(journal))
            store = cls(path, lists, journal, journal_key)
            with _opening(path, LIST_FILE):
                if not split:
                    store._move_tap_side_tables()
                store._check_pair()
                migrations.apply(store.db)  # the list file's migrations after m007
            with _opening(journal_path, JOURNAL_FILE):
                store.verify_chains()
        except BaseException:
            lists.close()
            if journal is not None:
                journal.close()
            raise
        return store

    def _move_tap_side_tables(self) -> None:
        """Move the journal, admissions, seen codes and trusted time out of the list file.

        Crash-safe in three steps, all under the list file's write lock (so no writer, not
        even an older version of this program, appends to the old tables meanwhile):

        1. copy them into the journal file in one job there, with the new store id
           (:func:`~offline_store.journal_file.copy_tap_side_tables`); if an earlier open was
           killed after this step, its complete copy is kept and nothing is copied again;
        2. check the journal file: both chains verify under the journal key, and every row
           of the list file's tables is in it unchanged (otherwise nothing is dropped);
        3. drop the tables from the list file and record the store id there (m007), in one
           job on the list file.

        Killed before 1 commits: nothing changed.  Between 1 and 3: both files hold the rows;
        the next open takes the journal file's copy, checks it (2) and drops (3).
        """
        journal = self._journal_writer.connection
        journal.execute(f"ATTACH DATABASE ? AS {LEGACY}", (read_only_uri(self.path),))
        try:
            with self._writer.job():
                if SPLIT in _applied(self._write):  # another process moved them meanwhile
                    return
                store_id = copy_tap_side_tables(self._journal_writer, self.journal_path)
                self.verify_chains()
                check_copy(journal, self.journal_path)
                self._write.execute("CREATE TEMP TABLE journal_split (store_id BLOB NOT NULL)")
                self._write.execute("INSERT INTO temp.journal_split VALUES (?)", (store_id,))
                migrations.apply(self.db)  # m007, in a savepoint of this job
                self._write.execute("DROP TABLE temp.journal_split")
            log.info("the journal moved out of %s into %s", self.path, self.journal_path)
        finally:
            journal.execute(f"DETACH DATABASE {LEGACY}")

    def _check_pair(self) -> None:
        """The journal file is the one this list file was split with (same store id)."""
        linked = store_id_of(self._write, "journal_link")
        if linked is None or linked != store_id_of(self._journal_writer.connection, "journal_file"):
            raise JournalMissing(
                f"{self.journal_path} is not the journal file of {self.path}: it was recreated "
                "or belongs to another store; the journal is not replaced; restore the store's "
                "journal file from backup, or report it"
            )

    def close(self) -> None:
        self._write.close()
        self._journal_writer.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- integrity -----------------------------------------------------------------------
    def check(self, *, full: bool = False) -> None:
        """``PRAGMA quick_check`` (or the full ``integrity_check``) of both files; raises
        StoreCorrupt naming the damaged file."""
        _check_file(self._write, self.path, LIST_FILE, full=full)
        _check_file(self._journal_writer.connection, self.journal_path, JOURNAL_FILE, full=full)

    def verify_chains(self) -> dict[str, int]:
        """Verify the usage journal and the audit log; record counts per chain."""
        return {chain: self.journal.verify(chain) for chain in (USAGE, AUDIT)}

    def verify_list(self, list_name: str) -> bool:
        """Recompute a list's entry count and digest from its table (a full read).

        True when they match the applied version's; raises StoreCorrupt otherwise.
        """
        row = self._write.execute(
            "SELECT version, digest FROM list_versions WHERE list_name = ?", (list_name,)
        ).fetchone()
        if row is None:
            return True
        total, count = 0, 0
        if list_name == DENY_LIST:
            for card_ref, reason, region in self._write.execute(
                "SELECT card_ref, reason, region FROM deny_entries"
            ):
                total += _digest_term(_record_of(card_ref, reason, region))
                count += 1
        elif list_name in (TRUST, ISSUERS):  # key sets: their digest is the key file's
            count = (
                len(self.trust.all())
                if list_name == TRUST
                else int(self._write.execute("SELECT count(*) FROM issuer_keys").fetchone()[0])
            )
            if count != int(
                self._write.execute(
                    "SELECT entry_count FROM list_versions WHERE list_name = ?", (list_name,)
                ).fetchone()[0]
            ):
                raise ListDamaged(
                    "the trusted key set does not match its trust version: re-enrol the terminal"
                    if list_name == TRUST
                    else f"the issuer keys do not match their version {row[0]}: re-sync the "
                    "issuers list from the back office (a snapshot)"
                )
            return True
        elif list_name in DOCUMENT_LISTS:
            content = self.document(list_name)
            if content is None or hashlib.sha256(content).digest() != bytes(row[1]):
                raise ListDamaged(
                    f"the {list_name} document does not match its version {row[0]}: re-sync it"
                )
            return True
        elif list_name.startswith("benefit:"):
            for values in self._write.execute(
                """SELECT ref_kind, holder_ref, valid_from, valid_until, attributes
                   FROM benefit_entries WHERE list_name = ?""",
                (list_name.removeprefix("benefit:"),),
            ):
                total += _digest_term(_benefit_record_of(*values))
                count += 1
        else:
            raise StoreError(f"no such list: {list_name}")
        if state_digest(total, count) != bytes(row[1]):
            raise ListDamaged(
                f"the {list_name} list table ({count} entries) does not match its version "
                f"{row[0]}: re-sync the list from the back office (a snapshot)"
            )
        return True

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

    def list_states(self) -> list[ListState]:
        """Every list's applied version, for `ykt store stats` and `ykt store check`."""
        try:
            return self._list_states()
        except (ValueError, TypeError) as exc:
            raise StoreCorrupt(
                f"the list versions in {self.path} are damaged ({exc}): re-sync the lists"
            ) from exc

    def _list_states(self) -> list[ListState]:
        return list_states_of(self._write)

    def manifest_digest_of(self, list_name: str) -> bytes | None:
        row = self._write.execute(
            "SELECT manifest_digest FROM list_versions WHERE list_name = ?", (list_name,)
        ).fetchone()
        return None if row is None else bytes(row[0])

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

    def _delta_base(
        self, list_name: str, base_version: int, stated: ListVersion
    ) -> tuple[int, int] | None:
        """(digest sum, count) a delta starts from; None if it is already applied."""
        if not self._check_newer(list_name, stated):
            return None
        current = self.current(list_name)
        if current is None or current[0] != base_version:
            have = "nothing" if current is None else f"version {current[0]}"
            raise VersionGap(
                f"{list_name} delta {base_version}→{stated.version} does not apply to {have}: "
                "fetch the missing versions or a snapshot"
            )
        return current[1], current[2]

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
        self._write_version(list_name, stated, digest_sum, count, now)

    def _write_version(
        self, list_name: str, stated: ListVersion, digest_sum: int, count: int, now: dt.datetime
    ) -> None:
        self._write.execute(
            """INSERT INTO list_versions (list_name, version, digest, digest_sum, entry_count,
                   issued_at, valid_until, applied_at, manifest_digest)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (list_name) DO UPDATE SET version = excluded.version,
               digest = excluded.digest, digest_sum = excluded.digest_sum,
               entry_count = excluded.entry_count, issued_at = excluded.issued_at,
               valid_until = excluded.valid_until, applied_at = excluded.applied_at,
               manifest_digest = excluded.manifest_digest""",
            (
                list_name,
                stated.version,
                stated.digest,
                (digest_sum % MODULUS).to_bytes(32, "big"),
                count,
                stated.issued_at.isoformat(),
                stated.valid_until.isoformat(),
                now.isoformat(),
                stated.manifest_digest,
            ),
        )

    # -- the deny list -------------------------------------------------------------------
    def apply_deny_snapshot(
        self, stated: ListVersion, records: Iterable[bytes], *, now: dt.datetime
    ) -> bool:
        """Replace the deny list by a snapshot's records; False if it is already applied.

        The table is rebuilt in one transaction: readers see the old list or the new one,
        never a mix.
        """
        total, count = 0, 0

        def rows() -> Iterator[tuple[bytes, int, int]]:
            nonlocal total, count
            previous = b""
            for record in records:
                reason, region = _check_record(record)
                card_ref = record[:REF_BYTES]
                if card_ref <= previous:
                    raise ContentMismatch(
                        f"deny snapshot {stated.version}: records are not in strictly ascending "
                        "order (a duplicate or an unsorted bundle); the old version is kept"
                    )
                previous = card_ref
                total += _digest_term(record)
                count += 1
                yield card_ref, reason, region

        with self._writer.job():
            if not self._check_newer(DENY_LIST, stated):  # inside the job: no race
                return False
            # Dropped first, the old list's pages are free for the new one within the same
            # transaction, so the file does not grow by a whole list; readers keep seeing the
            # old list until the commit, and any failure rolls the drop back too.
            self._write.execute("DROP TABLE deny_entries")
            self._write.execute(_DENY_TABLE.format(name="deny_entries"))
            self._write.executemany("INSERT INTO deny_entries VALUES (?, ?, ?)", rows())
            self._record_version(DENY_LIST, stated, total, count, now)
        # fold the new list into the database file now: a WAL holding a whole list would
        # double its disk use until the next automatic checkpoint.  The list is applied and
        # durable either way; a checkpoint that fails (disk full) is retried by SQLite later.
        try:
            with self._writer.lock:
                self._write.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as error:
            log.warning("deny list %d applied; WAL checkpoint deferred: %s", stated.version, error)
        return True

    def apply_deny_delta(
        self,
        base_version: int,
        stated: ListVersion,
        upserts: Iterable[bytes],
        removals: Iterable[bytes],
        *,
        now: dt.datetime,
    ) -> bool:
        """Apply a delta on top of ``base_version``; False if it is already applied.

        ``removals`` are the full records leaving the list and ``upserts`` the records joining
        it; a changed entry is its old record removed and its new record added.  A removal
        not on the list, an addition already on it, or a removal whose reason or region
        differs from the listed one (caught by the digest) rolls the whole delta back.
        """
        change = 0
        removed = sorted(removals)
        added = sorted(upserts)
        for record in _yielding(removed):
            _check_record(record)
            change -= _digest_term(record)
        removed_refs = [(record[:REF_BYTES],) for record in removed]
        rows = []
        for record in _yielding(added):
            reason, region = _check_record(record)
            change += _digest_term(record)
            rows.append((record[:REF_BYTES], reason, region))
        execute = self._write.execute
        # a delta touches pages all over the list: keep them in memory until the commit so
        # each is written to the WAL once
        execute(f"PRAGMA cache_size={DELTA_CACHE_KIB}")
        try:
            with self._writer.job():
                base = self._delta_base(DENY_LIST, base_version, stated)  # inside: no race
                if base is None:
                    return False
                total, count = base[0] + change, base[1] + len(rows) - len(removed)
                gone = self._write.executemany(
                    "DELETE FROM deny_entries WHERE card_ref = ?", removed_refs
                ).rowcount
                if gone != len(removed_refs):
                    raise ContentMismatch(
                        f"deny delta {base_version}→{stated.version} removes "
                        f"{len(removed_refs) - gone} entries that are not on the list; the old "
                        "version is kept"
                    )
                try:
                    self._write.executemany("INSERT INTO deny_entries VALUES (?, ?, ?)", rows)
                except sqlite3.IntegrityError as exc:
                    raise ContentMismatch(
                        f"deny delta {base_version}→{stated.version} adds an entry that is "
                        "already listed (a change must remove the old record); the old version "
                        "is kept"
                    ) from exc
                self._record_version(DENY_LIST, stated, total, count, now)
        finally:
            execute(f"PRAGMA cache_size={WRITER_CACHE_KIB}")
        return True

    # -- benefit, allow and reservation lists --------------------------------------------
    def apply_benefit_snapshot(
        self, name: str, stated: ListVersion, records: Iterable[bytes], *, now: dt.datetime
    ) -> bool:
        """Replace a named benefit list by a snapshot's records (ascending keys)."""
        key = benefit_list_key(name)
        total, count, previous = 0, 0, b""
        rows = []
        for record in records:
            ref_kind, holder_ref, start, end, attributes = parse_record(record)
            if record[:KEY_BYTES] <= previous:
                raise ContentMismatch(
                    f"{key} snapshot {stated.version}: records are not in strictly ascending "
                    "key order; the old version is kept"
                )
            previous = record[:KEY_BYTES]
            total += _digest_term(record)
            count += 1
            rows.append((name, ref_kind, holder_ref, start, end, canonical_text(attributes)))
        with self._writer.job():
            if not self._check_newer(key, stated):  # inside the job: no race
                return False
            self._write.execute("DELETE FROM benefit_entries WHERE list_name = ?", (name,))
            self._write.executemany("INSERT INTO benefit_entries VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._record_version(key, stated, total, count, now)
        return True

    def apply_benefit_delta(
        self,
        name: str,
        base_version: int,
        stated: ListVersion,
        upserts: Iterable[bytes],
        removals: Iterable[bytes],
        *,
        now: dt.datetime,
    ) -> bool:
        """Apply a delta to a named list: upsert records; remove by 33-byte entry key."""
        key = benefit_list_key(name)
        fresh = {record[:KEY_BYTES]: (record, parse_record(record)) for record in upserts}
        with self._writer.job():
            base = self._delta_base(key, base_version, stated)  # inside the job: no race
            if base is None:
                return False
            total, count = base
            for entry_key in sorted(set(removals) | fresh.keys()):
                if len(entry_key) != KEY_BYTES:
                    raise ContentMismatch(f"a benefit entry key is {KEY_BYTES} bytes")
                old = self._write.execute(
                    """DELETE FROM benefit_entries WHERE list_name = ? AND ref_kind = ?
                       AND holder_ref = ? AND valid_from = ?
                       RETURNING ref_kind, holder_ref, valid_from, valid_until, attributes""",
                    (
                        name,
                        entry_key[0],
                        entry_key[1 : 1 + REF_BYTES],
                        int.from_bytes(entry_key[1 + REF_BYTES :], "big", signed=True),
                    ),
                ).fetchone()
                if old is not None:
                    total -= _digest_term(_benefit_record_of(*old))
                    count -= 1
            for record, (ref_kind, holder_ref, start, end, attributes) in fresh.values():
                self._write.execute(
                    "INSERT INTO benefit_entries VALUES (?, ?, ?, ?, ?, ?)",
                    (name, ref_kind, holder_ref, start, end, canonical_text(attributes)),
                )
                total += _digest_term(record)
                count += 1
            self._record_version(key, stated, total, count, now)
        return True

    # -- trust keys -----------------------------------------------------------------------
    def apply_trust_update(
        self,
        stated: ListVersion,
        keys: list[TrustedKey],
        *,
        content_digest: bytes,
        now: dt.datetime,
    ) -> bool:
        """Replace the trusted keys by a verified trust update's key set."""
        return self._apply_key_set(
            TRUST, stated, len(keys), content_digest, lambda: self.trust.replace(keys), now=now
        )

    # -- issuer keys (ESSC1) ----------------------------------------------------------------
    def apply_issuer_keys(
        self,
        stated: ListVersion,
        keys: list[IssuerKey],
        *,
        content_digest: bytes,
        now: dt.datetime,
    ) -> bool:
        """Replace the issuer keys by a verified ``issuers`` snapshot's key set."""
        return self._apply_key_set(
            ISSUERS, stated, len(keys), content_digest,
            lambda: replace_issuer_keys(self._write, keys), now=now,
        )  # fmt: skip

    def _apply_key_set(
        self,
        list_name: str,
        stated: ListVersion,
        count: int,
        content_digest: bytes,
        replace_keys: Callable[[], None],
        *,
        now: dt.datetime,
    ) -> bool:
        """A key set replaced whole, if it is as stated and newer (checked inside the job)."""
        if stated.entry_count != count or stated.digest != content_digest:
            raise ContentMismatch(
                f"{list_name} version {stated.version}: the key file does not match its "
                "statement; the old keys are kept"
            )
        with self._writer.job():
            if not self._check_newer(list_name, stated):  # inside the job: no race
                return False
            replace_keys()
            self._write_version(list_name, stated, 0, count, now)
        return True

    def issuer_keys(self, kid: bytes) -> list[IssuerKey]:
        return issuer_keys_for(self._write, kid)

    # -- documents (the venue policy) ---------------------------------------------------------
    def apply_document(
        self, list_name: str, stated: ListVersion, content: bytes, *, now: dt.datetime
    ) -> bool:
        """Replace a one-document list (``policy``) whose content the caller has validated."""
        if stated.entry_count != 1 or stated.digest != hashlib.sha256(content).digest():
            raise ContentMismatch(
                f"{list_name} version {stated.version}: the document does not match its "
                "statement; the previous one stays in force"
            )
        with self._writer.job():
            if not self._check_newer(list_name, stated):
                return False
            self._write.execute(
                """INSERT INTO list_documents (list_name, content) VALUES (?, ?)
                   ON CONFLICT (list_name) DO UPDATE SET content = excluded.content""",
                (list_name, content),
            )
            self._write_version(list_name, stated, 0, 1, now)
        return True

    def document(self, list_name: str) -> bytes | None:
        """The applied document of a one-document list, or None before its first version."""
        row = self._write.execute(
            "SELECT content FROM list_documents WHERE list_name = ?", (list_name,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    # -- taps -------------------------------------------------------------------------------
    def record_tap(self, event: UsageEvent, facts: TapFacts) -> int:
        """Append the tap's usage event and its facts in one durable job; the journal seq.

        The job is on the journal file alone, so a list being applied meanwhile (the list
        file's writer) does not hold it up.  Raises :class:`JournalNotDurable` when it cannot
        be made durable: the caller must not open the gate on that tap.
        """
        journal = self._journal_writer.connection
        return self.journal.append_event(
            event, also=lambda seq: record_tap_facts(journal, facts, seq)
        )

    def record_trusted_time(self, trusted: TrustedTime) -> None:
        with self._journal_writer.job():
            write_trusted_time(self._journal_writer.connection, trusted)

    def trusted_time(self) -> TrustedTime | None:
        return read_trusted_time(self._journal_writer.connection)

    def reader(self) -> ListReader:
        return ListReader(self.path, self.journal_path)


def _yielding(records: Sequence[bytes]) -> Iterator[bytes]:
    """The records, the GIL given up every :data:`GIL_YIELD_RECORDS` of them.

    A delta's pass over its records is pure Python: without this, a tap in another thread of
    the process waits for the interpreter's switch interval (5 ms) each time it needs the GIL
    back (its statements release it).  ``time.sleep(0)`` releases it and the waiting thread
    takes it (bench/tap_during_sync.py, a delta applied by a thread at 2 M entries: tap p99
    8.4 ms before, 3.3-3.8 ms after; the apply takes as long).
    """
    for n, record in enumerate(records):
        if not n % GIL_YIELD_RECORDS:
            time.sleep(0)
        yield record


def canonical_text(attributes: dict[str, str]) -> str:
    return canonical_attributes(attributes).decode()


def _benefit_record_of(
    ref_kind: int, holder_ref: bytes, start: int, end: int, attributes: str
) -> bytes:
    return (
        bytes((ref_kind,))
        + bytes(holder_ref)
        + start.to_bytes(8, "big", signed=True)
        + end.to_bytes(8, "big", signed=True)
        + attributes.encode()
    )


def _record_of(card_ref: bytes, reason: int, region: int) -> bytes:
    return bytes(card_ref) + bytes((reason,)) + bytes.fromhex(f"{region:06d}")


def _stored(card_ref: bytes, row: tuple[int, int]) -> DenyEntry:
    return DenyEntry(card_ref, DenyReason(row[0]), f"{row[1]:06d}")


def list_states_of(connection: sqlite3.Connection) -> list[ListState]:
    return [
        ListState(
            name=str(row[0]),
            version=int(row[1]),
            entry_count=int(row[2]),
            digest=bytes(row[3]),
            issued_at=dt.datetime.fromisoformat(row[4]),
            valid_until=dt.datetime.fromisoformat(row[5]),
            applied_at=dt.datetime.fromisoformat(row[6]),
        )
        for row in connection.execute(
            """SELECT list_name, version, entry_count, digest, issued_at, valid_until,
               applied_at FROM list_versions ORDER BY list_name"""
        )
    ]


class ListReader:
    """Read-only connections for lookups (one reader per thread): the lists from the list
    file; admissions, seen codes, the trusted time and the last tap from the journal file."""

    def __init__(self, path: Path, journal_path: Path | None = None) -> None:
        self._connection = sqlite3.connect(read_only_uri(path), uri=True, check_same_thread=False)
        self._journal = sqlite3.connect(
            read_only_uri(journal_path or journal_path_for(path)),
            uri=True,
            check_same_thread=False,
        )

    def lookup(self, card_ref: bytes) -> DenyEntry | None:
        row = self._connection.execute(
            "SELECT reason, region FROM deny_entries WHERE card_ref = ?", (card_ref,)
        ).fetchone()
        return None if row is None else _stored(card_ref, row)

    def entitlements(
        self, *, card_ref: bytes | None, ssn_ref: bytes | None, at: dt.datetime
    ) -> list[Entitlement]:
        """Every benefit-list entry of this card or holder whose window contains ``at``."""
        refs = [(int(RefKind.CARD_ID), card_ref), (int(RefKind.SSN), ssn_ref)]
        moment = int(at.timestamp())
        found = []
        for ref_kind, holder_ref in refs:
            if holder_ref is None:
                continue
            for list_name, start, end, attributes in self._connection.execute(
                """SELECT list_name, valid_from, valid_until, attributes FROM benefit_entries
                   WHERE holder_ref = ? AND ref_kind = ? AND valid_from <= ?
                   AND valid_until > ? ORDER BY list_name, valid_from""",
                (holder_ref, ref_kind, moment, moment),
            ):
                found.append(
                    Entitlement(
                        list_name,
                        RefKind(ref_kind),
                        dt.datetime.fromtimestamp(start, dt.UTC),
                        dt.datetime.fromtimestamp(end, dt.UTC),
                        json.loads(attributes),
                    )
                )
        return sorted(found, key=lambda e: (e.list_name, e.valid_from))

    def entries_overlapping(
        self,
        list_name: str,
        refs: Iterable[tuple[RefKind, bytes]],
        start: dt.datetime,
        end: dt.datetime,
    ) -> list[Entitlement]:
        """Entries of one named list (``name``, not ``benefit:name``) for these references
        whose window overlaps [start, end)."""
        found = []
        for ref_kind, holder_ref in refs:
            for valid_from, valid_until, attributes in self._connection.execute(
                """SELECT valid_from, valid_until, attributes FROM benefit_entries
                   WHERE list_name = ? AND ref_kind = ? AND holder_ref = ?
                   AND valid_from < ? AND valid_until > ? ORDER BY valid_from""",
                (list_name, int(ref_kind), holder_ref, int(end.timestamp()),
                 int(start.timestamp())),
            ):  # fmt: skip
                found.append(
                    Entitlement(
                        list_name,
                        ref_kind,
                        dt.datetime.fromtimestamp(valid_from, dt.UTC),
                        dt.datetime.fromtimestamp(valid_until, dt.UTC),
                        json.loads(attributes),
                    )
                )
        return sorted(found, key=lambda e: e.valid_from)

    def issuer_keys(self, kid: bytes) -> list[IssuerKey]:
        return issuer_keys_for(self._connection, kid)

    def document(self, list_name: str) -> bytes | None:
        """The applied document of a one-document list (``policy``, ``staff``), or None."""
        try:
            row = self._connection.execute(
                "SELECT content FROM list_documents WHERE list_name = ?", (list_name,)
            ).fetchone()
        except sqlite3.DatabaseError as error:
            raise StoreCorrupt(
                f"the list file cannot be read ({error}): run `ykt store check`; call a technician"
            ) from error
        return None if row is None else bytes(row[0])

    def list_states(self) -> list[ListState]:
        return list_states_of(self._connection)

    def admissions_since(
        self, holder_refs: Sequence[bytes], service: str, since: dt.datetime
    ) -> list[dt.datetime]:
        return admissions_since(self._journal, holder_refs, service, since)

    def last_tap(self) -> dt.datetime | None:
        """The newest tap time the journal holds (a floor for the terminal's clock)."""
        return last_tap(self._journal)

    def code_seen(self, cti: bytes, at: dt.datetime) -> bool:
        return code_seen(self._journal, cti, at)

    def trusted_time(self) -> TrustedTime | None:
        return read_trusted_time(self._journal)

    def close(self) -> None:
        self._connection.close()
        self._journal.close()
