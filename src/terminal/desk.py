"""The service desk: look a card up, explain a refusal to the clerk, override with a reason.

* **Look-up by number.** The clerk types the social security number printed on the card (or
  the holder's ID number, the same 18 characters) or the card identification code (32
  characters, from ``ykt read`` or a card reader's display).  The lists are keyed by those two,
  never by the 9-character card number, so a card number alone gets an answer saying so and
  what to do instead.  A look-up is read-only: nothing is journalled, no quota is used.
* **Why refused.** Every reason of a verdict, plus, for the cases a clerk must handle with care
  (a lost card, a card that is not authentic, ...), the next step in words (:func:`clerk_steps`).
* **Override.** A signed-in desk or tech member admits a refused person with one of a fixed
  set of reasons (:class:`OverrideReason`, never free text, so no personal data reaches the
  audit log).  The checkpoint journals the admission as a new usage event that names the
  override, and the audit log records who did it and which refusal it overrode.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from offline_store.benefit_lists import Entitlement
from offline_store.holder_refs import HolderKeyer
from offline_store.store import DenyEntry, ListReader
from terminal.masking import mask_card_id, mask_card_number, mask_ssn
from terminal.reasons import ReasonCode
from terminal.verdict import Verdict

SSN_PATTERN = re.compile(r"\d{17}[\dX]")
CARD_ID_PATTERN = re.compile(r"\d{6}D156\d{6}[0-9A-F]{16}")
CARD_NUMBER_PATTERN = re.compile(r"[A-Z]\d{8}")


class OverrideReason(StrEnum):
    IDENTITY_CHECKED = "identity_checked"
    RESERVATION_CONFIRMED = "reservation_confirmed"
    CARD_FAULT = "card_fault"
    SUPERVISOR_APPROVED = "supervisor_approved"

    @property
    def zh(self) -> str:
        return _OVERRIDE_TEXT[self][0]

    @property
    def en(self) -> str:
        return _OVERRIDE_TEXT[self][1]


_OVERRIDE_TEXT = {
    OverrideReason.IDENTITY_CHECKED: ("已核对有效身份证件", "identity checked with official ID"),
    OverrideReason.RESERVATION_CONFIRMED: ("预约已另行确认", "reservation confirmed another way"),
    OverrideReason.CARD_FAULT: ("卡片故障，已核实持卡人身份", "card fault, holder confirmed"),
    OverrideReason.SUPERVISOR_APPROVED: ("场馆负责人批准", "approved by the venue supervisor"),
}

#: what the clerk does next, for the refusals that need more than the cardholder's sentence
_CLERK_STEPS: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.LOST: (
        "此卡已挂失。请核对持卡人有效身份证件：本人持卡可引导其通过电子社保卡或社保服务网点"
        "解除挂失；非本人持卡请暂扣并报告负责人。",
        "This card was reported lost. Check the holder's official ID: if it is the holder, "
        "they can cancel the loss report in the e-card app or at a social security office; if "
        "not, keep the card and tell the supervisor.",
    ),
    ReasonCode.NOT_AUTHENTIC: (
        "卡片未通过真伪核验，可能为复制卡。请勿放行此卡；请持卡人出示电子社保卡二维码或有效身份"
        "证件，并报告负责人。",
        "The chip failed the authenticity check: it may be a copy. Do not admit on this card; "
        "ask for the e-card QR code or official ID, and tell the supervisor.",
    ),
    ReasonCode.NOT_CHECKED: (
        "本终端无法核验卡片真伪（未配置安全模块）。请核对持卡人与卡面信息后决定。",
        "This terminal cannot check authenticity (no security module). Compare the holder "
        "with the card face before deciding.",
    ),
    ReasonCode.FRAUD: (
        "此卡被标记存在冒用风险。请核对有效身份证件，非本人请报告负责人。",
        "This card is flagged for misuse. Check official ID; if it is not the holder, tell the "
        "supervisor.",
    ),
    ReasonCode.CANCELLED: (
        "此卡已注销，不能再使用。请持卡人改用电子社保卡或新卡。",
        "This card is cancelled and cannot be used again. The holder can use the e-card or "
        "their new card.",
    ),
    ReasonCode.REPLACED: (
        "此卡已补换新卡，旧卡失效。请持卡人使用新卡或电子社保卡。",
        "This card was replaced; the old card no longer works. Ask for the new card or the e-card.",
    ),
    ReasonCode.CARD_EXPIRED: (
        "卡片已过期。可凭电子社保卡二维码入场，并提醒到社保服务网点换卡。",
        "The card has expired. The e-card QR code still works; remind the holder to renew.",
    ),
    ReasonCode.NO_RESERVATION: (
        "未查到预约。可帮助持卡人现场预约（如有余票）后重新刷卡。",
        "No reservation found. Help the holder book on the spot (if places remain), then tap "
        "again.",
    ),
    ReasonCode.CODE_REPLAYED: (
        "二维码已被使用过（可能是截图）。请持卡人在APP中刷新二维码后重试。",
        "The code was used before (perhaps a screenshot). Ask the holder to refresh the code "
        "in the app.",
    ),
    ReasonCode.NOT_RECORDED: (
        "终端无法保存记录（磁盘可能已满）。请勿放行并立即联系技术人员。",
        "The terminal cannot record entries (the disk may be full). Do not admit; call a "
        "technician now.",
    ),
    ReasonCode.CLOCK_ROLLED_BACK: (
        "终端时间被回拨。请联系技术人员同步时间。",
        "The terminal clock was set back. Call a technician to sync the time.",
    ),
    ReasonCode.LISTS_STALE: (
        "名单长时间未更新。请联系技术人员同步；其间请核对证件后决定。",
        "The lists are out of date. Call a technician to sync; meanwhile check ID and decide.",
    ),
}


_DENY_ZH = {"lost": "挂失", "cancelled": "注销", "replaced": "已补换", "fraud": "冒用风险"}


def clerk_steps(verdict: Verdict) -> list[tuple[str, str]]:
    """The clerk's next steps for a verdict's reasons (those that need one), in order."""
    return [_CLERK_STEPS[r.code] for r in verdict.reasons if r.code in _CLERK_STEPS]


class LookupKind(StrEnum):
    SSN = "ssn"
    CARD_ID = "card_id"


@dataclass(frozen=True, slots=True)
class LookupKey:
    kind: LookupKind
    value: str

    @property
    def masked(self) -> str:
        return mask_ssn(self.value) if self.kind is LookupKind.SSN else mask_card_id(self.value)


class LookupNotPossible(ValueError):
    """A typed text that cannot be looked up; the message says what to type instead."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


def parse_lookup(text: str) -> LookupKey:
    """A typed social security number or card identification code (spaces ignored)."""
    value = re.sub(r"\s", "", text).upper()
    if SSN_PATTERN.fullmatch(value):
        return LookupKey(LookupKind.SSN, value)
    if CARD_ID_PATTERN.fullmatch(value):
        return LookupKey(LookupKind.CARD_ID, value)
    if CARD_NUMBER_PATTERN.fullmatch(value):
        shown = mask_card_number(value)
        raise LookupNotPossible(
            f"卡号（{shown}）不在名单中：请刷卡，或输入卡面上的社会保障号码",
            f"The lists do not use card numbers ({shown}): tap the card, or type the social "
            "security number printed on it",
        )
    raise LookupNotPossible(
        "请输入18位社会保障号码或32位卡识别码，或直接刷卡",
        "Type the 18-character social security number or the 32-character card "
        "identification code, or tap the card",
    )


@dataclass(frozen=True, slots=True)
class LookupResult:
    key: LookupKey
    #: the deny-list entry; ``None`` also when the deny list could not be checked
    deny: DenyEntry | None
    #: the deny list is keyed by card: a social security number alone cannot be checked there
    deny_checked: bool
    entitlements: tuple[Entitlement, ...]

    def lines(self, zone: dt.tzinfo = dt.UTC) -> list[str]:
        """What the clerk reads; times in ``zone`` (the venue's)."""
        shown = [f"查询 Look-up: {self.key.masked}"]
        if not self.deny_checked:
            shown.append(
                "挂失名单按卡查询，请刷卡核对 · The lost-card list is by card: tap the card to "
                "check it"
            )
        elif self.deny is None:
            shown.append("不在挂失/禁用名单 · Not on the deny list")
        else:
            why = self.deny.reason.name.lower()
            shown.append(f"✘ 在禁用名单：{_DENY_ZH.get(why, why)} · On the deny list: {why}")
        if not self.entitlements:
            shown.append("当前无有效预约或权益 · No reservation or benefit in force now")
        for entry in self.entitlements:
            until = entry.valid_until.astimezone(zone).strftime("%Y-%m-%d %H:%M")
            service = entry.attributes.get("service", "")
            shown.append(f"✔ {entry.list_name} {service} (→ {until})".replace("  ", " "))
        return shown


def look_up(
    key: LookupKey, lists: ListReader, keyer: HolderKeyer, now: dt.datetime
) -> LookupResult:
    """What the lists say about a typed number now (read-only: nothing is journalled)."""
    if key.kind is LookupKind.CARD_ID:
        card_ref = keyer.card_ref(key.value)
        entitlements = lists.entitlements(card_ref=card_ref, ssn_ref=None, at=now)
        return LookupResult(key, lists.lookup(card_ref), True, tuple(entitlements))
    entitlements = lists.entitlements(card_ref=None, ssn_ref=keyer.ssn_ref(key.value), at=now)
    return LookupResult(key, None, False, tuple(entitlements))
