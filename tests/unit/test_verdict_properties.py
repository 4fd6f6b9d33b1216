"""Properties of :func:`terminal.verdict.decide` over arbitrary credentials, policies, lists and
clocks.

The scenarios (``test_verdict_scenarios.py``) say what each case decides; these say what no
case may ever decide, whatever the inputs:

- ``decide`` never raises for a service the policy has, and always returns one of the four
  outcomes with at least one reason, each rendering in Chinese and English with no
  placeholder left (no ``{``);
- a holder on the deny list is never admitted, and is denied when the policy says ``deny``
  for that entry's reason;
- an untrusted clock, or a missing or stale list that can keep a person out, never lets a
  holder through silently: the verdict is refer or deny, or it admits *flagged* with the
  ``offline_unverified`` reason — and only when the policy chose ``admit-flagged`` for it;
- every verdict carries the credential's holder reference (never an empty one).

The lists are an in-memory fake of the :class:`~terminal.verdict.Lists` protocol with the
store's semantics (windows overlap ``[start, end)``, admissions at or after ``since``).
"""

from __future__ import annotations

import datetime as dt
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from verdict_support import KEYER, SHANGHAI, policy

from apdu.ssc import Authenticity
from offline_store.benefit_lists import Entitlement, RefKind
from offline_store.issuer_keys import ISSUERS
from offline_store.store import DENY_LIST, DenyEntry, DenyReason, ListState, benefit_list_key
from terminal.clock import ClockFacts, ClockState
from terminal.credential import CodeFacts, Credential, CredentialKind
from terminal.policy import Degraded, VenuePolicy
from terminal.reasons import ReasonCode
from terminal.verdict import Outcome, Verdict, decide

SERVICES = ("museum.entry", "library.entry", "library.borrow", "scenic.entry", "fuzz.entry")
#: benefit/reservation lists the generated policies name (the default policy's and two more)
LIST_NAMES = ("reservations", "library-readers", "annual-pass", "fuzz-list", "fuzz-slots")
#: days around which "now" falls: leap days, a year's end, a weekend, the scenarios' Monday
DAYS = (
    dt.date(2024, 2, 28),
    dt.date(2024, 2, 29),
    dt.date(2024, 12, 31),
    dt.date(2025, 3, 1),
    dt.date(2026, 11, 21),
    dt.date(2026, 11, 23),
    dt.date(2026, 12, 31),
    dt.date(2028, 2, 29),
)
REGIONS = (
    "310100", "310118", "320509", "330421", "340100", "110100", "440300", "000000",
    "31", "3", "", "ABCDEF", "31A100", " 31010", "31 ", "-31010",
)  # fmt: skip
#: regions of the Yangtze River Delta (local by default), the demonstration zone's among them
LOCAL_REGIONS = ("310100", "310118", "320509", "330421", "340100")
ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
HEX_TAIL = "D15600000500000000000000AB"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- the lists ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    list_name: str
    ref_kind: RefKind
    holder_ref: bytes
    valid_from: dt.datetime
    valid_until: dt.datetime
    attributes: Mapping[str, str]


@dataclass
class FakeLists:
    """The :class:`~terminal.verdict.Lists` protocol in memory, with the store's semantics."""

    states: list[ListState] = field(default_factory=list)
    deny: dict[bytes, DenyEntry] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    admissions: list[tuple[bytes, str, dt.datetime]] = field(default_factory=list)

    def lookup(self, card_ref: bytes) -> DenyEntry | None:
        return self.deny.get(card_ref)

    def entries_overlapping(
        self,
        list_name: str,
        refs: Iterable[tuple[RefKind, bytes]],
        start: dt.datetime,
        end: dt.datetime,
    ) -> list[Entitlement]:
        wanted = set(refs)
        found = [
            Entitlement(
                entry.list_name, entry.ref_kind, entry.valid_from, entry.valid_until,
                entry.attributes,
            )
            for entry in self.entries
            if entry.list_name == list_name
            and (entry.ref_kind, entry.holder_ref) in wanted
            and entry.valid_from < end
            and entry.valid_until > start
        ]  # fmt: skip
        return sorted(found, key=lambda entitlement: entitlement.valid_from)

    def admissions_since(
        self, holder_refs: Sequence[bytes], service: str, since: dt.datetime
    ) -> list[dt.datetime]:
        return sorted(
            moment
            for ref, name, moment in self.admissions
            if ref in holder_refs and name == service and moment >= since
        )

    def list_states(self) -> list[ListState]:
        return list(self.states)

    def state(self, name: str) -> ListState | None:
        return next((state for state in self.states if state.name == name), None)


# -- strategies --------------------------------------------------------------------------
@st.composite
def moments(draw: st.DrawFn) -> dt.datetime:
    """An instant on one of DAYS in Shanghai: near a midnight, or anywhere in the day."""
    midnight = dt.datetime.combine(draw(st.sampled_from(DAYS)), dt.time(), SHANGHAI)
    offset = draw(st.integers(-90, 90) | st.integers(0, 86_399) | st.sampled_from((0, -1)))
    return (midnight + dt.timedelta(seconds=offset)).astimezone(dt.UTC)


def near(day: dt.date) -> st.SearchStrategy[dt.date]:
    """A date a few days either side of ``day`` (expiry, issue), or any date at all."""
    return st.builds(lambda days: day + dt.timedelta(days=days), st.integers(-3, 3)) | st.dates(
        dt.date(1990, 1, 1), dt.date(2100, 12, 31)
    )


def birthday(today: dt.date, years: int) -> dt.date:
    """The date ``years`` years before ``today`` (28 February for a 29 February)."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


@st.composite
def birth_dates(draw: st.DrawFn, today: dt.date) -> dt.date | None:
    """None, any date (future ones too), a leap day, or a birthday at an age limit ± a day."""
    pick = draw(st.integers(0, 3))
    if pick == 0:
        return None
    if pick == 1:
        return draw(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31)))
    if pick == 2:
        return draw(
            st.sampled_from((dt.date(1952, 2, 29), dt.date(1960, 2, 29), dt.date(2000, 2, 29)))
        )
    years = draw(st.sampled_from((0, 6, 18, 59, 60, 64, 65, 70, 150, 151)))
    return birthday(today, years) + dt.timedelta(days=draw(st.integers(-1, 1)))


@st.composite
def card_ids(draw: st.DrawFn) -> str:
    """Card identification codes: real-looking, or garbage (the region is not always digits).

    Always ASCII, as every source guarantees (a card's BCD, the ESSC1 and platform formats):
    the holder references are keyed on ASCII text."""
    region = draw(
        st.sampled_from(LOCAL_REGIONS) | st.sampled_from(REGIONS) | st.text(ASCII, max_size=8)
    )
    return region + draw(
        st.just(HEX_TAIL) | st.text(string.hexdigits, max_size=30) | st.text(ASCII)
    )


@st.composite
def credentials(draw: st.DrawFn, now: dt.datetime, *, plain: bool = False) -> Credential:
    """Any credential; a ``plain`` one is a verified, valid, local card or code (so that only
    the policy, the lists and the clock decide)."""
    if plain:
        return draw(plain_credentials(now))
    today = now.astimezone(SHANGHAI).date()
    kind = draw(st.sampled_from(CredentialKind))
    maybe = st.none() | st.text(ASCII, min_size=1, max_size=20)
    common: dict[str, Any] = {
        "kind": kind,
        "authenticity": draw(st.sampled_from(Authenticity)),
        "name": draw(st.none() | st.text(max_size=6)),
        "birth_date": draw(birth_dates(today)),
    }
    if kind is CredentialKind.RESERVATION_CODE:
        return Credential(
            **common,
            reservation_id=draw(
                st.from_regex(r"[A-Z0-9-]{6,32}", fullmatch=True) | st.text(ASCII, min_size=1)
            ),
            card_id=draw(st.none() | card_ids()),
        )
    code = None
    if kind is CredentialKind.ESSC_QR and draw(st.booleans()):
        issued = now - dt.timedelta(seconds=draw(st.integers(-60, 400)))
        code = CodeFacts(
            code_id=draw(st.binary(min_size=16, max_size=16)),
            issued_at=issued,
            expires_at=issued + dt.timedelta(seconds=draw(st.integers(0, 300))),
            issuer=draw(st.sampled_from(("310000", "320000", "330000", "340000"))),
            level=draw(st.sampled_from((1, 2))),
            replayed=draw(st.booleans()),
        )
    return Credential(
        **common,
        card_id=draw(card_ids()),
        card_number=draw(maybe),
        ssn=draw(maybe) if kind is CredentialKind.CARD else None,
        issue_date=draw(st.none() | st.just(dt.date(2021, 1, 1)) | near(today)),
        expiry_date=draw(st.none() | st.just(dt.date(2031, 1, 1)) | near(today)),
        incomplete=draw(st.booleans()),
        generation=draw(st.sampled_from((None, 1, 2, 3))),
        code=code,
    )


@st.composite
def plain_credentials(draw: st.DrawFn, now: dt.datetime) -> Credential:
    today = now.astimezone(SHANGHAI).date()
    kind = draw(st.sampled_from((CredentialKind.CARD, CredentialKind.ESSC_QR)))
    card_id = draw(st.sampled_from(LOCAL_REGIONS)) + HEX_TAIL
    code = None
    if kind is CredentialKind.ESSC_QR:
        code = CodeFacts(bytes(16), now, now + dt.timedelta(seconds=120), card_id[:2] + "0000", 1)
    return Credential(
        kind=kind,
        authenticity=Authenticity.VERIFIED,
        card_id=card_id,
        card_number="S31000001",
        ssn=draw(st.none() | st.just("310101198502140011")) if code is None else None,
        name=draw(st.none() | st.text(max_size=6)),
        birth_date=draw(st.just(dt.date(1950, 1, 1)) | birth_dates(today)),  # a senior, often
        issue_date=draw(st.none() | st.just(dt.date(2021, 1, 1))),
        expiry_date=draw(st.none() | st.just(dt.date(2031, 1, 1))),
        code=code,
    )


ACTION = st.sampled_from(("deny", "refer", "admit"))
DENY_OR_REFER = st.sampled_from(("deny", "refer"))
DEGRADED = st.sampled_from(("refer", "admit-flagged"))
LIST_NAME = st.sampled_from(LIST_NAMES)
#: benefit labels: letters, digits and punctuation (whitespace alone is stripped to nothing)
LABEL = st.text(
    st.characters(categories=("L", "N", "P"), exclude_characters="{}"), min_size=1, max_size=12
)
HHMM = ("00:00", "07:59", "08:00", "12:00", "16:00", "17:30", "23:59", "24:00")


@st.composite
def windows(draw: st.DrawFn) -> dict[str, Any]:
    start, end = sorted(draw(st.lists(st.sampled_from(HHMM), min_size=2, max_size=2, unique=True)))
    window: dict[str, Any] = {
        "days": draw(st.lists(st.sampled_from(("mon", "tue", "wed", "thu", "fri", "sat", "sun")),
                              min_size=1, max_size=7, unique=True)),
        "start": start,
        "end": end,
    }  # fmt: skip
    if draw(st.booleans()):
        first, last = sorted(draw(st.lists(st.sampled_from(DAYS), min_size=2, max_size=2)))
        window["from_date"], window["until_date"] = first.isoformat(), last.isoformat()
    return window


@st.composite
def benefits(draw: st.DrawFn) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": draw(st.sampled_from(("senior", "zone", "pass", "youth"))),
        "label_zh": draw(LABEL),
        "label_en": draw(LABEL),
        "price": draw(st.sampled_from(("free", "50%", "9%", "99%"))),
    }
    conditions: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "regions": st.lists(
                    st.sampled_from(("31", "3101", "310118", "320509", "11", "34")),
                    min_size=1, max_size=3,
                ),
                "min_age": st.integers(0, 150),
                "max_age": st.integers(0, 150),
                "list": LIST_NAME,
                "windows": st.lists(windows(), max_size=2),
            },
        )
    )  # fmt: skip
    if not {"regions", "min_age", "max_age", "list"} & conditions.keys():
        conditions["min_age"] = 60
    if conditions.get("max_age", 150) < conditions.get("min_age", 0):
        conditions["min_age"], conditions["max_age"] = conditions["max_age"], conditions["min_age"]
    return rule | conditions


SERVICE = st.fixed_dictionaries(
    {"name_zh": st.just("测试入口"), "name_en": st.just("Test entry")},
    optional={
        "accept_codes": st.sampled_from((True, False)),
        "reservations": st.fixed_dictionaries(
            {},
            optional={
                "required": st.booleans(),
                "list": LIST_NAME,
                "early_minutes": st.integers(0, 24 * 60),
                "late_minutes": st.integers(0, 24 * 60),
            },
        ),
        "registered_list": LIST_NAME,
        "anti_passback_minutes": st.integers(0, 24 * 60),
        "passback_action": DENY_OR_REFER,
        "daily_quota": st.integers(0, 4),
        "code_replay": st.sampled_from(("deny", "refer", "allow-reentry")),
        "benefits": st.lists(benefits(), max_size=3),
    },
)
POLICY_OVERRIDES = st.fixed_dictionaries(
    {"services": st.fixed_dictionaries({"fuzz.entry": SERVICE})},
    optional={
        "non_local": ACTION,
        "not_checked": ACTION,
        "not_authentic": DENY_OR_REFER,
        "incomplete_read": DENY_OR_REFER,
        "expired_card": DENY_OR_REFER,
        "stale_lists": DEGRADED,
        "untrusted_clock": DEGRADED,
        "local_provinces": st.lists(
            st.sampled_from(("31", "32", "33", "34", "11", "44")), max_size=5, unique=True
        ),
        "deny_list": st.fixed_dictionaries(
            {}, optional={reason.name.lower(): DENY_OR_REFER for reason in DenyReason}
        ),
    },
)


@st.composite
def list_state(
    draw: st.DrawFn, name: str, now: dt.datetime, *, fresh: bool = False
) -> ListState | None:
    """Absent, fresh or stale (past its valid-until, or exactly at it); or ``fresh``."""
    pick = "fresh" if fresh else draw(st.sampled_from(("fresh", "absent", "stale")))
    if pick == "absent":
        return None
    if pick == "fresh":
        until = now + dt.timedelta(seconds=draw(st.integers(1, 10 * 86_400)))
    else:
        until = now - dt.timedelta(seconds=draw(st.integers(0, 10 * 86_400)))
    issued = until - dt.timedelta(days=draw(st.integers(1, 30)))
    return ListState(name, draw(st.integers(1, 10**6)), 0, b"\0" * 32, issued, until, issued)


@st.composite
def lists_for(
    draw: st.DrawFn, holder: Credential, now: dt.datetime, *, plain: bool = False
) -> FakeLists:
    """The deny list and every benefit list in any state, with entries for this holder (and
    a stranger), and earlier admissions; ``plain``: every list fresh, the holder on no deny
    list and never admitted before."""
    lists = FakeLists()
    stranger = KEYER.card_ref("310100D15600000500000000000000FF")
    refs = [*holder.refs(KEYER), (RefKind.CARD_ID, stranger)]
    deny = draw(list_state(DENY_LIST, now, fresh=plain))
    if deny is not None:
        lists.states.append(deny)
        denied = [stranger] if plain else [ref for _, ref in refs]
        for ref in draw(st.lists(st.sampled_from(denied), max_size=2)):
            why = draw(st.sampled_from(DenyReason))
            lists.deny[ref] = DenyEntry(ref, why, draw(st.sampled_from(("310100", "110100"))))
    issuers = draw(list_state(ISSUERS, now, fresh=plain))  # the ESSC1 keys behind a code
    if issuers is not None:
        lists.states.append(issuers)
    for name in LIST_NAMES:
        state = draw(list_state(benefit_list_key(name), now, fresh=plain))
        if state is None:
            continue
        lists.states.append(state)
        for ref_kind, ref in draw(st.lists(st.sampled_from(refs), max_size=4)):
            minutes = draw(st.integers(-90, 30) | st.integers(-3 * 1440, 3 * 1440))
            start = now + dt.timedelta(minutes=minutes)
            end = start + dt.timedelta(minutes=draw(st.integers(1, 2 * 1440)))
            attributes: dict[str, str] = draw(
                st.just({}) | st.builds(dict, service=st.sampled_from(SERVICES))
            )
            lists.entries.append(Entry(name, ref_kind, ref, start, end, attributes))
    holder_ref = holder.holder_ref(KEYER)
    for _ in range(0 if plain else draw(st.integers(0, 3))):
        ago = dt.timedelta(seconds=draw(st.integers(-3600, 3 * 86_400)))  # future ones too
        ref = draw(st.sampled_from((holder_ref, stranger)))
        lists.admissions.append((ref, draw(st.sampled_from(SERVICES)), now - ago))
    return lists


@st.composite
def clocks(
    draw: st.DrawFn, now: dt.datetime, states: Iterable[ClockState] = ClockState
) -> ClockFacts:
    state = draw(st.sampled_from(tuple(states)))
    last = draw(
        st.none() | st.builds(lambda s: now - dt.timedelta(seconds=s), st.integers(-600, 10**7))
    )
    return ClockFacts(state, now, last, draw(st.text(max_size=30)))


@dataclass(frozen=True)
class World:
    credential: Credential
    policy: VenuePolicy
    service: str | None
    lists: FakeLists
    clock: ClockFacts


UNTRUSTED = (ClockState.UNVERIFIED, ClockState.ROLLED_BACK)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """Anything at all, a plain world (a valid local card, fresh lists, a trusted clock: the
    policy decides), or a plain world with an untrusted clock or no fresh deny list."""
    kind = draw(st.sampled_from(("any", "plain", "degraded")))
    now = draw(moments())
    plain = kind != "any"
    credential = draw(credentials(now, plain=plain))
    venue = policy(draw(POLICY_OVERRIDES))
    # scenic.entry grants benefits to the plain cards' demonstration-zone regions and seniors
    service = draw(
        st.sampled_from(("scenic.entry", *SERVICES, None) if plain else (*SERVICES, None))
    )
    lists = draw(lists_for(credential, now, plain=plain))
    clock = draw(clocks(now, (ClockState.TRUSTED,) if plain else ClockState))
    if kind == "degraded":
        if draw(st.booleans()):
            clock = draw(clocks(now, UNTRUSTED))
        else:
            lists.states = [state for state in lists.states if state.name != DENY_LIST]
            if draw(st.booleans()):  # stale rather than missing
                until = now - dt.timedelta(seconds=draw(st.integers(0, 86_400)))
                lists.states.append(ListState(DENY_LIST, 1, 0, b"\0" * 32, until, until, until))
    return World(credential, venue, service, lists, clock)


# -- what must always hold ---------------------------------------------------------------
def verdict_of(world: World) -> Verdict:
    return decide(
        world.credential,
        policy=world.policy,
        service=world.service,
        lists=world.lists,
        keyer=KEYER,
        clock=world.clock,
    )


def vouched_lists(world: World) -> set[str]:
    """The lists that can keep this holder out for this service (their staleness matters)."""
    _, rules = world.policy.service(world.service)
    names = set()
    if world.credential.card_id is not None:
        names.add(DENY_LIST)
    if world.credential.kind is CredentialKind.ESSC_QR:
        names.add(ISSUERS)
    if rules.registered_list:
        names.add(benefit_list_key(rules.registered_list))
    by_code = world.credential.kind is CredentialKind.RESERVATION_CODE
    if rules.reservations is not None and (rules.reservations.required or by_code):
        names.add(benefit_list_key(rules.reservations.list))
    return names


def unvouched(world: World) -> set[str]:
    now = world.clock.wall
    return {
        name
        for name in vouched_lists(world)
        if (state := world.lists.state(name)) is None or state.valid_until <= now
    }


def deny_listed(world: World) -> DenyEntry | None:
    card_id = world.credential.card_id
    if card_id is None or world.lists.state(DENY_LIST) is None:
        return None
    return world.lists.lookup(KEYER.card_ref(card_id))


def assert_well_formed(verdict: Verdict, world: World) -> None:
    assert verdict.outcome in set(Outcome)
    assert verdict.reasons
    for why in verdict.reasons:
        for text in (why.zh, why.en):
            assert text
            assert "{" not in text, (why.code, text)
            assert "}" not in text, (why.code, text)
        assert why.to_json()["code"] == why.code.value
    assert verdict.holder_ref
    assert verdict.holder_ref == world.credential.holder_ref(KEYER)
    assert verdict.credential_kind is world.credential.kind
    assert verdict.flagged <= verdict.admits
    assert (verdict.benefit is not None) == (verdict.outcome is Outcome.ADMIT_WITH_BENEFIT)
    assert set(verdict.list_versions) <= {state.name for state in world.lists.states}
    assert verdict.to_json()["outcome"] == verdict.outcome.value


def assert_deny_list_obeyed(verdict: Verdict, world: World) -> None:
    entry = deny_listed(world)
    if entry is None:
        return
    assert not verdict.admits
    if world.policy.deny_list.action(entry.reason) == "deny":
        assert verdict.outcome is Outcome.DENY


def assert_never_silently_degraded(verdict: Verdict, world: World) -> None:
    codes = {why.code for why in verdict.reasons}
    stale = unvouched(world)
    clock_bad = not world.clock.trusted
    if verdict.admits and (stale or clock_bad):
        assert verdict.flagged
        assert ReasonCode.OFFLINE_UNVERIFIED in codes
        if clock_bad:
            assert world.policy.untrusted_clock is Degraded.ADMIT_FLAGGED
            assert codes & {ReasonCode.CLOCK_UNTRUSTED, ReasonCode.CLOCK_ROLLED_BACK}
        if stale:
            assert world.policy.stale_lists is Degraded.ADMIT_FLAGGED
            assert codes & {ReasonCode.LISTS_STALE, ReasonCode.NO_DENY_LIST}
    if verdict.flagged:  # never flagged for nothing
        assert stale or clock_bad
    if clock_bad and world.policy.untrusted_clock is Degraded.REFER:
        assert verdict.outcome in (Outcome.REFER, Outcome.DENY)
    if stale and world.policy.stale_lists is Degraded.REFER:
        assert verdict.outcome in (Outcome.REFER, Outcome.DENY)


def outcome_of(verdict: Verdict) -> str:
    return verdict.outcome.value + (" flagged" if verdict.flagged else "")


def test_decide_always_gives_a_sound_verdict() -> None:
    seen: Counter[str] = Counter()

    @SETTINGS
    @given(worlds())
    def check(world: World) -> None:
        verdict = verdict_of(world)
        seen[outcome_of(verdict)] += 1
        event(f"outcome {outcome_of(verdict)}")
        event(f"deny-listed: {deny_listed(world) is not None}")
        event(f"degraded: {bool(unvouched(world)) or not world.clock.trusted}")
        assert_well_formed(verdict, world)
        assert_deny_list_obeyed(verdict, world)
        assert_never_silently_degraded(verdict, world)

    check()
    # not vacuous: the worlds reached every outcome
    assert {outcome.value for outcome in Outcome} <= {key.split()[0] for key in seen}, seen


@st.composite
def deny_listed_worlds(draw: st.DrawFn) -> World:
    """Worlds where the holder's card is on a deny list the terminal has (fresh or stale)."""
    world = draw(worlds().filter(lambda w: w.credential.card_id is not None))
    now = world.clock.wall
    card_ref = KEYER.card_ref(world.credential.card_id or "")
    state = ListState(DENY_LIST, 1, 1, b"\0" * 32, now - dt.timedelta(days=1),
                      now + dt.timedelta(days=draw(st.integers(-2, 2))), now)  # fmt: skip
    lists = world.lists
    lists.states = [*(s for s in lists.states if s.name != DENY_LIST), state]
    lists.deny[card_ref] = DenyEntry(card_ref, draw(st.sampled_from(DenyReason)), "310100")
    return world


def test_a_deny_listed_card_is_never_admitted() -> None:
    seen: Counter[str] = Counter()

    @settings(SETTINGS, max_examples=150)
    @given(deny_listed_worlds())
    def check(world: World) -> None:
        verdict = verdict_of(world)
        seen[outcome_of(verdict)] += 1
        assert_well_formed(verdict, world)
        entry = deny_listed(world)
        assert entry is not None
        assert not verdict.admits
        reasons = {why.code for why in verdict.reasons}
        assert reasons & {
            ReasonCode.LOST, ReasonCode.CANCELLED, ReasonCode.REPLACED, ReasonCode.FRAUD,
            ReasonCode.LISTED_OTHER,
        }  # fmt: skip
        if world.policy.deny_list.action(entry.reason) == "deny":
            assert verdict.outcome is Outcome.DENY

    check()
    assert {"deny", "refer"} <= set(seen), seen


@st.composite
def degraded_worlds(draw: st.DrawFn) -> World:
    """Worlds whose clock cannot be trusted, or with no fresh deny list, under lenient policies
    (non-local and unchecked cards admitted), often plain: only the degraded facts (and the
    policy's choice for them) can stop an admit."""
    now = draw(moments())
    plain = draw(st.booleans())
    credential = draw(credentials(now, plain=plain))
    overrides = draw(POLICY_OVERRIDES)
    overrides |= {"non_local": "admit", "not_checked": "admit", "untrusted_clock": draw(DEGRADED),
                  "stale_lists": draw(DEGRADED)}  # fmt: skip
    lists = draw(lists_for(credential, now, plain=plain))
    clock = draw(clocks(now, (ClockState.TRUSTED,) if plain else ClockState))
    if credential.card_id is None or draw(st.booleans()):
        clock = draw(clocks(now, UNTRUSTED))
    else:
        lists.states = [state for state in lists.states if state.name != DENY_LIST]
        lists.deny.clear()
        if draw(st.booleans()):  # stale rather than missing
            until = now - dt.timedelta(seconds=draw(st.integers(0, 86_400)))
            lists.states.append(ListState(DENY_LIST, 1, 0, b"\0" * 32, until, until, until))
    service = draw(st.sampled_from(("library.entry", "fuzz.entry")))
    return World(credential, policy(overrides), service, lists, clock)


def test_a_degraded_terminal_never_admits_silently() -> None:
    seen: Counter[str] = Counter()

    @settings(SETTINGS, max_examples=150)
    @given(degraded_worlds())
    def check(world: World) -> None:
        verdict = verdict_of(world)
        seen[outcome_of(verdict)] += 1
        assert_well_formed(verdict, world)
        assert not world.clock.trusted or unvouched(world)
        assert_never_silently_degraded(verdict, world)
        if verdict.admits:
            assert verdict.flagged

    check()
    assert {"refer", "admit flagged"} <= set(seen), seen
