"""Signed, chained bundles: verification, rotation, forgery and tampering, sync with gaps."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_store.bundles import (
    ContentRef,
    Manifest,
    Publisher,
    Repository,
    apply_manifest,
    sign,
    sync_from,
)
from offline_store.errors import BundleRejected, TrustRejected
from offline_store.holder_refs import HolderKeyer
from offline_store.store import DenyEntry, DenyReason, Store
from offline_store.trust import ECDSA_P256, ED25519, TrustedKey

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
FOREVER = dt.datetime(2036, 1, 1, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
KEYER = HolderKeyer(b"bundle test list key 0123456789a")
ROOT = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROTATED = ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1())
STRANGER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def trusted(key_id: str, private: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> TrustedKey:
    if isinstance(private, Ed25519PrivateKey):
        public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return TrustedKey(key_id, ED25519, public, T0, FOREVER)
    point = private.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return TrustedKey(key_id, ECDSA_P256, point, T0, FOREVER)


def record(n: int, reason: DenyReason = DenyReason.LOST) -> bytes:
    return DenyEntry(KEYER.card_ref(f"card-{n}"), reason, "310100").to_record()


def deny_list(numbers: range | list[int]) -> list[bytes]:
    return sorted(record(n) for n in numbers)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store.open(tmp_path / "store.db", journal_key=b"bundle journal key 0123456789abc")
    opened.trust.provision_root(trusted("root-2026", ROOT))
    return opened


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    return Repository(tmp_path / "repo")


def test_snapshot_then_delta_sync(store: Store, repository: Repository) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    office.snapshot("deny", 1, deny_list(range(10)), issued_at=T0, valid_until=FOREVER)
    office.delta(
        "deny", 1, 2, upserts=deny_list([20]), removals=[record(3)],
        after=deny_list([0, 1, 2, 4, 5, 6, 7, 8, 9, 20]), issued_at=T0, valid_until=FOREVER,
    )  # fmt: skip
    assert sync_from(store, repository, now=NOW).applied == [("deny", 1), ("deny", 2)]
    assert sync_from(store, repository, now=NOW).applied == []  # nothing newer: a no-op
    reader = store.reader()
    assert reader.lookup(KEYER.card_ref("card-3")) is None
    assert reader.lookup(KEYER.card_ref("card-20")) is not None


def test_a_gap_is_bridged_by_the_newest_snapshot(store: Store, repository: Repository) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    office.snapshot("deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER)
    office.delta(
        "deny", 1, 2, upserts=deny_list([7]), removals=[], after=deny_list([0, 1, 2, 7]),
        issued_at=T0, valid_until=FOREVER,
    )  # fmt: skip
    office.snapshot("deny", 3, deny_list([0, 1, 2, 7, 8]), issued_at=T0, valid_until=FOREVER)
    (repository.root / "lists" / "deny" / "1.json").unlink()  # the terminal never got v1
    (repository.root / "lists" / "deny" / "2.json").unlink()
    repository.write_index(published_at=T0)  # pruned: the index names what is published
    assert sync_from(store, repository, now=NOW).applied == [("deny", 3)]
    assert store.version_of("deny") == 3


def test_a_foreign_signature_is_rejected(store: Store, repository: Repository) -> None:
    Publisher(repository, [("root-2026", STRANGER)]).snapshot(
        "deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER
    )
    report = sync_from(store, repository, now=NOW)
    assert "no valid signature by a trusted key" in report.rejected["deny"]
    assert store.version_of("deny") is None


def test_a_changed_manifest_breaks_its_signature(store: Store, repository: Repository) -> None:
    Publisher(repository, [("root-2026", ROOT)]).snapshot(
        "deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER
    )
    path = repository.root / "lists" / "deny" / "1.json"
    document = json.loads(path.read_bytes())
    document["valid_until"] = "2099-01-01T00:00:00+00:00"
    path.write_text(json.dumps(document))
    assert "no valid signature" in sync_from(store, repository, now=NOW).rejected["deny"]


def test_a_tampered_content_file_is_rejected(store: Store, repository: Repository) -> None:
    manifest = Publisher(repository, [("root-2026", ROOT)]).snapshot(
        "deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER
    )
    content = repository.root / "objects" / manifest.content["records"].sha256
    data = bytearray(content.read_bytes())
    data[16] = DenyReason.FRAUD
    content.write_bytes(bytes(data))
    assert "does not match its manifest" in sync_from(store, repository, now=NOW).rejected["deny"]
    assert store.version_of("deny") is None


def test_a_delta_that_does_not_chain_is_rejected(store: Store, repository: Repository) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    office.snapshot("deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER)
    sync_from(store, repository, now=NOW)
    fork = Publisher(repository, [("root-2026", ROOT)])  # knows no previous manifest
    forked = fork.delta(
        "deny", 1, 2, upserts=deny_list([9]), removals=[], after=deny_list([0, 1, 2, 9]),
        issued_at=T0, valid_until=FOREVER,
    )  # fmt: skip
    with pytest.raises(BundleRejected, match="does not chain"):
        apply_manifest(store, repository, forked, now=NOW)


def test_key_rotation_through_signed_trust_updates(store: Store, repository: Repository) -> None:
    root_office = Publisher(repository, [("root-2026", ROOT)])
    both = [trusted("root-2026", ROOT), trusted("p256-2027", ROTATED)]
    root_office.trust(1, both, issued_at=T0)
    sync_from(store, repository, now=NOW)
    assert [k.key_id for k in store.trust.all()] == ["p256-2027", "root-2026"]
    new_office = root_office.signing_with([("p256-2027", ROTATED)])
    new_office.trust(2, [trusted("p256-2027", ROTATED)], issued_at=T0)  # revoke the root
    new_office.snapshot("deny", 1, deny_list(range(4)), issued_at=T0, valid_until=FOREVER)
    assert sync_from(store, repository, now=NOW).applied == [("trust", 2), ("deny", 1)]
    assert [k.key_id for k in store.trust.all()] == ["p256-2027"]
    old_root = Repository(repository.root.with_name("old-root"))
    Publisher(old_root, [("root-2026", ROOT)]).snapshot(
        "deny", 2, deny_list(range(5)), issued_at=T0, valid_until=FOREVER
    )
    assert "no valid signature" in sync_from(store, old_root, now=NOW).rejected["deny"]


def test_trust_changes_only_by_a_trusted_signature(store: Store, repository: Repository) -> None:
    Publisher(repository, [("mallory", STRANGER)]).trust(
        1, [trusted("mallory", STRANGER)], issued_at=T0
    )
    assert "no valid signature" in sync_from(store, repository, now=NOW).rejected["trust"]
    assert [k.key_id for k in store.trust.all()] == ["root-2026"]
    with pytest.raises(TrustRejected, match="only through a signed trust update"):
        store.trust.provision_root(trusted("mallory", STRANGER))


def test_manifest_round_trip_and_malformed_manifests(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "r")
    manifest = Publisher(repository, [("root-2026", ROOT)]).snapshot(
        "deny", 1, deny_list(range(2)), issued_at=T0, valid_until=FOREVER
    )
    signatures = manifest.signatures_json()
    assert Manifest.from_json(manifest.signed_bytes(), signatures, "m") == manifest
    for broken in (b"{}", b"[]", b"not json", manifest.signed_bytes().replace(b'"deny"', b"7")):
        with pytest.raises(BundleRejected):
            Manifest.from_json(broken, signatures, "broken")
    with pytest.raises(BundleRejected):
        Manifest.from_json(manifest.signed_bytes(), b"{}", "signatures not an array")


def test_any_serialisation_of_the_manifest_verifies(store: Store, repository: Repository) -> None:
    """Another team's producer need not match our JSON layout: the bytes are what is signed."""
    office = Publisher(repository, [("root-2026", ROOT)])
    ours = office.snapshot("deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER)
    theirs = json.dumps(ours.body(), indent=2).replace("+00:00", "Z").encode()
    theirs = theirs.replace(b'"previous": null,', b"")
    manifest_path = repository.root / "lists" / "deny" / "1.json"
    manifest_path.write_bytes(theirs)
    signature = ROOT.sign(theirs)
    manifest_path.with_suffix(".sig").write_text(
        json.dumps([{"key_id": "root-2026", "algorithm": "ed25519",
                     "value": base64.b64encode(signature).decode()}])
    )  # fmt: skip
    assert sync_from(store, repository, now=NOW).applied == [("deny", 1)]


def test_an_unsigned_manifest_is_rejected(store: Store, repository: Repository) -> None:
    Publisher(repository, [("root-2026", ROOT)]).snapshot(
        "deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER
    )
    (repository.root / "lists" / "deny" / "1.sig").unlink()
    assert "unsigned" in sync_from(store, repository, now=NOW).rejected["deny"]


def test_keys_and_bundles_must_be_current(store: Store, repository: Repository) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    future = office.snapshot(
        "deny", 1, deny_list(range(2)), issued_at=NOW + dt.timedelta(days=30), valid_until=FOREVER
    )
    with pytest.raises(BundleRejected, match="check the terminal's clock"):
        apply_manifest(store, repository, future, now=NOW)
    stale = office.snapshot(
        "deny", 2, deny_list(range(2)), issued_at=T0, valid_until=T0 + dt.timedelta(days=1)
    )
    with pytest.raises(BundleRejected, match="expired"):
        apply_manifest(store, repository, stale, now=NOW)


def test_an_expired_key_signs_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db", journal_key=b"bundle journal key 0123456789abc")
    expired = trusted("root-2025", ROOT)
    expired = TrustedKey(
        expired.key_id, expired.algorithm, expired.public_key, T0 - dt.timedelta(days=400),
        T0 - dt.timedelta(days=30),
    )  # fmt: skip
    store.trust.provision_root(expired)
    repository = Repository(tmp_path / "repo")
    manifest = Publisher(repository, [("root-2025", ROOT)]).snapshot(
        "deny", 1, deny_list(range(2)), issued_at=T0 - dt.timedelta(days=60), valid_until=FOREVER
    )  # backdated into the key's validity
    with pytest.raises(BundleRejected, match="no valid signature"):
        apply_manifest(store, repository, manifest, now=NOW)


def test_a_bad_version_stops_only_its_own_list(store: Store, repository: Repository) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    office.snapshot("deny", 1, deny_list(range(3)), issued_at=T0, valid_until=FOREVER)
    office.delta(
        "deny", 1, 2, upserts=deny_list([9]), removals=[], after=deny_list([0, 1, 2, 9]),
        issued_at=T0, valid_until=FOREVER,
    )  # fmt: skip
    torn = repository.root / "lists" / "deny" / "2.json"
    torn.write_bytes(torn.read_bytes()[:40])  # the stick was pulled mid-copy
    office.snapshot("benefit:x", 1, [], issued_at=T0, valid_until=FOREVER)
    junk = repository.root / "lists" / "benefit-x" / "1.json"
    junk.write_text("{}")
    report = sync_from(store, repository, now=NOW)
    assert report.applied == [("deny", 1)]
    assert "malformed manifest" in report.rejected["deny"]
    assert "benefit:x" in report.rejected


def test_naive_key_times_and_odd_manifests_are_refused(
    store: Store, repository: Repository
) -> None:
    naive = dt.datetime(2026, 1, 1)
    with pytest.raises(TrustRejected, match="offset"):
        TrustedKey("k", ED25519, bytes(32), naive, naive + dt.timedelta(days=1))
    manifest = Publisher(repository, [("root-2026", ROOT)]).snapshot(
        "deny", 1, deny_list(range(2)), issued_at=T0, valid_until=FOREVER
    )
    escaping = replace(manifest, content={"records": ContentRef("../../etc/hostname", 10)})
    with pytest.raises(BundleRejected, match="bad file name"):
        repository.content(escaping, "records")
    as_trust = sign(replace(manifest, kind="trust", signatures=()), "root-2026", ROOT)
    with pytest.raises(BundleRejected, match="cannot carry the deny list"):
        apply_manifest(store, repository, as_trust, now=NOW)
