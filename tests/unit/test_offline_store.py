"""The offline store's deny list: versions, atomicity, rollback and gap refusal, full disk."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from offline_store.errors import (
    ContentMismatch,
    RollbackRefused,
    StoreCorrupt,
    StoreFull,
    VersionGap,
)
from offline_store.holder_refs import HolderKeyer
from offline_store.store import (
    DenyEntry,
    DenyReason,
    ListVersion,
    Store,
    deny_records,
    digest_of,
)

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
KEYER = HolderKeyer(b"terminal list key 0123456789abcdef")
JOURNAL_KEY = b"terminal journal key 0123456789ab"


def entry(n: int, reason: DenyReason = DenyReason.LOST) -> DenyEntry:
    return DenyEntry(KEYER.card_ref(f"310100D1560000050000{n:012X}"), reason, "310100")


def stated(version: int, entries: list[DenyEntry]) -> ListVersion:
    digest, count = digest_of(deny_records(entries))
    return ListVersion(version, NOW, NOW + dt.timedelta(days=7), count, digest)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "store.db", journal_key=JOURNAL_KEY)


def test_refs_are_keyed_and_domain_separated() -> None:
    other = HolderKeyer(b"another terminal key 0123456789ab")
    card_id = "310100D1560000050000000000A10001"
    assert KEYER.card_ref(card_id) != other.card_ref(card_id)
    assert KEYER.card_ref(card_id) == KEYER.card_ref(card_id.lower())
    assert KEYER.card_ref("310101198502141234") != KEYER.ssn_ref("310101198502141234")
    assert len(KEYER.card_ref(card_id)) == 16


def test_snapshot_then_lookup(store: Store) -> None:
    entries = [entry(n) for n in range(100)]
    assert store.apply_deny_snapshot(stated(1, entries), deny_records(entries), now=NOW)
    reader = store.reader()
    assert reader.lookup(entries[42].card_ref) == entries[42]
    assert reader.lookup(entry(1000).card_ref) is None
    assert store.version_of("deny") == 1


def test_reapplying_is_a_no_op(store: Store) -> None:
    entries = [entry(n) for n in range(10)]
    assert store.apply_deny_snapshot(stated(1, entries), deny_records(entries), now=NOW)
    assert not store.apply_deny_snapshot(stated(1, entries), deny_records(entries), now=NOW)


def test_rollback_is_refused(store: Store) -> None:
    first, second = [entry(1)], [entry(1), entry(2)]
    store.apply_deny_snapshot(stated(2, second), deny_records(second), now=NOW)
    with pytest.raises(RollbackRefused, match="never goes back"):
        store.apply_deny_snapshot(stated(1, first), deny_records(first), now=NOW)
    with pytest.raises(RollbackRefused):  # same number, other content
        store.apply_deny_snapshot(stated(2, first), deny_records(first), now=NOW)
    assert store.reader().lookup(entry(2).card_ref) is not None


def test_delta_updates_digest_without_rereading(store: Store) -> None:
    base = [entry(n) for n in range(20)]
    store.apply_deny_snapshot(stated(1, base), deny_records(base), now=NOW)
    upserts = [entry(100), entry(3, DenyReason.FRAUD)]  # card 3: lost → fraud
    removals = [entry(5).to_record(), entry(3).to_record()]
    after = [e for e in base if e.card_ref not in (entry(5).card_ref, entry(3).card_ref)]
    after += upserts
    assert store.apply_deny_delta(
        1, stated(2, after), [e.to_record() for e in upserts], removals, now=NOW
    )
    reader = store.reader()
    assert reader.lookup(entry(5).card_ref) is None
    found = reader.lookup(entry(3).card_ref)
    assert found is not None
    assert found.reason is DenyReason.FRAUD
    assert store.version_of("deny") == 2


def test_delta_with_a_gap_is_refused(store: Store) -> None:
    base = [entry(1)]
    store.apply_deny_snapshot(stated(1, base), deny_records(base), now=NOW)
    later = [entry(1), entry(2)]
    with pytest.raises(VersionGap, match="does not apply to version 1"):
        store.apply_deny_delta(2, stated(3, later), [entry(2).to_record()], [], now=NOW)


def test_content_mismatch_keeps_the_old_version(store: Store) -> None:
    base = [entry(n) for n in range(5)]
    store.apply_deny_snapshot(stated(1, base), deny_records(base), now=NOW)
    claimed = [entry(n) for n in range(6)]
    delivered = [entry(n) for n in range(4)]  # one entry short of what the bundle states
    with pytest.raises(ContentMismatch, match="old version is kept"):
        store.apply_deny_snapshot(stated(2, claimed), deny_records(delivered), now=NOW)
    assert store.version_of("deny") == 1
    assert store.reader().lookup(entry(4).card_ref) == base[4]


def test_full_disk_keeps_the_old_list(tmp_path: Path) -> None:
    path = tmp_path / "small.db"
    Store.open(path, journal_key=JOURNAL_KEY).close()
    pages = int(sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0])
    store = Store.open(path, journal_key=JOURNAL_KEY, max_page_count=pages + 8)
    base = [entry(n) for n in range(10)]
    store.apply_deny_snapshot(stated(1, base), deny_records(base), now=NOW)
    big = [entry(n) for n in range(50_000)]
    with pytest.raises(StoreFull, match="previous version is kept"):
        store.apply_deny_snapshot(stated(2, big), deny_records(big), now=NOW)
    assert store.version_of("deny") == 1
    assert store.reader().lookup(base[9].card_ref) == base[9]


def test_a_damaged_file_is_named_with_the_way_out(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store.open(path, journal_key=JOURNAL_KEY) as store:
        entries = [entry(n) for n in range(2000)]
        store.apply_deny_snapshot(stated(1, entries), deny_records(entries), now=NOW)
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = bytearray(path.read_bytes())
    raw[4096 * 2 : 4096 * 2 + 512] = b"\xa5" * 512  # scribble over a b-tree page
    path.write_bytes(bytes(raw))
    with pytest.raises(StoreCorrupt, match="re-sync the lists"):
        Store.open(path, journal_key=JOURNAL_KEY).check(full=True)


def test_list_tables_hold_no_plaintext(store: Store, tmp_path: Path) -> None:
    card_id = "310100D1560000050000000000A10001"
    listed = [DenyEntry(KEYER.card_ref(card_id), DenyReason.LOST, "310100")]
    store.apply_deny_snapshot(stated(1, listed), deny_records(listed), now=NOW)
    store.close()
    for file in tmp_path.iterdir():
        data = file.read_bytes()
        assert card_id.encode() not in data
        assert bytes.fromhex(card_id) not in data


def test_unsorted_or_duplicate_snapshot_is_refused(store: Store) -> None:
    records = deny_records([entry(n) for n in range(5)])
    good = stated(1, [entry(n) for n in range(5)])
    with pytest.raises(ContentMismatch, match="strictly ascending"):
        store.apply_deny_snapshot(good, [records[1], records[0], *records[2:]], now=NOW)
    with pytest.raises(ContentMismatch, match="strictly ascending"):
        store.apply_deny_snapshot(good, [records[0], *records], now=NOW)
    assert store.version_of("deny") is None


def test_records_round_trip_and_bad_records_are_refused() -> None:
    original = entry(7, DenyReason.REPLACED)
    assert DenyEntry.from_record(original.to_record()) == original
    with pytest.raises(ContentMismatch):
        DenyEntry.from_record(original.to_record()[:19])
    with pytest.raises(ContentMismatch):
        DenyEntry.from_record(original.card_ref + b"\x07" + bytes.fromhex("310100"))
    with pytest.raises(ContentMismatch):
        DenyEntry.from_record(original.card_ref + b"\x01" + bytes.fromhex("31A100"))


def test_a_new_snapshot_reuses_the_old_lists_space(store: Store) -> None:
    sizes = []
    for version in (1, 2, 3):
        entries = [entry(version * 100_000 + n) for n in range(20_000)]
        store.apply_deny_snapshot(stated(version, entries), deny_records(entries), now=NOW)
        sizes.append(store.path.stat().st_size)
    assert sizes[2] <= sizes[0] * 1.1  # not three lists' worth of pages
    assert store.verify_list("deny")


def test_a_delta_must_match_the_list_it_changes(store: Store) -> None:
    base = [entry(n) for n in range(5)]
    store.apply_deny_snapshot(stated(1, base), deny_records(base), now=NOW)
    target = stated(2, base[1:])
    with pytest.raises(ContentMismatch, match="not on the list"):
        store.apply_deny_delta(1, target, [], [entry(99).to_record()], now=NOW)
    with pytest.raises(ContentMismatch, match="already listed"):
        store.apply_deny_delta(1, target, [entry(1, DenyReason.FRAUD).to_record()], [], now=NOW)
    with pytest.raises(ContentMismatch, match="old version is kept"):  # wrong old reason
        store.apply_deny_delta(1, target, [], [entry(0, DenyReason.FRAUD).to_record()], now=NOW)
    assert store.version_of("deny") == 1
    assert store.verify_list("deny")
