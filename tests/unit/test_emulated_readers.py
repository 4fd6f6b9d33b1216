"""apdu.scripted.EmulatedReaders: the in-process stand-in for a PC/SC context (reader choice
shared with PcscContext through apdu.pcsc.choose_reader; waits that wake on a change)."""

from __future__ import annotations

import threading
import time

import pytest

from apdu.emulator import VirtualCard, VirtualPsam, load_holders
from apdu.errors import NoCardError, NoReaderError, ReaderUnplugged, WaitCancelled
from apdu.pcsc import InterfacePreference
from apdu.scripted import EmulatedReaders
from apdu.security.software import MasterKeys

CONTACT = "ACS ACR1281 1S Dual Reader ICC 00 00"
CONTACTLESS = "ACS ACR1281 1S Dual Reader PICC 00 01"
SAM = "ACS ACR1281 1S Dual Reader SAM 00 02"


@pytest.fixture
def card(masters: MasterKeys) -> VirtualCard:
    return VirtualCard(load_holders()["zj-gen2"], masters)


def test_status_and_reader_choice(card: VirtualCard, masters: MasterKeys) -> None:
    readers = EmulatedReaders({CONTACT: None, CONTACTLESS: card, SAM: VirtualPsam(masters)})
    status = {s.name: (s.interface.value, s.card_present, s.atr) for s in readers.status()}
    assert status == {
        CONTACT: ("contact", False, b""),
        CONTACTLESS: ("contactless", True, card.atr),
        SAM: ("sam", True, VirtualPsam(masters).atr),
    }
    assert readers.pick_reader() == CONTACT  # contact first, even empty
    assert readers.pick_reader(preference=InterfacePreference.AUTO_CONTACTLESS_FIRST) == (
        CONTACTLESS
    )
    assert readers.pick_reader(exclude=(CONTACT,)) == CONTACTLESS
    assert readers.pick_reader("*SAM*") == SAM  # only when named
    with pytest.raises(NoReaderError, match="no reader matches 'Gemalto'"):
        readers.pick_reader("Gemalto")
    with pytest.raises(NoReaderError, match="no reader connected"):
        EmulatedReaders({}).pick_reader()


def test_connect_reads_the_card_and_refuses_an_empty_or_unknown_reader(card: VirtualCard) -> None:
    readers = EmulatedReaders({CONTACT: card, CONTACTLESS: None})
    transport = readers.connect(CONTACT)
    assert transport.reader == CONTACT
    assert transport.atr == card.atr
    assert transport.transmit(bytes.fromhex("0084000008"))[-2:] == b"\x90\x00"
    with pytest.raises(NoCardError, match="no card in reader"):
        readers.connect(CONTACTLESS)
    with pytest.raises(ReaderUnplugged):
        readers.connect("elsewhere")


def test_waits_wake_on_insert_and_removal(card: VirtualCard) -> None:
    readers = EmulatedReaders({CONTACT: None})
    with pytest.raises(NoCardError, match=r"no card was presented within 0\.05 s"):
        readers.wait_for_card(CONTACT, timeout=0.05)
    timer = threading.Timer(0.05, readers.insert, (CONTACT, card))
    timer.start()
    started = time.monotonic()
    assert readers.wait_for_card(CONTACT, timeout=5) == card.atr
    assert time.monotonic() - started < 2
    with pytest.raises(NoCardError, match="the card stayed"):
        readers.wait_for_removal(CONTACT, timeout=0.05)
    threading.Timer(0.05, readers.remove, (CONTACT,)).start()
    readers.wait_for_removal(CONTACT, timeout=5)
    assert readers.status()[0].card_present is False


def test_cancel_ends_a_wait_in_another_thread() -> None:
    readers = EmulatedReaders({CONTACT: None})
    errors: list[Exception] = []

    def wait() -> None:
        try:
            readers.wait_for_card(CONTACT, timeout=None)
        except NoCardError as error:
            errors.append(error)

    thread = threading.Thread(target=wait)
    thread.start()
    deadline = time.monotonic() + 5
    while thread.is_alive() and time.monotonic() < deadline:  # a cancel before the wait is lost
        readers.cancel()
        thread.join(0.05)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], WaitCancelled)
