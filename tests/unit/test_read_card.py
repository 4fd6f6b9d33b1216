"""apdu.ssc.read_card against the emulated cards of every holder, with every fault mode."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import pytest

from apdu.emulator import Fault, FaultPlan, Holder, VirtualCard, VirtualPsam, load_holders
from apdu.errors import (
    AlgorithmUnsupported,
    ApduError,
    CardDataError,
    CardRemovedError,
    KeyMissing,
    NotSocialSecurityCard,
    ResponseError,
    SecurityModuleMissing,
    StatusError,
)
from apdu.scripted import EmulatedTransport
from apdu.security import CardAlgorithm, CardKey, Diversification
from apdu.security.psam import PsamSecurityModule
from apdu.security.software import MasterKeys, SoftwareSecurityModule
from apdu.ssc import Authenticity, CardRecord, Gender, read_card
from apdu.ssc.elements import ELEMENTS, FINANCIAL_AID, SSSE_AID
from apdu.ssc.reader import parse_fci
from apdu.tlv import encode_ber_tlv
from apdu.transport import CardChannel

H = bytes.fromhex
CardFactory = Callable[..., CardChannel]
HOLDERS = load_holders()
HOLDER_KEYS = sorted(HOLDERS)
#: Every field a generation-3 card hides until EXTERNAL AUTHENTICATE (name_extension is "name").
PROTECTED = frozenset(
    {
        "card_type",
        "issuer_org",
        "issue_date",
        "expiry_date",
        "card_number",
        "ssn",
        "name",
        "gender",
        "ethnicity",
        "birthplace",
        "birth_date",
    }
)
GENDERS = {"1": Gender.MALE, "2": Gender.FEMALE}


def expected_fields(holder: Holder) -> dict[str, object]:
    return {
        "card_id": holder.card_id.upper(),
        "spec_version": f"{holder.generation}.00",
        "card_type": holder.card_type,
        "issuer_org": holder.issuer_org.upper(),
        "issue_date": holder.issue_date,
        "expiry_date": holder.expiry_date,
        "card_number": holder.card_number,
        "ssn": holder.ssn.upper(),
        "name": holder.name,
        "gender": GENDERS[holder.gender],
        "ethnicity": holder.ethnicity.upper(),
        "birthplace": holder.birthplace,
        "birth_date": holder.birth_date,
    }


def expected_algorithm(holder: Holder) -> CardAlgorithm:
    # generation-1 cards do not state their algorithm in the FCI: 3DES is assumed
    return holder.algorithm if holder.generation >= 2 else CardAlgorithm.TDES


def assert_complete_and_equal(record: CardRecord, holder: Holder) -> None:
    assert record.unavailable == frozenset()
    assert record.complete
    for field, value in expected_fields(holder).items():
        assert getattr(record, field) == value, field


def assert_card_facts(record: CardRecord, holder: Holder, card: VirtualCard) -> None:
    assert record.generation == holder.generation
    assert record.card_id == holder.card_id.upper()
    assert record.region == holder.region
    assert record.spec_version == f"{holder.generation}.00"
    assert record.algorithm is expected_algorithm(holder)
    assert record.atr == card.atr
    assert record.reader == "Emulated Reader 00 00"


def _read(masters: MasterKeys, holder: Holder, module, plan: FaultPlan | None = None):  # type: ignore[no-untyped-def]
    card = VirtualCard(holder, masters, plan or FaultPlan())
    return card, read_card(CardChannel(EmulatedTransport(card)), module)


# --- every holder, every kind of security module -------------------------------------------------
@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_read_without_security_module(key: str, masters: MasterKeys) -> None:
    holder = HOLDERS[key]
    card, record = _read(masters, holder, None)
    assert_card_facts(record, holder, card)
    assert record.authentic is Authenticity.NOT_CHECKED
    assert "clone" in record.authentication_detail
    if holder.generation < 3:
        assert_complete_and_equal(record, holder)
        return
    # generation 3: the identification code and spec version only
    assert record.unavailable == PROTECTED
    assert not record.complete
    for field in PROTECTED:
        assert getattr(record, field) is None, field


@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_read_with_software_module(
    key: str, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    holder = HOLDERS[key]
    card, record = _read(masters, holder, software_module)
    assert_card_facts(record, holder, card)
    assert record.authentic is Authenticity.VERIFIED
    assert "software keys" in record.authentication_detail
    assert_complete_and_equal(record, holder)


@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_read_with_psam_module(
    key: str, masters: MasterKeys, psam_module: PsamSecurityModule
) -> None:
    holder = HOLDERS[key]
    card, record = _read(masters, holder, psam_module)
    assert_card_facts(record, holder, card)
    assert record.authentic is Authenticity.VERIFIED
    assert record.authentication_detail == "verified by PSAM in Emulated Reader 00 00"
    assert_complete_and_equal(record, holder)


def test_holders_cover_every_generation_and_the_long_name() -> None:
    assert {h.generation for h in HOLDERS.values()} == {1, 2, 3}
    assert {h.algorithm for h in HOLDERS.values()} >= {CardAlgorithm.TDES, CardAlgorithm.SM4}
    assert any(len(h.name.encode("gbk")) > 30 for h in HOLDERS.values())
    assert any(h.name_padding == 0x00 for h in HOLDERS.values())


# --- faults --------------------------------------------------------------------------------------
FAULT_ERRORS: dict[Fault, type[ApduError]] = {
    Fault.GARBAGE: CardDataError,
    Fault.SHORT_RESPONSE: ResponseError,
    Fault.WRONG_SW: StatusError,
    Fault.TRUNCATED_TLV: CardDataError,
    Fault.BAD_NAME: CardDataError,
    Fault.PULL_AFTER: CardRemovedError,
    Fault.NOT_SSC: NotSocialSecurityCard,
}


def test_fault_table_covers_every_fault() -> None:
    assert set(FAULT_ERRORS) | {Fault.CLONE, Fault.SLOW} == set(Fault)


def _personal_strings(holder: Holder) -> list[str]:
    name_gbk = holder.name.encode("gbk")
    return [
        holder.ssn,
        holder.name,
        holder.card_number,
        name_gbk.hex(),
        name_gbk.hex().upper(),
        holder.ssn.encode("ascii").hex().upper(),
        holder.card_number.encode("ascii").hex().upper(),
    ]


@pytest.mark.parametrize("module_kind", ["none", "software"])
@pytest.mark.parametrize("fault", list(Fault), ids=[f.value for f in Fault])
@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_every_fault_gives_its_error_never_a_complete_record(
    key: str,
    fault: Fault,
    module_kind: str,
    masters: MasterKeys,
    software_module: SoftwareSecurityModule,
) -> None:
    holder = HOLDERS[key]
    module = software_module if module_kind == "software" else None
    plan = FaultPlan(frozenset({fault}), slow_seconds=0.0005)
    gen3_public_only = module is None and holder.generation >= 3

    if fault is Fault.SLOW:
        _, record = _read(masters, holder, module, plan)
        _, reference = _read(masters, holder, module)
        assert dataclasses.replace(record, atr=reference.atr) == reference
        return
    if fault is Fault.CLONE:
        _, record = _read(masters, holder, module, plan)
        if module is None:
            # without a security module a clone cannot be told apart, and the record says so
            assert record.authentic is Authenticity.NOT_CHECKED
        else:
            assert record.authentic is Authenticity.FAILED
            assert "clone" in record.authentication_detail
            if holder.generation >= 3:  # a clone never opens protected data
                assert record.unavailable == PROTECTED
        return
    if gen3_public_only and fault in (Fault.BAD_NAME, Fault.PULL_AFTER):
        # the fault lies beyond what a module-less read of a gen-3 card touches
        _, record = _read(masters, holder, module, plan)
        assert not record.complete
        assert record.authentic is Authenticity.NOT_CHECKED
        assert record.name is None
        return

    expected = FAULT_ERRORS[fault]
    with pytest.raises(ApduError) as info:
        _read(masters, holder, module, plan)
    error = info.value
    assert type(error) is expected, f"{type(error).__name__}: {error.message}"
    assert error.message == str(error)
    for secret in _personal_strings(holder):
        assert secret not in error.message
    if fault is Fault.WRONG_SW:
        assert isinstance(error, StatusError)
        assert error.sw == 0x6581
        assert "6581" in error.message


def test_wrong_sw_reports_the_status_word_the_card_sent(masters: MasterKeys) -> None:
    plan = FaultPlan(frozenset({Fault.WRONG_SW}), wrong_sw=0x6F00)
    with pytest.raises(StatusError, match="6F00") as info:
        _read(masters, HOLDERS["zj-gen2"], None, plan)
    assert info.value.sw == 0x6F00


def test_missing_mandatory_record_is_card_data_error(masters: MasterKeys) -> None:
    plan = FaultPlan(frozenset({Fault.WRONG_SW}), wrong_sw=0x6A83)
    with pytest.raises(CardDataError, match=r"EF05/01 .*no such record"):
        _read(masters, HOLDERS["js-gen1"], None, plan)


def test_pull_after_raises_at_the_exact_command(masters: MasterKeys) -> None:
    # SELECT, GET RESPONSE, SELECT EF05, READ 01, READ 03: a gen-1 card pulled after 4
    with pytest.raises(CardRemovedError):
        _read(
            masters,
            HOLDERS["js-gen1"],
            None,
            FaultPlan(frozenset({Fault.PULL_AFTER}), pull_after=4),
        )
    _, record = _read(
        masters, HOLDERS["sh-gen3"], None, FaultPlan(frozenset({Fault.PULL_AFTER}), pull_after=5)
    )
    assert record.unavailable == PROTECTED


@pytest.mark.parametrize("key", ["sh-gen3", "zj-gen2"])
def test_clone_fails_against_a_psam(
    key: str, masters: MasterKeys, psam_module: PsamSecurityModule
) -> None:
    _, record = _read(masters, HOLDERS[key], psam_module, FaultPlan(frozenset({Fault.CLONE})))
    assert record.authentic is Authenticity.FAILED


def test_gen3_card_refusing_the_terminal_key_is_not_authentic(masters: MasterKeys) -> None:
    wrong_read_key = dict(masters)
    wrong_read_key[(CardKey.RKSSSE, CardAlgorithm.SM4)] = bytes(16)
    module = SoftwareSecurityModule(wrong_read_key)
    _, record = _read(masters, HOLDERS["sh-gen3"], module)
    assert record.authentic is Authenticity.FAILED
    assert "EXTERNAL AUTHENTICATE" in record.authentication_detail
    assert record.unavailable == PROTECTED
    assert record.ssn is None


# --- algorithms and security module failures -----------------------------------------------------
def _ssf33(key: str) -> Holder:
    return dataclasses.replace(HOLDERS[key], algorithm=CardAlgorithm.SSF33)


@pytest.mark.parametrize("key", ["zj-gen2", "sh-gen3"])
def test_ssf33_card_with_software_module_is_algorithm_unsupported(
    key: str, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    with pytest.raises(AlgorithmUnsupported, match="SSF33"):
        _read(masters, _ssf33(key), software_module)


def test_ssf33_card_with_psam_is_algorithm_unsupported(
    masters: MasterKeys, psam_module: PsamSecurityModule
) -> None:
    with pytest.raises(AlgorithmUnsupported, match="SSF33"):
        _read(masters, _ssf33("zj-gen2"), psam_module)


def test_ssf33_card_without_module_reads_and_names_its_algorithm(masters: MasterKeys) -> None:
    _, record = _read(masters, _ssf33("zj-gen2"), None)
    assert record.algorithm is CardAlgorithm.SSF33
    assert record.complete
    assert record.authentic is Authenticity.NOT_CHECKED


def test_psam_without_the_cards_algorithm(masters: MasterKeys) -> None:
    psam = VirtualPsam(masters, algorithms=frozenset({CardAlgorithm.TDES}))
    module = PsamSecurityModule(CardChannel(EmulatedTransport(psam)))
    with pytest.raises(AlgorithmUnsupported, match="SM4"):
        _read(masters, HOLDERS["sh-gen3"], module)


def test_psam_without_the_read_key(masters: MasterKeys) -> None:
    internal_only = {k: v for k, v in masters.items() if k[0] is CardKey.INTERNAL_AUTHENTICATION}
    module = PsamSecurityModule(CardChannel(EmulatedTransport(VirtualPsam(internal_only))))
    with pytest.raises(KeyMissing, match="RKSSSE"):
        _read(masters, HOLDERS["sh-gen3"], module)


def test_a_card_that_is_not_a_psam_is_security_module_missing(masters: MasterKeys) -> None:
    not_a_psam = VirtualCard(HOLDERS["js-gen1"], masters)
    module = PsamSecurityModule(
        CardChannel(EmulatedTransport(not_a_psam, reader="ACS ACR39U SAM 00 01"))
    )
    with pytest.raises(SecurityModuleMissing, match=r"ACR39U SAM.*not a social security PSAM"):
        _read(masters, HOLDERS["zj-gen2"], module)


def test_a_psam_that_vanishes_is_security_module_missing(masters: MasterKeys) -> None:
    psam = VirtualPsam(masters)
    transport = EmulatedTransport(psam)
    psam.process = lambda raw: (_ for _ in ()).throw(OSError("gone"))  # type: ignore[method-assign]
    with pytest.raises(SecurityModuleMissing, match="did not answer"):
        _read(masters, HOLDERS["zj-gen2"], PsamSecurityModule(CardChannel(transport)))


# --- the bytes on the wire follow the specification ----------------------------------------------
def _traced_read(card_channel: CardFactory, holder: Holder, module):  # type: ignore[no-untyped-def]
    seen: list[tuple[bytes, bytes]] = []
    channel = card_channel(holder, trace=lambda c, r: seen.append((c, r)))
    record = read_card(channel, module)
    return record, seen


def test_gen3_read_sends_the_specification_commands(
    card_channel: CardFactory, software_module: SoftwareSecurityModule
) -> None:
    holder = HOLDERS["sh-gen3"]
    record, seen = _traced_read(card_channel, holder, software_module)
    assert record.authentic is Authenticity.VERIFIED
    commands = [c for c, _ in seen]
    assert commands[0] == H("00A404000F7378312E73682EC9E7BBE1B1A3D5CF")
    assert seen[0][1][0] == 0x61
    assert commands[1] == H("00C00000") + seen[0][1][1:]
    assert commands[2:5] == [H("00A4000002EF05"), H("00B2010012"), H("00B2030006")]
    assert commands[5][:5] == H("0088000010")
    assert len(commands[5]) == 21
    assert commands[6] == H("00C0000008")
    assert commands[7] == H("0084000008")
    challenge = seen[7][1][:-2]
    assert commands[8][:5] == H("0082000A10")
    assert commands[8][-8:] == challenge
    assert seen[8][1] == H("9000")
    assert H("00A4000002EF06") in commands
    lengths = {e.tag: e.length for e in ELEMENTS}
    reads = [c for c in commands if c[1] == 0xB2]
    assert {c[2] for c in reads} == set(lengths)
    for command in reads:  # by tag (P2 = 00), Le = the whole TLV record
        assert command[3] == 0x00
        assert command[4] == lengths[command[2]] + 2
    assert not any(FINANCIAL_AID in c for c in commands)


def test_gen1_read_never_authenticates_without_module(card_channel: CardFactory) -> None:
    _, seen = _traced_read(card_channel, HOLDERS["js-gen1"], None)
    instructions = {c[1] for c, _ in seen}
    assert instructions == {0xA4, 0xC0, 0xB2}
    assert not any(c[1] == 0xB2 and c[2] == 0x4E for c, _ in seen)  # no name extension on gen 1


@pytest.mark.parametrize(("key", "p1"), [("zj-gen2", 0x48), ("sh-gen3", 0x4C)])
def test_psam_flow_bytes(key: str, p1: int, masters: MasterKeys) -> None:
    holder = HOLDERS[key]
    seen: list[bytes] = []
    psam_channel = CardChannel(
        EmulatedTransport(VirtualPsam(masters)), trace=lambda c, r: seen.append(c)
    )
    card, record = _read(masters, holder, PsamSecurityModule(psam_channel))
    assert record.authentic is Authenticity.VERIFIED
    assert seen[0] == H("00A4040006D15600000590")
    diversify = bytes((0xBF, 0xDE, p1, 0x12, 0x18)) + card.atr[-8:] + holder.region.encode() + b"sx"
    assert seen[1][:21] == diversify
    assert len(seen[1]) == 29
    assert seen[2][:5] == H("80FA000008")
    assert seen[3] == H("00C0000008")
    if holder.generation >= 3:
        assert seen[4][:4] == bytes((0xBF, 0xDE, p1, 0x0A))
    assert seen.count(seen[0]) == 1  # selected once


# --- READ RECORD addressing on the emulator ------------------------------------------------------
def _transceive(card: VirtualCard, raw: bytes) -> bytes:
    response = card.process(raw)
    if len(response) == 2 and response[0] == 0x6C:
        response = card.process(raw[:-1] + response[1:])
    if len(response) == 2 and response[0] == 0x61:
        response = card.process(H("00C00000") + response[1:])
    return response


def _read_record(card: VirtualCard, p1: int, p2: int) -> bytes:
    return _transceive(card, bytes((0x00, 0xB2, p1, p2, 0x00)))


def _record_order(generation: int) -> dict[int, list[int]]:
    ef06 = [0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D]
    if generation >= 2:
        ef06.insert(2, 0x4E)
    return {0xEF05: [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07], 0xEF06: ef06}


def _unlock(card: VirtualCard, holder: Holder, module: SoftwareSecurityModule) -> None:
    challenge = _transceive(card, H("0084000008"))[:-2]
    proof = module.cryptogram(
        CardKey.RKSSSE,
        holder.algorithm,
        Diversification.for_card(card.atr, holder.region),
        challenge,
        challenge,
    )
    assert _transceive(card, H("0082000A10") + proof + challenge) == H("9000")


@pytest.mark.parametrize("unlock", [True, False], ids=["unlocked", "locked"])
@pytest.mark.parametrize("key", HOLDER_KEYS)
def test_read_record_by_number_and_sfi_answers_as_by_tag(
    key: str, unlock: bool, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> None:
    holder = HOLDERS[key]
    card = VirtualCard(holder, masters)
    assert _transceive(card, H("00A404000F") + SSSE_AID)[-2:] == H("9000")
    if unlock:
        _unlock(card, holder, software_module)
    order = _record_order(holder.generation)
    # the spec's example: gender is record 3 on gen-1 cards and record 4 on later ones
    assert order[0xEF06].index(0x0A) + 1 == (3 if holder.generation == 1 else 4)
    locked = holder.generation >= 3 and not unlock
    for ef, sfi, other in ((0xEF05, 5, 0xEF06), (0xEF06, 6, 0xEF05)):
        assert _transceive(card, H("00A4000002") + ef.to_bytes(2, "big")) == H("9000")
        by_tag = {tag: _read_record(card, tag, 0x00) for tag in order[ef]}
        by_number = {tag: _read_record(card, n, 0x04) for n, tag in enumerate(order[ef], start=1)}
        assert _read_record(card, len(order[ef]) + 1, 0x04) == H("6A83")
        # SFI addressing works whichever EF is current
        assert _transceive(card, H("00A4000002") + other.to_bytes(2, "big")) == H("9000")
        by_sfi_tag = {tag: _read_record(card, tag, sfi << 3) for tag in order[ef]}
        by_sfi_number = {
            tag: _read_record(card, n, (sfi << 3) | 0x04) for n, tag in enumerate(order[ef], 1)
        }
        assert by_number == by_tag
        assert by_sfi_tag == by_tag
        assert by_sfi_number == by_tag
        for tag, response in by_tag.items():
            if locked and tag not in (0x01, 0x03):
                assert response == H("6982")
            else:
                assert response[-2:] == H("9000")
                assert response[0] == tag


# --- the FCI -------------------------------------------------------------------------------------
def _fci(*children: bytes) -> bytes:
    return encode_ber_tlv(0x6F, encode_ber_tlv(0x84, SSSE_AID) + b"".join(children))


@pytest.mark.parametrize(
    ("fci", "algorithm"),
    [
        (b"", CardAlgorithm.TDES),
        (_fci(), CardAlgorithm.TDES),
        (_fci(encode_ber_tlv(0xA5, b"")), CardAlgorithm.TDES),
        (_fci(encode_ber_tlv(0xA5, encode_ber_tlv(0x9F0C, H("860101")))), CardAlgorithm.TDES),
        (_fci(encode_ber_tlv(0xA5, encode_ber_tlv(0x9F0C, H("860103")))), CardAlgorithm.SM4),
        (_fci(encode_ber_tlv(0x9F0C, H("860102"))), CardAlgorithm.SSF33),
    ],
    ids=["empty", "no-a5", "empty-a5", "3des", "sm4", "ssf33-outside-a5"],
)
def test_fci_algorithm(fci: bytes, algorithm: CardAlgorithm) -> None:
    assert parse_fci(fci) is algorithm


@pytest.mark.parametrize(
    ("fci", "error", "message"),
    [
        (_fci(encode_ber_tlv(0x9F0C, H("860104"))), CardDataError, "algorithm 04"),
        (_fci(encode_ber_tlv(0x9F0C, H("870101"))), CardDataError, "does not hold 86 01"),
        (encode_ber_tlv(0xA5, b""), CardDataError, "without an FCI template"),
        (_fci() + _fci(), CardDataError, "without an FCI template"),
        (H("6F05840301"), CardDataError, "SSSE FCI"),
        (
            encode_ber_tlv(0x6F, encode_ber_tlv(0x84, FINANCIAL_AID)),
            NotSocialSecurityCard,
            "A000000333010101",
        ),
    ],
    ids=["bad-alg", "no-86", "no-6f", "two-6f", "truncated", "other-aid"],
)
def test_fci_errors(fci: bytes, error: type[ApduError], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_fci(fci)


def test_record_region_is_the_card_id_prefix() -> None:
    record = CardRecord(
        reader="r",
        atr=H("3B00"),
        generation=3,
        spec_version="3.00",
        card_id="330100D1560000050000000000B20002",
        algorithm=CardAlgorithm.SM4,
        authentic=Authenticity.NOT_CHECKED,
        authentication_detail="",
        issue_date=dt.date(2020, 1, 1),
    )
    assert record.region == "330100"
    assert record.complete
