"""Publishing: snapshots, deltas, refreshes, trust rotation, issuers, policy, pruning; and what
a real terminal store makes of the repository (``offline_store.bundles.sync_from``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from backoffice_support import NOW
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backoffice.datadir import default_policy_text
from backoffice.errors import InputError, KeyRingError, PublishError
from backoffice.publishing import PublishSettings
from backoffice.service import BackOffice
from backoffice.sources import Holder
from offline_store.benefit_lists import RefKind
from offline_store.bundles import INDEX, sync_from
from offline_store.issuer_keys import EDDSA, IssuerKey
from offline_store.store import DenyReason, Store

CARDS = [f"310100D15600000500000000{i:08X}" for i in range(1, 9)]
SSN = "310101195001011234"
DAY = dt.timedelta(days=1)
REPO_ROOT = Path(__file__).resolve().parents[2]


def _store(tmp_path: Path, office: BackOffice, name: str = "terminal.db") -> Store:
    store = Store.open(tmp_path / name, journal_key=b"test journal key 0123456789abcdef")
    store.trust.provision_root(office.root_key())
    return store


def _index(office: BackOffice) -> dict[str, list[dict[str, object]]]:
    index = json.loads((office.data.repo / INDEX).read_bytes())
    assert index["format"] == "ykt-repo/1"
    return index["lists"]  # type: ignore[no-any-return]


def test_the_template_policy_is_the_terminals_default() -> None:
    terminal_default = REPO_ROOT / "src" / "terminal" / "policies" / "default.toml"
    assert default_policy_text() == terminal_default.read_bytes()


def test_a_first_publish_applies_to_a_terminal_store(tmp_path: Path, office: BackOffice) -> None:
    keyer = office.data.keyer()
    office.sources.deny_add(CARDS[0], "lost", None, now=NOW)
    office.sources.deny_add(CARDS[1], "fraud", "320500", now=NOW)
    office.sources.benefit_add(
        "library-readers", Holder(RefKind.SSN, SSN), valid_from=NOW - DAY,
        valid_until=NOW + 365 * DAY, attributes={}, now=NOW,
    )  # fmt: skip
    office.sources.benefit_add(
        "reservations", Holder(RefKind.RESERVATION, "M-0001"), valid_from=NOW,
        valid_until=NOW + DAY, attributes={"service": "museum.entry", "party": "2"}, now=NOW,
    )  # fmt: skip
    report = office.publish(now=NOW)
    assert [(p.list_name, p.version, p.kind) for p in report.published] == [
        ("trust", 1, "trust"),
        ("policy", 1, "snapshot"),
        ("deny", 1, "snapshot"),
        ("benefit:library-readers", 1, "snapshot"),
        ("benefit:reservations", 1, "snapshot"),
    ]
    assert _index(office)["deny"] == [{"version": 1, "kind": "snapshot"}]

    store = _store(tmp_path, office)
    sync = sync_from(store, office.repository, now=NOW + dt.timedelta(minutes=1))
    # the policy list is the terminal application's (terminal.sync), not offline_store's
    assert set(sync.rejected) <= {"policy"}
    assert ("deny", 1) in sync.applied
    reader = store.reader()
    assert reader.lookup(keyer.card_ref(CARDS[0])).reason is DenyReason.LOST  # type: ignore[union-attr]
    found = reader.lookup(keyer.card_ref(CARDS[1]))
    assert found is not None
    assert (found.reason, found.region) == (DenyReason.FRAUD, "320500")
    assert reader.lookup(keyer.card_ref(CARDS[2])) is None
    entitled = reader.entitlements(card_ref=None, ssn_ref=keyer.ssn_ref(SSN), at=NOW)
    assert [e.list_name for e in entitled] == ["library-readers"]
    # the policy bundle: one file, its SHA-256 as digest
    manifest = office.repository.manifest("policy", 1)
    content = office.repository.content(manifest, "policy")
    assert content == default_policy_text()
    assert manifest.digest == hashlib.sha256(content).digest()
    assert manifest.entry_count == 1


def test_changes_travel_as_deltas_that_apply(tmp_path: Path, office: BackOffice) -> None:
    keyer = office.data.keyer()
    for card in CARDS:
        office.sources.deny_add(card, "lost", None, now=NOW)
    office.publish(now=NOW)
    store = _store(tmp_path, office)
    sync_from(store, office.repository, now=NOW)

    later = NOW + dt.timedelta(hours=1)
    office.sources.deny_add(CARDS[0], "fraud", None, now=later)  # a change
    assert office.sources.deny_remove(CARDS[1])  # a removal
    office.sources.deny_add("330100D156000005000000000000FFFF", "stolen", None, now=later)
    report = office.publish(now=later)
    deny = [p for p in report.published if p.list_name == "deny"]
    assert [(p.version, p.kind, p.upserts, p.removals) for p in deny] == [(2, "delta", 2, 2)]
    manifest = office.repository.manifest("deny", 2)
    assert manifest.base_version == 1
    removals = office.repository.content(manifest, "removals")
    assert [removals[i : i + 20] for i in range(0, len(removals), 20)] == sorted(
        removals[i : i + 20] for i in range(0, len(removals), 20)
    )
    sync = sync_from(store, office.repository, now=later)
    assert ("deny", 2) in sync.applied
    assert "deny" not in sync.rejected
    reader = store.reader()
    assert reader.lookup(keyer.card_ref(CARDS[0])).reason is DenyReason.FRAUD  # type: ignore[union-attr]
    assert reader.lookup(keyer.card_ref(CARDS[1])) is None
    stolen = reader.lookup(keyer.card_ref("330100D156000005000000000000FFFF"))
    assert stolen is not None
    assert (stolen.reason, stolen.region) == (DenyReason.LOST, "330100")
    assert store.current("deny")[2] == len(CARDS)  # type: ignore[index]


def test_nothing_is_published_when_nothing_changed_until_half_the_validity(
    office: BackOffice,
) -> None:
    office.sources.deny_add(CARDS[0], "lost", None, now=NOW)
    office.publish(now=NOW)
    index_before = (office.data.repo / INDEX).read_bytes()
    quiet = office.publish(now=NOW + dt.timedelta(days=3))
    assert quiet.published == []
    assert not quiet.index_written
    assert (office.data.repo / INDEX).read_bytes() == index_before
    refreshed = office.publish(now=NOW + dt.timedelta(days=3, hours=12))
    kinds = {p.list_name: (p.kind, p.reason) for p in refreshed.published}
    assert kinds == {
        "deny": ("delta", "refresh"),
        "policy": ("snapshot", "refresh"),
    }  # trust is not refreshed: its validity is its keys'
    manifest = office.repository.manifest("deny", 2)
    assert manifest.valid_until == NOW + dt.timedelta(days=10, hours=12)
    assert office.repository.content(manifest, "records") == b""


def test_a_delta_larger_than_the_snapshot_is_a_snapshot(office: BackOffice) -> None:
    for card in CARDS:
        office.sources.deny_add(card, "lost", None, now=NOW)
    office.publish(now=NOW)
    for card in CARDS[1:]:
        office.sources.deny_remove(card)
    report = office.publish(now=NOW + DAY)
    assert [(p.list_name, p.kind, p.reason) for p in report.published] == [
        ("deny", "snapshot", "smaller")
    ]


def test_a_snapshot_every_n_versions(tmp_path: Path, office: BackOffice) -> None:
    settings = PublishSettings(snapshot_every=3)
    kinds = []
    for step in range(7):
        office.sources.deny_add(CARDS[step], "lost", None, now=NOW)
        report = office.publish(now=NOW + step * dt.timedelta(minutes=1), settings=settings)
        kinds += [p.kind for p in report.published if p.list_name == "deny"]
    assert kinds == ["snapshot", "delta", "delta", "snapshot", "delta", "delta", "snapshot"]
    # pruned to the newest snapshot, a terminal that saw none of it needs one download
    office.publish(now=NOW + DAY, settings=PublishSettings(snapshot_every=3, keep_deltas=0))
    assert office.repository.versions("deny") == [7]
    store = _store(tmp_path, office)
    sync = sync_from(store, office.repository, now=NOW + DAY)
    assert [v for name, v in sync.applied if name == "deny"] == [7]
    assert store.current("deny")[2] == 7  # type: ignore[index]


def test_chains_continue_across_restarts(tmp_path: Path) -> None:
    root = tmp_path / "bo"
    with BackOffice.init(root, now=NOW) as office:
        office.sources.deny_add(CARDS[0], "lost", None, now=NOW)
        office.publish(now=NOW)
        store = _store(tmp_path, office)
        sync_from(store, office.repository, now=NOW)
    with BackOffice.open(root) as office:
        office.sources.deny_add(CARDS[1], "lost", None, now=NOW)
        office.publish(now=NOW + DAY)
        sync = sync_from(store, office.repository, now=NOW + DAY)
    assert ("deny", 2) in sync.applied
    assert "deny" not in sync.rejected


def test_an_interrupted_publish_is_published_again(tmp_path: Path, office: BackOffice) -> None:
    office.sources.deny_add(CARDS[0], "lost", None, now=NOW)
    office.publish(now=NOW)
    # a run that wrote version 2's files and died before recording it
    office.sources.deny_add(CARDS[1], "lost", None, now=NOW)
    orphan = office.repository
    from offline_store.bundles import Publisher  # noqa: PLC0415

    Publisher.resuming(orphan, office.keys.signers()).snapshot(
        "deny", 2, [], issued_at=NOW, valid_until=NOW + DAY
    )
    assert (office.data.repo / "lists" / "deny" / "2.json").exists()
    report = office.publish(now=NOW + dt.timedelta(minutes=1))
    assert [(p.list_name, p.version) for p in report.published] == [("deny", 2)]
    assert office.repository.manifest("deny", 2).entry_count == 2
    store = _store(tmp_path, office)
    sync_from(store, office.repository, now=NOW + dt.timedelta(minutes=2))
    assert store.current("deny")[2] == 2  # type: ignore[index]


def test_a_repository_missing_published_versions_is_refused(office: BackOffice) -> None:
    office.publish(now=NOW)
    (office.data.repo / "lists" / "deny" / "1.json").unlink()
    with pytest.raises(PublishError, match="lacks deny version 1"):
        office.publish(now=NOW + DAY)


def test_rotation_and_retirement_keep_terminals_trusting(
    tmp_path: Path, office: BackOffice
) -> None:
    office.sources.deny_add(CARDS[0], "lost", None, now=NOW)
    office.publish(now=NOW)
    store = _store(tmp_path, office)
    sync_from(store, office.repository, now=NOW)
    old = office.root_key().key_id

    new = office.keys.create(now=NOW + DAY)
    with pytest.raises(KeyRingError, match="do not know"):
        office.retire_key(old, now=NOW + DAY)  # not announced yet
    report = office.publish(now=NOW + DAY)
    assert [(p.list_name, p.version) for p in report.published] == [("trust", 2)]
    manifest = office.repository.manifest("trust", 2)
    assert {s.key_id for s in manifest.signatures} == {old, new.key_id}
    sync_from(store, office.repository, now=NOW + DAY)
    assert {k.key_id for k in store.trust.all()} == {old, new.key_id}

    office.retire_key(old, now=NOW + 2 * DAY)
    assert not (office.data.keys / f"{old}.pem").exists()
    assert office.root_key().key_id == new.key_id
    office.sources.deny_add(CARDS[1], "lost", None, now=NOW)
    report = office.publish(now=NOW + 2 * DAY)
    assert [(p.list_name, p.version) for p in report.published] == [("trust", 3), ("deny", 2)]
    assert {s.key_id for s in office.repository.manifest("deny", 2).signatures} == {new.key_id}
    sync = sync_from(store, office.repository, now=NOW + 2 * DAY)
    assert ("trust", 3) in sync.applied
    assert ("deny", 2) in sync.applied
    assert [k.key_id for k in store.trust.all()] == [new.key_id]
    with pytest.raises(KeyRingError, match="only signing key"):
        office.retire_key(new.key_id, now=NOW + 3 * DAY)


def test_issuer_keys_are_published_and_revoked(tmp_path: Path, office: BackOffice) -> None:
    public = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key = IssuerKey(bytes(range(8)), EDDSA, public, ("31",), NOW - DAY, NOW + 365 * DAY)
    office.sources.issuer_add(key, now=NOW)
    office.publish(now=NOW)
    store = _store(tmp_path, office)
    sync_from(store, office.repository, now=NOW)
    assert store.issuer_keys(bytes(range(8))) == [key]
    office.sources.issuer_revoke(bytes(range(8)))
    report = office.publish(now=NOW + DAY)
    assert [(p.list_name, p.version, p.reason) for p in report.published] == [
        ("issuers", 2, "changed")
    ]
    sync_from(store, office.repository, now=NOW + DAY)
    assert store.issuer_keys(bytes(range(8)))[0].revoked


def test_benefit_changes_upsert_and_remove_by_key(tmp_path: Path, office: BackOffice) -> None:
    keyer = office.data.keyer()
    card = Holder(RefKind.CARD_ID, CARDS[0])
    ssn = Holder(RefKind.SSN, SSN)
    window = {"valid_from": NOW - DAY, "valid_until": NOW + DAY}
    office.sources.benefit_add("reservations", card, attributes={"slot": "am"}, now=NOW, **window)
    office.sources.benefit_add("reservations", ssn, attributes={}, now=NOW, **window)
    for other in CARDS[1:]:  # enough entries that a delta is smaller than a snapshot
        office.sources.benefit_add(
            "reservations", Holder(RefKind.CARD_ID, other), attributes={}, now=NOW, **window
        )
    office.publish(now=NOW)
    store = _store(tmp_path, office)
    sync_from(store, office.repository, now=NOW)
    office.sources.benefit_add("reservations", card, attributes={"slot": "pm"}, now=NOW, **window)
    assert office.sources.benefit_remove("reservations", ssn) == 1
    report = office.publish(now=NOW + dt.timedelta(hours=1))
    assert [(p.list_name, p.kind, p.upserts, p.removals) for p in report.published] == [
        ("benefit:reservations", "delta", 1, 1)
    ]
    sync = sync_from(store, office.repository, now=NOW + dt.timedelta(hours=1))
    assert ("benefit:reservations", 2) in sync.applied
    reader = store.reader()
    found = reader.entitlements(
        card_ref=keyer.card_ref(CARDS[0]), ssn_ref=keyer.ssn_ref(SSN), at=NOW
    )
    assert [dict(e.attributes) for e in found] == [{"slot": "pm"}]
    assert store.current("benefit:reservations")[2] == len(CARDS)  # type: ignore[index]


def test_pruning_keeps_the_newest_snapshot_and_what_follows(
    tmp_path: Path, office: BackOffice
) -> None:
    settings = PublishSettings(snapshot_every=3)
    for step in range(5):
        office.sources.deny_add(CARDS[step], "lost", None, now=NOW)
        office.publish(now=NOW + step * dt.timedelta(minutes=1), settings=settings)
    assert office.repository.versions("deny") == [1, 2, 3, 4, 5]  # snapshots 1 and 4
    office.sources.deny_add(CARDS[5], "lost", None, now=NOW)
    pruned = office.publish(
        now=NOW + dt.timedelta(minutes=9), settings=PublishSettings(snapshot_every=3, keep_deltas=1)
    )
    assert office.repository.versions("deny") == [3, 4, 5, 6]
    assert "lists/deny/1.json" in pruned.pruned
    assert [entry["version"] for entry in _index(office)["deny"]] == [3, 4, 5, 6]
    assert office.repository.versions("trust") == [1]  # trust is never pruned
    referenced = {
        ref.sha256
        for name in office.repository.list_names()
        for version in office.repository.versions(name)
        for ref in office.repository.manifest(name, version).content.values()
    }
    assert {p.name for p in (office.data.repo / "objects").iterdir()} == referenced
    store = _store(tmp_path, office)
    sync_from(store, office.repository, now=NOW + DAY)
    assert store.current("deny")[2] == 6  # type: ignore[index]


def test_one_publisher_at_a_time(office: BackOffice) -> None:
    import fcntl  # noqa: PLC0415

    with office.data.lock.open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(PublishError, match="another `publish` is running"):
            office.publish(now=NOW)
    assert office.publish(now=NOW).published


def test_a_terminal_enrolled_after_a_rotation_follows_the_next_one(
    tmp_path: Path, office: BackOffice
) -> None:
    office.publish(now=NOW)
    office.keys.create(now=NOW + DAY)
    office.publish(now=NOW + DAY)
    office.retire_key(office.root_key().key_id, now=NOW + 2 * DAY)
    office.publish(now=NOW + 2 * DAY)
    store = _store(tmp_path, office)  # enrolled now: its root is the second key
    sync_from(store, office.repository, now=NOW + 2 * DAY)
    third = office.keys.create(now=NOW + 3 * DAY)
    office.publish(now=NOW + 3 * DAY)
    sync_from(store, office.repository, now=NOW + 3 * DAY)
    assert third.key_id in {key.key_id for key in store.trust.all()}


@pytest.mark.parametrize("key", ["name", "姓名", "ID_Number", "phone"])
def test_an_attribute_that_would_publish_personal_data_is_refused(
    office: BackOffice, key: str
) -> None:
    holder = Holder(RefKind.CARD_ID, CARDS[0])
    with pytest.raises(InputError, match="would publish personal data"):
        office.sources.benefit_add(
            "reservations", holder, attributes={key: "张三"}, now=NOW,
            valid_from=NOW - DAY, valid_until=NOW + DAY,
        )  # fmt: skip
    assert office.sources.counts().benefit.get("reservations", 0) == 0
