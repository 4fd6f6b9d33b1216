"""Named allow/benefit/reservation lists: keyed holders, attributes, time windows, versions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from offline_store.benefit_lists import KEY_BYTES, BenefitEntry, RefKind
from offline_store.errors import ContentMismatch, RollbackRefused, StoreError, VersionGap
from offline_store.holder_refs import HolderKeyer
from offline_store.store import ListVersion, Store, digest_of

DAY = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
KEYER = HolderKeyer(b"benefit test list key 0123456789")
SSN = "310101198502141234"
CARD_ID = "310100D1560000050000000000A10001"


def slot(hour: int) -> tuple[dt.datetime, dt.datetime]:
    return DAY + dt.timedelta(hours=hour), DAY + dt.timedelta(hours=hour + 1)


def reservation(hour: int, ssn: str = SSN, party: str = "2") -> BenefitEntry:
    start, end = slot(hour)
    return BenefitEntry(RefKind.SSN, KEYER.ssn_ref(ssn), start, end, {"party": party})


def senior_pass() -> BenefitEntry:
    year = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    return BenefitEntry(RefKind.CARD_ID, KEYER.card_ref(CARD_ID), *year, {"group": "senior"})


def version(number: int, entries: list[BenefitEntry]) -> tuple[ListVersion, list[bytes]]:
    records = sorted(entry.to_record() for entry in entries)
    digest, count = digest_of(records)
    return ListVersion(number, DAY, DAY + dt.timedelta(days=1), count, digest), records


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "store.db", journal_key=b"benefit journal key 0123456789ab")


def test_entitlements_follow_the_windows(store: Store) -> None:
    stated, records = version(1, [reservation(9), reservation(14, party="4")])
    assert store.apply_benefit_snapshot("reservation-2026-11-23", stated, records, now=DAY)
    stated, records = version(1, [senior_pass()])
    store.apply_benefit_snapshot("resident-senior", stated, records, now=DAY)
    reader = store.reader()
    refs = {"card_ref": KEYER.card_ref(CARD_ID), "ssn_ref": KEYER.ssn_ref(SSN)}
    at_nine_thirty = reader.entitlements(**refs, at=DAY + dt.timedelta(hours=9, minutes=30))
    assert [(e.list_name, dict(e.attributes)) for e in at_nine_thirty] == [
        ("reservation-2026-11-23", {"party": "2"}),
        ("resident-senior", {"group": "senior"}),
    ]
    at_ten = reader.entitlements(**refs, at=DAY + dt.timedelta(hours=10))  # slot has ended
    assert [e.list_name for e in at_ten] == ["resident-senior"]
    stranger = reader.entitlements(card_ref=KEYER.card_ref("X"), ssn_ref=None, at=DAY)
    assert stranger == []


def test_delta_versions_rollback_and_gap(store: Store) -> None:
    name = "library-readers"
    stated, records = version(1, [reservation(9), reservation(11)])
    store.apply_benefit_snapshot(name, stated, records, now=DAY)
    assert not store.apply_benefit_snapshot(name, stated, records, now=DAY)  # idempotent
    after = [reservation(11, party="3"), reservation(15)]
    stated2, _ = version(2, after)
    removed = reservation(9).to_record()[:KEY_BYTES]
    upserts = [reservation(11, party="3").to_record(), reservation(15).to_record()]
    assert store.apply_benefit_delta(name, 1, stated2, upserts, [removed], now=DAY)
    assert store.verify_list(f"benefit:{name}")
    with pytest.raises(RollbackRefused):
        store.apply_benefit_snapshot(name, stated, records, now=DAY)
    stated4, _ = version(4, after)
    with pytest.raises(VersionGap):
        store.apply_benefit_delta(name, 3, stated4, [], [], now=DAY)


def test_content_must_match_and_be_sorted(store: Store) -> None:
    stated, records = version(1, [reservation(9), reservation(11)])
    with pytest.raises(ContentMismatch, match="ascending"):
        store.apply_benefit_snapshot("x", stated, list(reversed(records)), now=DAY)
    with pytest.raises(ContentMismatch, match="old version is kept"):
        store.apply_benefit_snapshot("x", stated, records[:1], now=DAY)
    assert store.version_of("benefit:x") is None


def test_records_round_trip_and_are_validated() -> None:
    entry = reservation(9)
    assert BenefitEntry.from_record(entry.to_record()) == entry
    bad_attributes = entry.to_record()[: KEY_BYTES + 8] + b'{"b":"1","a":"2"}'
    with pytest.raises(ContentMismatch, match="canonical"):
        BenefitEntry.from_record(bad_attributes)
    with pytest.raises(ContentMismatch):
        BenefitEntry.from_record(b"\x04" + entry.to_record()[1:])
    with pytest.raises(ValueError, match="end after it starts"):
        BenefitEntry(RefKind.SSN, bytes(16), DAY, DAY, {})


def test_list_names_are_restricted(store: Store) -> None:
    stated, records = version(1, [reservation(9)])
    with pytest.raises(StoreError, match="benefit list name"):
        store.apply_benefit_snapshot("Bad Name!", stated, records, now=DAY)
