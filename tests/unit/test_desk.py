"""The desk's library: look-up by number, the clerk's next steps, and staff overrides
(journalled as a new admission, audited with the staff id, never free text)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import demo_station

from apdu.emulator import load_holders
from apdu.ssc import Authenticity
from offline_store.errors import JournalNotDurable
from offline_store.journal import AUDIT, USAGE
from offline_store.store import DenyReason
from terminal.clock import ClockSample, sample_now
from terminal.credential import Credential, CredentialKind
from terminal.desk import (
    LookupKind,
    LookupNotPossible,
    OverrideReason,
    clerk_steps,
    look_up,
    parse_lookup,
)
from terminal.errors import NotPermitted
from terminal.reasons import ReasonCode
from terminal.station import Station
from terminal.verdict import Outcome

HOLDERS = load_holders()


@pytest.fixture
def sample() -> ClockSample:
    return sample_now()


@pytest.fixture
def station(tmp_path: Path, sample: ClockSample) -> Iterator[Station]:
    with demo_station(tmp_path, sample) as opened:
        yield opened


def holder_card(key: str, authenticity: Authenticity = Authenticity.VERIFIED) -> Credential:
    holder = HOLDERS[key]
    return Credential(
        kind=CredentialKind.CARD, authenticity=authenticity, card_id=holder.card_id,
        card_number=holder.card_number, ssn=holder.ssn, name=holder.name,
        birth_date=holder.birth_date, issue_date=holder.issue_date,
        expiry_date=holder.expiry_date,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("310101198502141234", LookupKind.SSN),
        ("3101 0119 8502 1412 3x", LookupKind.SSN),
        ("310100D1560000050000000000A10001", LookupKind.CARD_ID),
        ("310100d1560000050000000000a10001", LookupKind.CARD_ID),
    ],
)
def test_typed_numbers_are_recognised_and_shown_masked(typed: str, kind: LookupKind) -> None:
    key = parse_lookup(typed)
    assert key.kind is kind
    assert "*" in key.masked
    assert key.value not in key.masked


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [("S31000001", "card numbers"), ("hello", "18-character"), ("", "18-character")],
)
def test_what_cannot_be_looked_up_says_what_to_type_instead(typed: str, fragment: str) -> None:
    with pytest.raises(LookupNotPossible) as refused:
        parse_lookup(typed)
    assert fragment in refused.value.en
    assert refused.value.zh
    assert "S31000001" not in refused.value.en  # a card number is masked even here


def test_a_lost_card_looked_up_by_card_id_is_on_the_deny_list(
    station: Station, sample: ClockSample
) -> None:
    key = parse_lookup(HOLDERS["sh-lost-gen3"].card_id)
    found = look_up(key, station.checkpoint.lists, station.keyer, sample.wall)
    assert found.deny is not None
    assert found.deny.reason is DenyReason.LOST
    lines = "\n".join(found.lines())
    assert "deny list" in lines
    assert HOLDERS["sh-lost-gen3"].card_id not in lines
    assert station.store.journal.verify(USAGE) == 0  # a look-up journals nothing


def test_a_reader_looked_up_by_ssn_shows_the_lists_and_says_the_deny_list_needs_the_card(
    station: Station, sample: ClockSample
) -> None:
    key = parse_lookup(HOLDERS["zj-gen2"].ssn)
    found = look_up(key, station.checkpoint.lists, station.keyer, sample.wall)
    assert not found.deny_checked
    assert [e.list_name for e in found.entitlements] == ["library-readers"]
    lines = "\n".join(found.lines())
    assert "tap the card" in lines
    assert "library-readers" in lines
    assert HOLDERS["zj-gen2"].ssn not in lines


def test_the_clerk_is_told_the_next_step_for_a_lost_and_a_cloned_card(
    station: Station, sample: ClockSample
) -> None:
    lost = station.checkpoint.explain(holder_card("sh-lost-gen3"), sample=sample,
                                      service="museum.entry")  # fmt: skip
    assert lost.outcome is Outcome.DENY
    assert any("official ID" in en for _, en in clerk_steps(lost))
    clone = station.checkpoint.explain(holder_card("sh-gen3", Authenticity.FAILED),
                                       sample=sample, service="museum.entry")  # fmt: skip
    steps = clerk_steps(clone)
    assert any("may be a copy" in en for _, en in steps)
    assert any("复制卡" in zh for zh, _ in steps)
    assert lost.journal_seq is None  # explained, not journalled
    assert station.store.journal.verify(USAGE) == 0


def test_an_override_is_a_new_journalled_admission_and_an_audit_record(
    station: Station, sample: ClockSample
) -> None:
    refused = station.checkpoint.present(holder_card("zj-gen2"), sample=sample,
                                         service="museum.entry")  # fmt: skip
    assert refused.outcome is Outcome.DENY  # no reservation
    assert refused.journal_seq == 1
    admitted = station.checkpoint.override(
        refused, staff_id="D-001", why=OverrideReason.RESERVATION_CONFIRMED, sample=sample
    )
    assert admitted.outcome is Outcome.ADMIT
    assert admitted.journal_seq == 2
    assert admitted.reasons[0].code is ReasonCode.STAFF_OVERRIDE
    assert "reservation confirmed another way" in admitted.reasons[0].en
    assert admitted.reasons[1:] == refused.reasons  # why it was refused stays visible
    records = list(station.store.journal.records(USAGE))
    assert records[1].body["override"] == "D-001:reservation_confirmed"
    assert records[1].body["verdict"] == "admit"
    assert records[1].body["holder_ref"] == records[0].body["holder_ref"]
    audit = [r.body for r in station.store.journal.records(AUDIT)]
    assert len(audit) == 1
    assert audit[0]["staff_ref"] == "D-001"
    assert audit[0]["action"] == "override"
    assert "usage 2" in str(audit[0]["detail"])
    assert "from usage 1" in str(audit[0]["detail"])
    dumped = json.dumps(audit)
    for secret in (HOLDERS["zj-gen2"].card_id, HOLDERS["zj-gen2"].ssn, HOLDERS["zj-gen2"].name):
        assert secret not in dumped


def test_an_admission_cannot_be_overridden(station: Station, sample: ClockSample) -> None:
    admitted = station.checkpoint.present(holder_card("sh-gen3"), sample=sample,
                                          service="museum.entry")  # fmt: skip
    assert admitted.admits
    with pytest.raises(NotPermitted, match="already admits"):
        station.checkpoint.override(admitted, staff_id="D-001",
                                    why=OverrideReason.IDENTITY_CHECKED, sample=sample)  # fmt: skip


def test_an_override_that_cannot_be_journalled_does_not_happen(
    station: Station, sample: ClockSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = station.checkpoint.explain(holder_card("zj-gen2"), sample=sample,
                                         service="museum.entry")  # fmt: skip

    def full(*args: object) -> int:
        raise JournalNotDurable("disk full")

    monkeypatch.setattr(station.store, "record_tap", full)
    why = OverrideReason.IDENTITY_CHECKED
    result = station.checkpoint.override(refused, staff_id="D-001", why=why, sample=sample)
    assert result.outcome is Outcome.REFER
    assert result.reasons[0].code is ReasonCode.NOT_RECORDED
    assert station.store.journal.verify(AUDIT) == 0
