"""apdu.atr.parse_atr: historical bytes and protocols from good ATRs, clear errors for bad ones."""

from __future__ import annotations

import pytest

from apdu.atr import parse_atr
from apdu.errors import CardDataError

H = bytes.fromhex


@pytest.mark.parametrize(
    ("raw", "protocols", "historical"),
    [
        # the emulator's T=0 card: TB1 TC1, 13 historical bytes
        (
            H("3B6D0000" + "0053534303" + "0000000000A10001"),
            (0,),
            H("0053534303" + "0000000000A10001"),
        ),
        # the emulator's PSAM: historical "PSAMYSSE\0"
        (H("3B6900005053414D5953534500"), (0,), b"PSAMYSSE\x00"),
        # PC/SC part 3 contactless ATR: TD1 says T=0, TD2 says T=1, then TCK
        (
            H("3B8F8001804F0CA000000306030001000000006A"),
            (0, 1),
            H("804F0CA00000030603000100000000"),
        ),
        # T=1 card: TA1 TC1 TD1 (T=1), TD2 (T=1), TA3 TB3, no historical bytes, TCK
        (H("3BD096118131FE4500"), (1,), b""),
        # inverse convention and no interface bytes at all
        (H("3F03010203"), (0,), H("010203")),
        # a trailing TCK byte after the historical bytes is tolerated
        (H("3B02141500"), (0,), H("1415")),
    ],
    ids=["emulator-card", "emulator-psam", "pcsc-contactless", "t1-no-historical", "3F", "tck"],
)
def test_good_atrs(raw: bytes, protocols: tuple[int, ...], historical: bytes) -> None:
    atr = parse_atr(raw)
    assert atr.raw == raw
    assert atr.protocols == protocols
    assert atr.historical == historical
    assert atr.card_diversifier == raw[-8:]


def test_t15_is_not_a_protocol() -> None:
    # TD1 = 80: T=0 follows, TD2 = 1F: T=15 qualifies global bytes (TA3 = C7), not a protocol.
    atr = parse_atr(H("3B8880" + "1F" + "C7" + "0102030405060708"))
    assert atr.historical == H("0102030405060708")
    assert atr.protocols == (0,)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", r"\(empty\) is not an ISO ATR"),
        (H("3B"), "is not an ISO ATR"),
        (H("0000"), "is not an ISO ATR"),
        (H("6F6D0000"), "is not an ISO ATR"),
        (H("3B80"), "cut short in its interface bytes"),  # TD1 announced, absent
        (H("3B10"), "cut short in its interface bytes"),  # TA1 announced, absent
        (H("3B9011"), "cut short in its interface bytes"),  # TA1 present, TD1 absent
        (H("3B050102"), "missing historical bytes"),
        (H("3B6D0000" + "00535343"), "missing historical bytes"),
    ],
)
def test_bad_atrs(raw: bytes, message: str) -> None:
    with pytest.raises(CardDataError, match=message):
        parse_atr(raw)
