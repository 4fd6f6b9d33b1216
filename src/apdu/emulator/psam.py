"""A virtual PSAM: the terminal's security card, holding the (test) master keys.

It answers the flow :class:`apdu.security.psam.PsamSecurityModule` uses: SELECT
``D15600000590``, ``BF DE <alg> <key> 18 <card div><city div><process>``, then
``80 FA 00 00 08 <source>`` → ``61 08`` → GET RESPONSE → cryptogram.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apdu.command import Command
from apdu.security import CardAlgorithm, CardKey
from apdu.security._crypto import card_key, cryptogram
from apdu.security.psam import DIVERSIFY_P1, PSAM_AID
from apdu.security.software import MasterKeys

PSAM_ATR = bytes.fromhex("3B6900005053414D5953534500")  # T=0, historical "PSAMYSSE\0"

_ALGORITHM_BY_P1 = {p1: algorithm for algorithm, p1 in DIVERSIFY_P1.items()}


@dataclass
class VirtualPsam:
    masters: MasterKeys
    atr: bytes = PSAM_ATR
    _selected: bool = False
    _session: tuple[CardAlgorithm, bytes, bytes] | None = None
    _pending: bytes = b""
    algorithms: frozenset[CardAlgorithm] = field(
        default_factory=lambda: frozenset((CardAlgorithm.TDES, CardAlgorithm.SM4))
    )

    def power_on(self) -> None:
        self._selected, self._session, self._pending = False, None, b""

    def power_off(self) -> None:
        self.power_on()

    def process(self, raw: bytes) -> bytes:
        try:
            command = Command.from_bytes(raw)
        except ValueError:
            return b"\x67\x00"
        if command.ins == 0xA4:
            if command.p1 == 0x04 and command.data == PSAM_AID:
                self._selected = True
                return b"\x90\x00"
            return b"\x6a\x82"
        if command.ins == 0xC0:
            data, self._pending = self._pending, b""
            return data + b"\x90\x00" if data else b"\x69\x85"
        if not self._selected:
            return b"\x69\x86"
        if command.cla == 0xBF and command.ins == 0xDE:
            return self._diversify(command)
        if command.cla == 0x80 and command.ins == 0xFA:
            if self._session is None:
                return b"\x69\x85"
            if len(command.data) != 8:
                return b"\x67\x00"
            algorithm, key, process = self._session
            self._pending = cryptogram(algorithm, key, process, command.data)
            return b"\x61\x08"
        return b"\x6d\x00"

    def _diversify(self, command: Command) -> bytes:
        algorithm = _ALGORITHM_BY_P1.get(command.p1)
        if algorithm is None or algorithm not in self.algorithms:
            return b"\x6a\x81"
        try:
            key = CardKey(command.p2)
        except ValueError:
            return b"\x6a\x88"
        master = self.masters.get((key, algorithm))
        if master is None:
            return b"\x6a\x88"
        if len(command.data) != 24:
            return b"\x67\x00"
        card_div, city_div, process = command.data[:8], command.data[8:16], command.data[16:]
        self._session = (algorithm, card_key(algorithm, master, city_div, card_div), process)
        return b"\x90\x00"
