"""ESSC1, the electronic card's offline code: decode it and verify it against synced issuer keys.

The contract is the ESSC1 specification shared with the issuers (``docs/essc.md`` says what
the terminal accepts and why it rejects).  Layers, outside in: the text ``ESSC1:`` + base45,
zlib, COSE_Sign1 (tagged with CBOR tag 18 or untagged), and a CBOR map of CWT claims holding
the card claims under ``-65537``.  Every layer is decoded by a maintained library
(``base45``, ``zlib``, ``cbor2``, ``cryptography``); this module only enforces the contract's
rules and the order of its checks:

1. text, base45, zlib, COSE, claims: any failure is ``malformed`` (the message names the
   layer or the claim);
2. issuer keys by kid: none is ``unknown_key``; a key refused at this terminal (a test key on a
   production terminal, revoked, outside its validity window) is ``key_not_valid``; ``iss`` not
   one of the key's regions is ``issuer_mismatch``;
3. the signature over the COSE Sig_structure: ``bad_signature``;
4. time against the injected clock with a skew: ``iat`` beyond ``now + skew`` is
   ``not_yet_valid``; ``now >= exp + skew`` is ``expired``.  The verifier never reads a clock:
   whether ``now`` can be trusted is the caller's to judge and to say in the verdict;
5. the card's region family (first 2 digits of ``cid``) must be ``iss``'s unless the key signs
   across regions: ``issuer_mismatch``;
6. replay: not a reject here.  The venue policy decides whether re-entry is allowed, so
   :func:`verify_code` only marks the credential (``CodeFacts.replayed``) when ``seen(cti, now)``
   says this terminal has seen the code within its validity.

Size limits, before and after decompression: the text after the prefix is at most
:data:`MAX_TEXT` characters (what :data:`MAX_COMPRESSED` bytes take in base45), the compressed
bytes at most :data:`MAX_COMPRESSED`, and zlib is asked for at most :data:`MAX_DECOMPRESSED` + 1
bytes, so a zip bomb never costs more than that: more output is a reject, as is a truncated
stream or trailing data after it.  CBOR maps with duplicate keys and trailing bytes after a CBOR
item are malformed too.

Several keys may share a kid.  Keys whose algorithm is not the header's ``alg`` are not
candidates (none left: ``unknown_key``).  Among the candidates, precedence is:

a. a candidate that passes its own checks (step 2) and under which the signature verifies signs
   the code, and the code goes on to the time and region checks (one that also allows the
   card's region family is preferred);
b. otherwise, if the signature verifies under a candidate that failed its checks, that key
   really signed the code, so its first failed check is the reason (``key_not_valid`` or
   ``issuer_mismatch``);
c. otherwise, if some candidate passed its checks, no key signed this code: ``bad_signature``;
d. otherwise the furthest any candidate got: ``issuer_mismatch`` (a key usable now, but not for
   this issuer) before ``key_not_valid``.

With one key per kid this is exactly the contract's order.  Messages never carry the holder's
identity (card numbers, names, birth dates): only layers, claim names, kids, issuers and times.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TypeVar

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from apdu.ssc import Authenticity
from offline_store.issuer_keys import EDDSA, ES256, KID_BYTES, IssuerKey
from terminal.credential import CodeFacts, Credential, CredentialKind
from terminal.errors import CodeRejected

PREFIX = "ESSC1:"
#: Largest zlib stream accepted (bytes, after base45).
MAX_COMPRESSED = 4096
#: Largest COSE message accepted (bytes, after zlib): the contract's 4 KiB.
MAX_DECOMPRESSED = 4096
#: Largest base45 text accepted after the prefix: base45 writes 2 bytes as 3 characters.
MAX_TEXT = MAX_COMPRESSED // 2 * 3
#: What keyboard-mode scanners append, stripped before anything else.  (Base45 never ends in a
#: space, so stripping spaces too would be harmless, but only what scanners add is stripped.)
SCANNER_SUFFIX = "\r\n\t\v\f"

# COSE (RFC 9052) and CWT (RFC 8392) labels the contract uses.
COSE_SIGN1_TAG = 18
HEADER_ALG = 1
HEADER_KID = 4
ALG_ES256 = -7
ALG_EDDSA = -8
ALGORITHMS: Mapping[int, str] = {ALG_ES256: ES256, ALG_EDDSA: EDDSA}
CLAIM_ISS = 1
CLAIM_EXP = 4
CLAIM_IAT = 6
CLAIM_CTI = 7
CLAIM_ESSC = -65537
CTI_BYTES = 16
#: Dynamic codes live minutes: exp - iat is at most this many seconds.
MAX_LIFETIME = 300
ESSC_VERSION = 1
LEVELS = frozenset({1, 2})  # 1 identity, 2 identity + payment
SIGNATURE_BYTES = 64  # ES256 r||s and Ed25519 alike
_UINT_MAX = 2**64 - 1  # a CBOR uint; larger (tag 2 bignums) is not one
_CBOR_DEPTH = 16  # a COSE message nests 3 levels; anything deeper is not a code

_ISSUER = re.compile(r"[0-9]{6}")
_CARD_ID = re.compile(r"[0-9A-F]{32}")
_BIRTH_DATE = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})")
_ALG_NAMES = {ES256: "ES256", EDDSA: "EdDSA"}
_Key = TypeVar("_Key", int, str)
_REFRESH = "ask the holder to refresh the code in the app"


class EsscReject(StrEnum):
    """Why an ESSC1 code is rejected: the contract's reasons, in its order."""

    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    KEY_NOT_VALID = "key_not_valid"
    ISSUER_MISMATCH = "issuer_mismatch"
    BAD_SIGNATURE = "bad_signature"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    #: not raised by :func:`verify_code` (the venue policy decides re-entry); kept so the
    #: journal and the screens name a refused replay with the contract's word
    REPLAYED = "replayed"


def _reject(reason: EsscReject, message: str) -> CodeRejected:
    return CodeRejected(reason=reason.value, message=message)


def _malformed(detail: str) -> CodeRejected:
    return _reject(EsscReject.MALFORMED, f"ESSC1 code is malformed ({detail}): {_REFRESH}")


# -- decoding ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Sign1:
    protected: bytes  # the protected header as received: the signature covers these bytes
    algorithm: str  # es256 | eddsa
    kid: bytes
    payload: bytes
    signature: bytes

    def signed_bytes(self) -> bytes:
        """The COSE Sig_structure for COSE_Sign1 with no external data."""
        return cbor2.dumps(["Signature1", self.protected, b"", self.payload])


@dataclass(frozen=True, slots=True)
class _Claims:
    iss: str
    exp: int
    iat: int
    cti: bytes
    card_id: str
    card_number: str
    name: str | None
    birth_date: dt.date | None
    level: int


def _cose_bytes(text: str) -> bytes:
    """Text → base45 → zlib, with the size limits on both sides of zlib."""
    text = text.rstrip(SCANNER_SUFFIX)
    if not text.startswith(PREFIX):
        raise _malformed(f"text: it does not start with {PREFIX}")
    body = text[len(PREFIX) :]
    if len(body) > MAX_TEXT:
        raise _malformed(f"text: {len(body)} characters, more than {MAX_TEXT}")
    try:
        compressed: bytes = base45.b45decode(body)
    except ValueError as exc:
        raise _malformed(f"base45: {exc}") from exc
    if len(compressed) > MAX_COMPRESSED:  # MAX_TEXT bounds it already: a second belt
        raise _malformed(f"zlib: {len(compressed)} bytes, more than {MAX_COMPRESSED}")
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS)  # zlib (RFC 1950) only, not gzip/raw
    try:
        cose = inflater.decompress(compressed, MAX_DECOMPRESSED + 1)
    except zlib.error as exc:
        raise _malformed(f"zlib: {exc}") from exc
    if len(cose) > MAX_DECOMPRESSED:
        raise _malformed(f"zlib: it inflates to more than {MAX_DECOMPRESSED} bytes")
    if not inflater.eof:
        raise _malformed("zlib: the stream is cut off")
    if inflater.unused_data:
        raise _malformed("zlib: data follows the end of the stream")
    return cose


def _cbor(data: bytes, layer: str) -> object:
    """One CBOR item filling ``data`` exactly, with no duplicate map keys."""
    stream = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(
            stream, max_depth=_CBOR_DEPTH, allow_duplicate_keys=False, read_size=1
        ).decode()
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, LookupError) as exc:
        # cbor2's message may quote decoded values (a name, a card number): never repeat it
        what = "Duplicate map key" if "Duplicate map key" in str(exc) else "not well-formed CBOR"
        raise _malformed(f"{layer}: {what} ({type(exc).__name__})") from None
    if stream.tell() != len(data):
        raise _malformed(f"{layer}: bytes follow the CBOR item")
    return item


def _sign1(cose: bytes) -> _Sign1:
    message = _cbor(cose, "COSE")
    if isinstance(message, cbor2.CBORTag):
        if message.tag != COSE_SIGN1_TAG:
            raise _malformed(f"COSE: CBOR tag {message.tag} is not COSE_Sign1 ({COSE_SIGN1_TAG})")
        message = message.value
    if not isinstance(message, list | tuple) or len(message) != 4:
        raise _malformed("COSE: not a COSE_Sign1 array of 4 items")
    protected, unprotected, payload, signature = message
    if not isinstance(protected, bytes):
        raise _malformed("COSE: the protected header is not a byte string")
    if not isinstance(unprotected, Mapping):
        raise _malformed("COSE: the unprotected header is not a map")
    if not isinstance(payload, bytes):
        raise _malformed("COSE: the payload is not a byte string (none detached here)")
    if not isinstance(signature, bytes):
        raise _malformed("COSE: the signature is not a byte string")
    header = _labels(
        _cbor(protected, "COSE protected header") if protected else {}, "COSE protected header"
    )
    alg = header.get(HEADER_ALG)
    algorithm = ALGORITHMS.get(alg) if type(alg) is int else None
    if algorithm is None:
        raise _malformed(
            f"COSE: alg {_shown(alg)} is not ES256 ({ALG_ES256}) or EdDSA ({ALG_EDDSA})"
        )
    kid = header.get(HEADER_KID)
    if not isinstance(kid, bytes) or len(kid) != KID_BYTES:
        raise _malformed(f"COSE: the protected kid is not {KID_BYTES} bytes")
    return _Sign1(protected, algorithm, kid, payload, signature)


def _shown(value: object) -> str:
    """A received value for a message: small integers as such, anything else by its type."""
    if type(value) is int and abs(value) <= _UINT_MAX:
        return str(value)
    return "missing" if value is None else f"of type {type(value).__name__}"


def _labels(item: object, layer: str) -> dict[int, object]:
    """A map's integer labels (other keys are none this contract defines, so they are ignored)."""
    if not isinstance(item, Mapping):
        raise _malformed(f"{layer}: not a map")
    return {key: value for key, value in item.items() if type(key) is int}


def _uint(claims: Mapping[_Key, object], key: _Key, name: str) -> int:
    value = claims.get(key)
    if value is None:
        raise _malformed(f"claim {name} is missing")
    if type(value) is not int or not 0 <= value <= _UINT_MAX:
        raise _malformed(f"claim {name} is not an unsigned integer")
    return value


def _text(claims: Mapping[_Key, object], key: _Key, name: str) -> str:
    value = claims.get(key)
    if value is None:
        raise _malformed(f"claim {name} is missing")
    if not isinstance(value, str):
        raise _malformed(f"claim {name} is not text")
    return value


def _claims(payload: bytes) -> _Claims:
    cwt = _labels(_cbor(payload, "claims"), "claims")
    iss = _text(cwt, CLAIM_ISS, "iss")
    if not _ISSUER.fullmatch(iss):
        raise _malformed("claim iss is not a 6-digit region code")
    exp = _uint(cwt, CLAIM_EXP, "exp")
    iat = _uint(cwt, CLAIM_IAT, "iat")
    if exp < iat:
        raise _malformed("claim exp is before iat")
    if exp - iat > MAX_LIFETIME:
        raise _malformed(f"claims exp - iat is {exp - iat} s, more than {MAX_LIFETIME} s")
    cti = cwt.get(CLAIM_CTI)
    if cti is None:
        raise _malformed("claim cti is missing")
    if not isinstance(cti, bytes) or len(cti) != CTI_BYTES:
        raise _malformed(f"claim cti is not a {CTI_BYTES}-byte string")
    essc = cwt.get(CLAIM_ESSC)
    if essc is None:
        raise _malformed(f"claim essc ({CLAIM_ESSC}) is missing")
    if not isinstance(essc, Mapping):
        raise _malformed("claim essc is not a map")
    card = {key: value for key, value in essc.items() if isinstance(key, str)}
    if _uint(card, "v", "essc.v") != ESSC_VERSION:
        raise _malformed(f"claim essc.v is not {ESSC_VERSION}: a version this terminal lacks")
    card_id = _text(card, "cid", "essc.cid")
    if not _CARD_ID.fullmatch(card_id):
        raise _malformed("claim essc.cid is not 32 uppercase hex characters")
    card_number = _text(card, "cno", "essc.cno")
    if len(card_number) != 9:
        raise _malformed("claim essc.cno is not 9 characters")
    name = _text(card, "nm", "essc.nm") if "nm" in card else None
    birth_date = _birth_date(_text(card, "dob", "essc.dob")) if "dob" in card else None
    level = _uint(card, "lvl", "essc.lvl")
    if level not in LEVELS:
        raise _malformed("claim essc.lvl is not 1 (identity) or 2 (identity + payment)")
    return _Claims(iss, exp, iat, cti, card_id, card_number, name, birth_date, level)


def _birth_date(text: str) -> dt.date:
    match = _BIRTH_DATE.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        return dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise _malformed("claim essc.dob is not a YYYYMMDD date") from None


# -- keys and signatures -----------------------------------------------------------------------
PublicKey = ec.EllipticCurvePublicKey | Ed25519PublicKey


@lru_cache(maxsize=256)
def _public_key(algorithm: str, public_key: bytes) -> PublicKey:
    """Loaded once per key: parsing a P-256 point costs more than verifying with it."""
    if algorithm == ES256:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
    return Ed25519PublicKey.from_public_bytes(public_key)


def _signature_holds(key: IssuerKey, sign1: _Sign1, message: bytes) -> bool:
    if len(sign1.signature) != SIGNATURE_BYTES:
        return False
    try:
        public = _public_key(key.algorithm, key.public_key)
        if isinstance(public, Ed25519PublicKey):
            public.verify(sign1.signature, message)
        else:
            half = SIGNATURE_BYTES // 2
            der = encode_dss_signature(
                int.from_bytes(sign1.signature[:half]), int.from_bytes(sign1.signature[half:])
            )
            public.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _key_problem(
    key: IssuerKey, iss: str, *, now: dt.datetime, production: bool
) -> CodeRejected | None:
    """Step 2 for one key: whether this terminal may use it for this issuer now."""
    named = f"ESSC1 code's issuer key {key.kid.hex()}"
    if production and key.test:
        return _reject(
            EsscReject.KEY_NOT_VALID,
            f"{named} is a test key, refused by a production terminal: the code is not from a "
            "real issuer",
        )
    if key.revoked:
        return _reject(
            EsscReject.KEY_NOT_VALID,
            f"{named} is revoked in the trust list: {_REFRESH}; if it persists, report it",
        )
    if not key.valid_at(now):
        return _reject(
            EsscReject.KEY_NOT_VALID,
            f"{named} is valid only from {key.valid_from.isoformat()} until "
            f"{key.valid_until.isoformat()}: check the terminal's clock and sync the issuers "
            f"list, or {_REFRESH}",
        )
    try:
        _public_key(key.algorithm, key.public_key)
    except ValueError:
        return _reject(
            EsscReject.KEY_NOT_VALID,
            f"{named} in the trust list is not a usable {_ALG_NAMES[key.algorithm]} public "
            "key: report it to the back office",
        )
    if not key.signs_for(iss):
        return _reject(
            EsscReject.ISSUER_MISMATCH,
            f"ESSC1 code's issuer {iss} is not one that issuer key {key.kid.hex()} may sign "
            "for: refuse the code and report it",
        )
    return None


def _region_allowed(key: IssuerKey, claims: _Claims) -> bool:
    return key.cross_region or claims.card_id[:2] == claims.iss[:2]


def _signer(
    candidates: Sequence[IssuerKey],
    sign1: _Sign1,
    claims: _Claims,
    *,
    now: dt.datetime,
    production: bool,
) -> IssuerKey:
    """The key that signed the code, by the precedence in the module docstring."""
    message = sign1.signed_bytes()
    problems: list[tuple[IssuerKey, CodeRejected]] = []
    usable_signer: IssuerKey | None = None
    any_usable = False
    for key in candidates:
        problem = _key_problem(key, claims.iss, now=now, production=production)
        if problem is not None:
            problems.append((key, problem))
            continue
        any_usable = True
        if _signature_holds(key, sign1, message):
            if _region_allowed(key, claims):
                return key
            usable_signer = usable_signer or key
    if usable_signer is not None:
        return usable_signer
    for key, problem in problems:
        if _signature_holds(key, sign1, message):
            raise problem
    if any_usable:
        raise _reject(
            EsscReject.BAD_SIGNATURE,
            f"ESSC1 code's signature does not verify with issuer key {sign1.kid.hex()}: a "
            "forged or altered code; refuse it",
        )
    mismatch = [p for _, p in problems if p.reason == EsscReject.ISSUER_MISMATCH]
    raise (mismatch or [p for _, p in problems])[0]


# -- verifying ---------------------------------------------------------------------------------
def verify_code(
    text: str,
    *,
    keys_for: Callable[[bytes], Sequence[IssuerKey]],
    now: dt.datetime,
    skew: dt.timedelta = dt.timedelta(seconds=60),
    production: bool = False,
    seen: Callable[[bytes, dt.datetime], bool] | None = None,
) -> Credential:
    """The verified credential an ESSC1 code carries, or :class:`CodeRejected`.

    ``keys_for(kid)`` gives the synced issuer keys with that kid (``Store.issuer_keys``);
    ``now`` is the terminal's clock (aware), never read here; ``production`` refuses test keys;
    ``seen(cti, now)`` tells whether this terminal has seen the code within its validity, which
    marks the credential's ``code.replayed`` (the venue policy decides what a replay means).
    The rejection's ``reason`` is an :class:`EsscReject` value.
    """
    if now.tzinfo is None:
        raise ValueError("the terminal's clock reading must carry its offset")
    sign1 = _sign1(_cose_bytes(text))
    claims = _claims(sign1.payload)
    candidates = [
        key
        for key in keys_for(sign1.kid)
        if key.kid == sign1.kid and key.algorithm == sign1.algorithm
    ]
    if not candidates:
        raise _reject(
            EsscReject.UNKNOWN_KEY,
            f"ESSC1 code is signed with unknown {_ALG_NAMES[sign1.algorithm]} issuer key "
            f"{sign1.kid.hex()}: sync the issuers list, then scan again",
        )
    signer = _signer(candidates, sign1, claims, now=now, production=production)
    now_s, skew_s = now.timestamp(), skew.total_seconds()
    if claims.iat > now_s + skew_s:
        raise _reject(
            EsscReject.NOT_YET_VALID,
            f"ESSC1 code is issued at {_moment(claims.iat)}, after the terminal's clock "
            f"({now.isoformat()}) allows: check the terminal's clock, then scan again",
        )
    if now_s >= claims.exp + skew_s:
        raise _reject(
            EsscReject.EXPIRED,
            f"ESSC1 code expired at {_moment(claims.exp)}: {_REFRESH}",
        )
    if not _region_allowed(signer, claims):
        raise _reject(
            EsscReject.ISSUER_MISMATCH,
            f"ESSC1 code's card is from region family {claims.card_id[:2]}, not its issuer's "
            f"({claims.iss}), and issuer key {signer.kid.hex()} does not sign across regions: "
            "refuse the code and report it",
        )
    return Credential(
        kind=CredentialKind.ESSC_QR,
        authenticity=Authenticity.VERIFIED,
        card_id=claims.card_id,
        card_number=claims.card_number,
        name=claims.name,
        birth_date=claims.birth_date,
        code=CodeFacts(
            code_id=claims.cti,
            issued_at=dt.datetime.fromtimestamp(claims.iat, dt.UTC),
            expires_at=dt.datetime.fromtimestamp(claims.exp, dt.UTC),
            issuer=claims.iss,
            level=claims.level,
            replayed=seen is not None and seen(claims.cti, now),
        ),
    )


def _moment(epoch: int) -> str:
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return f"epoch {epoch}"
