"""Raw primitives of the card's symmetric schemes (private: use the security modules).

The model, documented in ``docs/card-layer.md``:

* ``card_key = div(div(master, city_div), card_div)`` — PBOC-style two-level diversification;
  this per-card key is what a card holds, the master stays in the security module.
* ``session = div(card_key, process)`` and ``cryptogram = first 8 bytes of E(session, source)``.
* ``div(k, d)`` for 3DES is ``E(k, d) || E(k, ~d)``; for SM4 ``E(k, d || ~d)``.

3DES is two-key (16-byte) triple DES, run as the equivalent three-key form that
``cryptography`` accepts without a deprecation warning.
"""

from __future__ import annotations

from enum import IntEnum

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class CardAlgorithm(IntEnum):
    """The card's symmetric algorithm, as announced in its FCI (``9F0C 03 86 01 <alg>``)."""

    TDES = 0x01
    SSF33 = 0x02
    SM4 = 0x03

    @property
    def label(self) -> str:
        return {1: "3DES", 2: "SSF33", 3: "SM4"}[self.value]


def encrypt_block(algorithm: CardAlgorithm, key: bytes, block: bytes) -> bytes:
    if len(key) != 16:
        raise ValueError("card keys are 16 bytes")
    if algorithm is CardAlgorithm.TDES:
        if len(block) != 8:
            raise ValueError("3DES encrypts 8-byte blocks")
        cipher = Cipher(TripleDES(key + key[:8]), modes.ECB())  # noqa: S305 - single block by design
    elif algorithm is CardAlgorithm.SM4:
        if len(block) != 16:
            raise ValueError("SM4 encrypts 16-byte blocks")
        cipher = Cipher(algorithms.SM4(key), modes.ECB())  # noqa: S305 - single block by design
    else:
        raise ValueError(f"{algorithm.label} is not available in software")
    encryptor = cipher.encryptor()
    return encryptor.update(block) + encryptor.finalize()


def _invert(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def diversify(algorithm: CardAlgorithm, key: bytes, data: bytes) -> bytes:
    """One level of PBOC-style key diversification with 8 bytes of diversification data."""
    if len(data) != 8:
        raise ValueError("diversification data is 8 bytes")
    if algorithm is CardAlgorithm.SM4:
        return encrypt_block(algorithm, key, data + _invert(data))
    return encrypt_block(algorithm, key, data) + encrypt_block(algorithm, key, _invert(data))


def card_key(algorithm: CardAlgorithm, master: bytes, city_div: bytes, card_div: bytes) -> bytes:
    """The per-card key a card of this city and this ATR holds for ``master``."""
    return diversify(algorithm, diversify(algorithm, master, city_div), card_div)


def cryptogram(algorithm: CardAlgorithm, key: bytes, process: bytes, source: bytes) -> bytes:
    """The 8-byte authentication cryptogram of ``source`` under the session key for ``process``."""
    if len(source) != 8:
        raise ValueError("the source factor is 8 bytes")
    session = diversify(algorithm, key, process)
    block = source if algorithm is CardAlgorithm.TDES else source + b"\x80" + bytes(7)
    return encrypt_block(algorithm, session, block)[:8]


def city_diversifier(region: str) -> bytes:
    """ASCII of the 6-digit region code followed by ``sx`` (8 bytes)."""
    if len(region) != 6 or not region.isdigit():
        raise ValueError(f"region code must be 6 digits, got {region!r}")
    return region.encode("ascii") + b"sx"
