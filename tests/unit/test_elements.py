"""apdu.ssc.elements: the declared data elements, their test vectors, and the spec's tables."""

from __future__ import annotations

import pytest

from apdu.errors import CardDataError
from apdu.ssc.elements import (
    EF05,
    EF06,
    ELEMENTS,
    FINANCIAL_AID,
    PKI_AID,
    PUBLIC_GEN3_FIELDS,
    SSSE_AID,
    DataElement,
    Gender,
    decode_gender,
    decode_ssn,
    generation_of,
)

_GOOD = object()


def _vector_params() -> list[object]:
    params = []
    for element in ELEMENTS:
        name = f"EF{element.ef & 0xFF:02X}-{element.tag:02X}-{element.field}"
        for i, (raw, expected) in enumerate(element.vectors):
            params.append(pytest.param(element, raw, expected, id=f"{name}-good{i}"))
        for i, raw in enumerate(element.bad_vectors):
            params.append(pytest.param(element, raw, CardDataError, id=f"{name}-bad{i}"))
    return params


@pytest.mark.parametrize(("element", "raw", "expected"), _vector_params())
def test_element_vectors(element: DataElement, raw: bytes, expected: object) -> None:
    if expected is CardDataError:
        with pytest.raises(CardDataError) as info:
            element.decode_value(raw)
        # the message names the element, never the value (values are personal data)
        assert info.value.message.startswith(element.where + ": ")
        if element.field != "spec_version" and len(raw) >= 2:
            assert raw.hex().upper() not in info.value.message
            assert raw.hex() not in info.value.message
    else:
        decoded = element.decode_value(raw)
        assert decoded == expected
        assert type(decoded) is type(expected)


def test_every_element_has_vectors() -> None:
    assert all(element.vectors for element in ELEMENTS)
    assert sum(len(e.vectors) + len(e.bad_vectors) for e in ELEMENTS) >= 30


#: The card specification's tables (ssc-card.md): file, tag → (field, length).
SPEC = {
    (EF05, 0x01): ("card_id", 16),
    (EF05, 0x02): ("card_type", 1),
    (EF05, 0x03): ("spec_version", 4),
    (EF05, 0x04): ("issuer_org", 12),
    (EF05, 0x05): ("issue_date", 4),
    (EF05, 0x06): ("expiry_date", 4),
    (EF05, 0x07): ("card_number", 9),
    (EF06, 0x08): ("ssn", 18),
    (EF06, 0x09): ("name", 30),
    (EF06, 0x4E): ("name_extension", 20),
    (EF06, 0x0A): ("gender", 1),
    (EF06, 0x0B): ("ethnicity", 1),
    (EF06, 0x0C): ("birthplace", 3),
    (EF06, 0x0D): ("birth_date", 4),
}


def test_elements_match_the_specification_tables() -> None:
    assert {(e.ef, e.tag): (e.field, e.length) for e in ELEMENTS} == SPEC
    assert len(ELEMENTS) == len(SPEC)
    assert {"card_id", "spec_version"} == PUBLIC_GEN3_FIELDS
    assert {e.field for e in ELEMENTS if e.min_generation == 2} == {"name_extension"}


def test_application_identifiers() -> None:
    assert bytes.fromhex("7378312E73682EC9E7BBE1B1A3D5CF") == SSSE_AID
    assert bytes.fromhex("504B492EC9E7BBE1B1A3D5CF") == PKI_AID
    assert bytes.fromhex("A000000333010101") == FINANCIAL_AID


@pytest.mark.parametrize("length", [0, 3, 17], ids=["empty", "short", "long"])
def test_exact_length_elements_refuse_other_lengths(length: int) -> None:
    card_id = next(e for e in ELEMENTS if e.field == "card_id")
    with pytest.raises(CardDataError, match=f"expected 16 bytes, card sent {length}"):
        card_id.decode_value(bytes.fromhex("33") * length)


def test_variable_length_elements_refuse_more_than_their_length() -> None:
    name = next(e for e in ELEMENTS if e.field == "name")
    assert name.decode_value("张三".encode("gbk")) == "张三"
    with pytest.raises(CardDataError, match="at most 30 bytes, card sent 31"):
        name.decode_value("张".encode("gbk") + b"\x20" * 29)


@pytest.mark.parametrize(
    ("version", "generation"),
    [
        ("1.00", 1),
        ("2.00", 2),
        ("3.00", 3),
        ("3.10", 3),
        ("4.00", None),
        ("0.99", None),
        ("", None),
    ],
)
def test_generation_of(version: str, generation: int | None) -> None:
    assert generation_of(version) == generation


def test_ssn_check_character_is_uppercased() -> None:
    assert decode_ssn(b"31010119800101001x", "ssn") == "31010119800101001X"


@pytest.mark.parametrize(
    ("raw", "gender"),
    [
        (b"1", Gender.MALE),
        (b"2", Gender.FEMALE),
        (b"0", Gender.UNKNOWN),
        (b"9", Gender.UNSPECIFIED),
    ],
)
def test_gender_codes(raw: bytes, gender: Gender) -> None:
    assert decode_gender(raw, "gender") is gender


@pytest.mark.parametrize("raw", [b"3", b"M", b" ", b"\x01"])
def test_bad_gender_codes(raw: bytes) -> None:
    with pytest.raises(CardDataError, match="EF06/0A gender"):
        decode_gender(raw, "EF06/0A gender")
