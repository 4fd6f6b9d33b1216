"""terminal.masking and terminal.card_view: masked by default, stable JSON keys, basline."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from apdu.emulator import FaultPlan, Holder, VirtualCard, load_holders
from apdu.errors import CardDataError
from apdu.scripted import EmulatedTransport
from apdu.security.software import MasterKeys, SoftwareSecurityModule
from apdu.ssc import CardRecord, read_card
from apdu.transport import CardChannel
from terminal.card_view import JSON_SCHEMA, basline, display_width, holder_values, to_json, to_text
from terminal.masking import (
    mask_birth_date,
    mask_card_id,
    mask_card_number,
    mask_name,
    mask_ssn,
)

HOLDERS = load_holders()
HOLDER_KEYS = sorted(HOLDERS)

JSON_KEYS = [
    "schema",
    "reader",
    "atr",
    "generation",
    "spec_version",
    "region",
    "algorithm",
    "authentic",
    "authentication_detail",
    "masked",
    "name",
    "ssn",
    "card_number",
    "card_id",
    "gender",
    "ethnicity",
    "birthplace",
    "birth_date",
    "card_type",
    "issuer_org",
    "issue_date",
    "expiry_date",
    "unavailable",
    "complete",
]


# --- masking -------------------------------------------------------------------------------------
def test_mask_ssn() -> None:
    assert mask_ssn("310101198502141234") == "3101**********1234"
    assert mask_ssn("31010119850214123X") == "3101**********123X"
    assert mask_ssn("12345678") == "********"


def test_mask_name() -> None:
    assert mask_name("张测") == "张*"
    assert mask_name("张测试") == "张*"  # the length is not shown either
    assert mask_name("阿卜杜热合曼·买买提") == "阿*"
    assert mask_name("张") == "*"
    assert mask_name("") == "*"


def test_mask_card_number_card_id_and_birth_date() -> None:
    assert mask_card_number("S31000001") == "S******01"
    assert mask_card_number("A12") == "***"
    assert mask_card_id("310100D1560000050000000000A10001") == "310100" + "*" * 22 + "0001"
    assert mask_card_id("0123456789") == "**********"
    assert mask_birth_date(dt.date(1985, 2, 14)) == "1985-**-**"


# --- records -------------------------------------------------------------------------------------
def _record(
    key: str, masters: MasterKeys, module: SoftwareSecurityModule | None = None
) -> CardRecord:
    card = VirtualCard(HOLDERS[key], masters, FaultPlan())
    return read_card(CardChannel(EmulatedTransport(card)), module)


def _secrets(holder: Holder) -> list[str]:
    return [holder.ssn, holder.name, holder.card_number]


@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_json_has_exactly_the_documented_keys(
    key: str, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    for module in (None, software_module):
        record = _record(key, masters, module)
        for reveal in (False, True):
            document = to_json(record, reveal=reveal)
            assert list(document) == JSON_KEYS
            assert document["schema"] == JSON_SCHEMA == 1
            assert document["masked"] is (not reveal)
            json.dumps(document, ensure_ascii=False)  # serialisable as it is


@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_json_masked_unless_reveal(
    key: str, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    holder = HOLDERS[key]
    record = _record(key, masters, software_module)
    revealed = to_json(record, reveal=True)
    assert revealed["name"] == holder.name
    assert revealed["ssn"] == holder.ssn
    assert revealed["card_number"] == holder.card_number
    assert revealed["card_id"] == holder.card_id
    assert revealed["birth_date"] == holder.birth_date.isoformat()
    assert revealed["birthplace"] == holder.birthplace
    assert revealed["issue_date"] == holder.issue_date.isoformat()
    assert revealed["authentic"] == "verified"
    assert revealed["complete"] is True
    assert revealed["unavailable"] == []

    masked = to_json(record, reveal=False)
    assert masked["name"] == mask_name(holder.name)
    assert masked["ssn"] == mask_ssn(holder.ssn)
    assert masked["card_number"] == mask_card_number(holder.card_number)
    assert masked["card_id"] == mask_card_id(holder.card_id)
    assert masked["birth_date"] == f"{holder.birth_date.year}-**-**"
    assert masked["birthplace"] == holder.birthplace[:4] + "**"
    text = json.dumps(masked, ensure_ascii=False)
    for secret in _secrets(holder):
        assert secret not in text


def test_json_of_gen3_without_module_names_what_was_not_read(masters: MasterKeys) -> None:
    document = to_json(_record("sh-gen3", masters), reveal=True)
    assert document["complete"] is False
    assert document["authentic"] == "not_checked"
    unavailable = document["unavailable"]
    assert unavailable == sorted(unavailable)
    assert unavailable
    for key in unavailable:
        assert document[key] is None
    holder_keys = JSON_KEYS[JSON_KEYS.index("name") : JSON_KEYS.index("expiry_date") + 1]
    for key in holder_keys:
        assert document[key] != ""
        assert (document[key] is None) == (key in unavailable), key
    assert document["card_id"] == HOLDERS["sh-gen3"].card_id
    assert document["region"] == "310100"
    assert document["algorithm"] == "SM4"


@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_text_masked_unless_reveal(
    key: str, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    holder = HOLDERS[key]
    record = _record(key, masters, software_module)
    masked = "\n".join(to_text(record, reveal=False))
    for secret in _secrets(holder):
        assert secret not in masked
    assert mask_ssn(holder.ssn) in masked
    revealed = "\n".join(to_text(record, reveal=True))
    for secret in _secrets(holder):
        assert secret in revealed


def test_text_of_incomplete_record_says_what_is_missing(masters: MasterKeys) -> None:
    lines = to_text(_record("sh-gen3", masters), reveal=False)
    assert any("(not read: needs a security module)" in line for line in lines)
    assert lines[-1].startswith("INCOMPLETE")
    assert "not checked" in lines[2]


def test_holder_values_masks_only_holder_fields(masters: MasterKeys) -> None:
    record = _record("zj-gen2", masters)
    masked = holder_values(record, reveal=False)
    assert masked["gender"] == "female"
    assert masked["card_type"] == "3"
    assert masked["issue_date"] == "2018-03-01"


# --- basline -------------------------------------------------------------------------------------
def _historical_hex(holder: Holder) -> str:
    # the emulator's ATR: 3B 6D 00 00, then "\0SSC", the generation, the card serial
    return ("00535343" + f"{holder.generation:02X}" + holder.card_id[-16:]).upper()


@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_basline_revealed_has_the_eleven_fields_in_order(
    key: str, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    holder = HOLDERS[key]
    record = _record(key, masters, software_module)
    line = basline(record, reveal=True, terminal_number="T0001", device_number="D42")
    assert line.endswith("|")
    assert line.count("|") == 11
    fields = line.split("|")
    assert fields[-1] == ""
    assert fields[:-1] == [
        holder.region,
        holder.ssn,
        holder.card_number,
        holder.card_id,
        holder.name,
        _historical_hex(holder),
        f"{holder.generation}.00",
        holder.issue_date.strftime("%Y%m%d"),
        holder.expiry_date.strftime("%Y%m%d"),
        "T0001",
        "D42",
    ]


@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_basline_masked_never_contains_the_plaintext(
    key: str, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    holder = HOLDERS[key]
    line = basline(_record(key, masters, software_module), reveal=False)
    fields = line.split("|")
    assert len(fields) == 12
    assert fields[-1] == ""
    assert fields[1] == mask_ssn(holder.ssn)
    assert fields[2] == mask_card_number(holder.card_number)
    assert fields[3] == mask_card_id(holder.card_id)
    assert fields[4] == mask_name(holder.name)
    assert fields[9:11] == ["", ""]
    for secret in _secrets(holder):
        assert secret not in line


def test_basline_stays_eleven_fields_whatever_the_name(
    masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    # the codec rejects "|" in names; should a record carry one anyway, no line is printed
    record = dataclasses.replace(
        _record("js-gen1", masters, software_module), name="王|20991231|样本"
    )
    with pytest.raises(CardDataError, match="basline"):
        basline(record, reveal=True)
    assert basline(record, reveal=False).count("|") == 11  # masked: only the first character


def test_display_width_counts_cjk_as_two() -> None:
    assert display_width("abc") == 3
    assert display_width("张测试") == 6
    assert display_width("张a") == 3
