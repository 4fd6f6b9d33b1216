#!/usr/bin/env python3
"""Fuzz the scanned-code path: the ESSC1 verifier and the code dispatcher.

Every input goes to :func:`terminal.codes.essc.verify_code` (the fixture issuer keys, grouped by
kid, a fixed ``now``, ``production=False``) and to :meth:`CodeDispatcher.credential` (ESSC1 by
the same verifier, a fake national-platform adapter behind the prefix ``MOHRSS:``, the network
up or down), and to the two functions documented never to raise, :func:`classify` and
:func:`describe_unrecognised`.  Only a returned credential and :class:`CodeRejected` (with its
subclasses) are allowed; anything else is a *finding*: its input (``repr``) and traceback are
recorded, the run goes on, and the exit status is 1.  Broken contracts count as findings too: a
rejection naming the holder (card id, card number, name) or repeating the scanned text, or a
credential that a verified code could not have produced.

Inputs, generated from ``--seed`` (the same seed gives the same inputs, whatever ``--workers``):

- valid codes, signed with the fixture keys beforehand (signing is the slow part), and text
  mutations of them: bit flips, inserted and deleted characters, truncation, base45-alphabet
  substitutions, other prefixes, duplicated chunks, splices, scanner suffixes;
- byte mutations below the text: of the zlib stream, of the COSE message, and of the payload
  and the protected header, re-signed so that they reach the claims layer;
- codes built from mutated CBOR/COSE structures, re-signed with the simulator: wrong types,
  missing claims, huge integers, nested maps, semantic tags, hand-made CBOR (non-minimal and
  indefinite lengths, duplicate keys, reserved values), other envelopes;
- valid structures around the checks: times at and past the skew, issuers and regions that do
  not match the key, unknown and impostor keys, a cross-region key;
- zlib bombs and zlib oddities (trailing data, truncated, gzip, raw deflate, a preset
  dictionary), random printable, Unicode and binary text, and other code kinds: web addresses,
  payment-code digits, identity numbers, reservation codes, platform codes.

Usage::

    python fuzz/fuzz_codes.py --count 1000000 --seed 1 --report fuzz-report.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import random
import re
import string
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TextIO
from uuid import UUID

import base45
import cbor2
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from apdu.ssc import Authenticity
from offline_store.issuer_keys import EDDSA, ES256, IssuerKey
from terminal.codes.dispatch import (
    RESERVATION_PREFIX,
    CodeDispatcher,
    CodeKind,
    EsscVerifier,
    classify,
    describe_unrecognised,
)
from terminal.codes.essc import (
    CLAIM_CTI,
    CLAIM_ESSC,
    CLAIM_EXP,
    CLAIM_IAT,
    CLAIM_ISS,
    COSE_SIGN1_TAG,
    HEADER_ALG,
    HEADER_KID,
    MAX_LIFETIME,
    PREFIX,
    EsscReject,
    verify_code,
)
from terminal.codes.issuer import OMIT, IssuerSigningKey, IssuerSimulator, Omit, encode_text
from terminal.credential import Credential, CredentialKind
from terminal.errors import CodeRejected, NeedsNetwork

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
NOW_S = int(NOW.timestamp())
SKEW_S = 60  # verify_code's default skew
PLATFORM_PREFIXES = ("MOHRSS:",)
POOL_SIZE = 160
CHUNK = 2_000
#: findings kept with their input and traceback, per signature and in all
EXAMPLES_PER_SIGNATURE = 3
MAX_EXAMPLES = 100
#: a scanned text at least this long must never appear in a message (shorter ones may, by
#: chance: a prefix the message names, a word)
ECHO_MIN = 16
B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
UINT_MAX = 2**64 - 1
_CARD_ID = re.compile(r"[0-9A-F]{32}")
_RESERVATION_ID = re.compile(r"[A-Z0-9-]{6,32}")
_ISSUER = re.compile(r"[0-9]{6}")
_ESSC_REASONS = frozenset(reason.value for reason in EsscReject) - {EsscReject.REPLAYED.value}

Rng = random.Random
Mutable = dict[object, object]
#: protected or unprotected header overrides (OMIT removes a label)
Header = dict[object, object | Omit]


# -- the fixed world the inputs are made in --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Holder:
    card_id: str
    card_number: str
    name: str | None
    birth_date: dt.date | None

    @property
    def province(self) -> str:
        return self.card_id[:2]


@dataclass(frozen=True, slots=True)
class Sample:
    """A valid code of the pool and its layers, for mutations below the text."""

    text: str
    compressed: bytes
    cose: bytes
    protected: bytes
    payload: bytes
    signer: IssuerSigningKey
    tagged: bool


HOLDERS = (
    Holder("310100D15600000500000000000000AB", "S31000001", "张测试", dt.date(1985, 2, 14)),
    Holder("310118D15600000500000000000001C2", "S31000002", "李小明", dt.date(1955, 5, 1)),
    Holder("320100D15600000500000000000002D3", "J32000003", "王芳", dt.date(2000, 2, 29)),
    Holder("320509D15600000500000000000003E4", "J32000004", None, None),
    Holder("330100D15600000500000000000004F5", "Z33000005", "欧阳娜娜", dt.date(1961, 11, 24)),
    Holder("330421D1560000050000000000000506", "Z33000006", "Zhang Wei", None),
    Holder("340100D1560000050000000000000617", "A34000007", "赵六", dt.date(1949, 10, 1)),
    Holder("110100D1560000050000000000000728", "B11000008", "陈北京", dt.date(1990, 1, 1)),
)


def _rogue(name: str, algorithm: str, kid: bytes | None = None) -> IssuerSigningKey:
    """A key the trust list does not hold: its own kid (unknown_key) or a borrowed one."""
    seed = hashlib.sha256(f"fuzz rogue key {name}".encode()).digest()
    private: ec.EllipticCurvePrivateKey | Ed25519PrivateKey
    if algorithm == EDDSA:
        private = Ed25519PrivateKey.from_private_bytes(seed)
    else:
        private = ec.derive_private_key(int.from_bytes(seed) % (2**255) + 1, ec.SECP256R1())
    own = IssuerSigningKey(name, b"\0" * 8, algorithm, private, ("31", "32", "33", "34"))
    chosen = kid if kid is not None else hashlib.sha256(own.public_bytes()).digest()[:8]
    return IssuerSigningKey(name, chosen, algorithm, private, own.regions)


def _seen(cti: bytes, now: dt.datetime) -> bool:
    """This terminal has 'seen' one code in seven (so that replays are marked)."""
    del now
    return bool(cti) and cti[-1] % 7 == 0


class FakePlatform:
    """A platform adapter that answers like the real one, by a hash of the code."""

    def check(self, text: str, *, now: dt.datetime) -> Credential:
        verdict = zlib.crc32(text.encode("utf-8", "surrogatepass")) % 4
        if verdict == 0:
            raise CodeRejected("platform_refused", "the national platform refused the code")
        if verdict == 1:
            raise NeedsNetwork("platform_unreachable", "the national platform did not answer")
        return Credential(
            kind=CredentialKind.PLATFORM_CODE,
            authenticity=Authenticity.VERIFIED,
            card_id=HOLDERS[verdict].card_id,
            name=HOLDERS[verdict].name,
        )


class Context:
    """Keys, holders, the pool of valid codes and the targets: built once per process."""

    def __init__(self, seed: int) -> None:
        self.sim = IssuerSimulator()
        self.signers = list(self.sim.keys.values())
        self.trust: dict[bytes, list[IssuerKey]] = {}
        for key in self.sim.issuer_keys():
            self.trust.setdefault(key.kid, []).append(key)
        self.own_keys = {
            region: [key for key in self.signers if not key.cross_region and region in key.regions]
            for region in ("31", "32", "33", "34")
        }
        self.delta = self.sim.key("delta")
        self.rogues = (
            _rogue("rogue-es256", ES256),
            _rogue("rogue-eddsa", EDDSA),
            _rogue("impostor-shanghai", ES256, self.sim.key("shanghai").kid),
            _rogue("impostor-anhui", EDDSA, self.sim.key("anhui").kid),
        )
        self.identities = tuple(
            text
            for holder in HOLDERS
            for text in (holder.card_id, holder.card_number, holder.name)
            if text is not None
        )
        self.verify: EsscVerifier = partial(
            verify_code, keys_for=self.keys_for, production=False, seen=_seen
        )
        platform = FakePlatform()
        self.dispatchers = {
            "online": CodeDispatcher(
                essc=self.verify,
                platform=platform,
                platform_prefixes=PLATFORM_PREFIXES,
                online=lambda: True,
            ),
            "offline": CodeDispatcher(
                essc=self.verify,
                platform=platform,
                platform_prefixes=PLATFORM_PREFIXES,
                online=lambda: False,
            ),
            "no-platform": CodeDispatcher(essc=self.verify, platform_prefixes=PLATFORM_PREFIXES),
        }
        rng = random.Random(f"{seed}:pool")  # noqa: S311 (fuzzing, not cryptography)
        self.pool = [self._valid_sample(rng) for _ in range(POOL_SIZE)]
        self.zlib_oddities = _zlib_oddities(self.pool[0].cose)

    def keys_for(self, kid: bytes) -> Sequence[IssuerKey]:
        return self.trust.get(kid, ())

    def signer_for(self, rng: Rng, holder: Holder) -> IssuerSigningKey:
        own = self.own_keys.get(holder.province)
        if not own or rng.random() < 0.15:
            return self.delta
        return rng.choice(own)

    def claims(
        self,
        rng: Rng,
        holder: Holder,
        *,
        iat: int | None = None,
        lifetime: int | None = None,
        iss: str | None = None,
    ) -> Mutable:
        """Valid CWT claims for ``holder`` (a mutable map, to break)."""
        lifetime = rng.randint(30, MAX_LIFETIME) if lifetime is None else lifetime
        iat = NOW_S - rng.randint(0, lifetime - 1) + rng.randint(0, 30) if iat is None else iat
        card: Mutable = {"v": 1, "cid": holder.card_id, "cno": holder.card_number}
        card["lvl"] = rng.choice((1, 1, 2))
        if holder.name is not None and rng.random() < 0.9:
            card["nm"] = holder.name
        if holder.birth_date is not None and rng.random() < 0.9:
            card["dob"] = holder.birth_date.strftime("%Y%m%d")
        if iss is None:
            iss = (holder.province if holder.province in self.own_keys else "31") + "0000"
        return {
            CLAIM_ISS: iss,
            CLAIM_EXP: iat + lifetime,
            CLAIM_IAT: iat,
            CLAIM_CTI: rng.randbytes(16),
            CLAIM_ESSC: card,
        }

    def signed(
        self,
        payload: bytes,
        signer: IssuerSigningKey,
        *,
        protected: Header | None = None,
        protected_bytes: bytes | None = None,
        unprotected: Header | None = None,
        tagged: bool = True,
        bad_signature: bool = False,
    ) -> bytes:
        return self.sim.sign(
            payload,
            signer,
            protected=protected,
            protected_bytes=protected_bytes,
            unprotected=unprotected,
            tagged=tagged,
            bad_signature=bad_signature,
        )

    def _valid_sample(self, rng: Rng) -> Sample:
        holder = rng.choice(HOLDERS)
        signer = self.signer_for(rng, holder)
        payload = cbor2.dumps(self.claims(rng, holder))
        tagged = rng.random() < 0.8
        cose = self.signed(payload, signer, tagged=tagged)
        compressed = zlib.compress(cose, rng.choice((6, 9)))
        text = _text_of(compressed)
        header = cbor2.dumps({HEADER_ALG: signer.alg, HEADER_KID: signer.kid})
        return Sample(text, compressed, cose, header, payload, signer, tagged)


def _zlib_oddities(cose: bytes) -> list[bytes]:
    """zlib streams to decompress: bombs, edges of the size limit and malformed streams."""
    preset = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_DEFAULT_STRATEGY, cose)
    gzip = zlib.compressobj(9, zlib.DEFLATED, 31)
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = zlib.compress(cose, 9)
    return [
        zlib.compress(b"\0" * 4_200_000, 9),  # a bomb just under the compressed limit
        zlib.compress(b"\0" * 1_000_000, 9),
        zlib.compress(cose + b"\0" * 200_000, 9),  # a valid code, then a bomb
        zlib.compress(b"\xa0" * 4096, 9),  # exactly the limit: an empty map and garbage
        zlib.compress(b"\0" * 4097, 9),  # one byte over
        zlib.compress(cose, 0),  # stored blocks
        stream + b"\0",  # trailing data
        stream + stream,  # two streams
        stream[:-4],  # no checksum
        stream[: len(stream) // 2],  # cut off
        preset.compress(cose) + preset.flush(),  # needs a preset dictionary
        gzip.compress(cose) + gzip.flush(),  # gzip, not zlib
        raw.compress(cose) + raw.flush(),  # raw deflate, no header
        zlib.compress(zlib.compress(cose, 9), 9),  # zlib in zlib
        b"",
        b"\x78",
        b"\x78\x9c",
        b"\x78\x9c\x03\x00",
    ]


# -- CBOR values and hand-made CBOR ----------------------------------------------------------------
_TAGS = (
    0, 1, 2, 3, 4, 5, 18, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 32, 33, 34, 35, 36, 37, 38, 61,
    98, 100, 256, 258, 259, 260, 261, 262, 263, 266, 269, 270, 1004, 1040, 55799, 2**32, UINT_MAX,
)  # fmt: skip
_INTS = (
    0, 1, -1, 23, 24, 255, 256, 65535, 65536, 2**31, 2**32, 2**63 - 1, 2**63, UINT_MAX,
    2**64, 2**100, -(2**63), -(2**64), -(2**64) - 1, -(2**100), NOW_S, -NOW_S,
)  # fmt: skip
_UINTS = tuple(number for number in _INTS if 0 <= number <= UINT_MAX)
_FLOATS = (0.0, -0.0, 1.5, float("nan"), float("inf"), float("-inf"), 1e308, 5e-324, NOW_S + 0.5)
_TEXTS = (
    "", "a", "310000", "31000", "3100000", "３１００００", "31000a", "ESSC1:", "\x00", "\ud800",
    "张测试", "19850214", "20240229", "S31000001", "310100D15600000500000000000000AB", "{x}",
)  # fmt: skip


def _text(rng: Rng, alphabet: str = string.printable, most: int = 24) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, most)))


def _unicode(rng: Rng, most: int = 24) -> str:
    ranges = ((0x20, 0x7E), (0x80, 0x2FF), (0x3000, 0x303F), (0x4E00, 0x9FFF), (0xD800, 0xDFFF),
              (0xE000, 0xF8FF), (0xFE00, 0xFFFF), (0x1F300, 0x1FAFF), (0x0, 0x1F),
              (0x10FF00, 0x10FFFF))  # fmt: skip
    chars = []
    for _ in range(rng.randint(0, most)):
        low, high = rng.choice(ranges)
        chars.append(chr(rng.randint(low, high)))
    return "".join(chars)


def _value(rng: Rng, depth: int = 0) -> object:
    """A random value cbor2 can encode: scalars, containers and semantic types."""
    kind = rng.randrange(16 if depth < 4 else 10)
    scalar: tuple[Callable[[], object], ...] = (
        lambda: rng.choice(_INTS),
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.choice(_FLOATS),
        lambda: rng.choice(_TEXTS),
        lambda: _unicode(rng),
        lambda: rng.randbytes(rng.choice((0, 1, 8, 15, 16, 17, 32, 64))),
        lambda: rng.choice((True, False, None, cbor2.undefined)),
        lambda: cbor2.CBORSimpleValue(rng.choice((0, 16, 19, 32, 99, 255))),
        lambda: rng.choice(
            (
                dt.datetime(1, 1, 1, tzinfo=dt.UTC),
                dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.UTC),
                NOW,
                dt.date(2024, 2, 29),
                Decimal("1e999"),
                Decimal("NaN"),
                Fraction(-7, 3),
                UUID(int=rng.getrandbits(128)),
                re.compile("a+"),
                frozenset((1, "x")),
            )
        ),
        lambda: cbor2.CBORTag(rng.choice(_TAGS), rng.choice(_INTS + _TEXTS)),
    )
    if kind < len(scalar):
        return scalar[kind]()
    if kind in (10, 11):
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind in (12, 13):
        return {_key(rng): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return cbor2.CBORTag(rng.choice(_TAGS), _value(rng, depth + 1))


def _key(rng: Rng) -> object:
    return rng.choice(
        (
            lambda: rng.choice(_INTS),
            lambda: rng.choice(_TEXTS),
            lambda: rng.randbytes(rng.randint(0, 4)),
            lambda: rng.choice((True, False, None, 1.0, -0.0)),
            lambda: (1, 2),
            lambda: rng.choice(("v", "cid", "cno", "nm", "dob", "lvl")),
            lambda: rng.choice((CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_CTI, CLAIM_ESSC)),
        )
    )()


def _dumps(rng: Rng, item: object) -> bytes:
    """cbor2's encoding, or a hand-made one of the same item (non-minimal, indefinite...)."""
    if rng.random() < 0.25:
        made = _hand(rng, item)
        if made is not None:
            return made
    try:
        return cbor2.dumps(item, canonical=rng.random() < 0.2)
    except (cbor2.CBOREncodeError, TypeError, ValueError, OverflowError):
        return cbor2.dumps(repr(item)[:64])


def _head(rng: Rng, major: int, value: int, *, minimal: bool = True) -> bytes:
    """A CBOR head, minimal or (sometimes) in a wider form than needed."""
    widths = [(24, 1), (25, 2), (26, 4), (27, 8)]
    if value < 24 and (minimal or rng.random() < 0.5):
        return bytes([major << 5 | value])
    fits = [(info, size) for info, size in widths if value < 256**size]
    info, size = fits[0] if minimal else rng.choice(fits)
    return bytes([major << 5 | info]) + value.to_bytes(size)


def _hand(rng: Rng, item: object) -> bytes | None:
    """``item`` encoded by hand with random (valid) choices and, rarely, a duplicated map key."""
    minimal = rng.random() < 0.7
    if isinstance(item, bool) or item is None:
        return {True: b"\xf5", False: b"\xf4", None: b"\xf6"}[item]
    if isinstance(item, int):
        if not -(2**64) <= item <= UINT_MAX:
            return None
        return _head(rng, 0, item, minimal=minimal) if item >= 0 else _head(rng, 1, -1 - item)
    if isinstance(item, bytes | str):
        major = 2 if isinstance(item, bytes) else 3
        data = item if isinstance(item, bytes) else item.encode("utf-8", "surrogatepass")
        if rng.random() < 0.15 and isinstance(item, bytes):  # indefinite, in chunks
            cut = rng.randint(0, len(data))
            chunks = (data[:cut], data[cut:])
            return (
                bytes([major << 5 | 31])
                + b"".join(_head(rng, major, len(chunk)) + chunk for chunk in chunks)
                + b"\xff"
            )
        return _head(rng, major, len(data), minimal=minimal) + data
    if isinstance(item, list | dict):
        parts: list[bytes] = []
        pairs = list(item.items()) if isinstance(item, dict) else [(element,) for element in item]
        if isinstance(item, dict) and pairs and rng.random() < 0.1:
            pairs.append(rng.choice(pairs))  # a duplicate key
        for pair in pairs:
            for element in pair:
                encoded = _hand(rng, element)
                if encoded is None:
                    return None
                parts.append(encoded)
        major = 5 if isinstance(item, dict) else 4
        if rng.random() < 0.15:
            return bytes([major << 5 | 31]) + b"".join(parts) + b"\xff"
        return _head(rng, major, len(pairs), minimal=minimal) + b"".join(parts)
    return None


def _raw(rng: Rng, depth: int = 0) -> bytes:
    """Random CBOR bytes: mostly well formed, sometimes not (reserved values, stray breaks,
    lengths past the end, invalid UTF-8, tags around anything)."""
    kind = rng.randrange(14 if depth < 5 else 8)
    if kind < 8:
        return _raw_scalar(rng, kind)
    if kind in (8, 9):
        items = [_raw(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.2:
            return b"\x9f" + b"".join(items) + b"\xff"
        return _head(rng, 4, len(items)) + b"".join(items)
    if kind in (10, 11):
        count = rng.randint(0, 3)
        items = [_raw(rng, depth + 1) + _raw(rng, depth + 1) for _ in range(count)]
        if rng.random() < 0.2:
            return b"\xbf" + b"".join(items) + b"\xff"
        return _head(rng, 5, count) + b"".join(items)
    if kind == 12:  # deeper than any code nests
        return b"\x81" * rng.randint(10, 40) + b"\x00"
    return _head(rng, 6, rng.choice(_TAGS)) + _raw(rng, depth + 1)


def _raw_scalar(rng: Rng, kind: int) -> bytes:
    if kind == 0:
        return _head(rng, rng.choice((0, 1)), rng.choice(_UINTS), minimal=rng.random() < 0.5)
    if kind == 1:
        data = rng.randbytes(rng.randint(0, 20))
        return _head(rng, 2, len(data)) + data
    if kind == 2:
        data = rng.choice((b"\xff\xfe", b"\xed\xa0\x80", b"\xc0\x80", _text(rng).encode()))
        return _head(rng, 3, len(data)) + data
    if kind == 3:  # a declared length past the end
        return bytes([rng.choice((0x5B, 0x7B, 0x9B, 0xBB))]) + rng.choice(_UINTS[4:]).to_bytes(8)
    if kind == 4:  # reserved additional information, a stray break, an invalid simple value
        return bytes([rng.choice((0x1C, 0x3D, 0x5E, 0xFC, 0xFF, 0xF8))]) + rng.randbytes(1)
    if kind == 5:
        return rng.choice((b"\xf9\x7c\x00", b"\xfa\x7f\xc0\x00\x00", b"\xfb" + rng.randbytes(8)))
    if kind == 6:
        return rng.choice((b"\xf4", b"\xf5", b"\xf6", b"\xf7", b"\xf8\x20", b"\xe0"))
    return rng.randbytes(rng.randint(0, 6))


# -- text and byte mutations -------------------------------------------------------------------
def _chars(rng: Rng, count: int) -> str:
    pick = rng.random()
    if pick < 0.6:
        return "".join(rng.choice(B45) for _ in range(count))
    if pick < 0.85:
        return "".join(rng.choice(string.printable) for _ in range(count))
    return _unicode(rng, count) or "\u3000"


def _flip(rng: Rng, text: str) -> str:
    at = rng.randrange(len(text))
    bit = rng.randrange(7) if rng.random() < 0.8 else rng.randrange(16)
    return text[:at] + chr(ord(text[at]) ^ (1 << bit)) + text[at + 1 :]


def _insert(rng: Rng, text: str) -> str:
    at = rng.randint(0, len(text))
    return text[:at] + _chars(rng, rng.randint(1, 4)) + text[at:]


def _delete(rng: Rng, text: str) -> str:
    at = rng.randrange(len(text))
    return text[:at] + text[at + rng.randint(1, 8) :]


def _truncate(rng: Rng, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _substitute(rng: Rng, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        chars[rng.randrange(len(chars))] = rng.choice(B45)
    return "".join(chars)


def _duplicate(rng: Rng, text: str) -> str:
    start = rng.randrange(len(text))
    chunk = text[start : start + rng.randint(1, 64)]
    at = rng.choice((start, rng.randint(0, len(text))))
    return text[:at] + chunk * rng.randint(1, 3) + text[at:]


_PREFIXES = (
    "", "ESSC1", "ESSC1:ESSC1:", "essc1:", "Essc1:", "ESSC2:", "ESSC0:", "ESSC:", " ESSC1:",
    "\ufeffESSC1:", "]Q1ESSC1:", "ＥＳＳＣ１：", "ESSC1：", "YKTR1:", "MOHRSS:", "ESSC1:\n",
)  # fmt: skip
_SUFFIXES = ("\r\n", "\n", "\t", "\r", " ", "\x00", "\u3000", "\v\f", "\r\n\r\n", "ESSC1:", "=")


def _reprefix(rng: Rng, text: str) -> str:
    return rng.choice(_PREFIXES) + text.removeprefix(PREFIX)


def _suffix(rng: Rng, text: str) -> str:
    return text + rng.choice(_SUFFIXES)


_TEXT_MUTATIONS: tuple[Callable[[Rng, str], str], ...] = (
    _flip, _flip, _insert, _delete, _truncate, _substitute, _substitute, _duplicate, _reprefix,
    _suffix,
)  # fmt: skip
_INTERESTING = (0x00, 0x01, 0x17, 0x18, 0x1F, 0x3F, 0x5F, 0x7F, 0x80, 0x9F, 0xBF, 0xDF, 0xF7, 0xFF)


def _mutate_bytes(rng: Rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(7)
        if op == 0 and out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif op == 1:
            at = rng.randint(0, len(out))
            out[at:at] = bytes(rng.choice(_INTERESTING) for _ in range(rng.randint(1, 3)))
        elif op == 2 and out:
            at = rng.randrange(len(out))
            del out[at : at + rng.randint(1, 8)]
        elif op == 3:
            del out[rng.randint(0, len(out)) :]
        elif op == 4 and out:
            at = rng.randrange(len(out))
            out[at:at] = out[at : at + rng.randint(1, 32)]
        elif op == 5 and out:
            out[rng.randrange(len(out))] = rng.choice(_INTERESTING)
        else:
            out += rng.randbytes(rng.randint(1, 8))
    return bytes(out)


def _text_of(compressed: bytes) -> str:
    encoded: bytes = base45.b45encode(compressed)
    return PREFIX + encoded.decode("ascii")


# -- the generators ------------------------------------------------------------------------
def gen_valid(rng: Rng, ctx: Context) -> str:
    text = rng.choice(ctx.pool).text
    return _suffix(rng, text) if rng.random() < 0.3 else text


def gen_text_mutation(rng: Rng, ctx: Context) -> str:
    text = rng.choice(ctx.pool).text
    for _ in range(rng.randint(1, 4)):
        if not text:
            break
        if rng.random() < 0.08:  # a splice of two codes
            other = rng.choice(ctx.pool).text
            text = text[: rng.randrange(len(text))] + other[rng.randrange(len(other)) :]
        else:
            text = rng.choice(_TEXT_MUTATIONS)(rng, text)
    return text


def gen_layer_mutation(rng: Rng, ctx: Context) -> str:
    sample = rng.choice(ctx.pool)
    layer = rng.randrange(4)
    if layer == 0:
        return _text_of(_mutate_bytes(rng, sample.compressed))
    if layer == 1:
        return encode_text(_mutate_bytes(rng, sample.cose))
    if layer == 2:  # the payload, re-signed: only the claims layer can refuse it
        payload = _mutate_bytes(rng, sample.payload)
        return encode_text(ctx.signed(payload, sample.signer, tagged=sample.tagged))
    protected = _mutate_bytes(rng, sample.protected)
    return encode_text(ctx.signed(sample.payload, sample.signer, protected_bytes=protected))


_CLAIM_LABELS: tuple[object, ...] = (
    CLAIM_ISS, CLAIM_EXP, CLAIM_IAT, CLAIM_CTI, CLAIM_ESSC, 2, 3, 5, 8, 0, -65536, -65538,
    "iss", "1", 65537, True, 1.0,
)  # fmt: skip
_NEAR: dict[object, tuple[object, ...]] = {
    CLAIM_ISS: (
        "310000",
        "320000",
        "110000",
        "31000",
        "3100000",
        "３１００００",
        310000,
        b"310000",
    ),
    CLAIM_EXP: (NOW_S + 100, NOW_S, NOW_S - SKEW_S, 0, -1, UINT_MAX, 2**64, 1.79e9, "1790000000"),
    CLAIM_IAT: (NOW_S, NOW_S + SKEW_S, NOW_S + SKEW_S + 1, 0, -5, UINT_MAX, 2**64, True),
    CLAIM_CTI: (b"", b"\0" * 15, b"\0" * 17, "0" * 16, [0] * 16, cbor2.CBORTag(2, b"\0" * 16)),
    CLAIM_ESSC: ({}, [], "essc", {"v": 1}, cbor2.CBORTag(65537, {}), {1: {"v": 1}}),
}
_CARD_KEYS: tuple[object, ...] = ("v", "cid", "cno", "nm", "dob", "lvl", "V", "", "x", 1, b"cid")
_NEAR_CARD: dict[object, tuple[object, ...]] = {
    "v": (0, 1, 2, True, 1.0, "1", -1, UINT_MAX),
    "cid": (
        "310100d15600000500000000000000ab",
        "310100D15600000500000000000000A",
        "3" * 33,
        "320100D15600000500000000000000AB",
        "110100D15600000500000000000000AB",
        "Ｆ" * 32,
        "310100D15600000500000000000000AG",
        b"310100D15600000500000000000000AB",
    ),
    "cno": ("S3100000", "S310000010", "张" * 9, "\x00" * 9, 310000001, ""),
    "nm": ("", "x" * 5000, "\u202e\u0000", b"name", None, 7),
    "dob": (
        "19850230",
        "00000101",
        "20240229",
        "20230229",
        "99991231",
        "1985-02-14",
        19850214,
        "１９８５０２１４",
        "1985021",
        "198502140",
        "",
    ),
    "lvl": (0, 1, 2, 3, -1, True, 1.0, "1", UINT_MAX, 2**64),
}


def _near_or_random(rng: Rng, table: dict[object, tuple[object, ...]], label: object) -> object:
    near = table.get(label)
    if near and rng.random() < 0.6:
        return rng.choice(near)
    return _value(rng)


def gen_claims(rng: Rng, ctx: Context) -> str:
    holder = rng.choice(HOLDERS)
    claims = ctx.claims(rng, holder)
    for _ in range(rng.randint(1, 3)):
        label = rng.choice(_CLAIM_LABELS)
        if rng.random() < 0.3:
            claims.pop(label, None)
        else:
            claims[label] = _near_or_random(rng, _NEAR, label)
    return encode_text(ctx.signed(_dumps(rng, claims), ctx.signer_for(rng, holder)))


def gen_card_claims(rng: Rng, ctx: Context) -> str:
    holder = rng.choice(HOLDERS)
    claims = ctx.claims(rng, holder)
    card = claims[CLAIM_ESSC]
    assert isinstance(card, dict)
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(_CARD_KEYS)
        if rng.random() < 0.3:
            card.pop(key, None)
        else:
            card[key] = _near_or_random(rng, _NEAR_CARD, key)
    if rng.random() < 0.1:
        claims[CLAIM_ESSC] = {k: v for k, v in card.items() if rng.random() < 0.7}
    return encode_text(ctx.signed(_dumps(rng, claims), ctx.signer_for(rng, holder)))


_ALGS: tuple[object, ...] = (-7, -8, -35, -36, -37, 7, 8, 0, "ES256", None, True, 2**64, -(2**65))


def gen_header(rng: Rng, ctx: Context) -> str:
    holder = rng.choice(HOLDERS)
    signer = ctx.signer_for(rng, holder)
    payload = cbor2.dumps(ctx.claims(rng, holder))
    if rng.random() < 0.35:  # the protected header's bytes, whole
        raw = rng.choice(
            (
                lambda: b"",
                lambda: _raw(rng),
                lambda: _dumps(rng, _value(rng)),
                lambda: _dumps(rng, {HEADER_ALG: signer.alg, HEADER_KID: signer.kid}) + b"\0",
                lambda: _hand(rng, {HEADER_ALG: signer.alg, HEADER_KID: signer.kid}) or b"",
            )
        )()
        return encode_text(ctx.signed(payload, signer, protected_bytes=raw))
    protected: Header = {}
    for _ in range(rng.randint(1, 3)):
        label = rng.choice((HEADER_ALG, HEADER_KID, HEADER_KID, 3, 5, -1, "kid", 1.0))
        if rng.random() < 0.2:
            protected[label] = OMIT
        elif label == HEADER_ALG:
            protected[label] = rng.choice(_ALGS)
        elif label == HEADER_KID:
            protected[label] = rng.choice(
                (
                    rng.choice(ctx.signers).kid,
                    rng.choice(ctx.rogues).kid,
                    signer.kid[:7],
                    signer.kid + b"\0",
                    signer.kid.hex(),
                    int.from_bytes(signer.kid),
                    None,
                )
            )
        else:
            protected[label] = _value(rng)
    unprotected: Header = {}
    if rng.random() < 0.3:  # the unprotected header is not signed: it must not matter
        unprotected = {HEADER_KID: rng.choice(ctx.signers).kid, HEADER_ALG: rng.choice(_ALGS)}
    return encode_text(ctx.signed(payload, signer, protected=protected, unprotected=unprotected))


def gen_envelope(rng: Rng, ctx: Context) -> str:
    sample = rng.choice(ctx.pool)
    message = cbor2.loads(sample.cose)
    parts = list(message.value if isinstance(message, cbor2.CBORTag) else message)
    op = rng.randrange(8)
    item: object
    if op == 0:
        parts[rng.randrange(4)] = _value(rng)
    elif op == 1:
        del parts[rng.randrange(4)]
    elif op == 2:
        parts.append(_value(rng))
    elif op == 3:  # the signature's length
        signature = parts[3]
        parts[3] = rng.choice((b"", signature[:63], signature + b"\0", signature * 2, b"\0" * 64))
    elif op == 4:
        parts[2] = cbor2.CBORTag(24, parts[2]) if rng.random() < 0.5 else None
    if op == 5:
        item = cbor2.CBORTag(rng.choice(_TAGS), parts)
    elif op == 6:
        item = cbor2.CBORTag(COSE_SIGN1_TAG, cbor2.CBORTag(COSE_SIGN1_TAG, parts))
    elif op == 7:
        item = rng.choice((dict(enumerate(parts)), tuple(parts), b"".join(map(_bytes, parts))))
    else:
        item = cbor2.CBORTag(COSE_SIGN1_TAG, parts) if rng.random() < 0.7 else parts
    cose = _dumps(rng, item)
    if rng.random() < 0.1:
        cose += rng.choice((b"\0", b"\xff", cose))
    return encode_text(cose)


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else b""


def gen_raw_payload(rng: Rng, ctx: Context) -> str:
    holder = rng.choice(HOLDERS)
    signer = ctx.signer_for(rng, holder)
    pick = rng.random()
    if pick < 0.4:
        payload = _raw(rng)
    elif pick < 0.8:  # valid claims encoded by hand: non-minimal, indefinite, duplicate keys
        payload = _hand(rng, ctx.claims(rng, holder)) or b""
    else:
        payload = cbor2.dumps(ctx.claims(rng, holder)) + rng.choice((b"\0", b"\xff", _raw(rng)))
    return encode_text(ctx.signed(payload, signer, tagged=rng.random() < 0.8))


def _time_claims(rng: Rng, ctx: Context, holder: Holder) -> Mutable:
    """Claims whose times sit on and around the verifier's checks."""
    lifetime = rng.choice((0, 1, 120, MAX_LIFETIME, MAX_LIFETIME + 1))
    iat = rng.choice(
        (
            NOW_S + SKEW_S,  # the last moment not yet refused
            NOW_S + SKEW_S + 1,
            NOW_S + rng.randint(61, 10**8),
            NOW_S - lifetime - SKEW_S,  # expired by a hair
            NOW_S - lifetime - SKEW_S + 1,
            NOW_S - rng.randint(400, 10**9),
            0,
            UINT_MAX - lifetime,  # beyond any datetime
            2**62,
        )
    )
    claims = ctx.claims(rng, holder, iat=iat, lifetime=max(lifetime, 1))
    claims[CLAIM_EXP] = iat + lifetime if rng.random() < 0.9 else iat - rng.randint(1, 60)
    return claims


def gen_checks(rng: Rng, ctx: Context) -> str:
    """Well-formed codes around the checks: time, issuer, region, key, signature."""
    holder = rng.choice(HOLDERS)
    signer = ctx.signer_for(rng, holder)
    case = rng.randrange(8)
    protected: Header | None = None
    if case == 0:
        claims = _time_claims(rng, ctx, holder)
    elif case == 1:  # iss not one the key signs for
        claims = ctx.claims(rng, holder, iss=rng.choice(("310000", "320000", "340100", "110000")))
    elif case == 2:  # the card's region is not iss's (only a cross-region key may do that)
        claims = ctx.claims(rng, holder)
        claims[CLAIM_ESSC] = {**_card(claims), "cid": rng.choice(HOLDERS).card_id}
    elif case == 3:
        claims = ctx.claims(rng, holder)
        signer = rng.choice(ctx.rogues)
    elif case == 4:  # the header names the other algorithm
        claims = ctx.claims(rng, holder)
        protected = {HEADER_ALG: -8 if signer.algorithm == ES256 else -7}
    elif case == 5:
        claims = ctx.claims(rng, holder)
        signer = rng.choice(ctx.signers)  # any key, any region
    else:
        claims = ctx.claims(rng, holder)
    bad = case == 6 or rng.random() < 0.05
    cose = ctx.signed(cbor2.dumps(claims), signer, protected=protected, bad_signature=bad)
    return encode_text(cose)


def _card(claims: Mutable) -> Mutable:
    card = claims[CLAIM_ESSC]
    return dict(card) if isinstance(card, dict) else {}


def gen_zlib(rng: Rng, ctx: Context) -> str:
    stream = rng.choice(ctx.zlib_oddities)
    if rng.random() < 0.3:
        stream = _mutate_bytes(rng, stream)
    return _text_of(stream)


def gen_random_text(rng: Rng, ctx: Context) -> str:
    del ctx
    pick = rng.randrange(9)
    if pick == 0:
        return _text(rng, string.printable, rng.choice((8, 64, 256)))
    if pick == 1:
        return _unicode(rng, rng.choice((8, 64, 256)))
    if pick == 2:
        return rng.randbytes(rng.randint(0, 128)).decode("latin-1")
    if pick == 3:
        return rng.randbytes(rng.randint(0, 128)).decode("utf-8", "surrogateescape")
    if pick == 4:
        return PREFIX + _text(rng, B45, rng.choice((4, 64, 400)))
    if pick == 5:
        return _text_of(rng.randbytes(rng.randint(0, 300)))
    if pick == 6:
        return encode_text(rng.randbytes(rng.randint(0, 300)))
    if pick == 7:
        return encode_text(_raw(rng))
    length = rng.choice((6143, 6144, 6145, 6146, 6147, 8191, 8192, 8193, 9000))
    body = "".join(rng.choice(B45) for _ in range(length - len(PREFIX)))
    return rng.choice((PREFIX, "", "YKTR1:", "MOHRSS:")) + body


def _digits(rng: Rng, length: int, lead: str = "") -> str:
    return lead + "".join(rng.choice(string.digits) for _ in range(length - len(lead)))


def _identity(rng: Rng) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randint(0, 25_000))
    body = f"{rng.choice(('110105', '310104', '130102'))}{born:%Y%m%d}{_digits(rng, 3)}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return body + (check if rng.random() < 0.8 else rng.choice("0123456789Xx"))


def gen_other_kinds(rng: Rng, ctx: Context) -> str:
    body = rng.choice(ctx.pool).text.removeprefix(PREFIX)
    reservation = _text(rng, string.ascii_uppercase + string.digits + "-", 40)
    makers: tuple[Callable[[], str], ...] = (
        lambda: (
            rng.choice(("https://", "http://", "weixin://", "www.", "HTTPS://", "ftp://"))
            + _text(rng, string.ascii_letters + "/.?=&%", 60)
        ),
        lambda: _digits(rng, 18, rng.choice(("10", "11", "13", "15"))),  # WeChat Pay
        lambda: _digits(rng, 19, "62"),  # UnionPay
        lambda: _digits(rng, rng.randint(16, 24), str(rng.randint(25, 30))),  # Alipay
        lambda: _digits(rng, rng.randint(0, 30)),
        lambda: _identity(rng),
        lambda: "000201010212" + _text(rng, string.digits + string.ascii_uppercase, 60),
        lambda: rng.choice(('{"code": "x"}', "[1, 2]", "{", "}", '{"a":')),
        lambda: RESERVATION_PREFIX + reservation,
        lambda: RESERVATION_PREFIX + rng.choice((reservation.lower(), reservation + " x", "")),
        lambda: RESERVATION_PREFIX + _unicode(rng, 12) + rng.choice(("", "\r\n", "\u3000")),
        lambda: "MOHRSS:" + _text(rng, string.printable, 40),
        lambda: rng.choice(("MOHRSS", "mohrss:", "MOHRSS：", " MOHRSS:")) + _text(rng),
        lambda: rng.choice(("essc1:", "Essc1:", "yktr1:", "]Q1", "http://x/", "扫码 ")) + body,
        lambda: _text(rng, string.ascii_uppercase + string.digits, 12) + ":" + _text(rng),
        lambda: rng.choice(("", " ", "\r\n", "\t\t", "\u3000", "\x00", "\ufffd", "ESSC1:")),
    )
    return rng.choice(makers)()


Generator = Callable[[Rng, Context], str]
GENERATORS: tuple[tuple[str, int, Generator], ...] = (
    ("valid", 4, gen_valid),
    ("text-mutation", 22, gen_text_mutation),
    ("layer-mutation", 13, gen_layer_mutation),
    ("claims", 13, gen_claims),
    ("card-claims", 9, gen_card_claims),
    ("header", 6, gen_header),
    ("envelope", 5, gen_envelope),
    ("raw-payload", 6, gen_raw_payload),
    ("checks", 8, gen_checks),
    ("zlib", 3, gen_zlib),
    ("random-text", 6, gen_random_text),
    ("other-kinds", 5, gen_other_kinds),
)
_CUMULATIVE = [sum(weight for _, weight, _ in GENERATORS[: i + 1]) for i in range(len(GENERATORS))]


#: what making an input may raise: a random structure the encoder (cbor2's, or the simulator's)
#: cannot write, e.g. a lone surrogate in a text string.  The input is drawn again.
_UNENCODABLE = (cbor2.CBOREncodeError, TypeError, ValueError, OverflowError)


def inputs(
    rng: Rng, ctx: Context, count: int, redrawn: Counter[str] | None = None
) -> Iterator[tuple[str, str]]:
    """``count`` (generator name, text) pairs; ``redrawn`` counts inputs that could not be
    encoded, per generator, and were drawn again."""
    made = 0
    while made < count:
        name, _, make = rng.choices(GENERATORS, cum_weights=_CUMULATIVE)[0]
        try:
            text = make(rng, ctx)
        except _UNENCODABLE:
            if redrawn is not None:
                redrawn[name] += 1
            continue
        made += 1
        yield name, text


# -- running and tallying --------------------------------------------------------------------
@dataclass
class Tally:
    inputs: int = 0
    generators: Counter[str] = field(default_factory=Counter)
    verify: Counter[str] = field(default_factory=Counter)
    dispatch: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    redrawn: Counter[str] = field(default_factory=Counter)
    signatures: Counter[str] = field(default_factory=Counter)
    findings: list[dict[str, str]] = field(default_factory=list)

    @property
    def finding_count(self) -> int:
        return sum(self.signatures.values())

    def merge(self, other: Tally) -> None:
        self.inputs += other.inputs
        for mine, theirs in (
            (self.generators, other.generators),
            (self.verify, other.verify),
            (self.dispatch, other.dispatch),
            (self.malformed, other.malformed),
            (self.redrawn, other.redrawn),
        ):
            mine.update(theirs)
        for finding in other.findings:
            self._keep(finding)
        self.signatures.update(other.signatures)

    def finding(self, target: str, text: str, generator: str, problem: str, trace: str) -> None:
        """``trace``: the traceback of a crash, or what broke a contract."""
        signature = f"{target}: {problem}"
        self.signatures[signature] += 1
        self._keep(
            {
                "signature": signature,
                "target": target,
                "generator": generator,
                "input": repr(text),
                "traceback": trace,
            }
        )

    def _keep(self, finding: dict[str, str]) -> None:
        same = sum(1 for kept in self.findings if kept["signature"] == finding["signature"])
        if same < EXAMPLES_PER_SIGNATURE and len(self.findings) < MAX_EXAMPLES:
            self.findings.append(finding)

    def to_json(self) -> dict[str, object]:
        return {
            "inputs": self.inputs,
            "finding_count": self.finding_count,
            "finding_signatures": dict(self.signatures.most_common()),
            "findings": self.findings,
            "generators": dict(self.generators.most_common()),
            "verify_code": dict(self.verify.most_common()),
            "dispatcher": dict(self.dispatch.most_common()),
            "malformed_details": dict(self.malformed.most_common()),
            "redrawn_unencodable": dict(self.redrawn.most_common()),
        }


Outcome = tuple[object, CodeRejected | None]


def _crash(exc: BaseException) -> tuple[str, str]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    trace = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__} at {where}", trace


@dataclass(slots=True)
class _Probe:
    """One input on its way through the targets, and where its findings go."""

    text: str
    generator: str
    tally: Tally

    def attempt(
        self, call: Callable[[], object], target: str, *, may_reject: bool = True
    ) -> Outcome | None:
        """What ``call`` returns or the CodeRejected it raises (when ``may_reject``); anything
        else is a finding, and gives None."""
        try:
            return call(), None
        except CodeRejected as rejected:
            if may_reject:
                return None, rejected
            problem, trace = _crash(rejected)
            self.tally.finding(target, self.text, self.generator, problem, trace)
        except Exception as exc:  # noqa: BLE001 (anything but CodeRejected is what we look for)
            problem, trace = _crash(exc)
            self.tally.finding(target, self.text, self.generator, problem, trace)
        return None

    def broken(self, target: str, problem: str | None, detail: object = "") -> None:
        """A contract broken without an exception (``None``: it holds); ``detail`` is what
        broke it (a message, a credential), kept with the input."""
        if problem:
            self.tally.finding(target, self.text, self.generator, problem, repr(detail))


def _malformed_detail(message: str) -> str:
    detail = message.partition("malformed (")[2].rpartition("): ")[0] or message
    return re.sub(r"(?<![A-Za-z0-9])[0-9]+", "N", detail)[:60]


def _rejection_problem(ctx: Context, rejected: CodeRejected, text: str) -> str | None:
    if not isinstance(rejected.reason, str) or not rejected.reason:
        return "a rejection without a reason"
    if not rejected.message:
        return "a rejection without a message"
    if any(identity in rejected.message for identity in ctx.identities):
        return "a rejection message names the holder"
    code = text.strip()
    if len(code) >= ECHO_MIN and code in rejected.message:
        return "a rejection message repeats the scanned text"
    return None


def _verified_problem(result: object) -> str | None:
    """What a credential from verify_code must be."""
    if not isinstance(result, Credential):
        return f"verify_code returned {type(result).__name__}"
    facts = result.code
    if result.kind is not CredentialKind.ESSC_QR or facts is None:
        return "verify_code returned a credential that is not a code's"
    if result.authenticity is not Authenticity.VERIFIED:
        return "verify_code returned an unverified credential"
    if not _CARD_ID.fullmatch(result.card_id or "") or not _ISSUER.fullmatch(facts.issuer):
        return "verify_code accepted a malformed card id or issuer"
    issued, expires = facts.issued_at.timestamp(), facts.expires_at.timestamp()
    if not 0 <= expires - issued <= MAX_LIFETIME:
        return "verify_code accepted a code living longer than the contract allows"
    if issued > NOW_S + SKEW_S or expires + SKEW_S <= NOW_S:
        return "verify_code accepted a code outside its validity"
    if len(facts.code_id) != 16 or facts.level not in (1, 2):
        return "verify_code accepted a malformed cti or level"
    return None


_KINDS = {
    CodeKind.ESSC1: CredentialKind.ESSC_QR,
    CodeKind.RESERVATION: CredentialKind.RESERVATION_CODE,
    CodeKind.PLATFORM: CredentialKind.PLATFORM_CODE,
}


def _dispatched_problem(result: object, kind: object) -> str | None:
    if not isinstance(result, Credential):
        return f"the dispatcher returned {type(result).__name__}"
    if not isinstance(kind, CodeKind) or _KINDS.get(kind) is not result.kind:
        return f"the dispatcher made a {result.kind.value} credential of a {kind} text"
    if kind is CodeKind.ESSC1:
        return _verified_problem(result)
    if kind is CodeKind.RESERVATION and not _RESERVATION_ID.fullmatch(result.reservation_id or ""):
        return "the dispatcher accepted a malformed reservation id"
    return None


def _description_problem(looks: object, text: str) -> str | None:
    if not (isinstance(looks, tuple) and len(looks) == 2 and all(looks)):
        return "describe_unrecognised did not return two phrases"
    code = text.strip()
    if len(code) >= ECHO_MIN and any(code in phrase for phrase in looks):
        return "describe_unrecognised repeats the scanned text"
    return None


def _check_verifier(ctx: Context, probe: _Probe) -> None:
    outcome = probe.attempt(lambda: ctx.verify(probe.text, now=NOW), "verify_code")
    if outcome is None:
        return
    result, rejected = outcome
    if rejected is None:
        replayed = isinstance(result, Credential) and result.code and result.code.replayed
        probe.tally.verify["accepted (replayed)" if replayed else "accepted"] += 1
        probe.broken("verify_code", _verified_problem(result), result)
        return
    probe.tally.verify[f"rejected:{rejected.reason}"] += 1
    if rejected.reason == EsscReject.MALFORMED:
        probe.tally.malformed[_malformed_detail(rejected.message)] += 1
    if rejected.reason not in _ESSC_REASONS:
        probe.broken("verify_code", f"unknown reject reason {rejected.reason!r}", rejected)
    problem = _rejection_problem(ctx, rejected, probe.text)
    probe.broken("verify_code", problem, rejected.message)


def _check_dispatcher(ctx: Context, probe: _Probe, network: str) -> None:
    text = probe.text
    kind = probe.attempt(
        lambda: classify(text, platform_prefixes=PLATFORM_PREFIXES), "classify", may_reject=False
    )
    looks = probe.attempt(lambda: describe_unrecognised(text), "describe", may_reject=False)
    if looks is not None:
        probe.broken("describe_unrecognised", _description_problem(looks[0], text), looks[0])
    dispatcher = ctx.dispatchers[network]
    outcome = probe.attempt(lambda: dispatcher.credential(text, now=NOW), "dispatcher")
    if outcome is None:
        return
    result, rejected = outcome
    # the network matters to platform codes only
    where = f" ({network})" if kind is not None and kind[0] is CodeKind.PLATFORM else ""
    if rejected is not None:
        probe.tally.dispatch[f"{type(rejected).__name__}:{rejected.reason}{where}"] += 1
        probe.broken("dispatcher", _rejection_problem(ctx, rejected, text), rejected.message)
        return
    made = result.kind.value if isinstance(result, Credential) else type(result).__name__
    probe.tally.dispatch[f"accepted:{made}{where}"] += 1
    problem = _dispatched_problem(result, None if kind is None else kind[0])
    probe.broken("dispatcher", problem, result)


def check(ctx: Context, text: str, generator: str, network: str, tally: Tally) -> None:
    """One input through every target."""
    tally.inputs += 1
    tally.generators[generator] += 1
    probe = _Probe(text, generator, tally)
    _check_verifier(ctx, probe)
    _check_dispatcher(ctx, probe, network)


_CONTEXTS: dict[int, Context] = {}


def context(seed: int) -> Context:
    """This process's context for ``seed`` (built on first use: the pool takes a moment)."""
    if seed not in _CONTEXTS:
        _CONTEXTS[seed] = Context(seed)
    return _CONTEXTS[seed]


def run_chunk(job: tuple[int, int, int]) -> Tally:
    """Inputs ``[index * CHUNK, index * CHUNK + count)`` of the run with ``seed``."""
    seed, index, count = job
    ctx = context(seed)
    rng = random.Random(f"{seed}:{index}")  # noqa: S311 (fuzzing, not cryptography)
    tally = Tally()
    networks = ("online", "offline", "no-platform")
    for generator, text in inputs(rng, ctx, count, tally.redrawn):
        check(ctx, text, generator, rng.choices(networks, (45, 45, 10))[0], tally)
    return tally


def run(
    count: int,
    seed: int,
    *,
    workers: int = 1,
    progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """Fuzz ``count`` inputs, in ``workers`` processes (1: in this one)."""
    jobs = [(seed, index, min(CHUNK, count - start)) for index, start in
            enumerate(range(0, count, CHUNK))]  # fmt: skip
    total = Tally()
    if workers <= 1:
        for job in jobs:
            total.merge(run_chunk(job))
            if progress is not None:
                progress(total)
        return total
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for tally in pool.imap_unordered(run_chunk, jobs):
            total.merge(tally)
            if progress is not None:
                progress(total)
    return total


# -- the command -------------------------------------------------------------------------------
def _table(out: TextIO, title: str, counts: Counter[str], limit: int = 40) -> None:
    out.write(f"\n{title} ({sum(counts.values())}):\n")
    for key, number in counts.most_common(limit):
        out.write(f"  {number:>9}  {key}\n")
    if len(counts) > limit:
        out.write(f"  ... and {len(counts) - limit} more\n")


def summary(out: TextIO, tally: Tally, seconds: float, seed: int, workers: int) -> None:
    rate = tally.inputs / seconds if seconds else 0.0
    out.write(
        f"fuzz_codes: {tally.inputs} inputs, seed {seed}, {workers} worker(s), "
        f"{seconds:.1f} s wall, {rate:.0f} inputs/s, {tally.finding_count} finding(s)\n"
    )
    _table(out, "generators", tally.generators)
    _table(out, "verify_code outcomes", tally.verify)
    _table(out, "dispatcher outcomes", tally.dispatch)
    _table(out, "malformed, by detail", tally.malformed, limit=25)
    _table(out, "inputs drawn again (could not be encoded)", tally.redrawn)
    if tally.signatures:
        _table(out, "FINDINGS", tally.signatures)
        for finding in tally.findings[:10]:
            out.write(f"\n--- {finding['signature']} [{finding['generator']}]\n")
            out.write(f"input: {finding['input'][:2000]}\n{finding['traceback']}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs to try")
    parser.add_argument("--seed", type=int, default=1, help="the inputs' seed")
    parser.add_argument("--workers", type=int, default=2, help="processes (1: this one)")
    parser.add_argument("--report", type=Path, help="write a JSON report here")
    args = parser.parse_args(argv)
    if args.count < 0 or args.workers < 1:
        parser.error("--count must be ≥ 0 and --workers ≥ 1")
    step = max(args.count // 10, CHUNK)
    started = time.monotonic()
    shown = [0]

    def progress(tally: Tally) -> None:
        if tally.inputs - shown[0] >= step:
            shown[0] = tally.inputs
            elapsed = time.monotonic() - started
            sys.stderr.write(
                f"[fuzz] {tally.inputs}/{args.count} inputs, {elapsed:.0f} s, "
                f"{tally.inputs / elapsed:.0f}/s, {tally.finding_count} finding(s)\n"
            )

    tally = run(args.count, args.seed, workers=args.workers, progress=progress)
    seconds = time.monotonic() - started
    summary(sys.stdout, tally, seconds, args.seed, args.workers)
    if args.report is not None:
        report = {
            "seed": args.seed,
            "workers": args.workers,
            "wall_seconds": round(seconds, 1),
            "inputs_per_second": round(tally.inputs / seconds) if seconds else None,
            **tally.to_json(),
        }
        args.report.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return 1 if tally.finding_count else 0


if __name__ == "__main__":
    sys.exit(main())
