"""The documents a terminal and its back office exchange: round trips, signatures, rejects."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_store.errors import DocumentRejected
from offline_store.exchange import (
    Acknowledgement,
    EnrolmentGrant,
    TimeStatement,
    UsageBatch,
    UsageRecord,
    parse_signature_header,
    parse_signatures_file,
    sign_document,
    signature_header,
    signatures_file,
    verify_from_backoffice,
    verify_from_terminal,
)
from offline_store.trust import ED25519, TrustedKey, public_key_bytes

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
YEAR = dt.timedelta(days=365)


def _batch(records: int = 3) -> UsageBatch:
    return UsageBatch(
        "T-001",
        "usage",
        7,
        tuple(
            UsageRecord(100 + i, {"verdict": "admit", "holder_ref": "ab" * 16})
            for i in range(records)
        ),
    )


def test_a_batch_round_trips_and_names_its_events() -> None:
    batch = _batch()
    assert UsageBatch.from_bytes(batch.to_bytes()) == batch
    assert batch.batch_id == "T-001/usage/7"
    assert batch.event_ids() == ["T-001/usage/100", "T-001/usage/101", "T-001/usage/102"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"format": "ykt-usage/2"}, "not a ykt-usage/1"),
        ({"chain": "money"}, "chain must be"),
        ({"batch_id": "T-001/usage/8"}, "batch_id does not match"),
        ({"batch": 0}, "start at 1"),
        ({"batch": True}, "batch must be int"),
        ({"records": []}, "1 to 5000"),
        ({"terminal_id": "T 001"}, "terminal id"),
        ({"records": [{"seq": 2, "event": {}}, {"seq": 2, "event": {}}]}, "strictly ascending"),
        ({"records": [{"seq": 2, "event": "x"}]}, "event must be dict"),
    ],
)
def test_a_malformed_batch_is_rejected_with_its_reason(
    change: dict[str, object], expected: str
) -> None:
    document = json.loads(_batch().to_bytes())
    document.update(change)
    with pytest.raises(DocumentRejected, match=expected):
        UsageBatch.from_bytes(json.dumps(document).encode())


def test_garbage_is_rejected_not_crashed_on() -> None:
    for raw in (b"", b"\xff\xfe", b"[]", b'{"format": "ykt-usage/1"}', b"{" * 10):
        with pytest.raises(DocumentRejected):
            UsageBatch.from_bytes(raw)


def test_the_terminal_signature_holds_only_for_its_own_key_and_bytes() -> None:
    key = Ed25519PrivateKey.generate()
    raw = _batch().to_bytes()
    signature = parse_signature_header(signature_header(sign_document(raw, "T-001", key)))
    verify_from_terminal(raw, signature, "T-001", public_key_bytes(key))
    with pytest.raises(DocumentRejected, match="does not verify"):
        verify_from_terminal(raw + b" ", signature, "T-001", public_key_bytes(key))
    with pytest.raises(DocumentRejected, match="does not verify"):
        verify_from_terminal(
            raw, signature, "T-001", public_key_bytes(Ed25519PrivateKey.generate())
        )
    with pytest.raises(DocumentRejected, match="not by terminal T-002"):
        verify_from_terminal(raw, signature, "T-002", public_key_bytes(key))


@pytest.mark.parametrize(
    "header", [None, "", "T-001 ed25519", "T 1 ed25519 AAAA", "T-001 ed25519 !!"]
)
def test_a_malformed_signature_header_is_rejected(header: str | None) -> None:
    with pytest.raises(DocumentRejected):
        parse_signature_header(header)


@pytest.mark.parametrize(
    "private_key", [Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())]
)
def test_backoffice_statements_verify_under_a_trusted_key_only(private_key: object) -> None:
    assert isinstance(private_key, Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
    signature = sign_document(b"x", "bo-1", private_key)
    trusted = [
        TrustedKey(
            "bo-1", signature.algorithm, public_key_bytes(private_key), NOW - YEAR, NOW + YEAR
        )
    ]
    statement = TimeStatement(NOW, "00" * 16)
    raw = statement.to_bytes()
    signatures = parse_signatures_file(
        signatures_file([sign_document(raw, "bo-1", private_key)]), "t"
    )
    assert verify_from_backoffice(raw, signatures, trusted, now=NOW, what="time") == "bo-1"
    assert TimeStatement.from_bytes(raw) == statement
    with pytest.raises(DocumentRejected, match="not signed by a key this terminal trusts"):
        verify_from_backoffice(raw + b"\n", signatures, trusted, now=NOW, what="time")
    with pytest.raises(DocumentRejected, match="not signed"):  # the key has expired
        verify_from_backoffice(raw, signatures, trusted, now=NOW + 2 * YEAR, what="time")
    other = [
        TrustedKey(
            "bo-2", ED25519, public_key_bytes(Ed25519PrivateKey.generate()), NOW - YEAR, NOW + YEAR
        )
    ]
    with pytest.raises(DocumentRejected, match="signed by bo-1"):
        verify_from_backoffice(raw, signatures, other, now=NOW, what="time")


def test_an_acknowledgement_confirms_only_the_batch_it_names() -> None:
    batch = _batch()
    raw = batch.to_bytes()
    ack = Acknowledgement(batch.batch_id, "T-001", hashlib.sha256(raw).hexdigest(), 3, 3, 0, NOW)
    assert Acknowledgement.from_bytes(ack.to_bytes()) == ack
    assert ack.confirms(batch, raw)
    assert not ack.confirms(batch, raw + b" ")
    assert not ack.confirms(_batch(records=2), _batch(records=2).to_bytes())


def test_an_enrolment_grant_round_trips_and_refuses_a_short_list_key() -> None:
    grant = EnrolmentGrant("T-001", bytes(range(32)), "http://127.0.0.1:1", None, NOW)
    assert EnrolmentGrant.from_bytes(grant.to_bytes()) == grant
    document = json.loads(grant.to_bytes())
    document["list_key"] = "00" * 8
    with pytest.raises(DocumentRejected, match="at least 16 bytes"):
        EnrolmentGrant.from_bytes(json.dumps(document).encode())
    document["list_key"] = "zz"
    with pytest.raises(DocumentRejected, match="malformed enrolment grant"):
        EnrolmentGrant.from_bytes(json.dumps(document).encode())
