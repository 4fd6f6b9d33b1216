"""apdu.feedback: LED and buzzer per reader model, never an error."""

from __future__ import annotations

import logging

import pytest

from apdu.errors import ReaderCommunicationError
from apdu.feedback import CCID_ESCAPE, NoFeedback, Signal, feedback_for
from apdu.scripted import ScriptedTransport

ACR122U = "ACS ACR122U PICC Interface 00 00"
ESCAPE_READERS = [
    "ACS ACR1251 1S CL Reader PICC 00 00",
    "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00",
    "ACS ACR1255U-J1 PICC Reader 00 00",
    "ACS ACR1281 1S Dual Reader PICC 00 00",
    "ACS ACR1283 4S CL Reader PICC 00 00",
]


def _signal(reader: str, signal: Signal) -> list[tuple[int, bytes]]:
    transport = ScriptedTransport([], reader=reader)
    feedback_for(reader).signal(transport, signal)
    assert transport.finished  # feedback never transmits APDUs to the card
    return transport.controls


def test_ccid_escape_code() -> None:
    assert CCID_ESCAPE == 3500


@pytest.mark.parametrize("signal", list(Signal))
def test_acr122u_gets_one_pseudo_apdu_through_control(signal: Signal) -> None:
    controls = _signal(ACR122U, signal)
    assert len(controls) == 1
    code, command = controls[0]
    assert code == 3500
    # FF 00 40 <P2> 04 <T1> <T2> <repetitions> <buzzer>
    assert command[:3] == bytes.fromhex("FF0040")
    assert len(command) == 9
    assert command[4] == 0x04
    assert command[5] > 0
    assert command[7] > 0


def test_acr122u_success_and_failure_differ() -> None:
    success = _signal(ACR122U, Signal.SUCCESS)[0][1]
    failure = _signal(ACR122U, Signal.FAILURE)[0][1]
    assert success != failure
    assert failure[7] > success[7]  # more repetitions (beeps) on a failure


@pytest.mark.parametrize("reader", ESCAPE_READERS)
@pytest.mark.parametrize("signal", list(Signal))
def test_acr12x1_get_led_then_buzzer_escape_commands(reader: str, signal: Signal) -> None:
    controls = _signal(reader, signal)
    assert [code for code, _ in controls] == [3500, 3500]
    (_, led), (_, buzzer) = controls
    assert led[:5] == bytes.fromhex("E000002901")
    assert len(led) == 6
    assert buzzer[:5] == bytes.fromhex("E000002801")
    assert len(buzzer) == 6
    assert buzzer[5] > 0
    # LED byte: bit 0 red, bit 1 green
    assert led[5] == (0x02 if signal is Signal.SUCCESS else 0x01)


@pytest.mark.parametrize(
    "reader",
    [
        "Gemalto PC Twin Reader 00 00",
        "Virtual PCD 00 00",
        "HID Global OMNIKEY 5422 Smartcard Reader 00 00",
        "ACS ACR39U ICC Reader 00 00",
        "",
    ],
)
@pytest.mark.parametrize("signal", list(Signal))
def test_unknown_reader_gets_nothing(reader: str, signal: Signal) -> None:
    assert isinstance(feedback_for(reader), NoFeedback)
    assert _signal(reader, signal) == []


def test_reader_name_is_matched_case_insensitively() -> None:
    assert len(_signal("acs acr122u picc interface 00 00", Signal.SUCCESS)) == 1


class RefusingTransport(ScriptedTransport):
    """A reader whose driver refuses escape commands (pcsc-lite without ifdDriverOptions)."""

    def control(self, code: int, data: bytes) -> bytes:
        self.controls.append((code, data))
        raise ReaderCommunicationError("escape commands are disabled")


@pytest.mark.parametrize("reader", [ACR122U, ESCAPE_READERS[0]])
@pytest.mark.parametrize("signal", list(Signal))
def test_a_refused_feedback_command_is_logged_not_raised(
    reader: str, signal: Signal, caplog: pytest.LogCaptureFixture
) -> None:
    transport = RefusingTransport([], reader=reader)
    with caplog.at_level(logging.INFO, logger="apdu.feedback"):
        feedback_for(reader).signal(transport, signal)  # must not raise
    assert len(transport.controls) == 1  # gave up after the first refusal
    assert "escape commands are disabled" in caplog.text
    assert reader in caplog.text
