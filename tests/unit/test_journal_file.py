"""The store's two files: what lives where, taps and list applies never waiting for each other,
and a journal file that is missing, recreated or another store's refused."""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from single_file_store import LIST_TABLES, TAP_TABLES, table_names

from offline_store.errors import JournalMissing, StoreCorrupt
from offline_store.holder_refs import REF_BYTES
from offline_store.journal import AUDIT, USAGE, AuditEntry, StaffAction, UsageEvent
from offline_store.journal_file import journal_path_for
from offline_store.store import DENY_LIST, ListVersion, Store, digest_of
from offline_store.taps import TapFacts, TrustedTime

KEY = b"split test journal key 012345678"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
WORKER = Path(__file__).with_name("store_split_worker.py")
#: generous: an append takes milliseconds; only a tap waiting for the list apply takes this long
PATIENCE_S = 20.0


def tap(store: Store, n: int) -> int:
    at = NOW + dt.timedelta(seconds=n)
    ref = n.to_bytes(REF_BYTES, "big")
    return store.record_tap(
        UsageEvent("T-0001", at, True, "admit", ("admitted",), {}, ref, "essc-qr"),
        TapFacts((ref,), "museum.entry", at, True, n.to_bytes(16, "little"), at + DAY),
    )


def snapshot(count: int, seed: int) -> tuple[ListVersion, list[bytes]]:
    rng = random.Random(seed)
    records = sorted({rng.randbytes(REF_BYTES) + b"\x01\x31\x01\x00" for _ in range(count)})
    digest, entries = digest_of(records)
    return ListVersion(seed, NOW, NOW + dt.timedelta(days=1), entries, digest), records


def finishes(work: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """``work`` in a thread of its own, so that a wait shows as a failure rather than a hang."""
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    thread.join(PATIENCE_S)
    return thread, done


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store.db", journal_key=KEY) as opened:
        yield opened


def test_the_journal_file_is_named_after_the_list_file() -> None:
    assert journal_path_for(Path("/var/ykt/store.db")) == Path("/var/ykt/store-journal.db")
    assert journal_path_for(Path("a.b.sqlite")) == Path("a.b-journal.sqlite")
    # never SQLite's own rollback journal of the list file (``<name>-journal``)
    assert journal_path_for(Path("store")) == Path("store-journal.db")


def test_each_table_lives_in_one_file(store: Store) -> None:
    assert set(LIST_TABLES) <= table_names(store.path)
    assert not set(TAP_TABLES) & table_names(store.path)
    assert set(TAP_TABLES) <= table_names(store.journal_path)
    assert not set(LIST_TABLES) & table_names(store.journal_path)


def test_a_tap_writes_only_the_journal_file_and_an_apply_only_the_list_file(
    store: Store,
) -> None:
    watchers = {
        "lists": sqlite3.connect(store.path, isolation_level=None),
        "journal": sqlite3.connect(store.journal_path, isolation_level=None),
    }

    def commits() -> dict[str, int]:  # data_version moves when another connection commits
        return {
            name: c.execute("PRAGMA data_version").fetchone()[0] for name, c in watchers.items()
        }

    start = commits()
    tap(store, 1)
    store.record_trusted_time(TrustedTime(NOW, 1.0, "boot", "test"))
    store.journal.append_audit(AuditEntry("T-0001", NOW, "staff-1", StaffAction.SYNC))
    after_taps = commits()
    assert after_taps["lists"] == start["lists"]
    assert after_taps["journal"] != start["journal"]
    stated, records = snapshot(100, 1)
    assert store.apply_deny_snapshot(stated, records, now=NOW)
    after_apply = commits()
    assert after_apply["journal"] == after_taps["journal"]
    assert after_apply["lists"] != after_taps["lists"]
    for watcher in watchers.values():
        watcher.close()


def test_taps_are_recorded_while_a_snapshot_holds_the_list_file(store: Store) -> None:
    """The point of the two files: a 300,000-record snapshot holds the list file's write
    transaction open (paused halfway through its records), and taps, the trusted time and
    the audit log are written and durable meanwhile."""
    stated, records = snapshot(300_000, 2)
    halfway, release = threading.Event(), threading.Event()

    def paused() -> Iterator[bytes]:
        for n, record in enumerate(records):
            if n == len(records) // 2:
                halfway.set()
                release.wait(2 * PATIENCE_S)
            yield record

    applied: list[bool] = []
    applier = threading.Thread(
        target=lambda: applied.append(store.apply_deny_snapshot(stated, paused(), now=NOW))
    )
    applier.start()
    try:
        assert halfway.wait(PATIENCE_S)
        probe = sqlite3.connect(store.path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            probe.execute("BEGIN IMMEDIATE")  # the apply holds the list file's write lock
        probe.close()

        def taps() -> list[int]:
            seqs = [tap(store, n) for n in range(1, 51)]
            store.record_trusted_time(TrustedTime(NOW, 2.0, "boot", "sync"))
            store.journal.append_audit(AuditEntry("T-0001", NOW, "staff-1", StaffAction.SYNC))
            return seqs

        tapper, done = finishes(taps)
        assert not tapper.is_alive(), "record_tap waited for the list apply"
        assert done == [list(range(1, 51))]
        assert applier.is_alive()  # the apply is still in its transaction
        assert not applied
        reader = store.reader()  # what the verdict path sees meanwhile
        assert reader.list_states() == []  # the old lists (none), not half the new one
        assert len(reader.admissions_since([(7).to_bytes(REF_BYTES, "big")], "museum.entry",
                                           NOW)) == 1  # fmt: skip
        assert reader.code_seen((7).to_bytes(16, "little"), NOW)
        assert reader.trusted_time() == TrustedTime(NOW, 2.0, "boot", "sync")
        reader.close()
    finally:
        release.set()
        applier.join(PATIENCE_S * 3)
    assert applied == [True]
    assert store.verify_list(DENY_LIST)
    assert store.verify_chains() == {USAGE: 50, AUDIT: 1}


def test_a_list_applies_while_a_tap_holds_the_journal_file(store: Store) -> None:
    holding, release = threading.Event(), threading.Event()

    def held(seq: int) -> None:
        holding.set()
        release.wait(2 * PATIENCE_S)

    appender = threading.Thread(
        target=store.journal.append_event,
        args=(UsageEvent("T-0001", NOW, True, "admit", (), {}, bytes(16), "card"),),
        kwargs={"also": held},
    )
    appender.start()
    try:
        assert holding.wait(PATIENCE_S)
        stated, records = snapshot(20_000, 3)
        applier, done = finishes(lambda: store.apply_deny_snapshot(stated, records, now=NOW))
        assert not applier.is_alive(), "the list apply waited for the journal append"
        assert done == [True]
        assert appender.is_alive()
    finally:
        release.set()
        appender.join(PATIENCE_S)
    assert store.verify_chains() == {USAGE: 1, AUDIT: 0}


def test_taps_in_one_process_while_another_applies_a_snapshot(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(path, journal_key=KEY) as store:
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), "hold", str(path), "100000"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
        )
        assert worker.stdin is not None
        assert worker.stdout is not None
        try:
            assert worker.stdout.readline() == b"HOLDING\n"
            tapper, done = finishes(lambda: [tap(store, n) for n in range(1, 21)])
            assert not tapper.is_alive(), "record_tap waited for the other process's apply"
            assert done == [list(range(1, 21))]
            assert store.version_of(DENY_LIST) is None  # that apply has not committed yet
            worker.stdin.write(b"go\n")
            worker.stdin.flush()
            out, err = worker.communicate(timeout=PATIENCE_S * 3)
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
        assert out == b"APPLIED 1\n", err
        assert store.version_of(DENY_LIST) == 1
        assert store.verify_list(DENY_LIST)
        assert store.verify_chains() == {USAGE: 20, AUDIT: 0}


def test_both_files_are_capped_by_max_page_count(tmp_path: Path) -> None:
    with Store.open(tmp_path / "store.db", journal_key=KEY, max_page_count=900) as store:
        for db in (store.db, store.journal_db):
            assert db.execute("PRAGMA max_page_count").fetchone()[0] == 900


# -- the journal file is the evidence: never silently recreated ---------------------------
def test_a_missing_or_emptied_journal_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(path, journal_key=KEY) as store:
        tap(store, 1)
    journal = journal_path_for(path)
    journal.rename(tmp_path / "kept.db")
    for create in (True, False):
        with pytest.raises(JournalMissing, match="missing or empty"):
            Store.open(path, journal_key=KEY, create=create)
        assert not journal.exists()  # not recreated
    journal.touch()
    with pytest.raises(JournalMissing, match="missing or empty"):
        Store.open(path, journal_key=KEY)
    assert journal.stat().st_size == 0
    (tmp_path / "kept.db").replace(journal)  # restored from backup: back in business
    with Store.open(path, journal_key=KEY) as store:
        assert store.journal.verify(USAGE) == 1


def test_a_recreated_or_foreign_journal_file_is_refused(tmp_path: Path) -> None:
    path, other = tmp_path / "store.db", tmp_path / "other.db"
    for made in (path, other):
        with Store.open(made, journal_key=KEY) as store:
            tap(store, 1)
    journal = journal_path_for(path)
    journal.rename(tmp_path / "kept.db")
    journal_path_for(other).rename(journal)  # another store's journal file, same key
    with pytest.raises(JournalMissing, match="belongs to another store"):
        Store.open(path, journal_key=KEY)
    journal.unlink()
    sqlite3.connect(journal).execute("CREATE TABLE t (x)")  # some other SQLite file
    with pytest.raises(JournalMissing, match="holds no offline store journal"):
        Store.open(path, journal_key=KEY)


def test_the_journal_file_is_not_taken_for_a_list_file(store: Store) -> None:
    store.close()
    for create in (True, False):
        with pytest.raises(StoreCorrupt, match="journal file, not its list file"):
            Store.open(store.journal_path, journal_key=KEY, create=create)
    assert not journal_path_for(store.journal_path).exists()


def test_a_lost_list_file_is_started_afresh_beside_the_kept_journal(tmp_path: Path) -> None:
    """The list file is only lists (re-synced from the back office); the journal goes on."""
    path = tmp_path / "store.db"
    with Store.open(path, journal_key=KEY) as store:
        tap(store, 1)
        stated, records = snapshot(100, 4)
        store.apply_deny_snapshot(stated, records, now=NOW)
    path.rename(tmp_path / "damaged.db")
    with pytest.raises(StoreCorrupt, match="missing or empty"):
        Store.open(path, journal_key=KEY, create=False)
    with Store.open(path, journal_key=KEY) as store:
        assert store.version_of(DENY_LIST) is None
        assert tap(store, 2) == 2
        assert store.verify_chains() == {USAGE: 2, AUDIT: 0}
    with Store.open(path, journal_key=KEY, create=False) as store:  # paired again
        assert store.journal.verify(USAGE) == 2
