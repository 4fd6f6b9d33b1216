"""Reading emulated cards of every generation through pyscard → pcscd → vpcd → emulator."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from apdu.emulator import Fault, VirtualPsam, load_holders, testing_keys_path, testing_masters
from apdu.emulator.stack import CARD_READER, SAM_READER, PcscStack
from apdu.emulator.vpcd import VpcdLink
from apdu.errors import (
    CardDataError,
    CardRemovedError,
    NoCardError,
    NotSocialSecurityCard,
    ResponseError,
    StatusError,
    WaitCancelled,
)
from apdu.pcsc import PcscContext
from apdu.security import SecurityModule
from apdu.security.psam import PsamSecurityModule
from apdu.security.software import SoftwareSecurityModule
from apdu.ssc import Authenticity, CardRecord, read_card
from apdu.transport import CardChannel

InsertCard = Callable[..., VpcdLink]

pytestmark = pytest.mark.pcsc

HOLDERS = load_holders()
MODULES = ("none", "software", "psam")


@pytest.fixture
def context(stack: PcscStack) -> Iterator[PcscContext]:
    del stack
    with PcscContext() as pcsc:
        yield pcsc


def read_on_stack(context: PcscContext, module: SecurityModule | None) -> CardRecord:
    with context.connect(CARD_READER) as transport:
        return read_card(CardChannel(transport), module)


def open_module(kind: str, context: PcscContext, stack: PcscStack) -> SecurityModule | None:
    if kind == "none":
        return None
    if kind == "software":
        return SoftwareSecurityModule.from_file(testing_keys_path())
    stack.insert(VirtualPsam(testing_masters()), SAM_READER)
    return PsamSecurityModule(CardChannel(context.connect(SAM_READER)))


@pytest.mark.parametrize("module_kind", MODULES)
@pytest.mark.parametrize("holder_key", sorted(HOLDERS))
def test_every_generation_reads_through_pcscd(
    holder_key: str,
    module_kind: str,
    insert_card: InsertCard,
    context: PcscContext,
    stack: PcscStack,
) -> None:
    holder = HOLDERS[holder_key]
    insert_card(holder_key)
    try:
        module = open_module(module_kind, context, stack)
        record = read_on_stack(context, module)
    finally:
        if module_kind == "psam":
            stack.remove(SAM_READER)
    assert record.reader == CARD_READER
    assert record.generation == holder.generation
    assert record.card_id == holder.card_id
    if module_kind == "none":
        assert record.authentic is Authenticity.NOT_CHECKED
    else:
        assert record.authentic is Authenticity.VERIFIED
    if holder.generation == 3 and module_kind == "none":
        assert not record.complete
        assert record.name is None
        assert record.ssn is None
        assert {"name", "ssn", "card_number", "birth_date"} <= record.unavailable
        return
    assert record.complete
    assert record.name == holder.name
    assert record.ssn == holder.ssn
    assert record.card_number == holder.card_number
    assert record.birth_date == holder.birth_date
    assert record.expiry_date == holder.expiry_date


FAULTS = [
    (Fault.GARBAGE, CardDataError),
    (Fault.SHORT_RESPONSE, ResponseError),
    (Fault.WRONG_SW, StatusError),
    (Fault.TRUNCATED_TLV, CardDataError),
    (Fault.BAD_NAME, CardDataError),
    (Fault.PULL_AFTER, CardRemovedError),
    (Fault.NOT_SSC, NotSocialSecurityCard),
]


@pytest.mark.parametrize(("fault", "error"), FAULTS, ids=[f.value for f, _ in FAULTS])
def test_fault_gives_its_specific_error(
    fault: Fault, error: type[Exception], insert_card: InsertCard, context: PcscContext
) -> None:
    insert_card("zj-gen2", fault, pull_after=4)
    module = SoftwareSecurityModule.from_file(testing_keys_path())
    with pytest.raises(error) as raised:
        read_on_stack(context, module)
    assert raised.value.args[0]  # a sentence for a person, never empty


def test_not_ssc_is_not_swallowed_as_a_status_error(
    insert_card: InsertCard, context: PcscContext
) -> None:
    insert_card("sh-gen3", Fault.NOT_SSC)
    with pytest.raises(NotSocialSecurityCard, match="not a social security card"):
        read_on_stack(context, None)


def test_clone_reads_but_is_marked_failed_and_gen3_data_stays_shut(
    insert_card: InsertCard, context: PcscContext
) -> None:
    insert_card("sh-gen3", Fault.CLONE)
    record = read_on_stack(context, SoftwareSecurityModule.from_file(testing_keys_path()))
    assert record.authentic is Authenticity.FAILED
    assert "clone" in record.authentication_detail
    assert not record.complete
    assert record.ssn is None


def test_slow_card_still_reads(insert_card: InsertCard, context: PcscContext) -> None:
    insert_card("js-gen1", Fault.SLOW, slow_seconds=0.01)
    record = read_on_stack(context, None)
    assert record.complete
    assert record.name == HOLDERS["js-gen1"].name


def test_wait_for_card_times_out_on_an_empty_reader(context: PcscContext) -> None:
    with pytest.raises(NoCardError, match="no card was presented"):
        context.wait_for_card(CARD_READER, timeout=0.3)


def test_wait_for_card_wakes_on_insertion_and_removal(
    context: PcscContext, stack: PcscStack, insert_card: InsertCard
) -> None:
    inserted = threading.Timer(0.2, insert_card, args=("sh-gen3",))
    inserted.start()
    atr = context.wait_for_card(CARD_READER, timeout=10)
    inserted.join()
    assert atr.startswith(bytes.fromhex("3B6D"))
    pulled = threading.Timer(0.2, stack.remove, args=(CARD_READER,), kwargs={"wait": False})
    pulled.start()
    context.wait_for_removal(CARD_READER, timeout=10)
    pulled.join()
    assert not next(s for s in context.status() if s.name == CARD_READER).card_present


def test_cancel_wakes_a_waiting_thread(context: PcscContext) -> None:
    canceller = threading.Timer(0.2, context.cancel)
    canceller.start()
    with pytest.raises(WaitCancelled):
        context.wait_for_card(CARD_READER, timeout=10)
    canceller.join()


def test_status_lists_both_virtual_readers(context: PcscContext) -> None:
    names = [s.name for s in context.status()]
    assert CARD_READER in names
    assert SAM_READER in names


def test_pick_reader_skips_the_psam_slot(
    context: PcscContext, insert_card: InsertCard, psam: str
) -> None:
    insert_card("sh-gen3")
    assert context.pick_reader(exclude=(psam,)) == CARD_READER
    assert context.pick_reader("*PCD 00 01") == psam
