"""Table-driven verdict scenarios: time, credential, lists, policy → outcome and reasons.

Each case runs the whole checkpoint (decide, record in a real store's journal) so that what is
asserted is what a gate would do.  The default time is Monday 2026-11-23 10:00 in Shanghai,
with the clock in step with a trusted time taken an hour before each tap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from verdict_support import (
    BOOT,
    KEYER,
    Slot,
    admit_earlier,
    card,
    code,
    load_lists,
    local,
    open_store,
    policy,
    reservation_code,
    sample,
    trust_clock,
)

from apdu.ssc import Authenticity
from offline_store.benefit_lists import RefKind
from offline_store.store import DenyReason
from terminal.checkpoint import Checkpoint
from terminal.clock import ClockSample
from terminal.credential import Credential
from terminal.reasons import ReasonCode as R
from terminal.verdict import Outcome

MONDAY = local("2026-11-23 10:00")
SATURDAY = local("2026-11-21 10:00")
ISSUED = local("2026-11-20 06:00")
VALID_UNTIL = local("2026-11-30 06:00")

SHANGHAI = card("310100", 1)
JIANGSU = card("320100", 2)
ZHEJIANG = card("330100", 3)
ANHUI = card("340100", 4)
BEIJING = card("110100", 5)
QINGPU = card("310118", 6)
WUJIANG = card("320509", 7)
JIASHAN = card("330421", 8)
SENIOR_71 = card("310100", 9, born=dt.date(1955, 5, 1))
AGE_63 = card("310100", 10, born=dt.date(1962, 12, 1))
TURNS_65_TODAY = card("310100", 11, born=dt.date(1961, 11, 23))
TURNS_65_TOMORROW = card("310100", 12, born=dt.date(1961, 11, 24))
EXPIRED = card("310100", 13, expiry=dt.date(2026, 11, 22))
EXPIRES_TODAY = card("310100", 14, expiry=dt.date(2026, 11, 23))
CLONE = card("310100", 15, authentic=Authenticity.FAILED)
UNCHECKED = card("310100", 16, authentic=Authenticity.NOT_CHECKED)
PARTLY_READ = card("310100", 17, incomplete=True)
LOST = card("310100", 18)
CANCELLED = card("320100", 19)
REPLACED = card("330100", 20)
FRAUD = card("340100", 21)
OTHER = card("310100", 22)
READER = card("310100", 23)
NOT_YET_ISSUED = card("310100", 24, issued=dt.date(2026, 12, 1))
RESERVATION = reservation_code("M20261123-0007")
UNKNOWN_RESERVATION = reservation_code("M20261123-9999")

DENIED = {
    LOST: DenyReason.LOST,
    CANCELLED: DenyReason.CANCELLED,
    REPLACED: DenyReason.REPLACED,
    FRAUD: DenyReason.FRAUD,
    OTHER: DenyReason.OTHER,
}


def museum_slot(holder: Credential, start: str, end: str, **attrs: str) -> Slot:
    by = RefKind.RESERVATION if holder.reservation_id else RefKind.CARD_ID
    return Slot("reservations", holder, local(start), local(end), attrs, by=by)


SLOTS = (
    museum_slot(SHANGHAI, "2026-11-23 10:00", "2026-11-23 11:00"),
    museum_slot(SENIOR_71, "2026-11-23 10:00", "2026-11-23 11:00"),
    museum_slot(AGE_63, "2026-11-23 10:00", "2026-11-23 11:00"),
    museum_slot(TURNS_65_TODAY, "2026-11-23 10:00", "2026-11-23 11:00"),
    museum_slot(TURNS_65_TOMORROW, "2026-11-23 10:00", "2026-11-23 11:00"),
    museum_slot(RESERVATION, "2026-11-23 09:30", "2026-11-23 10:30"),
    museum_slot(JIANGSU, "2026-11-23 14:00", "2026-11-23 15:00"),
    museum_slot(ZHEJIANG, "2026-11-23 10:00", "2026-11-23 11:00", service="library.entry"),
    museum_slot(LOST, "2026-11-23 10:00", "2026-11-23 11:00"),
    Slot("library-readers", READER, local("2026-01-01 00:00"), local("2027-01-01 00:00")),
    Slot(
        "annual-pass", ANHUI, local("2026-01-01 00:00"), local("2027-01-01 00:00"), by=RefKind.SSN
    ),
)


@dataclass(frozen=True)
class Case:
    id: str
    holder: Credential | str  # a str names a code built at the tap's time ("code", "replay")
    service: str
    expected: Outcome
    reasons: tuple[R, ...]
    at: dt.datetime = MONDAY
    benefit: str | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    earlier: tuple[tuple[str, str], ...] = ()  # (local time, service) of earlier admissions
    clock: str = "trusted"  # trusted | never-synced | rolled-back | jumped-ahead
    lists_valid_until: dt.datetime = VALID_UNTIL
    deny_list: bool = True
    flagged: bool = False
    #: lists valid only until a day after issue (stale at the tap)
    stale: frozenset[str] = frozenset()
    #: whose earlier admissions (default: the holder presenting now)
    earlier_holder: Credential | None = None


ANNUAL_PASS = {
    "services": {
        "library.entry": {
            "benefits": [
                {"id": "annual-pass", "label_zh": "年卡", "label_en": "Annual pass",
                 "list": "annual-pass"}
            ]
        }
    }
}  # fmt: skip

CASES = [
    # -- region: the Yangtze River Delta is local -----------------------------------------------
    Case("shanghai card admitted", SHANGHAI, "library.entry", Outcome.ADMIT, (R.ADMITTED,)),
    Case("jiangsu card is local", JIANGSU, "library.entry", Outcome.ADMIT, (R.ADMITTED,)),
    Case("zhejiang card is local", ZHEJIANG, "library.entry", Outcome.ADMIT, (R.ADMITTED,)),
    Case("anhui card is local", ANHUI, "library.entry", Outcome.ADMIT, (R.ADMITTED,)),
    Case("non-local card referred", BEIJING, "library.entry", Outcome.REFER, (R.NOT_LOCAL,)),
    Case(
        "non-local denied by policy",
        BEIJING,
        "library.entry",
        Outcome.DENY,
        (R.NOT_LOCAL,),
        overrides={"non_local": "deny"},
    ),
    Case(
        "non-local admitted by policy, staff told",
        BEIJING,
        "library.entry",
        Outcome.ADMIT,
        (R.NOT_LOCAL,),
        overrides={"non_local": "admit"},
    ),
    Case(
        "local provinces are the policy's",
        JIANGSU,
        "library.entry",
        Outcome.REFER,
        (R.NOT_LOCAL,),
        overrides={"local_provinces": ["31"]},
    ),
    # -- demonstration zone: discount or free in configured windows -----------------------------
    Case(
        "qingpu resident free at the weekend",
        QINGPU,
        "scenic.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT,),
        at=SATURDAY,
        benefit="demo-zone-free",
    ),
    Case(
        "wujiang resident free at the weekend",
        WUJIANG,
        "scenic.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT,),
        at=SATURDAY,
        benefit="demo-zone-free",
    ),
    Case(
        "jiashan resident half price on a weekday",
        JIASHAN,
        "scenic.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT,),
        benefit="demo-zone-half",
    ),
    Case(
        "demo-zone weekend window ends at 17:30",
        WUJIANG,
        "scenic.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT,),
        at=local("2026-11-21 17:30"),
        benefit="demo-zone-half",
    ),
    Case(
        "demo-zone window starts at 08:00",
        QINGPU,
        "scenic.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT,),
        at=local("2026-11-21 08:00"),
        benefit="demo-zone-free",
    ),
    Case(
        "a neighbouring district is not in the zone",
        SHANGHAI,
        "scenic.entry",
        Outcome.ADMIT,
        (R.ADMITTED,),
        at=SATURDAY,
    ),
    # -- age from the birth date ----------------------------------------------------------------
    Case(
        "senior free at the museum",
        SENIOR_71,
        "museum.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT, R.RESERVATION_OK),
        benefit="senior-free",
    ),
    Case(
        "63 is half price at the scenic area",
        AGE_63,
        "scenic.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT,),
        benefit="senior-half",
    ),
    Case(
        "63 has no museum benefit",
        AGE_63,
        "museum.entry",
        Outcome.ADMIT,
        (R.RESERVATION_OK,),
    ),
    Case(
        "65th birthday counts today",
        TURNS_65_TODAY,
        "museum.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT, R.RESERVATION_OK),
        benefit="senior-free",
    ),
    Case(
        "65th birthday tomorrow does not",
        TURNS_65_TOMORROW,
        "museum.entry",
        Outcome.ADMIT,
        (R.RESERVATION_OK,),
    ),
    Case(
        "benefit from a synced list (by SSN)",
        ANHUI,
        "library.entry",
        Outcome.ADMIT_WITH_BENEFIT,
        (R.BENEFIT,),
        benefit="annual-pass",
        overrides=ANNUAL_PASS,
    ),
    # -- reservations with time slots (museum) --------------------------------------------------
    Case("reservation in its slot", SHANGHAI, "museum.entry", Outcome.ADMIT, (R.RESERVATION_OK,)),
    Case(
        "30 minutes early is allowed",
        SHANGHAI,
        "museum.entry",
        Outcome.ADMIT,
        (R.RESERVATION_OK,),
        at=local("2026-11-23 09:31"),
    ),
    Case(
        "too early for the slot",
        SHANGHAI,
        "museum.entry",
        Outcome.DENY,
        (R.OUTSIDE_SLOT,),
        at=local("2026-11-23 09:20"),
    ),
    Case(
        "late within the allowance",
        SHANGHAI,
        "museum.entry",
        Outcome.ADMIT,
        (R.RESERVATION_OK,),
        at=local("2026-11-23 11:59"),
    ),
    Case(
        "too late for the slot",
        SHANGHAI,
        "museum.entry",
        Outcome.DENY,
        (R.OUTSIDE_SLOT,),
        at=local("2026-11-23 12:01"),
    ),
    Case(
        "slot later today",
        JIANGSU,
        "museum.entry",
        Outcome.DENY,
        (R.OUTSIDE_SLOT,),
    ),
    Case("no reservation", BEIJING, "museum.entry", Outcome.DENY, (R.NO_RESERVATION, R.NOT_LOCAL)),
    Case(
        "a reservation for another service does not count",
        ZHEJIANG,
        "museum.entry",
        Outcome.DENY,
        (R.NO_RESERVATION,),
    ),
    Case(
        "reservation not required by policy",
        QINGPU,
        "museum.entry",
        Outcome.ADMIT,
        (R.ADMITTED,),
        overrides={"services": {"museum.entry": {"reservations": {"required": False}}}},
    ),
    Case(
        "reservation code in its slot",
        RESERVATION,
        "museum.entry",
        Outcome.ADMIT,
        (R.RESERVATION_OK,),
    ),
    Case(
        "unknown reservation code",
        UNKNOWN_RESERVATION,
        "museum.entry",
        Outcome.DENY,
        (R.NO_RESERVATION,),
    ),
    Case(
        "reservation code where none are taken",
        RESERVATION,
        "scenic.entry",
        Outcome.DENY,
        (R.NO_RESERVATION,),
    ),
    # -- library borrowing: registered readers only ---------------------------------------------
    Case("registered reader borrows", READER, "library.borrow", Outcome.ADMIT, (R.ADMITTED,)),
    Case(
        "unregistered holder may not borrow",
        SHANGHAI,
        "library.borrow",
        Outcome.DENY,
        (R.NOT_REGISTERED,),
    ),
    # -- anti-passback and daily quota ----------------------------------------------------------
    Case(
        "second tap within 5 minutes referred",
        SHANGHAI,
        "library.entry",
        Outcome.REFER,
        (R.PASSBACK,),
        earlier=(("2026-11-23 09:57", "library.entry"),),
    ),
    Case(
        "tap after the passback window",
        SHANGHAI,
        "library.entry",
        Outcome.ADMIT,
        (R.ADMITTED,),
        earlier=(("2026-11-23 09:54", "library.entry"),),
    ),
    Case(
        "passback is per service",
        SHANGHAI,
        "library.entry",
        Outcome.ADMIT,
        (R.ADMITTED,),
        earlier=(("2026-11-23 09:58", "scenic.entry"),),
    ),
    Case(
        "scenic passback and quota both deny",
        SHANGHAI,
        "scenic.entry",
        Outcome.DENY,
        (R.PASSBACK, R.QUOTA),
        earlier=(("2026-11-23 09:00", "scenic.entry"),),
    ),
    Case(
        "daily quota reached",
        SHANGHAI,
        "museum.entry",
        Outcome.DENY,
        (R.QUOTA,),
        earlier=(("2026-11-23 08:00", "museum.entry"), ("2026-11-23 09:00", "museum.entry")),
    ),
    Case(
        "yesterday's entries do not count",
        SHANGHAI,
        "museum.entry",
        Outcome.ADMIT,
        (R.RESERVATION_OK,),
        earlier=(("2026-11-22 23:50", "museum.entry"), ("2026-11-23 08:00", "museum.entry")),
    ),
    Case(
        "card then its e-card code: one holder for anti-passback",
        "code",
        "library.entry",
        Outcome.REFER,
        (R.PASSBACK,),
        earlier=(("2026-11-23 09:58", "library.entry"),),
        earlier_holder=SHANGHAI,
    ),
    Case(
        "quota day starts at local midnight (07:00 Shanghai is 23:00 UTC)",
        SHANGHAI,
        "museum.entry",
        Outcome.DENY,
        (R.QUOTA,),
        at=local("2026-11-23 10:15"),
        earlier=(("2026-11-23 07:00", "museum.entry"), ("2026-11-23 07:40", "museum.entry")),
    ),
    Case(
        "yesterday 23:30 Shanghai does not count today",
        SHANGHAI,
        "museum.entry",
        Outcome.ADMIT,
        (R.RESERVATION_OK,),
        at=local("2026-11-23 10:15"),
        earlier=(("2026-11-22 23:30", "museum.entry"), ("2026-11-23 07:00", "museum.entry")),
    ),
    # -- the card itself ------------------------------------------------------------------------
    Case("expired card denied", EXPIRED, "library.entry", Outcome.DENY, (R.CARD_EXPIRED,)),
    Case(
        "expired card referred by policy",
        EXPIRED,
        "library.entry",
        Outcome.REFER,
        (R.CARD_EXPIRED,),
        overrides={"expired_card": "refer"},
    ),
    Case(
        "valid through its expiry day",
        EXPIRES_TODAY,
        "library.entry",
        Outcome.ADMIT,
        (R.ADMITTED,),
    ),
    Case(
        "card not yet valid",
        NOT_YET_ISSUED,
        "library.entry",
        Outcome.REFER,
        (R.CARD_NOT_YET_VALID,),
    ),
    Case("clone denied", CLONE, "library.entry", Outcome.DENY, (R.NOT_AUTHENTIC,)),
    Case(
        "clone referred by policy",
        CLONE,
        "library.entry",
        Outcome.REFER,
        (R.NOT_AUTHENTIC,),
        overrides={"not_authentic": "refer"},
    ),
    Case("unchecked card referred", UNCHECKED, "library.entry", Outcome.REFER, (R.NOT_CHECKED,)),
    Case(
        "unchecked card denied by policy",
        UNCHECKED,
        "library.entry",
        Outcome.DENY,
        (R.NOT_CHECKED,),
        overrides={"not_checked": "deny"},
    ),
    Case(
        "unchecked card admitted by policy, staff told",
        UNCHECKED,
        "library.entry",
        Outcome.ADMIT,
        (R.NOT_CHECKED,),
        overrides={"not_checked": "admit"},
    ),
    Case(
        "partly read card referred",
        PARTLY_READ,
        "library.entry",
        Outcome.REFER,
        (R.INCOMPLETE_READ,),
    ),
    # -- deny-list reasons ----------------------------------------------------------------------
    Case("lost card denied", LOST, "library.entry", Outcome.DENY, (R.LOST,)),
    Case("cancelled card denied", CANCELLED, "library.entry", Outcome.DENY, (R.CANCELLED,)),
    Case("replaced card denied", REPLACED, "library.entry", Outcome.DENY, (R.REPLACED,)),
    Case("misused card referred", FRAUD, "library.entry", Outcome.REFER, (R.FRAUD,)),
    Case("other block referred", OTHER, "library.entry", Outcome.REFER, (R.LISTED_OTHER,)),
    Case(
        "lost card referred by policy",
        LOST,
        "library.entry",
        Outcome.REFER,
        (R.LOST,),
        overrides={"deny_list": {"lost": "refer"}},
    ),
    Case(
        "lost card with a reservation still denied",
        LOST,
        "museum.entry",
        Outcome.DENY,
        (R.LOST,),
    ),
    Case(
        "expired and lost: both reasons",
        card("310100", 18, expiry=dt.date(2020, 1, 1)),
        "library.entry",
        Outcome.DENY,
        (R.CARD_EXPIRED, R.LOST),
    ),
    Case(
        "card expiring today still valid at 07:00 Shanghai (23:00 UTC the day before)",
        card("310100", 40, expiry=dt.date(2026, 11, 23)),
        "library.entry",
        Outcome.ADMIT,
        (R.ADMITTED,),
        at=local("2026-11-23 07:00"),
    ),
    Case(
        "card expired yesterday denied at 07:00 Shanghai",
        card("310100", 41, expiry=dt.date(2026, 11, 22)),
        "library.entry",
        Outcome.DENY,
        (R.CARD_EXPIRED,),
        at=local("2026-11-23 07:00"),
    ),
    Case(
        "a card id naming no region is not local",
        card("ZZ0100", 42),
        "library.entry",
        Outcome.REFER,
        (R.NOT_LOCAL,),
    ),
    # -- list freshness -------------------------------------------------------------------------
    Case(
        "lists past valid-until referred",
        SHANGHAI,
        "library.entry",
        Outcome.REFER,
        (R.LISTS_STALE,),
        lists_valid_until=local("2026-11-23 09:59"),
    ),
    Case(
        "lists past valid-until admitted flagged by policy",
        SHANGHAI,
        "library.entry",
        Outcome.ADMIT,
        (R.OFFLINE_UNVERIFIED, R.LISTS_STALE),
        lists_valid_until=local("2026-11-23 09:59"),
        overrides={"stale_lists": "admit-flagged"},
        flagged=True,
    ),
    Case(
        "stale lists never hide a lost card",
        LOST,
        "library.entry",
        Outcome.DENY,
        (R.LOST, R.LISTS_STALE),
        lists_valid_until=local("2026-11-23 09:59"),
    ),
    Case(
        "no deny list yet referred",
        SHANGHAI,
        "library.entry",
        Outcome.REFER,
        (R.NO_DENY_LIST,),
        deny_list=False,
    ),
    Case(
        "no deny list admitted flagged by policy",
        SHANGHAI,
        "library.entry",
        Outcome.ADMIT,
        (R.OFFLINE_UNVERIFIED, R.NO_DENY_LIST),
        deny_list=False,
        overrides={"stale_lists": "admit-flagged"},
        flagged=True,
    ),
    Case(
        "stale reservation list: the policy's choice, not a deny",
        JIANGSU,
        "museum.entry",
        Outcome.REFER,
        (R.LISTS_STALE,),
        stale=frozenset({"reservations"}),
    ),
    Case(
        "stale reservation list admitted flagged by policy",
        UNKNOWN_RESERVATION,
        "museum.entry",
        Outcome.ADMIT,
        (R.OFFLINE_UNVERIFIED, R.LISTS_STALE),
        stale=frozenset({"reservations"}),
        overrides={"stale_lists": "admit-flagged"},
        flagged=True,
    ),
    Case(
        "stale readers list: refer, not deny",
        SHANGHAI,
        "library.borrow",
        Outcome.REFER,
        (R.LISTS_STALE,),
        stale=frozenset({"library-readers"}),
    ),
    Case(
        "stale issuer keys: a code is referred",
        "code",
        "library.entry",
        Outcome.REFER,
        (R.LISTS_STALE,),
        stale=frozenset({"issuers"}),
    ),
    Case(
        "stale issuer keys do not matter to a card",
        SHANGHAI,
        "library.entry",
        Outcome.ADMIT,
        (R.ADMITTED,),
        stale=frozenset({"issuers"}),
    ),
    # -- clock trust ----------------------------------------------------------------------------
    Case(
        "never-synced clock referred",
        SHANGHAI,
        "library.entry",
        Outcome.REFER,
        (R.CLOCK_UNTRUSTED,),
        clock="never-synced",
    ),
    Case(
        "never-synced clock admitted flagged by policy",
        SHANGHAI,
        "library.entry",
        Outcome.ADMIT,
        (R.OFFLINE_UNVERIFIED, R.CLOCK_UNTRUSTED),
        clock="never-synced",
        overrides={"untrusted_clock": "admit-flagged"},
        flagged=True,
    ),
    Case(
        "clock set back referred",
        SHANGHAI,
        "library.entry",
        Outcome.REFER,
        (R.CLOCK_ROLLED_BACK,),
        clock="rolled-back",
    ),
    Case(
        "clock jumped ahead referred",
        SHANGHAI,
        "library.entry",
        Outcome.REFER,
        (R.CLOCK_UNTRUSTED,),
        clock="jumped-ahead",
    ),
    Case(
        "clock behind the terminal's own last tap is set back",
        SHANGHAI,
        "library.entry",
        Outcome.REFER,
        (R.CLOCK_ROLLED_BACK,),
        earlier=(("2026-11-23 11:00", "scenic.entry"),),
    ),
    Case(
        "a set-back clock never turns a deny into an admit",
        LOST,
        "library.entry",
        Outcome.DENY,
        (R.LOST, R.CLOCK_ROLLED_BACK),
        clock="rolled-back",
        overrides={"untrusted_clock": "admit-flagged"},
    ),
    # -- ESSC1 codes ----------------------------------------------------------------------------
    Case("e-card code admitted", "code", "library.entry", Outcome.ADMIT, (R.ADMITTED,)),
    Case(
        "replayed code denied at the museum",
        "replay",
        "museum.entry",
        Outcome.DENY,
        (R.CODE_REPLAYED,),
    ),
    Case(
        "replayed code referred at the scenic area",
        "replay",
        "scenic.entry",
        Outcome.REFER,
        (R.CODE_REPLAYED,),
    ),
    Case(
        "replayed code allowed to re-enter by policy",
        "replay",
        "library.entry",
        Outcome.ADMIT,
        (R.REENTRY_ALLOWED,),
        overrides={"services": {"library.entry": {"code_replay": "allow-reentry"}}},
    ),
    Case("code of a lost card denied", "lost-code", "library.entry", Outcome.DENY, (R.LOST,)),
    Case(
        "codes not accepted by this service",
        "code",
        "library.entry",
        Outcome.DENY,
        (R.CODE_NOT_ACCEPTED,),
        overrides={"services": {"library.entry": {"accept_codes": False}}},
    ),
]


def _holder(case: Case) -> Credential:
    if isinstance(case.holder, Credential):
        return case.holder
    serial = {"code": 1, "replay": 1, "lost-code": 18}[case.holder]
    return code("310100", serial, replayed=case.holder == "replay", at=case.at)


def _trusted_at(case: Case) -> dt.datetime:
    """The back office's time was last seen an hour before the tap."""
    return case.at - dt.timedelta(hours=1)


def _sample(case: Case) -> ClockSample:
    trusted_at = _trusted_at(case)
    if case.clock == "rolled-back":  # an hour after the trusted time, the clock reads 2 h before
        return ClockSample(trusted_at - dt.timedelta(hours=2), 1000.0 + 3600, BOOT)
    if case.clock == "jumped-ahead":  # 1 h passed; the wall clock says 2 h
        return ClockSample(case.at + dt.timedelta(hours=1), 1000.0 + 3600, BOOT)
    return sample(case.at, trusted_at=trusted_at)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_scenario(case: Case, tmp_path: Path) -> None:
    store = open_store(tmp_path)
    load_lists(
        store,
        issued=ISSUED,
        valid_until=case.lists_valid_until,
        deny=DENIED,
        slots=SLOTS,
        with_deny_list=case.deny_list,
        stale=case.stale,
    )
    if case.clock != "never-synced":
        trust_clock(store, _trusted_at(case))
    holder = _holder(case)
    for when, service in case.earlier:
        admit_earlier(store, case.earlier_holder or holder, service, local(when))
    checkpoint = Checkpoint(store, policy(case.overrides), KEYER, "T1")
    try:
        verdict = checkpoint.present(holder, sample=_sample(case), service=case.service)
    finally:
        checkpoint.close()

    codes = tuple(r.code for r in verdict.reasons)
    assert verdict.outcome is case.expected, codes
    assert codes[: len(case.reasons)] == case.reasons
    assert verdict.flagged is case.flagged
    assert (verdict.benefit.id if verdict.benefit else None) == case.benefit
    assert verdict.journal_seq is not None  # recorded before release
    (event,) = [r.body for r in store.journal.records() if r.seq == verdict.journal_seq]
    assert event["verdict"] == case.expected.value
    assert event["reasons"] == [c.value for c in codes]
    assert event["service"] == case.service
    for why in verdict.reasons:  # every reason speaks both languages
        assert why.zh
        assert why.en
        assert "{" not in why.zh + why.en
    store.close()


def test_every_policy_point_has_a_scenario() -> None:
    """The reason codes a verdict on a credential can give are all exercised above."""
    exercised = {code for case in CASES for code in case.reasons}
    verdict_reasons = set(R) - {
        R.NOT_RECORDED,  # test_checkpoint: a full disk
        R.CODE_REJECTED,  # test_checkpoint: scanned texts that are not credentials
        R.CODE_NOT_RECOGNISED,
        R.CODE_NEEDS_NETWORK,
        R.UNKNOWN_SERVICE,  # a configuration error, refused before any tap
        R.STAFF_OVERRIDE,  # test_desk: a staff override at the desk
    }
    assert verdict_reasons - exercised == set()
