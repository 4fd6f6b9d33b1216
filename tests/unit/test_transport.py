"""apdu.transport.CardChannel over a scripted transport: 61xx and 6Cxx handled below the app."""

from __future__ import annotations

import pytest

from apdu.command import Command, Response
from apdu.errors import CardRemovedError, ResponseError
from apdu.scripted import EmulatedTransport, ScriptedTransport, ScriptMismatch
from apdu.transport import MAX_CHAINED_RESPONSES, CardChannel, Transport

H = bytes.fromhex
SELECT = Command(0x00, 0xA4, 0x04, 0x00, H("A000000333010101"))


def test_get_response_chaining_concatenates_every_round() -> None:
    transport = ScriptedTransport(
        [
            ("00A4040008A000000333010101", "6110"),
            ("00C0000010", "00112233445566778899AABBCCDDEEFF" + "6108"),
            ("00C0000008", "0102030405060708" + "6103"),
            ("00C0000003", "A1A2A3" + "9000"),
        ]
    )
    response = CardChannel(transport).send(SELECT)
    assert response == Response(
        H("00112233445566778899AABBCCDDEEFF" + "0102030405060708" + "A1A2A3"), 0x9000
    )
    assert transport.finished


def test_data_before_61xx_is_kept_and_61_00_asks_for_256() -> None:
    transport = ScriptedTransport(
        [
            ("00A4040008A000000333010101", "AABB" + "6100"),
            ("00C0000000", "CC" * 256 + "9000"),
        ]
    )
    response = CardChannel(transport).send(SELECT)
    assert response == Response(H("AABB") + b"\xcc" * 256, 0x9000)
    assert transport.finished


def test_get_response_keeps_only_the_channel_bits_of_cla() -> None:
    transport = ScriptedTransport(
        [("80CA9F7F00", "6102"), ("00C0000002", "BEEF9000")]  # proprietary CLA 80 → 00
    )
    assert CardChannel(transport).send(Command(0x80, 0xCA, 0x9F, 0x7F, le=256)).data == H("BEEF")
    transport = ScriptedTransport([("01CA9F7F00", "6102"), ("01C0000002", "BEEF9000")])
    assert CardChannel(transport).send(Command(0x01, 0xCA, 0x9F, 0x7F, le=256)).data == H("BEEF")


def test_final_status_word_of_a_chain_is_reported() -> None:
    transport = ScriptedTransport([("00A4040008A000000333010101", "6104"), ("00C0000004", "6A82")])
    assert CardChannel(transport).send(SELECT) == Response(b"", 0x6A82)


def test_6cxx_resends_with_the_length_the_card_asked_for() -> None:
    transport = ScriptedTransport(
        [("00B2090032", "6C20"), ("00B2090020", "09" + "1E" + "20" * 30 + "9000")]
    )
    response = CardChannel(transport).send(Command(0x00, 0xB2, 0x09, 0x00, le=0x32))
    assert response == Response(H("091E") + b"\x20" * 30, 0x9000)
    assert transport.finished


def test_6c00_means_256() -> None:
    transport = ScriptedTransport([("00B2010405", "6C00"), ("00B2010400", "77" * 256 + "9000")])
    response = CardChannel(transport).send(Command(0x00, 0xB2, 0x01, 0x04, le=5))
    assert response == Response(b"\x77" * 256, 0x9000)
    assert transport.finished


def test_6cxx_then_61xx() -> None:
    transport = ScriptedTransport(
        [("00CA9F7F05", "6C04"), ("00CA9F7F04", "6104"), ("00C0000004", "DEADBEEF9000")]
    )
    response = CardChannel(transport).send(Command(0x00, 0xCA, 0x9F, 0x7F, le=5))
    assert response == Response(H("DEADBEEF"), 0x9000)
    assert transport.finished


def test_chains_up_to_the_limit_are_followed() -> None:
    script = [("00A4040008A000000333010101", "6101")]
    script += [("00C0000001", "AA6101")] * (MAX_CHAINED_RESPONSES - 1)
    script += [("00C0000001", "AA9000")]
    transport = ScriptedTransport(script)
    response = CardChannel(transport).send(SELECT)
    assert response == Response(b"\xaa" * MAX_CHAINED_RESPONSES, 0x9000)
    assert transport.finished


def test_runaway_61xx_is_a_response_error() -> None:
    script = [("00A4040008A000000333010101", "6101")]
    script += [("00C0000001", "AA6101")] * MAX_CHAINED_RESPONSES
    transport = ScriptedTransport(script)
    with pytest.raises(ResponseError, match="61xx"):
        CardChannel(transport).send(SELECT)
    # it stopped exactly at the limit: no GET RESPONSE beyond the script was sent
    assert transport.finished


def test_trace_hook_sees_every_raw_exchange() -> None:
    script = [
        ("00B2090032", "6C04"),
        ("00B2090004", "6102"),
        ("00C0000002", "0900" + "9000"),
    ]
    seen: list[tuple[bytes, bytes]] = []
    channel = CardChannel(ScriptedTransport(script), trace=lambda cmd, rsp: seen.append((cmd, rsp)))
    channel.send(Command(0x00, 0xB2, 0x09, 0x00, le=0x32))
    assert seen == [(H(c), H(r)) for c, r in script]


def test_garbled_answer_is_a_response_error_and_still_traced() -> None:
    seen: list[tuple[bytes, bytes]] = []
    channel = CardChannel(
        ScriptedTransport([("0084000008", "90")]), trace=lambda c, r: seen.append((c, r))
    )
    with pytest.raises(ResponseError):
        channel.send(Command(0x00, 0x84, 0x00, 0x00, le=8))
    assert seen == [(H("0084000008"), H("90"))]


def test_scripted_transport_fails_loudly_on_unexpected_commands() -> None:
    transport = ScriptedTransport([("0084000008", "9000")])
    with pytest.raises(ScriptMismatch, match="expected 0084000008"):
        transport.transmit(H("0084000004"))
    transport.transmit(H("0084000008"))
    with pytest.raises(ScriptMismatch, match="unexpected extra command"):
        transport.transmit(H("0084000008"))


class _ExplodingCard:
    atr = H("3B00")

    def power_on(self) -> None:
        pass

    def power_off(self) -> None:
        pass

    def process(self, raw: bytes) -> bytes:
        raise ConnectionResetError("gone")


def test_emulated_transport_turns_a_vanished_card_into_card_removed() -> None:
    transport = EmulatedTransport(_ExplodingCard())
    assert isinstance(transport, Transport)
    with pytest.raises(CardRemovedError) as info:
        transport.transmit(H("00A4040000"))
    assert isinstance(info.value.__cause__, ConnectionResetError)
