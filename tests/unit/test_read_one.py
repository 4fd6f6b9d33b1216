"""terminal.card_reading.read_one over a stand-in PC/SC context: emulated cards, no pcscd."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from apdu.emulator import Fault, FaultPlan, VirtualCard, VirtualPsam, load_holders
from apdu.errors import CardRemovedError, NoReaderError, SecurityModuleMissing
from apdu.pcsc import InterfacePreference, matches
from apdu.scripted import EmulatedCard, EmulatedTransport
from apdu.security.software import MasterKeys
from apdu.ssc import Authenticity
from terminal.card_reading import ReadRequest, SecurityModuleChoice, read_one

HOLDERS = load_holders()
CARD_READER = "ACS ACR1281 1S Dual Reader PICC 00 00"
SAM_READER = "ACS ACR1281 1S Dual Reader SAM 00 01"
GREEN, RED = bytes.fromhex("E00000290102"), bytes.fromhex("E00000290101")


class RecordingTransport(EmulatedTransport):
    def __init__(self, card: EmulatedCard, reader: str) -> None:
        super().__init__(card, reader)
        self.controls: list[tuple[int, bytes]] = []
        self.closed = False

    def control(self, code: int, data: bytes) -> bytes:
        self.controls.append((code, data))
        return b""

    def close(self) -> None:
        self.closed = True


class FakeContext:
    """The part of PcscContext that read_one uses, over emulated cards in named readers."""

    def __init__(self, cards: dict[str, EmulatedCard]) -> None:
        self.cards = cards
        self.connected: dict[str, RecordingTransport] = {}
        self.waited: list[tuple[str, float | None]] = []
        self.excluded: Sequence[str] = ()

    def pick_reader(
        self,
        pattern: str | None = None,
        preference: InterfacePreference = InterfacePreference.AUTO_CONTACT_FIRST,
        *,
        exclude: Sequence[str] = (),
    ) -> str:
        del preference
        self.excluded = exclude
        names = [name for name in self.cards if name not in exclude]
        for name in names:
            if pattern is None or matches(name, pattern):
                return name
        raise NoReaderError(f"no reader matches {pattern!r}")

    def wait_for_card(self, reader: str, timeout: float | None = None) -> bytes:
        self.waited.append((reader, timeout))
        return self.cards[reader].atr

    def connect(self, reader: str) -> RecordingTransport:
        transport = RecordingTransport(self.cards[reader], reader)
        self.connected[reader] = transport
        return transport


def _card(masters: MasterKeys, key: str, *faults: Fault) -> VirtualCard:
    return VirtualCard(HOLDERS[key], masters, FaultPlan(frozenset(faults)))


def _request(module: str = "none", **kwargs: object) -> ReadRequest:
    return ReadRequest(security_module=SecurityModuleChoice.parse(module), **kwargs)  # type: ignore[arg-type]


def test_good_read_flashes_green_and_closes(masters: MasterKeys) -> None:
    context = FakeContext({CARD_READER: _card(masters, "zj-gen2")})
    record = read_one(context, _request("software", wait_seconds=3.0))  # type: ignore[arg-type]
    assert record.authentic is Authenticity.VERIFIED
    assert context.waited == [(CARD_READER, 3.0)]
    transport = context.connected[CARD_READER]
    assert transport.closed
    assert transport.controls[0][1] == GREEN


def test_wait_zero_reads_only_a_card_already_there(masters: MasterKeys) -> None:
    context = FakeContext({CARD_READER: _card(masters, "js-gen1")})
    read_one(context, _request(wait_seconds=0.0))  # type: ignore[arg-type]
    assert context.waited == []


@pytest.mark.parametrize(
    ("key", "module", "faults"),
    [("sh-gen3", "none", ()), ("zj-gen2", "software", (Fault.CLONE,))],
    ids=["incomplete", "clone"],
)
def test_incomplete_or_not_authentic_flashes_red(
    masters: MasterKeys, key: str, module: str, faults: tuple[Fault, ...]
) -> None:
    context = FakeContext({CARD_READER: _card(masters, key, *faults)})
    read_one(context, _request(module))  # type: ignore[arg-type]
    assert context.connected[CARD_READER].controls[0][1] == RED


def test_failed_read_flashes_red_raises_and_closes(masters: MasterKeys) -> None:
    context = FakeContext({CARD_READER: _card(masters, "zj-gen2", Fault.PULL_AFTER)})
    with pytest.raises(CardRemovedError):
        read_one(context, _request())  # type: ignore[arg-type]
    transport = context.connected[CARD_READER]
    assert transport.controls[0][1] == RED
    assert transport.closed


def test_no_feedback_when_asked(masters: MasterKeys) -> None:
    context = FakeContext({CARD_READER: _card(masters, "zj-gen2")})
    read_one(context, _request(feedback=False))  # type: ignore[arg-type]
    assert context.connected[CARD_READER].controls == []


def test_psam_reader_is_never_read_as_the_card(masters: MasterKeys) -> None:
    context = FakeContext(
        {SAM_READER: VirtualPsam(masters), CARD_READER: _card(masters, "sh-gen3")}
    )
    record = read_one(context, _request("psam"))  # type: ignore[arg-type]
    assert record.authentic is Authenticity.VERIFIED
    assert record.complete
    assert record.authentication_detail == f"verified by PSAM in {SAM_READER}"
    assert context.excluded == (SAM_READER,)
    assert context.connected[SAM_READER].closed
    assert context.connected[CARD_READER].closed


def test_no_psam_reader_is_security_module_missing(masters: MasterKeys) -> None:
    context = FakeContext({CARD_READER: _card(masters, "sh-gen3")})
    with pytest.raises(SecurityModuleMissing, match="no PSAM reader"):
        read_one(context, _request("psam:ACR39U SAM"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("admit", "colour"), [(True, GREEN), (False, RED)])
def test_the_verdict_chooses_the_signal_while_the_card_is_connected(
    masters: MasterKeys, admit: bool, colour: bytes
) -> None:
    """A gate decides (and journals) before the reader flashes: a lost card flashes red."""
    context = FakeContext({CARD_READER: _card(masters, "zj-gen2")})
    seen: list[bool] = []

    def accept(record: object) -> bool:
        transport = context.connected[CARD_READER]
        seen.append(not transport.closed and transport.controls == [])  # before any signal
        return admit

    read_one(context, _request("software"), accept=accept)  # type: ignore[arg-type]
    assert seen == [True]
    assert context.connected[CARD_READER].controls[0][1] == colour
