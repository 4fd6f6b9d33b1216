"""Answer-to-reset parsing: enough to find the historical bytes and the protocols offered."""

from __future__ import annotations

from dataclasses import dataclass

from apdu.errors import CardDataError


@dataclass(frozen=True, slots=True)
class Atr:
    raw: bytes
    protocols: tuple[int, ...]
    historical: bytes

    @property
    def card_diversifier(self) -> bytes:
        """The last 8 bytes of the ATR: the card diversification data of the spec."""
        return self.raw[-8:]


def parse_atr(raw: bytes) -> Atr:
    if len(raw) < 2 or raw[0] not in (0x3B, 0x3F):
        raise CardDataError(f"answer to reset {raw.hex().upper() or '(empty)'} is not an ISO ATR")
    t0 = raw[1]
    historical_count = t0 & 0x0F
    y = t0 >> 4
    i = 2
    protocols: list[int] = []
    while True:
        for bit in (0x1, 0x2, 0x4):  # TA, TB, TC
            if y & bit:
                i += 1
        if y & 0x8:  # TD
            if i >= len(raw):
                raise CardDataError(f"ATR {raw.hex().upper()} is cut short in its interface bytes")
            td = raw[i]
            i += 1
            if td & 0x0F != 0x0F:  # T=15 marks global interface bytes, not a protocol
                protocols.append(td & 0x0F)
            y = td >> 4
        else:
            break
    if i > len(raw):
        raise CardDataError(f"ATR {raw.hex().upper()} is cut short in its interface bytes")
    historical = raw[i : i + historical_count]
    if len(historical) != historical_count:
        raise CardDataError(f"ATR {raw.hex().upper()} is missing historical bytes")
    return Atr(bytes(raw), tuple(dict.fromkeys(protocols)) or (0,), bytes(historical))
