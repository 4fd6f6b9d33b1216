"""offline_store.taps: admissions, the code replay cache and the trusted time, kept with the
journal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from offline_store.journal import UsageEvent
from offline_store.store import Store
from offline_store.taps import TapFacts, TrustedTime

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
REF = bytes(range(16))
OTHER_REF = bytes(range(16, 32))  # the same tap under a second reference counts once


def event(at: dt.datetime) -> UsageEvent:
    return UsageEvent("T1", at, True, "admit", ("admitted",), {}, REF, "essc-qr")


def test_replay_cache_entries_expire_and_are_purged(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db", journal_key=b"k" * 32)
    until = T0 + dt.timedelta(minutes=3)
    store.record_tap(event(T0), TapFacts((REF,), "scenic.entry", T0, True, b"A" * 16, until))
    reader = store.reader()
    assert reader.code_seen(b"A" * 16, T0 + dt.timedelta(minutes=2))
    assert not reader.code_seen(b"A" * 16, until)
    assert not reader.code_seen(b"B" * 16, T0)
    later = T0 + dt.timedelta(hours=1)  # a later tap purges what can no longer be replayed
    store.record_tap(event(later), TapFacts((REF,), "scenic.entry", later, False, b"C" * 16, later))
    rows = store.journal_db.execute("SELECT cti FROM seen_codes").fetchall()
    assert rows == [(b"C" * 16,)]


def test_admissions_count_per_holder_and_service(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db", journal_key=b"k" * 32)
    for minutes, service, admitted in [(0, "a.b", True), (5, "a.b", False), (5, "c.d", True),
                                       (10, "a.b", True), (10, "a.b", True)]:  # fmt: skip
        at = T0 + dt.timedelta(minutes=minutes)
        store.record_tap(event(at), TapFacts((REF, OTHER_REF), service, at, admitted))
    reader = store.reader()
    assert len(reader.admissions_since([REF], "a.b", T0)) == 3  # same second twice still counts
    assert len(reader.admissions_since([REF, OTHER_REF], "a.b", T0 + dt.timedelta(minutes=1))) == 2
    assert len(reader.admissions_since([OTHER_REF], "c.d", T0)) == 1
    assert reader.admissions_since([bytes(16)], "a.b", T0) == []
    assert reader.admissions_since([], "a.b", T0) == []
    assert store.journal.verify("usage") == 5


def test_trusted_time_survives_a_restart(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db", journal_key=b"k" * 32)
    assert store.trusted_time() is None
    store.record_trusted_time(TrustedTime(T0, 12.5, "boot-a", "back office"))
    store.record_trusted_time(TrustedTime(T0 + dt.timedelta(hours=1), 3612.5, "boot-a", "sync"))
    store.close()
    reopened = Store.open(tmp_path / "s.db", journal_key=b"k" * 32)
    assert reopened.reader().trusted_time() == TrustedTime(
        T0 + dt.timedelta(hours=1), 3612.5, "boot-a", "sync"
    )
