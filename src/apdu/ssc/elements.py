"""The social security card as data: its files and data elements, declared once.

Each :class:`DataElement` names its file, tag, record field, length, decoder, whether a
generation-3 card protects it behind EXTERNAL AUTHENTICATE (key ``0A``), and test vectors
(raw value → decoded value, or raw value → the error it must raise).  The reader reads every
element by tag from this table; the emulator builds its files from the same table; one unit
test walks every vector.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum

from apdu.codecs import (
    decode_ascii,
    decode_bcd_date,
    decode_hex,
    decode_name,
    decode_name_extension,
    decode_region,
)
from apdu.errors import CardDataError

#: AID of the social security application: ASCII ``sx1.sh.`` + GBK ``社会保障``.
SSSE_AID = b"sx1.sh." + "社会保障".encode("gbk")
#: AID of the PKI application of generation-3 cards (``PKI.社会保障``).
PKI_AID = b"PKI." + "社会保障".encode("gbk")
#: The bank application: the terminal never selects it (its card number is a bank PAN).
FINANCIAL_AID = bytes.fromhex("A000000333010101")

EF05 = 0xEF05
EF06 = 0xEF06
SHORT_FILE_ID = {EF05: 5, EF06: 6}


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNKNOWN = "unknown"
    UNSPECIFIED = "unspecified"


_GENDER_CODES = {"1": Gender.MALE, "2": Gender.FEMALE, "0": Gender.UNKNOWN, "9": Gender.UNSPECIFIED}


def decode_gender(raw: bytes, what: str) -> Gender:
    code = decode_ascii(raw, what)
    try:
        return _GENDER_CODES[code]
    except KeyError:
        raise CardDataError(f"{what}: not a gender code (1, 2, 0 or 9)") from None


def decode_card_id(raw: bytes, what: str) -> str:
    """卡识别码: region (3 bytes BCD) + ``D156000005`` + 8 bytes, as 32 uppercase hex chars."""
    text = raw.hex().upper()
    if not text[:6].isdigit():
        raise CardDataError(f"{what}: does not start with a BCD region code")
    return text


def decode_spec_version(raw: bytes, what: str) -> str:
    version = decode_ascii(raw, what)
    if generation_of(version) is None:
        raise CardDataError(f"{what}: spec version {version!r} is not 1.xx, 2.xx or 3.xx")
    return version


def decode_card_number(raw: bytes, what: str) -> str:
    number = decode_ascii(raw, what)
    if not number.isalnum():
        raise CardDataError(f"{what}: the card number is not letters and digits")
    return number


def decode_ssn(raw: bytes, what: str) -> str:
    number = decode_ascii(raw, what)
    if len(number) != 18 or not (
        number[:17].isdigit() and (number[17].isdigit() or number[17] in "Xx")
    ):
        raise CardDataError(f"{what}: not an 18-character social security number")
    return number.upper()


def generation_of(spec_version: str) -> int | None:
    major = spec_version.split(".", 1)[0]
    return int(major) if major in ("1", "2", "3") else None


Vector = tuple[bytes, object]


@dataclass(frozen=True, slots=True)
class DataElement:
    ef: int
    tag: int
    field: str
    label: str
    length: int
    decode: Callable[[bytes, str], object]
    exact_length: bool = True
    protected_gen3: bool = True
    min_generation: int = 1
    vectors: tuple[Vector, ...] = ()
    bad_vectors: tuple[bytes, ...] = ()
    #: Where the element lives, for error messages: ``EF05/01 card identification code``.
    where: str = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", f"EF{self.ef & 0xFF:02X}/{self.tag:02X} {self.label}")

    def decode_value(self, value: bytes) -> object:
        if self.exact_length and len(value) != self.length:
            raise CardDataError(
                f"{self.where}: expected {self.length} bytes, card sent {len(value)}"
            )
        if len(value) > self.length:
            raise CardDataError(
                f"{self.where}: at most {self.length} bytes, card sent {len(value)}"
            )
        return self.decode(value, self.where)


def _gbk(text: str, length: int, pad: int) -> bytes:
    raw = text.encode("gbk")
    return raw + bytes((pad,)) * (length - len(raw))


ELEMENTS: tuple[DataElement, ...] = (
    DataElement(
        EF05,
        0x01,
        "card_id",
        "card identification code 卡识别码",
        16,
        decode_card_id,
        protected_gen3=False,
        vectors=(
            (bytes.fromhex("330100D15600000500A1B2C3D4E5F607"), "330100D15600000500A1B2C3D4E5F607"),
        ),
        bad_vectors=(bytes.fromhex("AB0100D15600000500A1B2C3D4E5F607"), bytes(15)),
    ),
    DataElement(
        EF05,
        0x02,
        "card_type",
        "card type 卡类别",
        1,
        decode_ascii,
        vectors=((b"3", "3"),),
        bad_vectors=(b"\x01",),
    ),
    DataElement(
        EF05,
        0x03,
        "spec_version",
        "spec version 规范版本",
        4,
        decode_spec_version,
        protected_gen3=False,
        vectors=((b"1.00", "1.00"), (b"2.00", "2.00"), (b"3.00", "3.00")),
        bad_vectors=(b"4.00", b"\xff\xff\xff\xff"),
    ),
    DataElement(
        EF05,
        0x04,
        "issuer_org",
        "initialising organisation 初始化机构编号",
        12,
        decode_hex,
        vectors=((bytes.fromhex("330100000000000000000001"), "330100000000000000000001"),),
    ),
    DataElement(
        EF05,
        0x05,
        "issue_date",
        "issue date 发卡日期",
        4,
        decode_bcd_date,
        vectors=((bytes.fromhex("20200115"), dt.date(2020, 1, 15)),),
        bad_vectors=(bytes.fromhex("20201315"), bytes.fromhex("2020A115"), bytes.fromhex("202001")),
    ),
    DataElement(
        EF05,
        0x06,
        "expiry_date",
        "expiry date 卡有效期",
        4,
        decode_bcd_date,
        vectors=((bytes.fromhex("20300115"), dt.date(2030, 1, 15)),),
        bad_vectors=(bytes.fromhex("FFFFFFFF"),),
    ),
    DataElement(
        EF05,
        0x07,
        "card_number",
        "card number 卡号",
        9,
        decode_card_number,
        vectors=((b"A01234567", "A01234567"),),
        bad_vectors=(b"A0123-567", b"\xb2\xe2\xca\xd4\x00\x00\x00\x00\x00"),
    ),
    DataElement(
        EF06,
        0x08,
        "ssn",
        "social security number 社会保障号码",
        18,
        decode_ssn,
        vectors=((b"31010119800101001X", "31010119800101001X"),),
        bad_vectors=(b"3101011980010100AB", b"31010119800101 01X"),
    ),
    DataElement(
        EF06,
        0x09,
        "name",
        "name 姓名",
        30,
        decode_name,
        exact_length=False,
        vectors=(
            (_gbk("张测试", 30, 0x20), "张测试"),
            (_gbk("李示例", 30, 0x00), "李示例"),
            ("王样本".encode("gbk"), "王样本"),
        ),
        bad_vectors=(b"\xff\xfe\x81" + b"\x20" * 27, b"\x20" * 30),
    ),
    DataElement(
        EF06,
        0x4E,
        "name_extension",
        "name extension 姓名扩展",
        20,
        decode_name_extension,
        exact_length=False,
        min_generation=2,
        vectors=((_gbk("", 20, 0xFF), ""), (_gbk("尔", 20, 0xFF), "尔")),
        bad_vectors=(b"\x81\x20" + b"\xff" * 18,),
    ),
    DataElement(
        EF06,
        0x0A,
        "gender",
        "gender 性别",
        1,
        decode_gender,
        vectors=((b"1", Gender.MALE), (b"2", Gender.FEMALE)),
        bad_vectors=(b"3",),
    ),
    DataElement(
        EF06,
        0x0B,
        "ethnicity",
        "ethnicity 民族",
        1,
        decode_hex,
        vectors=((b"\x01", "01"),),
    ),
    DataElement(
        EF06,
        0x0C,
        "birthplace",
        "birthplace 出生地",
        3,
        decode_region,
        vectors=((bytes.fromhex("310101"), "310101"), (bytes.fromhex("3101FF"), "3101")),
        bad_vectors=(bytes.fromhex("FFFFFF"), bytes.fromhex("31A101")),
    ),
    DataElement(
        EF06,
        0x0D,
        "birth_date",
        "birth date 出生日期",
        4,
        decode_bcd_date,
        vectors=((bytes.fromhex("19800101"), dt.date(1980, 1, 1)),),
        bad_vectors=(bytes.fromhex("19800230"),),
    ),
)

#: Fields a generation-3 card shows without EXTERNAL AUTHENTICATE.
PUBLIC_GEN3_FIELDS = frozenset(e.field for e in ELEMENTS if not e.protected_gen3)


def elements_of(ef: int) -> tuple[DataElement, ...]:
    return tuple(e for e in ELEMENTS if e.ef == ef)
