"""Builders for verdict tests: holders, a store with lists, policies with overrides, clocks."""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apdu.ssc import Authenticity
from offline_store.benefit_lists import BenefitEntry, RefKind
from offline_store.holder_refs import HolderKeyer
from offline_store.issuer_keys import issuer_keys_content
from offline_store.journal import UsageEvent
from offline_store.store import DenyEntry, DenyReason, ListVersion, Store, deny_records, digest_of
from offline_store.taps import TapFacts, TrustedTime
from terminal.clock import ClockSample
from terminal.codes.issuer import test_issuer_keys
from terminal.credential import CodeFacts, Credential, CredentialKind
from terminal.policy import VenuePolicy

SHANGHAI = ZoneInfo("Asia/Shanghai")
JOURNAL_KEY = b"j" * 32
LIST_KEY = b"k" * 32
KEYER = HolderKeyer(LIST_KEY)
BOOT = "boot-1"


def local(text: str) -> dt.datetime:
    """``"2026-11-23 10:00"`` in Shanghai time, as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


def card(
    region: str = "310100",
    serial: int = 1,
    *,
    born: dt.date = dt.date(1985, 2, 14),
    expiry: dt.date = dt.date(2031, 1, 1),
    issued: dt.date = dt.date(2021, 1, 1),
    authentic: Authenticity = Authenticity.VERIFIED,
    incomplete: bool = False,
) -> Credential:
    card_id = f"{region}D15600000{serial:017X}"[:32]
    return Credential(
        kind=CredentialKind.CARD,
        authenticity=authentic,
        card_id=card_id,
        card_number=f"S{serial:08d}",
        ssn=f"{region}{born:%Y%m%d}{serial % 1000:03d}X",
        name="张测试",
        birth_date=born,
        issue_date=issued,
        expiry_date=expiry,
        incomplete=incomplete,
        generation=3,
    )


def code(
    region: str = "310100", serial: int = 1, *, replayed: bool = False, at: dt.datetime
) -> Credential:
    holder = card(region, serial)
    return Credential(
        kind=CredentialKind.ESSC_QR,
        authenticity=Authenticity.VERIFIED,
        card_id=holder.card_id,
        card_number=holder.card_number,
        name=holder.name,
        birth_date=holder.birth_date,
        code=CodeFacts(
            code_id=serial.to_bytes(16, "big"),
            issued_at=at - dt.timedelta(seconds=30),
            expires_at=at + dt.timedelta(seconds=150),
            issuer=f"{region[:2]}0000",
            level=1,
            replayed=replayed,
        ),
    )


def reservation_code(reservation_id: str) -> Credential:
    return Credential(
        kind=CredentialKind.RESERVATION_CODE,
        authenticity=Authenticity.NOT_CHECKED,
        reservation_id=reservation_id,
    )


def policy(overrides: Mapping[str, Any] | None = None) -> VenuePolicy:
    """The embedded default policy with ``overrides`` merged in (nested tables merge)."""
    text = resources.files("terminal").joinpath("policies", "default.toml").read_text()
    document = tomllib.loads(text)
    _merge(document, dict(overrides or {}))
    return VenuePolicy.model_validate(document)


def _merge(into: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


@dataclass(frozen=True)
class Slot:
    """A benefit/reservation list entry for a credential."""

    list_name: str
    holder: Credential
    start: dt.datetime
    end: dt.datetime
    attributes: Mapping[str, str] = field(default_factory=dict)
    by: RefKind = RefKind.CARD_ID


def _entry(slot: Slot) -> BenefitEntry:
    if slot.by is RefKind.RESERVATION:
        assert slot.holder.reservation_id is not None
        ref = KEYER.reservation_ref(slot.holder.reservation_id)
    elif slot.by is RefKind.SSN:
        assert slot.holder.ssn is not None
        ref = KEYER.ssn_ref(slot.holder.ssn)
    else:
        assert slot.holder.card_id is not None
        ref = KEYER.card_ref(slot.holder.card_id)
    return BenefitEntry(slot.by, ref, slot.start, slot.end, dict(slot.attributes))


def stated(
    version: int, records: list[bytes], issued: dt.datetime, until: dt.datetime
) -> ListVersion:
    digest, count = digest_of(records)
    return ListVersion(version, issued, until, count, digest)


def open_store(path: Path) -> Store:
    return Store.open(path / "store.db", journal_key=JOURNAL_KEY)


def load_lists(
    store: Store,
    *,
    issued: dt.datetime,
    valid_until: dt.datetime,
    deny: Mapping[Credential, DenyReason] | None = None,
    slots: tuple[Slot, ...] = (),
    with_deny_list: bool = True,
    stale: frozenset[str] = frozenset(),
) -> None:
    """Apply the lists; those named in ``stale`` (``issuers``, ``reservations``, ...) were
    valid only until a day after ``issued``."""

    def until(name: str) -> dt.datetime:
        return issued + dt.timedelta(days=1) if name in stale else valid_until

    keys = test_issuer_keys()  # the issuers list, so ESSC1 credentials have fresh keys behind them
    content = issuer_keys_content(keys)
    assert store.apply_issuer_keys(
        ListVersion(1, issued, until("issuers"), len(keys), hashlib.sha256(content).digest()),
        keys,
        content_digest=hashlib.sha256(content).digest(),
        now=issued,
    )
    if with_deny_list:
        entries = [
            DenyEntry(KEYER.card_ref(holder.card_id or ""), why, (holder.card_id or "")[:6])
            for holder, why in (deny or {}).items()
        ]
        records = deny_records(entries)
        assert store.apply_deny_snapshot(
            stated(1, records, issued, valid_until), records, now=issued
        )
    by_list: dict[str, list[bytes]] = {}
    for slot in slots:
        by_list.setdefault(slot.list_name, []).append(_entry(slot).to_record())
    for name, records in by_list.items():
        records.sort()
        assert store.apply_benefit_snapshot(
            name, stated(1, records, issued, until(name)), records, now=issued
        )


def admit_earlier(store: Store, holder: Credential, service: str, when: dt.datetime) -> None:
    """An earlier admitted tap of this holder (for anti-passback and quota)."""
    ref = holder.holder_ref(KEYER)
    event = UsageEvent("T1", when, True, "admit", ("admitted",), {}, ref, holder.kind.value)
    store.record_tap(event, TapFacts((ref,), service, when, admitted=True))


def trust_clock(store: Store, at: dt.datetime, monotonic: float = 1000.0) -> None:
    store.record_trusted_time(TrustedTime(at, monotonic, BOOT, "test"))


def sample(
    at: dt.datetime, *, trusted_at: dt.datetime, monotonic_at_trust: float = 1000.0
) -> ClockSample:
    """A clock sample that is in step with a trusted time taken at ``trusted_at``."""
    return ClockSample(at, monotonic_at_trust + (at - trusted_at).total_seconds(), BOOT)


def with_(holder: Credential, **changes: Any) -> Credential:
    return replace(holder, **changes)
