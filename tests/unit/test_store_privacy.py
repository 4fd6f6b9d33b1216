"""No holder's plaintext identity reaches any file the store writes (the list file, the journal
file, their WALs, logs), nor a printed verdict."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from apdu.emulator import load_holders
from apdu.ssc import Authenticity
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
from terminal.clock import ClockSample
from terminal.codes.issuer import IssuerSimulator
from terminal.credential import Credential, CredentialKind
from terminal.demo_lists import seed_demo_store
from terminal.station import Station, StationSettings
from terminal.terminal_keys import TerminalKeys

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
        # both files' WALs are scanned before and after a checkpoint
        wals_before = {
            f"{wal.name}-before-checkpoint": wal.read_bytes()
            for wal in (tmp_path / "store.db-wal", tmp_path / "store-journal.db-wal")
        }
        store.close()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    written = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    written.update(wals_before)
    written["captured-log"] = caplog.text.encode()
    assert {"store.db", "store-journal.db"} <= written.keys()
    assert all(wals_before.values())  # the journal's WAL held the events when it was read
    for secret in secrets_of_every_holder():
        for name, data in written.items():
            assert secret not in data, f"{secret!r} found in {name}"


def test_no_plaintext_identity_from_verdicts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every holder taps a card and shows a code: journal, store files, logs and the verdicts
    printed hold keyed references and masked forms only."""
    caplog.set_level(logging.DEBUG)
    keys = TerminalKeys(b"privacy list key 0123456789abcdef", b"privacy journal key 0123456789ab")
    (tmp_path / "keys.toml").write_text(keys.to_toml())
    store = Store.open(tmp_path / "store.db", journal_key=keys.journal_key)
    clock = ClockSample(NOW, 100.0, "boot")
    seed_demo_store(store, HolderKeyer(keys.list_key), tmp_path / "repository", sample=clock)
    store.close()
    settings = StationSettings(tmp_path / "store.db", tmp_path / "keys.toml", production=False)
    printed = []
    issuer = IssuerSimulator()
    with Station.open(settings) as station:
        for holder in load_holders().values():
            card = Credential(
                kind=CredentialKind.CARD, authenticity=Authenticity.VERIFIED,
                card_id=holder.card_id, card_number=holder.card_number, ssn=holder.ssn,
                name=holder.name, birth_date=holder.birth_date, expiry_date=holder.expiry_date,
            )  # fmt: skip
            for service in ("library.entry", "museum.entry"):
                verdict = station.checkpoint.present(card, sample=clock, service=service)
                printed.append(json.dumps(verdict.to_json(), ensure_ascii=False))
            code = issuer.issue(
                card_id=holder.card_id, card_number=holder.card_number, name=holder.name,
                birth_date=holder.birth_date, iat=NOW,
            )  # fmt: skip
            verdict = station.checkpoint.present_code(code, sample=clock, service="scenic.entry")
            printed.append(json.dumps(verdict.to_json(), ensure_ascii=False))
        assert station.store.journal.verify("usage") == 3 * len(load_holders())
    written = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    written["captured-log"] = caplog.text.encode()
    written["printed-verdicts"] = "\n".join(printed).encode()
    assert {"store.db", "store-journal.db"} <= written.keys()
    for secret in secrets_of_every_holder():
        for name, data in written.items():
            assert secret not in data, f"{secret!r} found in {name}"
