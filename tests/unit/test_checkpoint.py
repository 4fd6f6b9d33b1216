"""terminal.checkpoint: decide → journal (durable first) → feedback; codes that are not
credentials; a full disk turns any verdict into "refer"."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from verdict_support import (
    JOURNAL_KEY,
    KEYER,
    admit_earlier,
    card,
    code,
    load_lists,
    local,
    policy,
    sample,
    trust_clock,
)

from offline_store.errors import JournalNotDurable
from offline_store.journal import USAGE, UsageEvent
from offline_store.store import DenyReason, Store
from terminal.checkpoint import Checkpoint
from terminal.codes.dispatch import CodeKind, classify
from terminal.credential import Credential
from terminal.errors import CodeNotRecognised, CodeRejected, NeedsNetwork
from terminal.reasons import ReasonCode
from terminal.verdict import Outcome, Verdict

AT = local("2026-11-23 10:00")
TRUSTED = AT - dt.timedelta(hours=1)
HOLDER = card("310100", 1)
LOST = card("310100", 2)


def ready_store(path: Path) -> Store:
    store = Store.open(path, journal_key=JOURNAL_KEY)
    load_lists(
        store,
        issued=AT - dt.timedelta(days=1),
        valid_until=AT + dt.timedelta(days=6),
        deny={LOST: DenyReason.LOST},
    )
    trust_clock(store, TRUSTED)
    return store


class ScriptedCodes:
    """A code reader that returns or raises what the test says."""

    def __init__(self, answer: Credential | CodeRejected) -> None:
        self.answer = answer
        self.texts: list[str] = []

    def classify(self, text: str) -> CodeKind:
        return classify(text, platform_prefixes=("MOHRSS:",))

    def credential(self, text: str, *, now: dt.datetime) -> Credential:
        self.texts.append(text)
        if isinstance(self.answer, CodeRejected):
            raise self.answer
        return self.answer


def test_verdict_is_recorded_before_feedback_runs(tmp_path: Path) -> None:
    store = ready_store(tmp_path / "s.db")
    seen: list[tuple[Verdict, int]] = []

    def feedback(verdict: Verdict) -> None:  # the journal already holds the tap
        seen.append((verdict, store.journal.verify(USAGE)))

    checkpoint = Checkpoint(store, policy(), KEYER, "T1", feedback=feedback)
    verdict = checkpoint.present(HOLDER, sample=sample(AT, trusted_at=TRUSTED),
                                 service="library.entry")  # fmt: skip
    assert verdict.outcome is Outcome.ADMIT
    assert seen == [(verdict, 1)]
    (record,) = store.journal.records()
    assert record.body["holder_ref"] == HOLDER.holder_ref(KEYER).hex()
    assert record.body["clock_state"] == "trusted"
    assert record.body["list_versions"] == {"deny": 1}
    assert store.reader().admissions_since([HOLDER.holder_ref(KEYER)], "library.entry", TRUSTED)


def test_a_failing_feedback_hook_loses_nothing(tmp_path: Path) -> None:
    store = ready_store(tmp_path / "s.db")

    def broken(verdict: Verdict) -> None:
        raise OSError("relay board unplugged")

    checkpoint = Checkpoint(store, policy(), KEYER, "T1", feedback=broken)
    verdict = checkpoint.present(HOLDER, sample=sample(AT, trusted_at=TRUSTED),
                                 service="library.entry")  # fmt: skip
    assert verdict.outcome is Outcome.ADMIT
    assert verdict.journal_seq == 1
    assert store.journal.verify(USAGE) == 1


def fill_journal(store: Store) -> None:
    for _ in range(100_000):
        try:
            store.journal.append_event(
                UsageEvent("T1", AT, True, "admit", ("admitted",), {}, bytes(16), "card")
            )
        except JournalNotDurable:
            return
    raise AssertionError("the journal never filled the disk")


@pytest.mark.parametrize("holder", [HOLDER, LOST], ids=["would admit", "would deny"])
def test_full_disk_turns_the_verdict_into_refer(tmp_path: Path, holder: Credential) -> None:
    path = tmp_path / "s.db"
    ready_store(path).close()
    pages = int(sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0])
    store = Store.open(path, journal_key=JOURNAL_KEY, max_page_count=pages + 3)
    fill_journal(store)
    before = store.journal.verify(USAGE)
    opened: list[Verdict] = []
    checkpoint = Checkpoint(store, policy(), KEYER, "T1", feedback=opened.append)
    verdict = checkpoint.present(holder, sample=sample(AT, trusted_at=TRUSTED),
                                 service="library.entry")  # fmt: skip
    assert verdict.outcome is Outcome.REFER
    assert verdict.reasons[0].code is ReasonCode.NOT_RECORDED
    assert "记录未能保存" in verdict.reasons[0].zh
    assert verdict.journal_seq is None
    assert not verdict.admits
    assert opened == [verdict]  # the screen still says so
    if holder is LOST:
        assert [r.code for r in verdict.reasons][1:] == [ReasonCode.LOST]
    assert store.journal.verify(USAGE) == before  # every earlier event is kept
    # nothing half-written: no admission was counted for a tap the journal does not hold
    assert not store.reader().admissions_since([holder.holder_ref(KEYER)], "library.entry", TRUSTED)


@pytest.mark.parametrize(
    ("error", "outcome", "reason"),
    [
        (CodeRejected("bad_signature", "forged"), Outcome.DENY, ReasonCode.CODE_REJECTED),
        (CodeNotRecognised("not_recognised", "a URL"), Outcome.DENY,
         ReasonCode.CODE_NOT_RECOGNISED),
        (NeedsNetwork("needs_network", "offline"), Outcome.REFER, ReasonCode.CODE_NEEDS_NETWORK),
    ],
)  # fmt: skip
def test_scanned_text_that_is_no_credential_is_journalled(
    tmp_path: Path, error: CodeRejected, outcome: Outcome, reason: ReasonCode
) -> None:
    store = ready_store(tmp_path / "s.db")
    checkpoint = Checkpoint(store, policy(), KEYER, "T1", codes=ScriptedCodes(error))
    verdict = checkpoint.present_code("https://example.invalid/x", sample=sample(AT,
                                      trusted_at=TRUSTED), service="scenic.entry")  # fmt: skip
    assert verdict.outcome is outcome
    assert verdict.reasons[0].code is reason
    assert verdict.journal_seq == 1
    (record,) = store.journal.records()
    assert record.body["holder_ref"] == ""
    assert record.body["reasons"] == [reason.value]
    assert "example.invalid" not in str(record.body)
    if reason is ReasonCode.CODE_NOT_RECOGNISED:
        assert "网址" in verdict.reasons[0].zh or "URL" in verdict.reasons[0].en


def test_a_verified_code_is_remembered_until_it_can_no_longer_be_replayed(
    tmp_path: Path,
) -> None:
    store = ready_store(tmp_path / "s.db")
    credential = code("310100", 7, at=AT)
    assert credential.code is not None
    checkpoint = Checkpoint(store, policy(), KEYER, "T1", codes=ScriptedCodes(credential))
    verdict = checkpoint.present_code("ESSC1:...", sample=sample(AT, trusted_at=TRUSTED),
                                      service="library.entry")  # fmt: skip
    assert verdict.outcome is Outcome.ADMIT
    reader = store.reader()
    cti = credential.code.code_id
    assert reader.code_seen(cti, AT)
    assert reader.code_seen(cti, credential.code.expires_at + dt.timedelta(seconds=59))
    assert not reader.code_seen(cti, credential.code.expires_at + dt.timedelta(seconds=60))
    (record,) = store.journal.records()
    assert record.body["code_id"] == cti.hex()


def test_denied_taps_do_not_count_as_admissions(tmp_path: Path) -> None:
    store = ready_store(tmp_path / "s.db")
    checkpoint = Checkpoint(store, policy(), KEYER, "T1")
    for _ in range(3):
        verdict = checkpoint.present(LOST, sample=sample(AT, trusted_at=TRUSTED),
                                     service="library.entry")  # fmt: skip
        assert verdict.outcome is Outcome.DENY
    assert not store.reader().admissions_since([LOST.holder_ref(KEYER)], "library.entry", TRUSTED)
    admit_earlier(store, HOLDER, "library.entry", AT - dt.timedelta(minutes=1))
    second = checkpoint.present(HOLDER, sample=sample(AT, trusted_at=TRUSTED),
                                service="library.entry")  # fmt: skip
    assert second.outcome is Outcome.REFER
    assert second.reasons[0].code is ReasonCode.PASSBACK
