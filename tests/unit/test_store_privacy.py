"""No holder's plaintext identity reaches any file the store writes (database, WAL, logs)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from apdu.emulator import load_holders
from offline_store.benefit_lists import BenefitEntry, RefKind
from offline_store.holder_refs import HolderKeyer
from offline_store.journal import AuditEntry, StaffAction, UsageEvent
from offline_store.store import (
    DenyEntry,
    DenyReason,
    ListVersion,
    Store,
    deny_records,
    digest_of,
)

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
KEYER = HolderKeyer(b"privacy test list key 0123456789")


def secrets_of_every_holder() -> list[bytes]:
    found = []
    for holder in load_holders().values():
        for text in (holder.ssn, holder.card_number, holder.card_id, holder.name):
            found += [text.encode("utf-8"), text.encode("gbk")]
        found.append(bytes.fromhex(holder.card_id))  # the code as the card stores it
        found.append(holder.ssn.encode("utf-16-le"))
    return found


def test_no_plaintext_identity_in_any_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log_file = tmp_path / "terminal.log"
    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    caplog.set_level(logging.DEBUG)
    holders = list(load_holders().values())
    try:
        store = Store.open(tmp_path / "store.db", journal_key=b"privacy journal key 0123456789ab")
        entries = [DenyEntry(KEYER.card_ref(h.card_id), DenyReason.LOST, h.region) for h in holders]
        records = deny_records(entries)
        digest, count = digest_of(records)
        store.apply_deny_snapshot(ListVersion(1, NOW, NOW, count, digest), records, now=NOW)
        for holder in holders:
            store.journal.append_event(
                UsageEvent(
                    "T-0001",
                    NOW,
                    True,
                    "deny",
                    ("lost",),
                    {"deny": 1},
                    KEYER.ssn_ref(holder.ssn),
                    "card",
                )
            )
        benefit = sorted(
            BenefitEntry(
                RefKind.SSN, KEYER.ssn_ref(h.ssn), NOW, NOW + dt.timedelta(hours=1), {"party": "1"}
            ).to_record()
            for h in holders
        )
        digest, count = digest_of(benefit)
        store.apply_benefit_snapshot(
            "reservation-2026-11-23", ListVersion(1, NOW, NOW, count, digest), benefit, now=NOW
        )
        store.journal.append_audit(AuditEntry("T-0001", NOW, "staff-7", StaffAction.OVERRIDE))
        assert store.reader().lookup(KEYER.card_ref(holders[0].card_id)) is not None
        # the WAL is scanned before and after a checkpoint
        wal_before = (tmp_path / "store.db-wal").read_bytes()
        store.close()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    written = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    written["wal-before-checkpoint"] = wal_before
    written["captured-log"] = caplog.text.encode()
    assert "store.db" in written
    for secret in secrets_of_every_holder():
        for name, data in written.items():
            assert secret not in data, f"{secret!r} found in {name}"
