"""The verdict: admit, admit with benefit, deny or refer to staff — and why.

:func:`decide` is a pure function of the credential, the venue policy, what the lists say, and
the clock facts (which carry ``now``).  It reads the lists through the small :class:`Lists`
protocol (``offline_store.store.ListReader`` satisfies it) and writes nothing: recording the
verdict is :mod:`terminal.checkpoint`'s job.  Online or offline it decides the same way: the
lists and the clock are facts like any other, and when they cannot be vouched for the policy's
explicit choice applies (refer, or admit flagged "offline, unverified"), never a silent admit.

Every check that does not pass adds a *finding* (deny or refer, with a reason); the most
severe finding decides, and every finding is listed, the decisive ones first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Protocol

from apdu.ssc import Authenticity
from offline_store.benefit_lists import Entitlement, RefKind
from offline_store.holder_refs import HolderKeyer
from offline_store.issuer_keys import ISSUERS
from offline_store.store import DENY_LIST, DenyEntry, DenyReason, ListState, benefit_list_key
from terminal.clock import ClockFacts, ClockState
from terminal.credential import Credential, CredentialKind, primary_ref
from terminal.policy import Action, Degraded, ReplayAction, ServicePolicy, VenuePolicy
from terminal.reasons import Reason, ReasonCode, reason


class Outcome(StrEnum):
    ADMIT = "admit"
    ADMIT_WITH_BENEFIT = "admit_with_benefit"
    DENY = "deny"
    REFER = "refer"

    @property
    def admits(self) -> bool:
        return self in (Outcome.ADMIT, Outcome.ADMIT_WITH_BENEFIT)


class Lists(Protocol):
    """What a verdict reads from the offline store."""

    def lookup(self, card_ref: bytes) -> DenyEntry | None: ...

    def entries_overlapping(
        self,
        list_name: str,
        refs: Iterable[tuple[RefKind, bytes]],
        start: dt.datetime,
        end: dt.datetime,
    ) -> list[Entitlement]: ...

    def admissions_since(
        self, holder_refs: Sequence[bytes], service: str, since: dt.datetime
    ) -> list[dt.datetime]: ...

    def list_states(self) -> list[ListState]: ...


@dataclass(frozen=True, slots=True)
class GrantedBenefit:
    id: str
    label_zh: str
    label_en: str
    price: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "zh": self.label_zh, "en": self.label_en, "price": self.price}


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reasons: tuple[Reason, ...]
    service: str
    credential_kind: CredentialKind
    #: the masked display form (never the full numbers or the name)
    holder: Mapping[str, str]
    holder_ref: bytes
    clock: ClockFacts
    list_versions: Mapping[str, int]
    benefit: GrantedBenefit | None = None
    #: admitted although the lists or the clock could not be vouched for
    flagged: bool = False
    code_id: bytes | None = None
    #: the journal's sequence number once recorded (``None``: not recorded)
    journal_seq: int | None = None
    #: the gate relay on this admission: True opened, False it failed (staff must help),
    #: None not asked (no relay, not an admission, or not recorded)
    gate_opened: bool | None = None
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def admits(self) -> bool:
        return self.outcome.admits

    def to_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "service": self.service,
            "reasons": [r.to_json() for r in self.reasons],
            "benefit": None if self.benefit is None else self.benefit.to_json(),
            "flagged_offline_unverified": self.flagged,
            "credential": {"kind": self.credential_kind.value, **self.holder},
            "clock": self.clock.to_json(),
            "list_versions": dict(sorted(self.list_versions.items())),
            "recorded": self.journal_seq is not None,
            "journal_seq": self.journal_seq,
            "gate_opened": self.gate_opened,
        }


_SEVERITY = {Action.DENY: 2, Action.REFER: 1}
_DENY_REASONS = {
    DenyReason.LOST: ReasonCode.LOST,
    DenyReason.CANCELLED: ReasonCode.CANCELLED,
    DenyReason.REPLACED: ReasonCode.REPLACED,
    DenyReason.FRAUD: ReasonCode.FRAUD,
    DenyReason.OTHER: ReasonCode.LISTED_OTHER,
}


@dataclass(slots=True)
class _Findings:
    policy: VenuePolicy
    found: list[tuple[Action, Reason]] = field(default_factory=list)
    notes: list[Reason] = field(default_factory=list)
    flagged: list[Reason] = field(default_factory=list)

    def add(self, action: Action | str, why: Reason) -> None:
        action = Action(action)
        if action is Action.ADMIT:
            self.notes.append(why)  # admitted by policy, but staff should see it
        else:
            self.found.append((action, why))

    def degraded(self, choice: Degraded, why: Reason) -> None:
        if choice is Degraded.ADMIT_FLAGGED:
            self.flagged.append(why)
        else:
            self.found.append((Action.REFER, why))


@dataclass(slots=True)
class _Tap:
    """One decision's inputs and findings, so that each check reads what it needs."""

    credential: Credential
    policy: VenuePolicy
    service: str
    rules: ServicePolicy
    lists: Lists
    keyer: HolderKeyer
    now: dt.datetime
    states: Mapping[str, ListState]
    findings: _Findings
    #: the credential's keyed references, computed once (HMACs)
    refs: list[tuple[RefKind, bytes]]
    local_now: dt.datetime
    used_lists: set[str] = field(default_factory=set)

    def usable(self, list_name: str) -> bool:
        """A named list that is applied and not past its valid-until time."""
        state = self.states.get(benefit_list_key(list_name))
        return state is not None and state.valid_until > self.now

    def on_list(self, list_name: str) -> bool:
        self.used_lists.add(benefit_list_key(list_name))
        moment = self.now
        return bool(
            self.lists.entries_overlapping(
                list_name, self.refs, moment, moment + dt.timedelta(seconds=1)
            )
        )


def decide(
    credential: Credential,
    *,
    policy: VenuePolicy,
    service: str | None,
    lists: Lists,
    keyer: HolderKeyer,
    clock: ClockFacts,
    states: Sequence[ListState] | None = None,
) -> Verdict:
    """The verdict for ``credential`` at ``clock.wall`` (raises only for an unknown service).

    ``states``: the lists' applied versions, when the caller has just read them.
    """
    service_name, rules = policy.service(service)
    tap = _Tap(
        credential, policy, service_name, rules, lists, keyer, clock.wall,
        {state.name: state for state in (lists.list_states() if states is None else states)},
        _Findings(policy), credential.refs(keyer), clock.wall.astimezone(policy.zone),
    )  # fmt: skip
    holder_ref = primary_ref(tap.refs)  # the HMACs are computed once, in tap.refs
    findings = tap.findings

    if credential.kind is not CredentialKind.CARD and not rules.accept_codes:
        findings.add(Action.DENY, reason(ReasonCode.CODE_NOT_ACCEPTED))
    _check_card(tap)
    if credential.kind is CredentialKind.ESSC_QR:
        tap.used_lists.add(ISSUERS)  # a key revoked since a stale sync would still verify
    _check_deny_list(tap)
    if credential.code is not None and credential.code.replayed:
        if rules.code_replay is ReplayAction.ALLOW_REENTRY:
            findings.notes.append(reason(ReasonCode.REENTRY_ALLOWED))
        else:
            findings.add(rules.code_replay.value, reason(ReasonCode.CODE_REPLAYED))
    if (
        rules.registered_list
        and not tap.on_list(rules.registered_list)
        and tap.usable(rules.registered_list)  # a missing or stale list: the policy's choice
    ):
        findings.add(Action.DENY, reason(ReasonCode.NOT_REGISTERED))
    _check_reservation(tap)
    _check_repeat_entries(tap, holder_ref)
    # lists whose staleness matters: those that can keep a person out (a stale benefit list
    # only risks a benefit, and its version is still recorded)
    vouched = set(tap.used_lists)
    benefit = _benefit(tap)
    _check_freshness(tap, vouched)
    if not clock.trusted:
        code = (
            ReasonCode.CLOCK_ROLLED_BACK
            if clock.state is ClockState.ROLLED_BACK
            else ReasonCode.CLOCK_UNTRUSTED
        )
        findings.degraded(policy.untrusted_clock, reason(code, clock.detail))

    if findings.found:
        ordered = sorted(findings.found, key=lambda item: -_SEVERITY[item[0]])
        outcome = Outcome.DENY if ordered[0][0] is Action.DENY else Outcome.REFER
        # what the policy would have let through flagged is still a fact staff should see
        reasons = (*(why for _, why in ordered), *findings.flagged)
        benefit = None
        flagged = False
    else:
        outcome = Outcome.ADMIT if benefit is None else Outcome.ADMIT_WITH_BENEFIT
        shown = list(findings.notes)
        if benefit is not None:
            shown.insert(
                0, reason(ReasonCode.BENEFIT, benefit=benefit.label_zh, benefit_en=benefit.label_en)
            )
        flagged = bool(findings.flagged)
        if flagged:
            shown += [reason(ReasonCode.OFFLINE_UNVERIFIED), *findings.flagged]
        reasons = tuple(shown) or (reason(ReasonCode.ADMITTED),)
    applied = tap.states
    return Verdict(
        outcome=outcome,
        reasons=reasons,
        service=service_name,
        credential_kind=credential.kind,
        holder=credential.masked(),
        holder_ref=holder_ref,
        clock=clock,
        list_versions={n: applied[n].version for n in sorted(tap.used_lists) if n in applied},
        benefit=benefit,
        flagged=flagged,
        code_id=None if credential.code is None else credential.code.code_id,
    )


def _check_card(tap: _Tap) -> None:
    credential, policy, findings = tap.credential, tap.policy, tap.findings
    today = tap.local_now.date()
    if credential.expiry_date is not None and credential.expiry_date < today:
        findings.add(
            policy.expired_card,
            reason(ReasonCode.CARD_EXPIRED, f"expired {credential.expiry_date.isoformat()}"),
        )
    if credential.issue_date is not None and credential.issue_date > today:
        findings.add(Action.REFER, reason(ReasonCode.CARD_NOT_YET_VALID))
    if credential.kind is CredentialKind.CARD:
        if credential.incomplete:
            findings.add(policy.incomplete_read, reason(ReasonCode.INCOMPLETE_READ))
        if credential.authenticity is Authenticity.FAILED:
            findings.add(policy.not_authentic, reason(ReasonCode.NOT_AUTHENTIC))
        elif credential.authenticity is Authenticity.NOT_CHECKED:
            findings.add(policy.not_checked, reason(ReasonCode.NOT_CHECKED))
    province = credential.province
    if credential.card_id is not None and province not in policy.local_provinces:
        # a card identification code that names no region is not a local card either
        findings.add(policy.non_local, reason(ReasonCode.NOT_LOCAL, f"region {province}"))


def _check_deny_list(tap: _Tap) -> None:
    if tap.credential.card_id is None:
        return
    tap.used_lists.add(DENY_LIST)
    if DENY_LIST not in tap.states:
        tap.findings.degraded(tap.policy.stale_lists, reason(ReasonCode.NO_DENY_LIST))
        return
    entry = tap.lists.lookup(tap.keyer.card_ref(tap.credential.card_id))
    if entry is not None:
        tap.findings.add(
            tap.policy.deny_list.action(entry.reason),
            reason(_DENY_REASONS[entry.reason], f"issuing region {entry.region}"),
        )


def _check_reservation(tap: _Tap) -> None:
    by_code = tap.credential.kind is CredentialKind.RESERVATION_CODE
    settings = tap.rules.reservations
    findings = tap.findings
    if settings is None:
        if by_code:  # a reservation code for a service that takes no reservations
            findings.add(Action.DENY, reason(ReasonCode.NO_RESERVATION, "service has none"))
        return
    if not settings.required and not by_code:
        return
    name = settings.list
    tap.used_lists.add(benefit_list_key(name))
    now, refs = tap.now, tap.refs
    early = dt.timedelta(minutes=settings.early_minutes)
    late = dt.timedelta(minutes=settings.late_minutes)
    slots = _for_service(tap, tap.lists.entries_overlapping(name, refs, now - late, now + early))
    if slots:
        findings.notes.append(reason(ReasonCode.RESERVATION_OK, slot=_slot_text(slots[0], tap)))
        return
    if not tap.usable(name):  # missing or stale: the freshness check applies the policy
        return
    day_start = tap.local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    same_day = _for_service(
        tap, tap.lists.entries_overlapping(name, refs, day_start, day_start + dt.timedelta(days=1))
    )
    if same_day:
        findings.add(
            Action.DENY, reason(ReasonCode.OUTSIDE_SLOT, slot=_slot_text(same_day[0], tap))
        )
    else:
        findings.add(Action.DENY, reason(ReasonCode.NO_RESERVATION))


def _for_service(tap: _Tap, slots: list[Entitlement]) -> list[Entitlement]:
    """An entry may name the service it is for (``"service": "museum.entry"``) or leave it out."""
    return [slot for slot in slots if slot.attributes.get("service", tap.service) == tap.service]


def _slot_text(slot: Entitlement, tap: _Tap) -> str:
    start = slot.valid_from.astimezone(tap.policy.zone)
    end = slot.valid_until.astimezone(tap.policy.zone)
    return f"{start:%m-%d %H:%M}–{end:%H:%M}"


def _check_repeat_entries(tap: _Tap, holder_ref: bytes) -> None:
    """Earlier admissions of this holder: by the card identification code's reference, so a
    card and the e-card code of that card are one holder.  (A replaced card is on the deny
    list, so an old and a new card of one person cannot both get in.)"""
    rules, lists, now = tap.rules, tap.lists, tap.now
    holder_refs = [holder_ref]
    if rules.anti_passback_minutes:
        window = dt.timedelta(minutes=rules.anti_passback_minutes)
        if lists.admissions_since(holder_refs, tap.service, now - window):
            tap.findings.add(
                rules.passback_action,
                reason(ReasonCode.PASSBACK, minutes=str(rules.anti_passback_minutes)),
            )
    if rules.daily_quota:
        midnight = tap.local_now.replace(hour=0, minute=0, second=0, microsecond=0)
        if len(lists.admissions_since(holder_refs, tap.service, midnight)) >= rules.daily_quota:
            tap.findings.add(Action.DENY, reason(ReasonCode.QUOTA, quota=str(rules.daily_quota)))


def _benefit(tap: _Tap) -> GrantedBenefit | None:
    """The first benefit rule (in the policy's order) that this credential meets now."""
    region = tap.credential.region
    local_now = tap.local_now
    age = tap.credential.age_on(local_now.date())
    for rule in tap.rules.benefits:
        if rule.windows and not any(window.contains(local_now) for window in rule.windows):
            continue
        if rule.regions and (region is None or not region.startswith(rule.regions)):
            continue
        if rule.min_age is not None and (age is None or age < rule.min_age):
            continue
        if rule.max_age is not None and (age is None or age > rule.max_age):
            continue
        if rule.list and not tap.on_list(rule.list):
            continue
        return GrantedBenefit(rule.id, rule.label_zh, rule.label_en, rule.price)
    return None


def _check_freshness(tap: _Tap, vouched: set[str]) -> None:
    states = tap.states
    stale = sorted(
        name
        for name in vouched
        if name != DENY_LIST or name in states  # a missing deny list is its own reason
        if name not in states or states[name].valid_until <= tap.now
    )
    if stale:
        tap.findings.degraded(
            tap.policy.stale_lists,
            reason(
                ReasonCode.LISTS_STALE, "past valid-until or never synced", lists=", ".join(stale)
            ),
        )


_BANNERS = {
    Outcome.ADMIT: "✔ 通行 ADMIT",
    Outcome.ADMIT_WITH_BENEFIT: "✔ 通行·优惠 ADMIT WITH BENEFIT",
    Outcome.DENY: "✘ 禁止通行 DENY",
    Outcome.REFER: "⚠ 请找工作人员 REFER TO STAFF",
}


def verdict_banner(verdict: Verdict) -> str:
    """The verdict's headline: icon and words, never colour alone."""
    banner = _BANNERS[verdict.outcome]
    if verdict.benefit is not None:
        banner += f" — {verdict.benefit.label_zh} / {verdict.benefit.label_en}"
    if verdict.flagged:
        banner += " — 离线未核验 OFFLINE, UNVERIFIED"
    return banner
