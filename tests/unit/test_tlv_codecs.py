"""apdu.tlv and apdu.codecs: every decoder, the padding rules, and errors that keep data private."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu.codecs import (
    decode_ascii,
    decode_bcd_date,
    decode_bcd_digits,
    decode_gbk_text,
    decode_hex,
    decode_name,
    decode_name_extension,
    decode_region,
    encode_bcd_date,
    encode_gbk_padded,
)
from apdu.errors import CardDataError
from apdu.tlv import decode_simple_tlv, encode_ber_tlv, encode_simple_tlv, iter_ber_tlv

H = bytes.fromhex


# --- simple TLV ----------------------------------------------------------------------------------
@given(st.integers(0x01, 0xFE), st.binary(max_size=600))
def test_simple_tlv_round_trip(tag: int, value: bytes) -> None:
    encoded = encode_simple_tlv(tag, value)
    assert decode_simple_tlv(encoded, "EF05") == (tag, value)


def test_simple_tlv_length_forms() -> None:
    assert encode_simple_tlv(0x09, b"\x41" * 0xFE)[:2] == H("09FE")
    assert encode_simple_tlv(0x09, b"\x41" * 0xFF)[:4] == H("09FF00FF")
    assert decode_simple_tlv(H("0900"), "EF06") == (0x09, b"")


@given(st.integers(0x01, 0xFE), st.binary(min_size=1, max_size=300), st.data())
def test_simple_tlv_truncated_or_overlong_is_card_data_error(
    tag: int, value: bytes, data: st.DataObject
) -> None:
    encoded = encode_simple_tlv(tag, value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(CardDataError, match="EF06/09"):
        decode_simple_tlv(encoded[:cut], "EF06/09")
    with pytest.raises(CardDataError, match="unexpected bytes after"):
        decode_simple_tlv(encoded + b"\x00", "EF06/09")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "too short"),
        (H("09"), "too short"),
        (H("0001AA"), "not a valid simple-TLV tag"),
        (H("FF01AA"), "not a valid simple-TLV tag"),
        (H("09FF00"), "three-byte TLV length is cut short"),
        (H("0905414243"), "record truncated"),
        (H("0902414243"), "1 unexpected bytes"),
    ],
)
def test_simple_tlv_errors(raw: bytes, message: str) -> None:
    with pytest.raises(CardDataError, match=message) as info:
        decode_simple_tlv(raw, "EF06/09 name")
    assert info.value.message.startswith("EF06/09 name: ")


# --- BER TLV -------------------------------------------------------------------------------------
one_byte_tags = st.integers(0x01, 0xFF).filter(lambda t: t & 0x1F != 0x1F)
two_byte_tags = st.builds(
    lambda first, second: (first << 8) | second,
    st.integers(0x00, 0xFF).filter(lambda t: t & 0x1F == 0x1F),
    st.integers(0x00, 0x7F),
)
ber_objects = st.tuples(one_byte_tags | two_byte_tags, st.binary(max_size=400))


@given(st.lists(ber_objects, max_size=5))
def test_ber_tlv_round_trip(objects: list[tuple[int, bytes]]) -> None:
    raw = b"".join(encode_ber_tlv(tag, value) for tag, value in objects)
    assert iter_ber_tlv(raw, "FCI") == objects


def test_ber_tlv_length_forms() -> None:
    assert encode_ber_tlv(0x84, b"\x00" * 0x7F)[:2] == H("847F")
    assert encode_ber_tlv(0x84, b"\x00" * 0x80)[:3] == H("848180")
    assert encode_ber_tlv(0x84, b"\x00" * 0x100)[:4] == H("84820100")
    assert encode_ber_tlv(0x9F0C, H("860103")) == H("9F0C03860103")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (H("9F"), "two-byte tag cut short"),
        (H("84"), "has no length"),
        (H("6F80"), "unsupported BER length form 80"),
        (H("6F83000001"), "unsupported BER length form 83"),
        (H("6F82"), "unsupported BER length form 82"),
        (H("6F0501"), "says 5 bytes, 1 present"),
    ],
)
def test_ber_tlv_errors(raw: bytes, message: str) -> None:
    with pytest.raises(CardDataError, match=message):
        iter_ber_tlv(raw, "SSSE FCI")


# --- BCD -----------------------------------------------------------------------------------------
@given(st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(9999, 12, 31)))
def test_bcd_date_round_trip(date: dt.date) -> None:
    raw = encode_bcd_date(date)
    assert len(raw) == 4
    assert raw.hex() == date.strftime("%Y%m%d")
    assert decode_bcd_date(raw, "birth date") == date


@given(st.text("0123456789", min_size=1, max_size=12))
def test_bcd_digits_round_trip_with_filler(digits: str) -> None:
    raw = bytes.fromhex(digits if len(digits) % 2 == 0 else digits + "F")
    assert decode_bcd_digits(raw, "x") == digits


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (H("202001"), "a date is 4 BCD bytes, got 3"),
        (H("2020011501"), "a date is 4 BCD bytes, got 5"),
        (H("2020A115"), "not BCD digits"),
        (H("FFFFFFFF"), "not BCD digits"),
        (H("2020011F"), "not a BCD date YYYYMMDD"),
        (H("20201315"), "not a calendar date"),
        (H("19800230"), "not a calendar date"),
        (H("20200100"), "not a calendar date"),
    ],
)
def test_bcd_date_errors(raw: bytes, message: str) -> None:
    with pytest.raises(CardDataError, match=message) as info:
        decode_bcd_date(raw, "EF06/0D birth date")
    assert raw.hex() not in info.value.message.lower()
    assert raw.hex().upper() not in info.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(H("310101"), "310101"), (H("3101FF"), "3101"), (H("31010F"), "31010"), (H("33FFFF"), "33")],
)
def test_region_drops_trailing_filler(raw: bytes, expected: str) -> None:
    assert decode_region(raw, "birthplace") == expected


@pytest.mark.parametrize(
    "raw", [H("FFFFFF"), H("31A101"), H("A10101")], ids=["all-ff", "a", "lead"]
)
def test_region_errors(raw: bytes) -> None:
    with pytest.raises(CardDataError, match=r"^EF06/0C birthplace: ") as info:
        decode_region(raw, "EF06/0C birthplace")
    assert raw.hex().upper() not in info.value.message


# --- GBK names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("pad", [0x20, 0x00], ids=["pad-20", "pad-00"])
@pytest.mark.parametrize("name", ["张测试", "李示", "阿卜杜热合曼·买买提·吐尔逊"])
def test_name_padding_20_or_00(name: str, pad: int) -> None:
    raw = encode_gbk_padded(name, 30, pad)
    assert len(raw) == 30
    assert raw.endswith(bytes((pad,)))
    assert decode_name(raw, "EF06/09 name") == name


def test_name_without_padding_and_with_mixed_padding() -> None:
    assert decode_name("王样本".encode("gbk"), "name") == "王样本"
    assert decode_name("王样本".encode("gbk") + H("2000200000"), "name") == "王样本"


@pytest.mark.parametrize("raw", [b"\x20" * 30, b"\x00" * 30, b""], ids=["spaces", "zeros", "empty"])
def test_empty_name_is_card_data_error(raw: bytes) -> None:
    with pytest.raises(CardDataError, match="the name is empty"):
        decode_name(raw, "EF06/09 name")


def test_name_extension_padded_with_ff() -> None:
    assert decode_name_extension(encode_gbk_padded("测试者", 20, 0xFF), "ext") == "测试者"
    assert decode_name_extension(b"\xff" * 20, "ext") == ""
    # a name extension is only padding: FF stays FF-padding, never part of GBK text
    assert decode_name_extension("·吐尔逊".encode("gbk") + b"\xff" * 13, "ext") == "·吐尔逊"


def test_encode_gbk_padded_refuses_overflow() -> None:
    with pytest.raises(ValueError, match="needs 32 bytes"):
        encode_gbk_padded("测" * 16, 30, 0x20)


#: Personal-looking text that is not GBK: every one must be refused without echoing the bytes.
NOT_GBK = [
    b"\x80\xff" + "测试".encode("gbk"),  # 80 is no GBK lead byte
    "张".encode("gbk") + b"\xff\xfe\x41",  # FF FE is no GBK character
    "王".encode("gbk") + b"\xb2",  # a lead byte cut off at the end
    b"\xd5\x7f\xb2\xe2",  # 7F is no GBK trail byte
]


@pytest.mark.parametrize("raw", NOT_GBK, ids=["bad-lead", "bad-pair", "cut-lead", "bad-trail"])
def test_non_gbk_name_is_card_data_error_without_the_bytes(raw: bytes) -> None:
    for decode in (decode_name, decode_name_extension):
        with pytest.raises(CardDataError, match="not valid GBK text") as info:
            decode(raw + b"\x20" * 4, "EF06/09 name 姓名")
        _assert_no_value_in(info.value, raw)
    with pytest.raises(CardDataError, match="not valid GBK text"):
        decode_gbk_text(raw, "x", b"\x20")


# --- ASCII and hex -------------------------------------------------------------------------------
def test_ascii_drops_space_and_zero_padding() -> None:
    assert decode_ascii(b"S31000001", "x") == "S31000001"
    assert decode_ascii(b"1.00\x00\x00", "x") == "1.00"
    assert decode_ascii(b"3  ", "x") == "3"
    assert decode_ascii(b"A B", "x") == "A B"


@pytest.mark.parametrize("raw", [b"", b"   ", b"\x00", b"\x01", b"AB\x7fC", "测".encode("gbk")])
def test_ascii_errors(raw: bytes) -> None:
    with pytest.raises(CardDataError, match="not printable ASCII"):
        decode_ascii(raw, "EF05/07 card number")


def test_hex_is_uppercase() -> None:
    assert decode_hex(H("0a1b2c"), "x") == "0A1B2C"
    assert decode_hex(b"", "x") == ""


# --- personal data never in messages -------------------------------------------------------------
def _assert_no_value_in(error: CardDataError, raw: bytes) -> None:
    text = str(error)
    assert error.message == text
    for form in (raw.hex(), raw.hex().upper(), raw.hex(" "), raw.hex(" ").upper()):
        assert form not in text
    for encoding in ("gbk", "ascii", "latin-1"):
        try:
            decoded = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if len(decoded.strip()) >= 2:
            assert decoded.strip() not in text


@pytest.mark.parametrize(
    ("decode", "raw"),
    [
        (decode_ascii, b"3101011985021\x01234"),
        (decode_bcd_date, H("19852A14")),
        (decode_bcd_date, H("19851314")),
        (decode_bcd_digits, H("3101A1")),
        (decode_region, H("31A1FF")),
    ],
    ids=["ascii", "date-nibble", "date-month", "digits", "region"],
)
def test_decoder_messages_never_contain_the_value(decode, raw: bytes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CardDataError) as info:
        decode(raw, "EF06/08 social security number")
    _assert_no_value_in(info.value, raw)


@pytest.mark.parametrize(
    "name",
    ["张\n测", "张\x1b[2J测", "张\x00测", "\t张测", "张\x7f测"],
    ids=["lf", "esc", "nul", "tab", "del"],
)
def test_names_with_control_characters_are_card_data_error(name: str) -> None:
    raw = name.encode("gbk") + b"\x20" * 4
    with pytest.raises(CardDataError, match="EF06/09 name"):
        decode_name(raw, "EF06/09 name 姓名")


def test_a_name_with_the_vendor_separator_is_card_data_error() -> None:
    raw = "王|样本".encode("gbk") + b"\x20" * 22
    with pytest.raises(CardDataError, match="no name has"):
        decode_name(raw, "EF06/09 name")
