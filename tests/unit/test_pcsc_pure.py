"""apdu.pcsc without pcscd: error mapping, reader-name classification, matching, preferences."""

from __future__ import annotations

import pytest

from apdu import pcsc
from apdu.errors import (
    ApduError,
    CardRemovedError,
    CardServiceUnavailable,
    NoReaderError,
    ReaderCommunicationError,
    ReaderUnplugged,
    WaitCancelled,
)
from apdu.pcsc import InterfacePreference, ReaderInterface, error_for, interface_of, matches

READER = "ACS ACR39U ICC Reader 00 00"

#: Every failure code apdu.pcsc names, and the error a technician should see for it.
EXPECTED = {
    "SCARD_E_CANCELLED": WaitCancelled,
    "SCARD_E_INVALID_HANDLE": ReaderCommunicationError,
    "SCARD_E_UNKNOWN_READER": ReaderUnplugged,
    "SCARD_E_TIMEOUT": ReaderCommunicationError,
    "SCARD_E_SHARING_VIOLATION": ReaderCommunicationError,
    "SCARD_E_NO_SMARTCARD": CardRemovedError,
    "SCARD_E_PROTO_MISMATCH": ReaderCommunicationError,
    "SCARD_E_NOT_TRANSACTED": ReaderCommunicationError,
    "SCARD_E_READER_UNAVAILABLE": ReaderUnplugged,
    "SCARD_E_NO_SERVICE": CardServiceUnavailable,
    "SCARD_E_SERVICE_STOPPED": CardServiceUnavailable,
    "SCARD_E_NO_READERS_AVAILABLE": NoReaderError,
    "SCARD_F_COMM_ERROR": CardServiceUnavailable,  # pcsc-lite: the client lost pcscd
    "SCARD_W_UNRESPONSIVE_CARD": ReaderCommunicationError,
    "SCARD_W_UNPOWERED_CARD": ReaderCommunicationError,
    "SCARD_W_RESET_CARD": ReaderCommunicationError,
    "SCARD_W_REMOVED_CARD": CardRemovedError,
}


def test_every_named_failure_code_has_an_expectation() -> None:
    named = {n for n in dir(pcsc) if n.startswith("SCARD_") and n != "SCARD_S_SUCCESS"}
    assert named == set(EXPECTED)


def _params() -> list[object]:
    params = []
    for name, error in EXPECTED.items():
        params.append(pytest.param(name, error, id=name))
    return params


@pytest.mark.parametrize(("name", "error"), _params())
def test_error_for_maps_each_code(name: str, error: type[ApduError]) -> None:
    code = getattr(pcsc, name)
    result = error_for(code, "reading the card", READER)
    assert type(result) is error
    # pyscard may hand the code over as a signed 32-bit int: same mapping
    assert type(error_for(code - (1 << 32), "reading the card", READER)) is error


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_error_messages_are_sentences_not_tracebacks(name: str) -> None:
    error = error_for(getattr(pcsc, name), "reading the card", READER)
    message = error.message
    assert message == str(error)
    assert message.strip() == message
    assert message
    assert "\n" not in message
    for noise in ("Traceback", "Exception", "smartcard", "scard.", 'File "', "Error("):
        assert noise not in message, noise


def test_messages_name_the_reader_and_step_where_useful() -> None:
    removed = error_for(pcsc.SCARD_W_REMOVED_CARD, "reading the card", READER)
    assert READER in removed.message
    unplugged = error_for(pcsc.SCARD_E_READER_UNAVAILABLE, "waiting for a card", READER)
    assert READER in unplugged.message
    assert "waiting for a card" in unplugged.message
    generic = error_for(pcsc.SCARD_F_COMM_ERROR, "reading the card", READER)
    assert "0x80100013" in generic.message
    service = error_for(pcsc.SCARD_E_NO_SERVICE, "connecting to the card service")
    assert "pcscd" in service.message
    without_reader = error_for(pcsc.SCARD_F_COMM_ERROR, "listing readers")
    assert "on reader" not in without_reader.message
    assert "while listing readers" in without_reader.message


@pytest.mark.parametrize(
    ("reader", "interface"),
    [
        ("ACS ACR122U PICC Interface 00 00", ReaderInterface.CONTACTLESS),
        ("ACS ACR1252 1S CL Reader [ACR1252 1S CL Reader PICC] 00 00", ReaderInterface.CONTACTLESS),
        ("Identiv uTrust 3700 F Contactless Reader 00 00", ReaderInterface.CONTACTLESS),
        ("SCM Microsystems SCL011 NFC 00 00", ReaderInterface.CONTACTLESS),
        ("HID OMNIKEY 5422 Smartcard Reader CL 01 00", ReaderInterface.CONTACTLESS),
        ("ACS ACR1281 1S Dual Reader SAM 00 02", ReaderInterface.SAM),
        ("Generic sam slot 00 01", ReaderInterface.SAM),
        ("Gemalto PC Twin Reader 00 00", ReaderInterface.CONTACT),
        ("ACS ACR39U ICC Reader 00 00", ReaderInterface.CONTACT),
        ("Samsung Smart Card Reader 00 00", ReaderInterface.CONTACT),
        ("Virtual PCD 00 00", ReaderInterface.CONTACT),
        ("Cloud CLX reader 00 00", ReaderInterface.CONTACT),
    ],
)
def test_interface_of(reader: str, interface: ReaderInterface) -> None:
    assert interface_of(reader) is interface


@pytest.mark.parametrize(
    ("reader", "pattern", "expected"),
    [
        ("ACS ACR122U PICC Interface 00 00", "*ACR122*", True),
        ("ACS ACR122U PICC Interface 00 00", "*acr122*", True),
        ("ACS ACR122U PICC Interface 00 00", "ACR*", False),  # a glob matches the whole name
        ("ACS ACR122U PICC Interface 00 00", "ACS*00 0?", True),
        ("ACS ACR122U PICC Interface 00 00", "*ACR[12]2*", True),
        ("ACS ACR122U PICC Interface 00 00", "acr122", True),  # no wildcard: substring
        ("ACS ACR122U PICC Interface 00 00", "PICC INTERFACE", True),
        ("ACS ACR122U PICC Interface 00 00", "ACR1252", False),
        ("Virtual PCD 00 01", "virtual pcd 00 01", True),
        ("Virtual PCD 00 01", "Virtual PCD 00 00", False),
    ],
)
def test_matches_glob_and_substring_any_case(reader: str, pattern: str, expected: bool) -> None:
    assert matches(reader, pattern) is expected


def test_interface_preference_order() -> None:
    contact, contactless = ReaderInterface.CONTACT, ReaderInterface.CONTACTLESS
    assert InterfacePreference(1).order() == (contact,)
    assert InterfacePreference(2).order() == (contactless,)
    assert InterfacePreference(3).order() == (contact, contactless)
    assert InterfacePreference(4).order() == (contactless, contact)
    for preference in InterfacePreference:
        assert ReaderInterface.SAM not in preference.order()
