"""Demo lists for a store with no back office: published as signed bundles, applied by sync.

``ykt dev seed-store`` and the tests use it to make a store that looks like a synced venue
terminal, through the real path: a demo back-office key signs a bundle repository (trust root,
the test issuers' ESSC1 keys, a deny list, reservations, library readers), the store trusts
that key as its root and :func:`~offline_store.bundles.sync_from` applies everything.

Everything here is for demonstrations and tests: the back-office key is derived from a public
string, and the issuer keys are the simulator's test keys (a production terminal refuses them).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from apdu.emulator import load_holders
from offline_store.benefit_lists import BenefitEntry, RefKind
from offline_store.bundles import Publisher, Repository, SyncReport, sync_from
from offline_store.holder_refs import HolderKeyer
from offline_store.staff_roster import StaffRole, StaffRoster, new_member
from offline_store.store import DENY_LIST, STAFF_LIST, DenyEntry, DenyReason, Store, deny_records
from offline_store.trust import ED25519, TrustedKey
from terminal.clock import ClockSample, trusted_time_from
from terminal.codes.issuer import IssuerSimulator

DEMO_KEY_ID = "demo-back-office"
#: demo holders on the deny list, and why
DEMO_DENIED = {"sh-lost-gen3": DenyReason.LOST}
#: demo holders with a museum reservation all day (and a reservation code for the demo)
DEMO_RESERVED = ("sh-gen3", "qingpu-senior-gen3", "wujiang-resident-gen3")
DEMO_RESERVATION_ID = "M-DEMO-0001"
DEMO_READERS = ("zj-gen2", "sh-gen3")
#: demo staff: holder key → (staff id, role, PIN); the PINs are shown by ``ykt demo``
DEMO_STAFF = {
    "sh-staff-gen3": ("D-001", StaffRole.DESK, "123456"),
    "zj-tech-gen2": ("T-001", StaffRole.TECH, "654321"),
}
_KEY_VALID = (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2031, 1, 1, tzinfo=dt.UTC))


def demo_back_office_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"ykt-terminal demo back office: not a secret").digest()
    )


def demo_root() -> TrustedKey:
    public = demo_back_office_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return TrustedKey(DEMO_KEY_ID, ED25519, public, *_KEY_VALID)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    repository: Path
    report: SyncReport


def publish_demo_repository(
    root: Path, keyer: HolderKeyer, *, now: dt.datetime, valid_for: dt.timedelta
) -> Repository:
    """A signed bundle repository holding the demo lists, issued at ``now``."""
    repository = Repository(root)
    publisher = Publisher(repository, [(DEMO_KEY_ID, demo_back_office_key())])
    until = now + valid_for
    publisher.issuers(1, IssuerSimulator().issuer_keys(), issued_at=now, valid_until=until)
    holders = load_holders()
    denied = [
        DenyEntry(keyer.card_ref(holders[key].card_id), reason, holders[key].card_id[:6])
        for key, reason in DEMO_DENIED.items()
    ]
    publisher.snapshot(DENY_LIST, 1, deny_records(denied), issued_at=now, valid_until=until)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    day = (day_start - dt.timedelta(hours=8), day_start + dt.timedelta(days=2))
    reservations = [
        BenefitEntry(RefKind.CARD_ID, keyer.card_ref(holders[key].card_id), *day,
                     {"service": "museum.entry"})
        for key in DEMO_RESERVED
    ]  # fmt: skip
    reservations.append(
        BenefitEntry(RefKind.RESERVATION, keyer.reservation_ref(DEMO_RESERVATION_ID), *day,
                     {"service": "museum.entry", "party": "1"})
    )  # fmt: skip
    publisher.snapshot(
        "benefit:reservations", 1, sorted(e.to_record() for e in reservations),
        issued_at=now, valid_until=until,
    )  # fmt: skip
    # by SSN (a replacement card stays registered) and by card id (an e-card code carries no
    # SSN, only its card's identification code)
    readers = [
        entry
        for key in DEMO_READERS
        for entry in (
            BenefitEntry(RefKind.SSN, keyer.ssn_ref(holders[key].ssn), *_KEY_VALID, {}),
            BenefitEntry(RefKind.CARD_ID, keyer.card_ref(holders[key].card_id), *_KEY_VALID, {}),
        )
    ]
    publisher.snapshot(
        "benefit:library-readers", 1, sorted(e.to_record() for e in readers),
        issued_at=now, valid_until=until,
    )  # fmt: skip
    publisher.document(STAFF_LIST, 1, demo_staff_roster(keyer).to_document(),
                       issued_at=now, valid_until=until)  # fmt: skip
    return repository


def demo_staff_roster(keyer: HolderKeyer) -> StaffRoster:
    """The demo staff (:data:`DEMO_STAFF`), PIN verifiers keyed by the terminal's list key."""
    holders = load_holders()
    return StaffRoster.of(
        new_member(staff_id, keyer.card_ref(holders[key].card_id), role, pin,
                   list_key=keyer.key, salt=hashlib.sha256(staff_id.encode()).digest()[:16])
        for key, (staff_id, role, pin) in DEMO_STAFF.items()
    )  # fmt: skip


def seed_demo_store(
    store: Store,
    keyer: HolderKeyer,
    repository_root: Path,
    *,
    sample: ClockSample,
    valid_for: dt.timedelta = dt.timedelta(days=7),
) -> DemoSeed:
    """Trust the demo back office, publish the demo lists, sync them, and trust the clock."""
    if not store.trust.all():
        store.trust.provision_root(demo_root())
    repository = publish_demo_repository(repository_root, keyer, now=sample.wall,
                                         valid_for=valid_for)  # fmt: skip
    report = sync_from(store, repository, now=sample.wall)
    store.record_trusted_time(trusted_time_from(sample, sample.wall, "demo back office"))
    return DemoSeed(repository_root, report)
