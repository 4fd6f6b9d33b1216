"""A virtual social security card of generation 1, 2 or 3, with fault modes.

The card builds its EF05 and EF06 records from the same element table the reader uses
(:mod:`apdu.ssc.elements`), answers like a T=0 card (``61xx`` for case-4 commands, ``6Cxx``
for a wrong Le), supports READ RECORD by identifier and by number, in the current EF or by
SFI, enforces generation-3 access control, and holds per-card keys diversified from the
test master keys (a *clone* holds the right data under the wrong keys).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from apdu.codecs import encode_bcd_date
from apdu.command import Command
from apdu.emulator.holders import Holder
from apdu.security import CardAlgorithm, CardKey
from apdu.security._crypto import card_key, city_diversifier, cryptogram
from apdu.security.software import MasterKeys
from apdu.ssc.elements import EF05, EF06, PKI_AID, SHORT_FILE_ID, SSSE_AID, elements_of
from apdu.tlv import encode_ber_tlv, encode_simple_tlv


class Fault(StrEnum):
    """Ways the emulated card misbehaves, for the tests and for trying the terminal by hand."""

    GARBAGE = "garbage"  # READ RECORD answers bytes that are no TLV
    SHORT_RESPONSE = "short-response"  # READ RECORD answers one byte: no status word
    WRONG_SW = "wrong-sw"  # READ RECORD answers an unexpected status word (default 6581)
    TRUNCATED_TLV = "truncated-tlv"  # records claim more value bytes than they carry
    BAD_NAME = "bad-name"  # the name is not GBK text
    SLOW = "slow"  # every answer is delayed (default 50 ms)
    PULL_AFTER = "pull-after"  # the card leaves the reader after N commands
    CLONE = "clone"  # right data, wrong keys
    NOT_SSC = "not-ssc"  # some other card: no social security application


class CardPulled(Exception):
    """Raised by :meth:`VirtualCard.process` when a pull-after fault removes the card."""


@dataclass(frozen=True, slots=True)
class FaultPlan:
    faults: frozenset[Fault] = frozenset()
    wrong_sw: int = 0x6581
    slow_seconds: float = 0.05
    pull_after: int = 5

    def __contains__(self, fault: Fault) -> bool:
        return fault in self.faults


# Record order by generation: gender is record 3 on gen-1 cards, record 4 on gen 2 and 3.
def _record_order(ef: int, generation: int) -> list[int]:
    tags = [e.tag for e in elements_of(ef) if generation >= e.min_generation]
    if ef == EF06 and generation >= 2:
        tags.remove(0x4E)
        tags.insert(2, 0x4E)
    return tags


def _encode_holder(holder: Holder, faults: FaultPlan) -> dict[int, dict[int, bytes]]:
    name_raw = holder.name.encode("gbk")
    cut = 30
    while cut < len(name_raw) and _splits_character(name_raw, cut):
        cut -= 1
    name, extension = name_raw[:cut], name_raw[cut:]
    if Fault.BAD_NAME in faults:
        name = b"\x80\xff" + name[2:]
    values = {
        0x01: bytes.fromhex(holder.card_id),
        0x02: holder.card_type.encode("ascii"),
        0x03: f"{holder.generation}.00".encode("ascii"),
        0x04: bytes.fromhex(holder.issuer_org),
        0x05: encode_bcd_date(holder.issue_date),
        0x06: encode_bcd_date(holder.expiry_date),
        0x07: holder.card_number.encode("ascii"),
        0x08: holder.ssn.encode("ascii"),
        0x09: name + bytes((holder.name_padding,)) * (30 - len(name)),
        0x4E: extension + b"\xff" * (20 - len(extension)),
        0x0A: holder.gender.encode("ascii"),
        0x0B: bytes.fromhex(holder.ethnicity),
        0x0C: bytes.fromhex(holder.birthplace.ljust(6, "F")),
        0x0D: encode_bcd_date(holder.birth_date),
    }
    if holder.generation < 2 and extension:
        raise ValueError(f"holder {holder.key}: a gen-1 card cannot hold a name over 30 bytes")
    files: dict[int, dict[int, bytes]] = {}
    for ef in (EF05, EF06):
        files[ef] = {}
        for tag in _record_order(ef, holder.generation):
            record = encode_simple_tlv(tag, values[tag])
            if Fault.TRUNCATED_TLV in faults:
                record = record[: 2 + len(values[tag]) // 2]
            files[ef][tag] = record
    return files


def _splits_character(raw: bytes, cut: int) -> bool:
    """True when ``cut`` falls inside a two-byte GBK character."""
    i = 0
    while i < cut:
        i += 2 if raw[i] >= 0x81 else 1
    return i != cut


def _atr_for(holder: Holder) -> bytes:
    # T=0 only, 13 historical bytes: "SSC", generation, then 8 bytes unique to the card
    # (the last 8 ATR bytes are the card diversifier of the spec).
    serial = bytes.fromhex(holder.card_id[-16:])
    historical = b"\x00SSC" + bytes((holder.generation,)) + serial
    return bytes((0x3B, 0x60 | len(historical), 0x00, 0x00)) + historical


@dataclass
class _Session:
    application: bytes | None = None
    current_ef: int | None = None
    unlocked: bool = False
    challenge: bytes | None = None
    pending: bytes = b""
    commands: int = 0


@dataclass
class VirtualCard:
    """One emulated card.  ``process`` takes a raw command APDU and returns the response."""

    holder: Holder
    masters: MasterKeys
    faults: FaultPlan = field(default_factory=FaultPlan)
    t0: bool = True
    random: Callable[[int], bytes] = os.urandom

    def __post_init__(self) -> None:
        self.atr = _atr_for(self.holder)
        self.files = _encode_holder(self.holder, self.faults)
        city = city_diversifier(self.holder.region)
        card = self.atr[-8:]
        algorithm = self.holder.algorithm
        self.keys: dict[CardKey, bytes] = {}
        for key in CardKey:
            if Fault.CLONE in self.faults or algorithm is CardAlgorithm.SSF33:
                self.keys[key] = self.random(16)
            else:
                self.keys[key] = card_key(algorithm, self.masters[(key, algorithm)], city, card)
        self.session = _Session()

    # -- power -----------------------------------------------------------------------------
    def power_on(self) -> None:
        self.session = _Session()

    def power_off(self) -> None:
        self.session = _Session()

    # -- commands --------------------------------------------------------------------------
    def process(self, raw: bytes) -> bytes:
        session = self.session
        session.commands += 1
        if Fault.PULL_AFTER in self.faults and session.commands > self.faults.pull_after:
            raise CardPulled
        if Fault.SLOW in self.faults:
            time.sleep(self.faults.slow_seconds)
        try:
            command = Command.from_bytes(raw)
        except ValueError:
            return b"\x67\x00"
        if command.cla not in (0x00, 0x80):
            return b"\x6e\x00"
        handler = _HANDLERS.get(command.ins)
        if handler is None:
            return b"\x6d\x00"
        return handler(self, command)

    def _answer_case4(self, data: bytes) -> bytes:
        """T=0 cards announce case-4 answers with ``61xx`` and give them on GET RESPONSE."""
        if not self.t0 or not data:
            return data + b"\x90\x00"
        self.session.pending = data
        return bytes((0x61, len(data) & 0xFF))

    def _answer_case2(self, command: Command, data: bytes) -> bytes:
        if self.t0 and command.le is not None and command.le != len(data) and len(data) < 256:
            return bytes((0x6C, len(data)))
        return data + b"\x90\x00"

    def _select(self, command: Command) -> bytes:
        session = self.session
        if command.p1 == 0x04:
            if command.data == SSSE_AID and Fault.NOT_SSC not in self.faults:
                session.application, session.current_ef, session.unlocked = SSSE_AID, None, False
                return self._answer_case4(self._fci())
            if command.data == PKI_AID and self.holder.generation >= 3:
                session.application, session.current_ef = PKI_AID, None
                return b"\x90\x00"
            return b"\x6a\x82"
        if command.p1 in (0x00, 0x02) and len(command.data) == 2:
            ef = int.from_bytes(command.data, "big")
            if session.application == SSSE_AID and ef in self.files:
                session.current_ef = ef
                return b"\x90\x00"
            return b"\x6a\x82"
        return b"\x6a\x86"

    def _fci(self) -> bytes:
        proprietary = b""
        if self.holder.generation >= 2:
            proprietary = encode_ber_tlv(0x9F0C, bytes((0x86, 0x01, self.holder.algorithm.value)))
        body = encode_ber_tlv(0x84, SSSE_AID) + encode_ber_tlv(0xA5, proprietary)
        return encode_ber_tlv(0x6F, body)

    def _read_record(self, command: Command) -> bytes:
        session = self.session
        sfi, mode = command.p2 >> 3, command.p2 & 0x07
        if session.application != SSSE_AID:
            return b"\x69\x86"
        if sfi:
            ef = next((ef for ef, short in SHORT_FILE_ID.items() if short == sfi), None)
            if ef is None:
                return b"\x6a\x82"
        elif session.current_ef is None:
            return b"\x69\x86"
        else:
            ef = session.current_ef
        records = self.files[ef]
        if mode == 0x00:
            tag = command.p1
        elif mode == 0x04:
            order = list(records)
            if not 1 <= command.p1 <= len(order):
                return b"\x6a\x83"
            tag = order[command.p1 - 1]
        else:
            return b"\x6a\x86"
        record = records.get(tag)
        if record is None:
            return b"\x6a\x83"
        if self.holder.generation >= 3 and tag not in (0x01, 0x03) and not session.unlocked:
            return b"\x69\x82"
        faults = self.faults
        if Fault.GARBAGE in faults:
            return b"\x00\x13\x37\xde\xad\x90\x00"
        if Fault.SHORT_RESPONSE in faults:
            return b"\x90"
        if Fault.WRONG_SW in faults:
            return faults.wrong_sw.to_bytes(2, "big")
        return self._answer_case2(command, record)

    def _get_challenge(self, command: Command) -> bytes:
        challenge = self.random(command.le if command.le in (4, 8) else 8)
        self.session.challenge = challenge
        return challenge + b"\x90\x00"

    def _internal_authenticate(self, command: Command) -> bytes:
        if self.session.application != SSSE_AID:
            return b"\x69\x86"
        if len(command.data) != 16:
            return b"\x67\x00"
        process, source = command.data[:8], command.data[8:]
        key = self.keys[CardKey.INTERNAL_AUTHENTICATION]
        if self.holder.algorithm is CardAlgorithm.SSF33:
            return b"\x6a\x81"
        return self._answer_case4(cryptogram(self.holder.algorithm, key, process, source))

    def _external_authenticate(self, command: Command) -> bytes:
        session = self.session
        if session.application != SSSE_AID:
            return b"\x69\x86"
        if command.p2 != CardKey.RKSSSE.value:
            return b"\x6a\x88"
        if len(command.data) != 16:
            return b"\x67\x00"
        proof, challenge = command.data[:8], command.data[8:]
        if session.challenge is None or challenge != session.challenge:
            return b"\x69\x84"
        session.challenge = None
        key = self.keys[CardKey.RKSSSE]
        if cryptogram(self.holder.algorithm, key, challenge, challenge) != proof:
            return b"\x63\x00"
        session.unlocked = True
        return b"\x90\x00"

    def _get_response(self, command: Command) -> bytes:
        session = self.session
        if not session.pending:
            return b"\x69\x85"
        le = command.le or 256
        data, session.pending = session.pending[:le], session.pending[le:]
        if session.pending:
            return data + bytes((0x61, len(session.pending) & 0xFF))
        return data + b"\x90\x00"


_HANDLERS: dict[int, Callable[[VirtualCard, Command], bytes]] = {
    0xA4: VirtualCard._select,
    0xB2: VirtualCard._read_record,
    0x84: VirtualCard._get_challenge,
    0x88: VirtualCard._internal_authenticate,
    0x82: VirtualCard._external_authenticate,
    0xC0: VirtualCard._get_response,
}
