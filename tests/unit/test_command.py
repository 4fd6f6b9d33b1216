"""apdu.command: the four ISO 7816 cases, short and extended, both ways."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from apdu.command import Case, Command, Response
from apdu.errors import ResponseError

H = bytes.fromhex


@pytest.mark.parametrize(
    ("command", "raw", "case"),
    [
        # case 1: header only
        (Command(0x00, 0xA4, 0x04, 0x00), H("00A40400"), Case.NO_DATA_NO_RESPONSE),
        # case 2 short; Le 256 encodes as 00
        (Command(0x00, 0x84, 0x00, 0x00, le=8), H("0084000008"), Case.NO_DATA_RESPONSE),
        (Command(0x00, 0xB2, 0x01, 0x04, le=256), H("00B2010400"), Case.NO_DATA_RESPONSE),
        # case 3 short
        (
            Command(0x00, 0xA4, 0x00, 0x00, H("EF05")),
            H("00A4000002EF05"),
            Case.DATA_NO_RESPONSE,
        ),
        # case 4 short
        (
            Command(0x80, 0xFA, 0x00, 0x00, H("0102030405060708"), le=8),
            H("80FA0000080102030405060708") + b"\x08",
            Case.DATA_RESPONSE,
        ),
        (
            Command(0x00, 0x88, 0x00, 0x00, b"\xaa" * 255, le=256),
            H("00880000FF") + b"\xaa" * 255 + b"\x00",
            Case.DATA_RESPONSE,
        ),
        # case 2 extended: 00 Le1 Le2; 65536 encodes as 0000
        (Command(0x00, 0xB0, 0x00, 0x00, le=257), H("00B0000000" + "0101"), Case.NO_DATA_RESPONSE),
        (
            Command(0x00, 0xB0, 0x00, 0x00, le=65536),
            H("00B0000000" + "0000"),
            Case.NO_DATA_RESPONSE,
        ),
        (
            Command(0x00, 0xB0, 0x00, 0x00, le=4, extended=True),
            H("00B0000000" + "0004"),
            Case.NO_DATA_RESPONSE,
        ),
        # case 3 extended: 00 Lc1 Lc2 data
        (
            Command(0x00, 0xD6, 0x00, 0x00, b"\x11" * 256),
            H("00D6000000" + "0100") + b"\x11" * 256,
            Case.DATA_NO_RESPONSE,
        ),
        (
            Command(0x00, 0xD6, 0x00, 0x00, b"\x11\x22", extended=True),
            H("00D6000000" + "0002" + "1122"),
            Case.DATA_NO_RESPONSE,
        ),
        # case 4 extended: 00 Lc1 Lc2 data Le1 Le2 (no second 00 before Le)
        (
            Command(0x00, 0x2A, 0x9E, 0x9A, b"\x22" * 300, le=65536),
            H("002A9E9A00012C") + b"\x22" * 300 + H("0000"),
            Case.DATA_RESPONSE,
        ),
        (
            Command(0x00, 0x88, 0x00, 0x00, b"\x33", le=300),
            H("0088000000" + "0001" + "33" + "012C"),
            Case.DATA_RESPONSE,
        ),
    ],
    ids=[
        "case1",
        "case2-short",
        "case2-short-le256",
        "case3-short",
        "case4-short",
        "case4-short-max",
        "case2-ext-le257",
        "case2-ext-le65536",
        "case2-ext-forced",
        "case3-ext-256-bytes",
        "case3-ext-forced",
        "case4-ext-300-bytes",
        "case4-ext-le300",
    ],
)
def test_encode_and_decode_every_case(command: Command, raw: bytes, case: Case) -> None:
    assert command.case is case
    assert command.to_bytes() == raw
    assert Command.from_bytes(raw) == _normal_form(command)
    assert Command.from_bytes(raw).extended == (len(raw) > 4 and raw[4] == 0 and len(raw) > 5)


def test_extended_only_when_needed() -> None:
    assert not Command(0, 0xB0, 0, 0, b"\x00" * 255, le=256).needs_extended
    assert Command(0, 0xB0, 0, 0, b"\x00" * 256).needs_extended
    assert Command(0, 0xB0, 0, 0, le=257).needs_extended
    assert Command(0, 0xB0, 0, 0, extended=True).needs_extended


def test_with_le_keeps_everything_else() -> None:
    original = Command(0x80, 0xCA, 0x9F, 0x7F, b"\x01\x02", le=4, extended=True)
    changed = original.with_le(0x1F)
    assert changed == dataclasses.replace(original, le=0x1F)
    assert original.le == 4  # frozen: the original is untouched
    assert Command(0, 0xB2, 1, 4, le=5).with_le(256).to_bytes() == H("00B2010400")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cla": 0x100, "ins": 0, "p1": 0, "p2": 0},
        {"cla": 0, "ins": -1, "p1": 0, "p2": 0},
        {"cla": 0, "ins": 0, "p1": 256, "p2": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "le": 0},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "le": 65537},
        {"cla": 0, "ins": 0, "p1": 0, "p2": 0, "data": b"\x00" * 65536},
    ],
    ids=["cla", "ins", "p1", "le-zero", "le-too-big", "data-too-long"],
)
def test_invalid_commands_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field
        Command(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [
        H("00A404"),  # shorter than a header
        H("00A4040005A0A0"),  # Lc 5, two bytes present
        H("00A4040002A0A00000"),  # short form: two bytes after the data
        H("00A4040000000501"),  # extended Lc 5, one byte present
        H("00A404000000"),  # extended Lc 0
        H("00A404000000010100"),  # extended: one byte of Le
    ],
    ids=["too-short", "lc-long", "trailing", "ext-lc-long", "ext-lc-zero", "ext-le-one-byte"],
)
def test_malformed_command_apdus(raw: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by fault
        Command.from_bytes(raw)


def _normal_form(command: Command) -> Command:
    """What survives the wire: a case-1 command has no extended form."""
    has_body = bool(command.data) or command.le is not None
    return dataclasses.replace(command, extended=command.needs_extended and has_body)


byte = st.integers(0, 0xFF)
commands = st.builds(
    Command,
    cla=byte,
    ins=byte,
    p1=byte,
    p2=byte,
    data=st.binary(max_size=400),
    le=st.none() | st.integers(1, 65536),
    extended=st.booleans(),
)


@given(commands)
@example(Command(0, 0xB0, 0, 0, b"\x5a" * 65535, le=65536))
@example(Command(0, 0xB0, 0, 0, b"\x5a" * 255, le=256))
@example(Command(0, 0xB0, 0, 0, extended=True))
def test_command_round_trip(command: Command) -> None:
    raw = command.to_bytes()
    decoded = Command.from_bytes(raw)
    assert decoded == _normal_form(command)
    assert decoded.to_bytes() == raw
    assert decoded.case is command.case


def test_response_split_and_status_bytes() -> None:
    response = Response.from_bytes(H("0102039000"))
    assert response == Response(H("010203"), 0x9000)
    assert (response.sw1, response.sw2, response.ok) == (0x90, 0x00, True)
    assert response.to_bytes() == H("0102039000")
    empty = Response.from_bytes(H("6A82"))
    assert (empty.data, empty.sw, empty.ok) == (b"", 0x6A82, False)


@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_response_round_trip(data: bytes, sw: int) -> None:
    assert Response.from_bytes(Response(data, sw).to_bytes()) == Response(data, sw)


@pytest.mark.parametrize("raw", [b"", b"\x90"], ids=["empty", "one-byte"])
def test_response_without_status_word_is_a_response_error(raw: bytes) -> None:
    with pytest.raises(ResponseError, match="two-byte status word") as info:
        Response.from_bytes(raw)
    assert info.value.message == str(info.value)
