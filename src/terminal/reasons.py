"""Why a verdict is what it is: short, bilingual, and saying what to do next.

Each reason has a stable code (what the journal and the back office see) and a Chinese and an
English sentence for the screen.  Sentences may take parameters (``{minutes}``, ``{slot}``,
``{benefit}``...), filled in by :meth:`Reason.render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType


class ReasonCode(StrEnum):
    # admitted
    ADMITTED = "admitted"
    BENEFIT = "benefit"
    RESERVATION_OK = "reservation_ok"
    REENTRY_ALLOWED = "reentry_allowed"
    OFFLINE_UNVERIFIED = "offline_unverified"
    # the card or code itself
    CARD_EXPIRED = "card_expired"
    CARD_NOT_YET_VALID = "card_not_yet_valid"
    NOT_AUTHENTIC = "not_authentic"
    NOT_CHECKED = "authenticity_not_checked"
    INCOMPLETE_READ = "incomplete_read"
    NOT_LOCAL = "not_local"
    CODE_REPLAYED = "code_replayed"
    # deny list
    LOST = "deny_lost"
    CANCELLED = "deny_cancelled"
    REPLACED = "deny_replaced"
    FRAUD = "deny_fraud"
    LISTED_OTHER = "deny_other"
    # the service's rules
    NO_RESERVATION = "no_reservation"
    OUTSIDE_SLOT = "outside_reservation_slot"
    NOT_REGISTERED = "not_registered_reader"
    PASSBACK = "anti_passback"
    QUOTA = "daily_quota_reached"
    CODE_NOT_ACCEPTED = "code_not_accepted"
    UNKNOWN_SERVICE = "unknown_service"
    # the terminal's own state
    LISTS_STALE = "lists_stale"
    NO_DENY_LIST = "no_deny_list"
    CLOCK_UNTRUSTED = "clock_untrusted"
    CLOCK_ROLLED_BACK = "clock_rolled_back"
    NOT_RECORDED = "not_recorded"
    # codes that are not credentials (ykt check reading a scanner)
    CODE_REJECTED = "code_rejected"
    CODE_NOT_RECOGNISED = "code_not_recognised"
    CODE_NEEDS_NETWORK = "code_needs_network"
    # a desk decision
    STAFF_OVERRIDE = "staff_override"


_TEXT: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.ADMITTED: ("核验通过，请通行", "Verified — please go ahead"),
    ReasonCode.BENEFIT: ("享受优惠：{benefit}", "Benefit applies: {benefit_en}"),
    ReasonCode.RESERVATION_OK: (
        "预约已核验（{slot}）",
        "Reservation confirmed ({slot})",
    ),
    ReasonCode.REENTRY_ALLOWED: (
        "此二维码已使用过，按规定允许再次入场",
        "Code already used here — re-entry is allowed",
    ),
    ReasonCode.OFFLINE_UNVERIFIED: (
        "离线放行，未完全核验，请工作人员留意",
        "Admitted offline, unverified — staff please take note",
    ),
    ReasonCode.CARD_EXPIRED: (
        "社保卡已过有效期，请到社保服务网点换卡",
        "Card expired — please renew it at a social security service office",
    ),
    ReasonCode.CARD_NOT_YET_VALID: (
        "社保卡尚未生效，请到服务台",
        "Card not valid yet — please go to the service desk",
    ),
    ReasonCode.NOT_AUTHENTIC: (
        "卡片真伪核验未通过，请到服务台",
        "Card failed the authenticity check — please go to the service desk",
    ),
    ReasonCode.NOT_CHECKED: (
        "无法核验卡片真伪，请工作人员核对身份",
        "Card authenticity could not be checked — staff please check identity",
    ),
    ReasonCode.INCOMPLETE_READ: (
        "读卡不完整，请重新刷卡或到服务台",
        "Card only partly read — please tap again or go to the service desk",
    ),
    ReasonCode.NOT_LOCAL: (
        "非长三角地区社保卡，请到服务台办理",
        "Card from outside the Yangtze River Delta — please go to the service desk",
    ),
    ReasonCode.CODE_REPLAYED: (
        "此二维码已使用，请在APP中刷新二维码",
        "This code was already used — refresh the code in the app",
    ),
    ReasonCode.LOST: (
        "挂失卡，请到服务台办理",
        "Card reported lost — please go to the service desk",
    ),
    ReasonCode.CANCELLED: (
        "此卡已注销，请到社保服务网点办理",
        "Card cancelled — please contact a social security service office",
    ),
    ReasonCode.REPLACED: (
        "此卡已补换，请使用新卡",
        "Card replaced by a new card — please use the new card",
    ),
    ReasonCode.FRAUD: (
        "此卡存在冒用风险，请到服务台核实身份",
        "Card flagged for misuse — please see staff to confirm identity",
    ),
    ReasonCode.LISTED_OTHER: (
        "此卡暂不能使用，请到服务台",
        "Card blocked — please go to the service desk",
    ),
    ReasonCode.NO_RESERVATION: (
        "未查到有效预约，请先预约或到服务台",
        "No reservation found — please book first or go to the service desk",
    ),
    ReasonCode.OUTSIDE_SLOT: (
        "不在预约时段内（{slot}），请按预约时间入场",
        "Outside your reserved time ({slot}) — please come at your booked time",
    ),
    ReasonCode.NOT_REGISTERED: (
        "尚未注册读者，请到服务台办理读者证",
        "Not a registered reader — please register at the service desk",
    ),
    ReasonCode.PASSBACK: (
        "{minutes}分钟内已刷卡入场，请勿重复刷卡",
        "Already entered in the last {minutes} minutes — please ask staff",
    ),
    ReasonCode.QUOTA: (
        "今日入场次数已达上限（{quota}次）",
        "Today's entry limit reached ({quota}) — please come back tomorrow",
    ),
    ReasonCode.CODE_NOT_ACCEPTED: (
        "本服务不接受二维码，请刷社保卡",
        "Codes are not accepted here — please tap your social security card",
    ),
    ReasonCode.UNKNOWN_SERVICE: (
        "终端未配置此服务，请联系技术人员",
        "This service is not configured on the terminal — please call a technician",
    ),
    ReasonCode.LISTS_STALE: (
        "名单已过期未更新（{lists}），请工作人员核实",
        "Lists out of date ({lists}) — staff please check",
    ),
    ReasonCode.NO_DENY_LIST: (
        "终端尚无挂失名单，请工作人员核实并联系技术人员同步",
        "No lost-card list on this terminal — staff please check; technician: sync",
    ),
    ReasonCode.CLOCK_UNTRUSTED: (
        "终端时间未校准，请工作人员核实",
        "Terminal clock not verified — staff please check",
    ),
    ReasonCode.CLOCK_ROLLED_BACK: (
        "终端时间被回拨，请工作人员核实并联系技术人员",
        "Terminal clock was set back — staff please check; call a technician",
    ),
    ReasonCode.NOT_RECORDED: (
        "记录未能保存，请工作人员处理",
        "This entry could not be recorded — staff please help",
    ),
    ReasonCode.CODE_REJECTED: (
        "二维码无效，请在APP中刷新后重试或刷社保卡",
        "Code not valid — refresh it in the app, or tap your social security card",
    ),
    ReasonCode.CODE_NOT_RECOGNISED: (
        "无法识别此二维码（{looks_like}），请出示电子社保卡二维码或刷卡",
        "Code not recognised ({looks_like_en}) — show your e-card code or tap your card",
    ),
    ReasonCode.CODE_NEEDS_NETWORK: (
        "此二维码需联网核验，请刷社保卡",
        "This code needs the network — please show your card",
    ),
    ReasonCode.STAFF_OVERRIDE: (
        "工作人员核实后放行：{why}",
        "Admitted by staff: {why_en}",
    ),
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: ReasonCode
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: extra English detail for staff and the journal (never personal data)
    detail: str = ""

    @property
    def zh(self) -> str:
        return _fill(_TEXT[self.code][0], self.params)

    @property
    def en(self) -> str:
        return _fill(_TEXT[self.code][1], self.params)

    def to_json(self) -> dict[str, object]:
        shown: dict[str, object] = {"code": self.code.value, "zh": self.zh, "en": self.en}
        if self.detail:
            shown["detail"] = self.detail
        return shown


def reason(code: ReasonCode, detail: str = "", **params: str) -> Reason:
    return Reason(code, MappingProxyType(dict(params)), detail)


def text_of(code: ReasonCode) -> tuple[str, str]:
    """The unfilled (Chinese, English) sentences of a reason code."""
    return _TEXT[code]


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "—"


def _fill(template: str, params: Mapping[str, str]) -> str:
    return template.format_map(_Blank(params))
