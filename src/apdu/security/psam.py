"""A PSAM (terminal security card) in a second reader slot as the security module.

Command flow (``ssc-card.md``): select ``D15600000590``; ``BF DE <P1> <key> 18`` with card
diversifier, city diversifier and the process factor; then ``80 FA 00 00 08 <source>`` whose
answer (via GET RESPONSE on T=0, handled by the channel) is the cryptogram.  ``P1 = 48`` is the
value seen in reader logs for 3DES; ``P1 = 4C`` for SM4 is this project's assumption until it
is confirmed against a real PSAM (see ``docs/card-layer.md``).
"""

from __future__ import annotations

from apdu.command import Command, Response
from apdu.errors import (
    AlgorithmUnsupported,
    ApduError,
    KeyMissing,
    SecurityModuleError,
    SecurityModuleMissing,
)
from apdu.security._crypto import CardAlgorithm
from apdu.security.module import CardKey, Diversification
from apdu.status import describe
from apdu.transport import CardChannel

PSAM_AID = bytes.fromhex("D15600000590")
SELECT_PSAM = Command(0x00, 0xA4, 0x04, 0x00, PSAM_AID)
DIVERSIFY_P1 = {CardAlgorithm.TDES: 0x48, CardAlgorithm.SM4: 0x4C}


class PsamSecurityModule:
    def __init__(self, channel: CardChannel) -> None:
        self._channel = channel
        self._selected = False

    @property
    def description(self) -> str:
        return f"PSAM in {self._channel.transport.reader}"

    @property
    def test_keys(self) -> bool:
        return False

    def _exchange(self, command: Command, step: str) -> Response:
        try:
            return self._channel.send(command)
        except ApduError as exc:
            raise SecurityModuleMissing(
                f"the PSAM in {self._channel.transport.reader} did not answer ({step}): "
                f"{exc.message}"
            ) from exc

    def _select(self) -> None:
        if self._selected:
            return
        response = self._exchange(SELECT_PSAM, "selection")
        if not response.ok:
            raise SecurityModuleMissing(
                f"the card in {self._channel.transport.reader} is not a social security PSAM "
                f"(select answered {describe(response.sw)}); insert the PSAM in that slot"
            )
        self._selected = True

    def cryptogram(
        self,
        key: CardKey,
        algorithm: CardAlgorithm,
        diversification: Diversification,
        process: bytes,
        source: bytes,
    ) -> bytes:
        p1 = DIVERSIFY_P1.get(algorithm)
        if p1 is None:
            raise AlgorithmUnsupported(f"the PSAM has no {algorithm.label} algorithm")
        self._select()
        data = diversification.card + diversification.city + process
        response = self._exchange(Command(0xBF, 0xDE, p1, key.value, data), "diversification")
        if response.sw in (0x6A88, 0x6A83):
            raise KeyMissing(f"the PSAM has no {key.label} key")
        if response.sw in (0x6A81, 0x6A86, 0x6D00):
            raise AlgorithmUnsupported(f"the PSAM has no {algorithm.label} algorithm")
        if not response.ok:
            raise SecurityModuleError(
                f"the PSAM refused key diversification: {describe(response.sw)}"
            )
        response = self._exchange(Command(0x80, 0xFA, 0x00, 0x00, source, le=8), "encryption")
        if not response.ok:
            raise SecurityModuleError(f"the PSAM refused encryption: {describe(response.sw)}")
        result = response.data
        if len(result) != 8:
            raise SecurityModuleError(f"the PSAM answered a {len(result)}-byte cryptogram, not 8")
        return result
