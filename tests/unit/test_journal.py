"""The usage journal and audit log: chained, durable, tamper-evident, purged safely."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from offline_store.errors import JournalNotDurable, JournalTampered
from offline_store.holder_refs import HolderKeyer
from offline_store.journal import (
    AUDIT,
    USAGE,
    AuditEntry,
    StaffAction,
    UploadState,
    UsageEvent,
)
from offline_store.store import (
    DenyEntry,
    DenyReason,
    ListVersion,
    Store,
    deny_records,
    digest_of,
)

KEY = b"terminal journal key 0123456789ab"
T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
KEYER = HolderKeyer(b"terminal list key 0123456789abcdef")


def event(n: int) -> UsageEvent:
    return UsageEvent(
        terminal_id="T-0001",
        occurred_at=T0 + dt.timedelta(seconds=n),
        clock_trusted=True,
        verdict="admit",
        reasons=("resident-benefit",),
        list_versions={"deny": 7, "benefit": 3},
        holder_ref=KEYER.card_ref(f"310100D1560000050000{n:012X}"),
        credential_kind="card",
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "store.db", journal_key=KEY)


def raw(store: Store) -> sqlite3.Connection:
    """The journal file, behind the store's back."""
    return sqlite3.connect(store.journal_path, isolation_level=None)


def test_appends_number_and_chain(store: Store) -> None:
    seqs = [store.journal.append_event(event(n)) for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert store.journal.verify(USAGE) == 5
    bodies = [r.body for r in store.journal.records(USAGE)]
    assert bodies[2]["occurred_at"] == (T0 + dt.timedelta(seconds=2)).isoformat()
    assert bodies[2]["list_versions"] == {"benefit": 3, "deny": 7}


def test_audit_is_its_own_chain(store: Store) -> None:
    store.journal.append_event(event(1))
    seq = store.journal.append_audit(AuditEntry("T-0001", T0, "staff-ref-1", StaffAction.OVERRIDE))
    assert seq == 1
    assert store.verify_chains() == {USAGE: 1, AUDIT: 1}


def test_an_altered_event_is_detected_on_open(store: Store, tmp_path: Path) -> None:
    for n in range(3):
        store.journal.append_event(event(n))
    store.close()
    raw_db = sqlite3.connect(tmp_path / "store-journal.db", isolation_level=None)
    body = raw_db.execute("SELECT body FROM chain_records WHERE seq = 2").fetchone()[0]
    raw_db.execute(
        "UPDATE chain_records SET body = ? WHERE seq = 2",
        (body.replace(b'"admit"', b'"refer"'),),
    )
    raw_db.close()
    with pytest.raises(JournalTampered, match="broken at record 2"):
        Store.open(tmp_path / "store.db", journal_key=KEY)


def test_a_deleted_event_is_detected(store: Store) -> None:
    for n in range(4):
        store.journal.append_event(event(n))
    raw(store).execute("DELETE FROM chain_records WHERE chain = 'usage' AND seq = 2")
    with pytest.raises(JournalTampered, match="jumps from record 1 to 3"):
        store.journal.verify(USAGE)


def test_a_truncated_tail_is_detected(store: Store) -> None:
    for n in range(4):
        store.journal.append_event(event(n))
    raw(store).execute("DELETE FROM chain_records WHERE chain = 'usage' AND seq = 4")
    with pytest.raises(JournalTampered, match="ends at record 3 but its head says 4"):
        store.journal.verify(USAGE)


def test_the_wrong_key_cannot_verify(store: Store) -> None:
    store.journal.append_event(event(1))
    store.close()
    with pytest.raises(JournalTampered):
        Store.open(store.path, journal_key=b"some other journal key 0123456789")


def test_upload_states_and_purge_keep_the_chain_verifiable(store: Store) -> None:
    journal = store.journal
    for n in range(6):
        journal.append_event(event(n))
    journal.put_in_batch(USAGE, [1, 2, 3, 4], batch=1)
    assert journal.acknowledge(USAGE, 1, now=T0) == 4
    journal.put_in_batch(USAGE, [5], batch=2)
    states = [r.upload_state for r in journal.records(USAGE)]
    assert states == [UploadState.ACKNOWLEDGED] * 4 + [UploadState.IN_BATCH, UploadState.PENDING]
    # not old enough yet
    assert journal.purge_acknowledged(USAGE, now=T0 + dt.timedelta(days=29), retention_days=30) == 0
    assert journal.purge_acknowledged(USAGE, now=T0 + dt.timedelta(days=31), retention_days=30) == 4
    assert [r.seq for r in journal.records(USAGE)] == [5, 6]
    assert journal.verify(USAGE) == 2
    assert journal.append_event(event(7)) == 7
    assert journal.verify(USAGE) == 3


def test_purge_never_passes_an_unacknowledged_event(store: Store) -> None:
    journal = store.journal
    for n in range(3):
        journal.append_event(event(n))
    journal.put_in_batch(USAGE, [1, 3], batch=1)
    journal.acknowledge(USAGE, 1, now=T0)
    assert journal.purge_acknowledged(USAGE, now=T0 + dt.timedelta(days=90), retention_days=1) == 1
    assert [r.seq for r in journal.records(USAGE)] == [2, 3]


def test_an_append_that_cannot_be_durable_raises_its_own_error(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    Store.open(path, journal_key=KEY).close()
    pages = int(sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0])
    store = Store.open(path, journal_key=KEY, max_page_count=pages + 2)
    appended = 0
    failure: JournalNotDurable | None = None
    for n in range(10_000):
        try:
            store.journal.append_event(event(n))
        except JournalNotDurable as error:
            failure = error
            break
        appended += 1
    assert failure is not None
    assert "do not admit" in failure.message
    assert appended > 0
    assert store.journal.verify(USAGE) == appended  # every returned append is still there


def test_events_hold_no_plaintext_identity(store: Store) -> None:
    card_id = "310100D1560000050000000000A10001"
    holder = UsageEvent("T-0001", T0, True, "admit", (), {}, KEYER.card_ref(card_id), "card")
    store.journal.append_event(holder)
    store.close()
    for file in store.path.parent.iterdir():
        assert card_id.encode() not in file.read_bytes()


def test_a_rewritten_head_is_detected(store: Store) -> None:
    for n in range(5):
        store.journal.append_event(event(n))
    db = raw(store)
    mac2 = db.execute("SELECT mac FROM chain_records WHERE chain = 'usage' AND seq = 2").fetchone()
    db.execute("DELETE FROM chain_records WHERE chain = 'usage' AND seq > 2")
    db.execute(
        "UPDATE chain_heads SET head_seq = 2, head_mac = ? WHERE chain = 'usage'", (mac2[0],)
    )
    with pytest.raises(JournalTampered, match="head was rewritten"):
        store.journal.verify(USAGE)


def test_a_moved_anchor_is_detected(store: Store) -> None:
    for n in range(4):
        store.journal.append_event(event(n))
    db = raw(store)
    mac3 = db.execute("SELECT mac FROM chain_records WHERE chain = 'usage' AND seq = 3").fetchone()
    db.execute("DELETE FROM chain_records WHERE chain = 'usage' AND seq <= 3")  # still pending
    db.execute(
        "UPDATE chain_heads SET anchor_seq = 3, anchor_mac = ? WHERE chain = 'usage'", (mac3[0],)
    )
    with pytest.raises(JournalTampered, match="head was rewritten"):
        store.journal.verify(USAGE)


def test_appends_from_another_thread_never_mix_with_a_list_job(store: Store) -> None:
    base = [DenyEntry(KEYER.card_ref(f"c{n}"), DenyReason.LOST, "310100") for n in range(20_000)]
    records = deny_records(base)
    digest, count = digest_of(records)
    store.apply_deny_snapshot(ListVersion(1, T0, T0, count, digest), records, now=T0)
    added = deny_records(
        [DenyEntry(KEYER.card_ref(f"d{n}"), DenyReason.FRAUD, "320500") for n in range(20_000)]
    )
    after_digest, after_count = digest_of(records[5000:] + added)
    stop = threading.Event()
    appended: list[int] = []

    def tap() -> None:
        while not stop.is_set():
            appended.append(store.journal.append_event(event(len(appended))))

    tapper = threading.Thread(target=tap)
    tapper.start()
    try:
        assert store.apply_deny_delta(
            1, ListVersion(2, T0, T0, after_count, after_digest), added, records[:5000], now=T0
        )
    finally:
        stop.set()
        tapper.join()
    assert store.verify_list("deny")
    assert store.journal.verify(USAGE) == len(appended)
