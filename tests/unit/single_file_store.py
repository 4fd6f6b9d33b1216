"""Stores in the layout before the journal file: one SQLite file, migrations m001-m006.

:func:`open_single_file` applies the list migrations up to m006 (which still create the
journal, admissions, seen codes and clock tables in the one file, as they always did) and
hands both of :class:`Store`'s roles the same connection, so the store's own code writes that
layout with the SQL it has always used.  :func:`fill` puts something in every table; :func:`dump`
reads every table of a file, for before/after comparisons.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from offline_store.benefit_lists import BenefitEntry, RefKind
from offline_store.holder_refs import REF_BYTES
from offline_store.issuer_keys import EDDSA, IssuerKey
from offline_store.journal import USAGE, AuditEntry, StaffAction, UsageEvent
from offline_store.journal_file import TAP_SIDE_TABLES
from offline_store.store import (
    DENY_LIST,
    PAGE_BYTES,
    SPLIT,
    ListVersion,
    Store,
    digest_of,
    migrations,
)
from offline_store.taps import TapFacts, TrustedTime
from offline_store.trust import ED25519, TrustedKey

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
UNTIL = NOW + dt.timedelta(days=7)
LIST_TABLES = (
    "list_versions", "deny_entries", "benefit_entries", "trust_keys", "issuer_keys",
)  # fmt: skip


def open_single_file(path: Path, journal_key: bytes, *, durable: bool = True) -> Store:
    """A store with every table in ``path`` (migrations m001-m006), written as before the split."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute(f"PRAGMA page_size={PAGE_BYTES}")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={'FULL' if durable else 'OFF'}")
    migrations.apply(Database(connection), stop_before=SPLIT)
    return Store(path, connection, connection, journal_key)


def stated(version: int, records: list[bytes]) -> ListVersion:
    digest, count = digest_of(records)
    return ListVersion(version, NOW, UNTIL, count, digest, manifest_digest=bytes([version]) * 32)


def fill(store: Store, *, taps: int, seed: int = 1) -> None:
    """Lists of every kind, trust and issuer keys, ``taps`` taps with admissions and seen codes,
    audit entries, a trusted time, upload states, and a purge that moved the usage anchor."""
    rng = random.Random(seed)
    region = bytes.fromhex("310100")
    deny = sorted(rng.randbytes(REF_BYTES) + b"\x01" + region for _ in range(500))
    assert store.apply_deny_snapshot(stated(1, deny), deny, now=NOW)
    added = sorted(rng.randbytes(REF_BYTES) + b"\x04" + region for _ in range(50))
    after = sorted(deny[100:] + added)
    assert store.apply_deny_delta(1, stated(2, after), added, deny[:100], now=NOW)
    benefit = sorted(
        BenefitEntry(RefKind.SSN, rng.randbytes(REF_BYTES), NOW, UNTIL, {"party": "2"}).to_record()
        for _ in range(40)
    )
    assert store.apply_benefit_snapshot("museum", stated(1, benefit), benefit, now=NOW)
    store.trust.provision_root(TrustedKey("root", ED25519, bytes(32), NOW, UNTIL))
    keys = [TrustedKey("root", ED25519, bytes(32), NOW, UNTIL),
            TrustedKey("next", ED25519, bytes(range(32)), NOW, UNTIL)]  # fmt: skip
    trust = ListVersion(1, NOW, UNTIL, len(keys), b"t" * 32)
    assert store.apply_trust_update(trust, keys, content_digest=b"t" * 32, now=NOW)
    issuers = [IssuerKey(bytes(8), EDDSA, bytes(32), ("31",), NOW, UNTIL)]
    assert store.apply_issuer_keys(
        ListVersion(1, NOW, UNTIL, 1, b"i" * 32), issuers, content_digest=b"i" * 32, now=NOW
    )
    for n in range(taps):
        at = NOW + dt.timedelta(seconds=n)
        ref = rng.randbytes(REF_BYTES)
        event = UsageEvent("T-0001", at, True, "admit", ("admitted",), {DENY_LIST: 2}, ref,
                           "essc-qr", service="museum.entry")  # fmt: skip
        facts = TapFacts((ref, rng.randbytes(REF_BYTES)), "museum.entry", at, n % 3 != 0,
                         rng.randbytes(16), at + dt.timedelta(days=30))  # fmt: skip
        store.record_tap(event, facts)
        if n % 50 == 0:
            store.journal.append_audit(AuditEntry("T-0001", at, f"staff-{n}", StaffAction.SYNC))
    store.record_trusted_time(TrustedTime(NOW, 1234.5, "boot-1", "back office"))
    if taps >= 10:  # records 1-5 acknowledged and purged (the anchor moves), 6-8 in a batch
        store.journal.put_in_batch(USAGE, [1, 2, 3, 4, 5], batch=1)
        store.journal.acknowledge(USAGE, 1, now=NOW)
        assert store.journal.purge_acknowledged(USAGE, now=UNTIL, retention_days=1) == 5
        store.journal.put_in_batch(USAGE, [6, 7, 8], batch=2)


def dump(path: Path, tables: tuple[str, ...] | None = None) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (or of ``tables``) of one file, sorted."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = tables or tuple(
            str(row[0])
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'"
            )
        )
        return {
            name: sorted(connection.execute(f"SELECT * FROM {name}").fetchall()) for name in names
        }
    finally:
        connection.close()


def table_names(path: Path) -> set[str]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            str(row[0])
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        connection.close()


TAP_TABLES = tuple(TAP_SIDE_TABLES)
