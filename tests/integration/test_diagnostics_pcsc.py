"""The technician's diagnostics on the real stack: pyscard → pcscd → vpcd → the card emulator.

The reader report sees both vpcd slots, empty or holding a card; a read through read_one with
ReadRequest(trace=...) fills the APDU trace without holder data; the self test passes through
pcscd as it does in process.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from apdu.emulator import load_holders
from apdu.emulator.stack import CARD_READER, SAM_READER, PcscStack
from apdu.emulator.vpcd import VpcdLink
from apdu.pcsc import PcscContext
from apdu.ssc import Authenticity
from apdu.ssc.elements import SSSE_AID
from terminal.card_reading import ReadRequest, SecurityModuleChoice, read_one
from terminal.clock import monotonic_seconds
from terminal.diagnostics import ApduTrace, reader_report, self_test_pcsc

InsertCard = Callable[..., VpcdLink]

pytestmark = pytest.mark.pcsc


def holder_secrets() -> list[str]:
    """Every test holder's name, SSN, card number and card code, as text and as hex."""
    found = []
    for holder in load_holders().values():
        for text in (holder.ssn, holder.card_number, holder.name):
            found += [text, text.encode("utf-8").hex().upper(), text.encode("gbk").hex().upper()]
        found.append(holder.card_id.upper())
    return found


def test_reader_report_sees_both_slots_empty(stack: PcscStack) -> None:
    del stack
    report = reader_report()
    assert report.problem is None
    by_name = {reader.name: reader for reader in report.readers}
    assert {CARD_READER, SAM_READER} <= by_name.keys()
    assert not by_name[CARD_READER].card_present
    assert by_name[CARD_READER].atr_hex == ""
    assert by_name[CARD_READER].feedback == "no LED/buzzer known for this reader"


def test_reader_report_explains_the_card_and_the_psam(insert_card: InsertCard, psam: str) -> None:
    link = insert_card("sh-gen3")
    report = reader_report(PcscContext)
    by_name = {reader.name: reader for reader in report.readers}
    card, sam = by_name[CARD_READER], by_name[psam]
    assert card.card_present
    assert card.atr_hex == link.card.atr.hex().upper()[:-16] + "*" * 16
    assert card.atr_meaning.endswith("the card emulator's social security card, generation 3")
    assert sam.card_present
    assert sam.atr_meaning.endswith("the card emulator's test PSAM")
    assert link.card.atr[-8:].hex().upper() not in "\n".join(report.lines())


def test_a_read_through_pcscd_fills_the_trace_masked(insert_card: InsertCard) -> None:
    insert_card("zj-gen2")
    trace = ApduTrace(monotonic_seconds)
    request = ReadRequest(
        reader_pattern=CARD_READER,
        security_module=SecurityModuleChoice("software").opened(),
        wait_seconds=5,
        trace=trace.record,
    )
    with PcscContext() as context:
        record = read_one(context, request)
    assert record.authentic is Authenticity.VERIFIED
    lines = trace.lines()
    assert SSSE_AID.hex().upper() in lines[0]
    assert any("INTERNAL AUTHENTICATE" in line for line in lines)
    times = [entry.at_ms for entry in trace.entries()]
    assert times == sorted(times)
    text = "\n".join(lines)
    for secret in holder_secrets():
        assert secret not in text
        assert secret not in text.replace(" ", "")


def test_self_test_through_pcscd(stack: PcscStack) -> None:
    trace = ApduTrace(monotonic_seconds)
    report = self_test_pcsc(stack, clock=monotonic_seconds, trace=trace.record)
    assert report.passed, report.lines()
    assert (
        report.lines()[0] == f"self test passed (emulated cards in {CARD_READER!r} through pcscd)"
    )
    assert len(report.steps) == 4
    assert len(trace) > 20
    with PcscContext() as context:  # every card the self test put in was taken out again
        assert not next(s for s in context.status() if s.name == CARD_READER).card_present
