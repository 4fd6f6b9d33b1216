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
from functools import lru_cache

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


_BLOCK_SIZE = {1: 8, 3: 16}


def encrypt_blocks(algorithm: CardAlgorithm, key: bytes, blocks: bytes) -> bytes:
    """Each block of ``blocks`` encrypted on its own (ECB: the schemes work block by block)."""
    if len(key) != 16:
        raise ValueError("card keys are 16 bytes")
    size = _BLOCK_SIZE.get(algorithm.value)
    if size is None:
        raise ValueError(f"{algorithm.label} is not available in software")
    if not blocks or len(blocks) % size:
        raise ValueError(f"{algorithm.label} encrypts whole {size}-byte blocks")
    if algorithm is CardAlgorithm.TDES:
        cipher = Cipher(TripleDES(key + key[:8]), modes.ECB())  # noqa: S305 - block by block by design
    else:
        cipher = Cipher(algorithms.SM4(key), modes.ECB())  # noqa: S305 - block by block by design
    encryptor = cipher.encryptor()
    return encryptor.update(blocks) + encryptor.finalize()


def encrypt_block(algorithm: CardAlgorithm, key: bytes, block: bytes) -> bytes:
    """One block (8 bytes for 3DES, 16 for SM4)."""
    if len(block) != _BLOCK_SIZE.get(algorithm.value, -1):
        raise ValueError(f"{algorithm.label} encrypts one block at a time here")
    return encrypt_blocks(algorithm, key, block)


def _invert(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


def diversify(algorithm: CardAlgorithm, key: bytes, data: bytes) -> bytes:
    """One level of PBOC-style key diversification with 8 bytes of diversification data."""
    if len(data) != 8:
        raise ValueError("diversification data is 8 bytes")
    # SM4: E(d || ~d), one 16-byte block; 3DES: E(d) || E(~d), two 8-byte blocks in one pass
    return encrypt_blocks(algorithm, key, data + _invert(data))


@lru_cache(maxsize=256)
def city_key(algorithm: CardAlgorithm, master: bytes, city_div: bytes) -> bytes:
    """The first diversification level (a terminal sees the same few cities all day)."""
    return diversify(algorithm, master, city_div)


def card_key(algorithm: CardAlgorithm, master: bytes, city_div: bytes, card_div: bytes) -> bytes:
    """The per-card key a card of this city and this ATR holds for ``master``."""
    return diversify(algorithm, city_key(algorithm, master, city_div), card_div)


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
