"""The venue policy: a declarative TOML file, validated, one section per service.

``docs/policy.md`` documents every key.  A file that cannot be used raises
:class:`~terminal.errors.PolicyError` whose message names the file, the line and what is wrong
(``museum.toml:23: services."museum.entry".anti_passback_minutes: must be ≥ 0``).  Validation
is pydantic's; this module only maps pydantic's field paths back to TOML lines.

The policy says *what* to decide; :mod:`terminal.verdict` applies it.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from offline_store.store import DenyReason
from terminal.errors import PolicyError
from terminal.toml_lines import KeyLines, dotted, named_in

YANGTZE_RIVER_DELTA = ("31", "32", "33", "34")  # Shanghai, Jiangsu, Zhejiang, Anhui
#: The Yangtze River Delta Ecology and Greenery Integrated Demonstration Zone's three counties.
DEMONSTRATION_ZONE = ("310118", "320509", "330421")  # Qingpu, Wujiang, Jiashan
DEFAULT_POLICY = "default.toml"
_SERVICE = re.compile(r"[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Action(StrEnum):
    """What to do when a check does not pass."""

    DENY = "deny"
    REFER = "refer"
    ADMIT = "admit"


class Degraded(StrEnum):
    """What to do when the terminal cannot vouch for its lists or its clock."""

    REFER = "refer"
    ADMIT_FLAGGED = "admit-flagged"  # admit, flagged "offline, unverified"


class ReplayAction(StrEnum):
    DENY = "deny"
    REFER = "refer"
    ALLOW_REENTRY = "allow-reentry"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TimeWindow(_Strict):
    """Days of the week and a time of day (local), optionally only between two dates."""

    days: tuple[Day, ...] = _DAYS
    start: str = "00:00"
    end: str = "24:00"
    from_date: dt.date | None = None
    until_date: dt.date | None = None

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if not _HHMM.fullmatch(value):
            raise ValueError("a time of day is HH:MM, 00:00 to 24:00")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> TimeWindow:
        if self.end <= self.start:
            raise ValueError(f"end {self.end} must be after start {self.start}")
        if self.from_date and self.until_date and self.until_date < self.from_date:
            raise ValueError("until_date is before from_date")
        if not self.days:
            raise ValueError("days may not be empty")
        return self

    def contains(self, local: dt.datetime) -> bool:
        if _DAYS[local.weekday()] not in self.days:
            return False
        if self.from_date and local.date() < self.from_date:
            return False
        if self.until_date and local.date() > self.until_date:
            return False
        return self.start <= local.strftime("%H:%M") < self.end


class BenefitRule(_Strict):
    """A benefit: who gets it (region, age or a list), when, and what it is."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    label_zh: Annotated[str, Field(min_length=1)]
    label_en: Annotated[str, Field(min_length=1)]
    #: "free", or a discount such as "50%" (what the screen and the journal say)
    price: Annotated[str, Field(pattern=r"^(free|[1-9][0-9]?%)$")] = "free"
    #: card issuing regions (6-digit codes or 2-4 digit prefixes) that qualify
    regions: tuple[Annotated[str, Field(pattern=r"^[0-9]{2,6}$")], ...] = ()
    min_age: Annotated[int, Field(ge=0, le=150)] | None = None
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None
    #: a synced benefit list (``benefit:<name>``) on which the card or holder must be
    list: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] | None = None
    #: when it applies; none means always
    windows: tuple[TimeWindow, ...] = ()

    @model_validator(mode="after")
    def _some_condition(self) -> BenefitRule:
        if not self.regions and self.min_age is None and self.max_age is None and not self.list:
            raise ValueError("a benefit needs regions, an age limit or a list")
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("max_age is below min_age")
        return self


class Reservations(_Strict):
    required: bool = True
    list: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] = "reservations"
    #: how early before the slot starts, and how late after it ends, a holder may enter
    early_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 30
    late_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 60


class ServicePolicy(_Strict):
    name_zh: Annotated[str, Field(min_length=1)]
    name_en: Annotated[str, Field(min_length=1)]
    #: scanned codes (ESSC1, reservation codes) are accepted for this service
    accept_codes: bool = True
    reservations: Reservations | None = None
    #: a list of registered holders (e.g. library readers) that the service requires
    registered_list: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")] | None = None
    #: a second entry within this many minutes is refused (0: no anti-passback)
    anti_passback_minutes: Annotated[int, Field(ge=0, le=24 * 60)] = 0
    passback_action: Action = Action.DENY
    #: entries per holder per local day (0: unlimited)
    daily_quota: Annotated[int, Field(ge=0, le=1000)] = 0
    code_replay: ReplayAction = ReplayAction.DENY
    benefits: tuple[BenefitRule, ...] = ()

    @field_validator("passback_action")
    @classmethod
    def _no_admit(cls, value: Action) -> Action:
        if value is Action.ADMIT:
            raise ValueError("passback_action is deny or refer")
        return value


class DenyListPolicy(_Strict):
    """Per deny-list reason: deny or refer to staff (never admit)."""

    lost: Literal["deny", "refer"] = "deny"
    cancelled: Literal["deny", "refer"] = "deny"
    replaced: Literal["deny", "refer"] = "deny"
    fraud: Literal["deny", "refer"] = "refer"
    other: Literal["deny", "refer"] = "refer"

    def action(self, reason: DenyReason) -> Action:
        value: str = getattr(self, reason.name.lower())
        return Action(value)


class VenuePolicy(_Strict):
    version: Literal[1] = 1
    venue_zh: Annotated[str, Field(min_length=1)]
    venue_en: Annotated[str, Field(min_length=1)]
    timezone: str = "Asia/Shanghai"
    #: province-level region codes whose cards count as local
    local_provinces: tuple[Annotated[str, Field(pattern=r"^[0-9]{2}$")], ...] = YANGTZE_RIVER_DELTA
    non_local: Action = Action.REFER
    #: a card whose authenticity could not be checked (no security module)
    not_checked: Action = Action.REFER
    #: a card that failed authentication (a possible clone)
    not_authentic: Literal["deny", "refer"] = "deny"
    #: a card read only in part
    incomplete_read: Literal["deny", "refer"] = "refer"
    expired_card: Literal["deny", "refer"] = "deny"
    stale_lists: Degraded = Degraded.REFER
    untrusted_clock: Degraded = Degraded.REFER
    deny_list: DenyListPolicy = DenyListPolicy()
    services: dict[str, ServicePolicy]
    #: the service a tap is for when none is named (``ykt check --service``)
    default_service: str

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("services")
    @classmethod
    def _service_names(cls, value: dict[str, ServicePolicy]) -> dict[str, ServicePolicy]:
        if not value:
            raise ValueError("at least one service is needed")
        for name in value:
            if not _SERVICE.fullmatch(name):
                raise ValueError(f"service name {name!r}: use venue.action, e.g. museum.entry")
        return value

    @field_validator("default_service")
    @classmethod
    def _default_exists(cls, value: str, info: ValidationInfo) -> str:
        services = info.data.get("services")
        if services is not None and value not in services:
            raise ValueError(f"{value!r} is not one of the services in this file")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def service(self, name: str | None) -> tuple[str, ServicePolicy]:
        chosen = name or self.default_service
        found = self.services.get(chosen)
        if found is None:
            raise PolicyError(
                f"service {chosen!r} is not in the venue policy; it has "
                f"{', '.join(sorted(self.services))}"
            )
        return chosen, found


# -- loading ---------------------------------------------------------------------------------
def load_policy(path: Path | None = None) -> VenuePolicy:
    """The policy at ``path``, or the embedded default (a demo venue with every service)."""
    if path is None:
        text = resources.files("terminal").joinpath("policies", DEFAULT_POLICY).read_text()
        return parse_policy(text, DEFAULT_POLICY)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {path} cannot be read: {exc}") from exc
    return parse_policy(text, str(path))


def parse_policy(text: str, where: str) -> VenuePolicy:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        at = f"{where}:{line.group(1)}" if line else where
        raise PolicyError(f"{at}: not valid TOML: {exc}") from exc
    try:
        return VenuePolicy.model_validate(document)
    except ValidationError as exc:
        lines = KeyLines(text)
        problems = []
        for error in exc.errors()[:5]:
            location = tuple(error["loc"])
            path = dotted(location)
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown key (check its spelling against docs/policy.md)"
            elif error["type"] == "missing":
                message = "required key is missing"
            number = lines.line_of(location, hints=named_in(message))
            problems.append(f"{where}:{number}: {path}: {message}")
        more = len(exc.errors()) - len(problems)
        if more > 0:
            problems.append(f"... and {more} more")
        raise PolicyError("\n".join(problems)) from exc
