"""How a card record is shown: masked text for people, JSON for programs, the vendor line.

Masked unless ``reveal`` is asked for, in every format.  The JSON keys are stable and
documented in ``docs/cli.md``; a field that could not be read is ``null`` *and* named in
``unavailable``, never an empty string.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from apdu.atr import parse_atr
from apdu.errors import CardDataError
from apdu.ssc import CardRecord
from apdu.ssc.record import Authenticity
from terminal.masking import (
    mask_atr_hex,
    mask_birth_date,
    mask_card_id,
    mask_card_number,
    mask_name,
    mask_ssn,
)

#: JSON schema version of ``ykt read --json`` objects; bump on any incompatible change.
JSON_SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    label: str
    mask: Callable[[str], str] | None = None


def display_width(text: str) -> int:
    """Terminal columns ``text`` takes: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


#: Holder and card fields in display order, with how each is masked.
FIELDS: tuple[Field, ...] = (
    Field("name", "name 姓名", mask_name),
    Field("ssn", "social security number 社会保障号码", mask_ssn),
    Field("card_number", "card number 卡号", mask_card_number),
    Field("card_id", "card identification code 卡识别码", mask_card_id),
    Field("gender", "gender 性别"),
    Field("ethnicity", "ethnicity 民族"),
    Field("birthplace", "birthplace 出生地"),
    Field("birth_date", "birth date 出生日期"),
    Field("card_type", "card type 卡类别"),
    Field("issuer_org", "initialising organisation 初始化机构"),
    Field("issue_date", "issue date 发卡日期"),
    Field("expiry_date", "expiry date 有效期"),
)


def _raw_values(record: CardRecord) -> dict[str, str | None]:
    return {
        "name": record.name,
        "ssn": record.ssn,
        "card_number": record.card_number,
        "card_id": record.card_id,
        "gender": None if record.gender is None else record.gender.value,
        "ethnicity": record.ethnicity,
        "birthplace": record.birthplace,
        "birth_date": _date(record.birth_date),
        "card_type": record.card_type,
        "issuer_org": record.issuer_org,
        "issue_date": _date(record.issue_date),
        "expiry_date": _date(record.expiry_date),
    }


def holder_values(record: CardRecord, *, reveal: bool) -> dict[str, str | None]:
    """The holder and card fields, masked unless ``reveal``."""
    values = _raw_values(record)
    if reveal:
        return values
    for field in FIELDS:
        value = values[field.key]
        if value is not None and field.mask is not None:
            values[field.key] = field.mask(value)
    if record.birth_date is not None:
        values["birth_date"] = mask_birth_date(record.birth_date)
    if record.birthplace is not None:
        values["birthplace"] = record.birthplace[:4] + "**"
    return values


def to_json(record: CardRecord, *, reveal: bool) -> dict[str, object]:
    """One JSON object per card; keys documented in docs/cli.md."""
    return {
        "schema": JSON_SCHEMA,
        "reader": record.reader,
        "atr": record.atr.hex().upper() if reveal else mask_atr_hex(record.atr.hex().upper()),
        "generation": record.generation,
        "spec_version": record.spec_version,
        "region": record.region,
        "algorithm": record.algorithm.label,
        "authentic": record.authentic.value,
        "authentication_detail": record.authentication_detail,
        "masked": not reveal,
        **holder_values(record, reveal=reveal),
        "unavailable": sorted(record.unavailable),
        "complete": record.complete,
    }


def to_text(record: CardRecord, *, reveal: bool) -> list[str]:
    """Lines for a person at a terminal."""
    values = holder_values(record, reveal=reveal)
    verdict = {
        Authenticity.VERIFIED: "genuine card (verified)",
        Authenticity.FAILED: "NOT AUTHENTIC - possible clone, do not accept",
        Authenticity.NOT_CHECKED: "not checked",
    }[record.authentic]
    lines = [
        f"reader      {record.reader}",
        f"card        generation {record.generation} (spec {record.spec_version}), "
        f"region {record.region}, {record.algorithm.label}",
        f"authentic   {verdict}: {record.authentication_detail}",
    ]
    failed = record.authentic is Authenticity.FAILED
    why = "the card failed authentication" if failed else "needs a security module"
    width = max(display_width(f.label) for f in FIELDS)
    for field in FIELDS:
        value = values[field.key]
        if value is None:
            shown = f"(not read: {why})" if field.key in record.unavailable else "(not on card)"
        else:
            shown = value
        lines.append(f"  {pad(field.label, width)}  {shown}")
    if not record.complete:
        lines.append(
            "INCOMPLETE: this generation-3 card opened its holder data to no one: "
            + ("it did not prove itself genuine" if failed else "add --security-module")
        )
    return lines


def basline(
    record: CardRecord, *, reveal: bool, terminal_number: str = "", device_number: str = ""
) -> str:
    """The vendor ``iReadCardBas`` line: 11 fields in the spec's order, each ending in ``|``.

    region code | social security number | card number | card identification code | name |
    ATR historical bytes | spec version | issue date | expiry date | terminal number |
    terminal device number |
    """
    values = holder_values(record, reveal=reveal)

    def compact(date: dt.date | None) -> str:
        return "" if date is None else date.strftime("%Y%m%d")

    historical = parse_atr(record.atr).historical.hex().upper()
    fields = [
        record.region,
        values["ssn"] or "",
        values["card_number"] or "",
        values["card_id"] or "",
        values["name"] or "",
        historical if reveal else mask_atr_hex(historical),
        record.spec_version,
        compact(record.issue_date),
        compact(record.expiry_date),
        terminal_number,
        device_number,
    ]
    if any("|" in field for field in fields):
        raise CardDataError("the card's data contains '|', which the basline line cannot carry")
    return "".join(f"{field}|" for field in fields)
