"""The signed ``issuers`` list: a tampered, forged or malformed one changes nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_bundles import FOREVER, NOW, ROOT, T0, repository, store  # noqa: F401 (fixtures)

from offline_store.bundles import Publisher, Repository, apply_manifest, sync_from
from offline_store.errors import BundleRejected, ContentMismatch
from offline_store.issuer_keys import ISSUERS, issuer_keys_from_content
from offline_store.store import Store
from terminal.codes.issuer import IssuerSimulator

SIM = IssuerSimulator()


def keys_file(folder: Repository, version: int) -> Path:
    manifest = folder.manifest(ISSUERS, version)
    return folder.root / "objects" / manifest.content["keys"].sha256


def test_a_tampered_key_file_is_refused_and_the_old_keys_stay(
    store: Store,  # noqa: F811
    repository: Repository,  # noqa: F811
) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    office.issuers(1, SIM.issuer_keys(), issued_at=T0, valid_until=FOREVER)
    assert sync_from(store, repository, now=NOW).applied == [(ISSUERS, 1)]
    kid = SIM.key("shanghai").kid
    before = store.issuer_keys(kid)
    office.issuers(2, SIM.issuer_keys()[:1], issued_at=T0, valid_until=FOREVER)
    path = keys_file(repository, 2)
    path.write_bytes(path.read_bytes().replace(b'"test":true', b'"test":false'))
    report = sync_from(store, repository, now=NOW)
    assert report.applied == []
    assert "does not match its manifest" in report.rejected[ISSUERS]
    assert store.issuer_keys(kid) == before
    assert store.version_of(ISSUERS) == 1


def test_an_issuers_list_signed_by_an_unknown_key_is_refused(
    store: Store,  # noqa: F811
    repository: Repository,  # noqa: F811
) -> None:
    forger = Publisher(repository, [("root-2026", Ed25519PrivateKey.generate())])
    manifest = forger.issuers(1, SIM.issuer_keys(), issued_at=T0, valid_until=FOREVER)
    with pytest.raises(BundleRejected, match="no valid signature by a trusted key"):
        apply_manifest(store, repository, manifest, now=NOW)
    assert store.issuer_keys(SIM.key("shanghai").kid) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda k: k | {"kid": "00"}, "a kid is 8 bytes"),
        (lambda k: k | {"algorithm": "rsa"}, "algorithm must be es256 or eddsa"),
        (lambda k: k | {"regions": ["3"]}, "regions are 2-6 digit"),
        (lambda k: k | {"revoked": "no"}, "true or false"),
        (lambda k: k | {"valid_until": "2020-01-01T00:00:00"}, "offset"),
        (lambda k: {x: v for x, v in k.items() if x != "public_key"}, "public_key"),
    ],
)
def test_a_malformed_key_file_is_content_mismatch(change: object, problem: str) -> None:
    key = SIM.issuer_keys()[0].to_json()
    with pytest.raises(ContentMismatch, match=problem):
        issuer_keys_from_content(json.dumps([change(key)]).encode())  # type: ignore[operator]


def test_issuers_travel_only_as_snapshots(
    store: Store,  # noqa: F811
    repository: Repository,  # noqa: F811
) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    manifest = office.issuers(1, SIM.issuer_keys(), issued_at=T0, valid_until=FOREVER)
    delta = replace(manifest, kind="delta", base_version=0, raw=b"", signatures=())
    with pytest.raises(BundleRejected):
        apply_manifest(store, repository, delta, now=NOW)
