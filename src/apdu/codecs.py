"""Decoders (and, for the emulator, encoders) of the card's data elements.

Error messages name the element and the problem, never the value: values are personal data
and error messages end up in logs.

Each decoder takes the raw value of one element and returns a Python value or raises
:class:`~apdu.errors.CardDataError` naming the element.  Padding rules follow the card
specification: names are right-padded with ``20`` or ``00`` (EF06/09) or ``FF`` (EF06/4E).
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from apdu.errors import CardDataError


def decode_bcd_digits(raw: bytes, what: str) -> str:
    """BCD nibbles to a digit string; a trailing ``F`` filler nibble is dropped."""
    text = raw.hex().upper()
    stripped = text.rstrip("F")
    if not stripped.isdigit():
        raise CardDataError(f"{what}: not BCD digits")
    return stripped


def decode_bcd_date(raw: bytes, what: str) -> dt.date:
    """``YYYYMMDD`` in four BCD bytes."""
    if len(raw) != 4:
        raise CardDataError(f"{what}: a date is 4 BCD bytes, got {len(raw)}")
    digits = decode_bcd_digits(raw, what)
    if len(digits) != 8:
        raise CardDataError(f"{what}: not a BCD date YYYYMMDD")
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError as exc:
        raise CardDataError(f"{what}: not a calendar date") from exc


def encode_bcd_date(value: dt.date) -> bytes:
    return bytes.fromhex(value.strftime("%Y%m%d"))


def decode_region(raw: bytes, what: str) -> str:
    """A BCD region code; trailing ``FF`` bytes (and ``F`` nibbles) are dropped."""
    trimmed = raw.rstrip(b"\xff")
    if not trimmed:
        raise CardDataError(f"{what}: empty region code")
    return decode_bcd_digits(trimmed, what)


def decode_gbk_text(raw: bytes, what: str, padding: bytes) -> str:
    """GBK text right-padded with any of the bytes in ``padding``."""
    trimmed = raw.rstrip(padding)
    try:
        text = trimmed.decode("gbk")
    except UnicodeDecodeError as exc:
        raise CardDataError(f"{what}: not valid GBK text ({len(trimmed)} bytes)") from exc
    # Control characters could drive the screen a name is shown on, and "|" would split the
    # vendor line: no name has either.
    if "|" in text or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise CardDataError(f"{what}: contains control characters or '|', which no name has")
    return text


def decode_name(raw: bytes, what: str) -> str:
    """EF06/09: GBK, right-padded with ``20`` (seen) or ``00``."""
    name = decode_gbk_text(raw, what, b"\x20\x00")
    if not name:
        raise CardDataError(f"{what}: the name is empty")
    return name


def decode_name_extension(raw: bytes, what: str) -> str:
    """EF06/4E: GBK, padded with ``FF``; empty when the name needs no extension."""
    return decode_gbk_text(raw, what, b"\xff\x00\x20")


def encode_gbk_padded(text: str, length: int, pad: int) -> bytes:
    raw = text.encode("gbk")
    if len(raw) > length:
        raise ValueError(f"{text!r} needs {len(raw)} bytes, field holds {length}")
    return raw + bytes((pad,)) * (length - len(raw))


def decode_ascii(raw: bytes, what: str) -> str:
    """Printable ASCII, right padding of spaces or zero bytes removed."""
    trimmed = raw.rstrip(b" \x00")
    if not trimmed or not all(0x20 <= b < 0x7F for b in trimmed):
        raise CardDataError(f"{what}: not printable ASCII")
    return trimmed.decode("ascii")


def decode_hex(raw: bytes, what: str) -> str:
    del what
    return raw.hex().upper()
