"""ESSC1 codes: every layer decoded, every reject reason of the contract, key precedence, and
the issuer keys travelling through a signed ``issuers`` list into a real store."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import base45
import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_bundles import FOREVER, ROOT, T0, repository, store  # noqa: F401 (fixtures)

from apdu.ssc import Authenticity
from offline_store.bundles import Publisher, Repository, sync_from
from offline_store.issuer_keys import IssuerKey
from offline_store.store import Store
from terminal.codes import issuer
from terminal.codes.essc import (
    CLAIM_CTI,
    CLAIM_ESSC,
    CLAIM_EXP,
    CLAIM_IAT,
    CLAIM_ISS,
    HEADER_ALG,
    HEADER_KID,
    MAX_COMPRESSED,
    MAX_DECOMPRESSED,
    MAX_TEXT,
    PREFIX,
    EsscReject,
    verify_code,
)
from terminal.codes.issuer import OMIT, IssuerSimulator, encode_text
from terminal.credential import Credential, CredentialKind
from terminal.errors import CodeRejected

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
ISSUED = NOW - dt.timedelta(seconds=10)
SKEW = dt.timedelta(seconds=60)
CARD_TAIL = "D156000005" + "0" * 14 + "AB"
SHANGHAI_CARD = "310100" + CARD_TAIL
JIANGSU_CARD = "320100" + CARD_TAIL
ANHUI_CARD = "340100" + CARD_TAIL
CTI = bytes(range(16))
SIM = IssuerSimulator()
KEYS = issuer.test_issuer_keys()
ANHUI_KID = SIM.key("anhui").kid

KeysFor = Callable[[bytes], Sequence[IssuerKey]]


def keys_for(keys: Sequence[IssuerKey] = KEYS) -> KeysFor:
    return lambda kid: [key for key in keys if key.kid == kid]


def with_key(name: str, **changes: object) -> list[IssuerKey]:
    """The fixture trust list with one key's record changed (revoked, window, regions...)."""
    kid, public = SIM.key(name).kid, SIM.key(name).public_bytes()
    return [
        replace(key, **changes) if (key.kid, key.public_key) == (kid, public) else key
        for key in KEYS
    ]


def issue(**overrides: object) -> str:
    fields: dict[str, object] = {
        "card_id": SHANGHAI_CARD,
        "card_number": "S31000001",
        "iat": ISSUED,
        "name": "张测试",
        "birth_date": dt.date(1985, 2, 14),
        "cti": CTI,
    }
    fields.update(overrides)
    return SIM.issue(**fields)


def verify(text: str, keys: Sequence[IssuerKey] = KEYS, **options: object) -> Credential:
    return verify_code(text, keys_for=keys_for(keys), now=options.pop("now", NOW), **options)


def rejected(
    text: str, reason: EsscReject, keys: Sequence[IssuerKey] = KEYS, **options: object
) -> str:
    """The rejection's message, after checking its reason."""
    with pytest.raises(CodeRejected) as caught:
        verify(text, keys, **options)
    assert caught.value.reason == reason.value, caught.value.message
    return caught.value.message


def outcome_of(text: str) -> Credential | str:
    """The credential, or the rejection's reason."""
    try:
        return verify(text)
    except CodeRejected as rejection:
        return rejection.reason


def cose_items(text: str) -> list[object]:
    """The COSE_Sign1 array of a code, to take apart."""
    item = cbor2.loads(zlib.decompress(base45.b45decode(text.removeprefix(PREFIX))))
    return list(item.value if isinstance(item, cbor2.CBORTag) else item)


def code_of(items: object, *, tagged: bool = True) -> str:
    return encode_text(cbor2.dumps(cbor2.CBORTag(18, items) if tagged else items))


def text_of(compressed: bytes) -> str:
    return PREFIX + base45.b45encode(compressed).decode()


# -- accepted codes ----------------------------------------------------------------------------
def test_a_code_becomes_a_verified_credential() -> None:
    credential = verify(issue(level=2))
    assert credential.kind is CredentialKind.ESSC_QR
    assert credential.authenticity is Authenticity.VERIFIED
    assert credential.card_id == SHANGHAI_CARD
    assert credential.card_number == "S31000001"
    assert credential.name == "张测试"
    assert credential.birth_date == dt.date(1985, 2, 14)
    assert credential.province == "31"
    assert credential.code is not None
    assert credential.code.code_id == CTI
    assert credential.code.issuer == "310000"
    assert credential.code.level == 2
    assert credential.code.issued_at == ISSUED.replace(microsecond=0)
    assert credential.code.expires_at == ISSUED + dt.timedelta(seconds=issuer.DEFAULT_LIFETIME)
    assert credential.code.replayed is False


@pytest.mark.parametrize("tagged", [True, False], ids=["tag-18", "untagged"])
def test_tagged_and_untagged_cose_are_accepted(tagged: bool) -> None:
    text = issue(tagged=tagged)
    assert cbor2.loads(zlib.decompress(base45.b45decode(text[len(PREFIX) :]))).__class__ is (
        cbor2.CBORTag if tagged else list
    )
    assert verify(text).card_id == SHANGHAI_CARD


@pytest.mark.parametrize(
    ("key", "card_id", "alg"),
    [("shanghai", SHANGHAI_CARD, -7), ("jiangsu", JIANGSU_CARD, -8)],
    ids=["ES256", "EdDSA"],
)
def test_es256_and_eddsa_codes_verify(key: str, card_id: str, alg: int) -> None:
    text = issue(key=key, card_id=card_id)
    protected = cose_items(text)[0]
    assert isinstance(protected, bytes)
    assert cbor2.loads(protected)[HEADER_ALG] == alg
    assert verify(text).card_id == card_id


@pytest.mark.parametrize("suffix", ["\r\n", "\n", "\r", "\t", "\r\n\t"])
def test_what_keyboard_scanners_append_is_stripped(suffix: str) -> None:
    assert verify(issue() + suffix).card_id == SHANGHAI_CARD


def test_optional_card_claims_may_be_absent() -> None:
    credential = verify(issue(name=None, birth_date=None))
    assert (credential.name, credential.birth_date) == (None, None)


def test_unknown_claims_are_ignored() -> None:
    text = issue(
        claims={99: "future claim", -70000: [1, 2], "text label": True},
        card={"photo": b"\x00" * 32, "v2-field": {"nested": 1}, 7: "int key"},
    )
    assert verify(text).card_number == "S31000001"


def test_the_unprotected_header_is_ignored() -> None:
    text = issue(unprotected={HEADER_KID: b"\xee" * 8, HEADER_ALG: -8, 33: b"x5chain"})
    assert verify(text).card_id == SHANGHAI_CARD
    # nothing verifies with the unprotected kid alone
    only_unprotected = issue(
        protected={HEADER_KID: OMIT}, unprotected={HEADER_KID: SIM.key("shanghai").kid}
    )
    rejected(only_unprotected, EsscReject.MALFORMED)


def test_two_keys_sharing_a_kid_are_both_tried() -> None:
    assert SIM.key("anhui-next").kid == ANHUI_KID
    assert len(keys_for()(ANHUI_KID)) == 2
    for name in ("anhui", "anhui-next"):
        assert verify(issue(key=name, card_id=ANHUI_CARD)).card_id == ANHUI_CARD


def test_a_code_at_the_size_limit_is_accepted_and_one_byte_more_is_not() -> None:
    def cose_size(text: str) -> int:
        return len(zlib.decompress(base45.b45decode(text[len(PREFIX) :])))

    def padded(size: int) -> str:
        for pad in range(max(0, size - cose_size(issue()) - 8), size):
            text = issue(claims={99: b"p" * pad})
            length = cose_size(text)
            if length >= size:
                assert length == size
                return text
        raise AssertionError(size)

    assert verify(padded(MAX_DECOMPRESSED)).card_id == SHANGHAI_CARD
    message = rejected(padded(MAX_DECOMPRESSED + 1), EsscReject.MALFORMED)
    assert f"more than {MAX_DECOMPRESSED} bytes" in message


# -- malformed, layer by layer -----------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["", "HC1:NCFOXN", "essc1:" + issue()[len(PREFIX) :], " " + issue(), "ESSC2:" + issue()[6:]],
    ids=["empty", "other-scheme", "lowercase-prefix", "leading-space", "other-version"],
)
def test_the_prefix_is_required_and_case_sensitive(text: str) -> None:
    assert "does not start with ESSC1:" in rejected(text, EsscReject.MALFORMED)


@pytest.mark.parametrize("body", ["abc", "GGW", "A", "ÀÀÀ", ":::"])
def test_bad_base45_is_malformed(body: str) -> None:
    message = rejected(PREFIX + body, EsscReject.MALFORMED)
    assert "base45" in message
    assert "refresh the code" in message


def test_zlib_is_mandatory_and_checked() -> None:
    cose = zlib.decompress(base45.b45decode(issue()[len(PREFIX) :]))
    stream = zlib.compress(cose)
    raw_deflate = zlib.compressobj(wbits=-15)
    cases = {
        "uncompressed": cose,
        "raw deflate": raw_deflate.compress(cose) + raw_deflate.flush(),
        "cut off": stream[:-5],
        "trailing data": stream + b"\x00",
        "corrupt": stream[:2] + bytes(b ^ 0xFF for b in stream[2:12]) + stream[12:],
    }
    for what, compressed in cases.items():
        message = rejected(text_of(compressed), EsscReject.MALFORMED)
        assert "zlib" in message, what


def test_a_text_too_long_is_refused_before_decoding() -> None:
    message = rejected(PREFIX + "0" * (MAX_TEXT + 3), EsscReject.MALFORMED)
    assert f"more than {MAX_TEXT}" in message
    assert "text" in message


def test_a_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = zlib.compress(b"\x00" * 4_000_000, 9)
    assert len(bomb) <= MAX_COMPRESSED  # small on the wire...
    message = rejected(text_of(bomb), EsscReject.MALFORMED)
    assert f"inflates to more than {MAX_DECOMPRESSED} bytes" in message  # ...refused at 4 KiB


def _signed(payload: bytes) -> list[object]:
    return cose_items(encode_text(SIM.sign(payload, "shanghai")))


def _valid_items() -> list[object]:
    return cose_items(issue())


@pytest.mark.parametrize(
    ("cose", "layer"),
    [
        (b"\xff", "COSE"),
        (cbor2.dumps({1: 2}), "array of 4"),
        (cbor2.dumps([b"", {}, b""]), "array of 4"),
        (cbor2.dumps(cbor2.CBORTag(98, _valid_items())), "tag 98"),
        (cbor2.dumps(cbor2.CBORTag(61, cbor2.CBORTag(18, _valid_items()))), "tag 61"),
        (cbor2.dumps(_valid_items()) + b"\x00", "bytes follow"),
        (cbor2.dumps([{1: -7}, *_valid_items()[1:]]), "protected header is not a byte"),
        (cbor2.dumps([_valid_items()[0], [], *_valid_items()[2:]]), "unprotected header"),
        (cbor2.dumps([*_valid_items()[:2], None, _valid_items()[3]]), "payload"),
        (cbor2.dumps([*_valid_items()[:3], "signature"]), "signature is not"),
        (cbor2.dumps([cbor2.dumps([1, -7]), *_valid_items()[1:]]), "protected header: not a map"),
        (cbor2.dumps([b"\xa1\x01", *_valid_items()[1:]]), "COSE protected header"),
    ],
    ids=[
        "not-cbor", "a-map", "three-items", "other-tag", "cwt-tag", "trailing", "header-not-bstr",
        "unprotected-not-map", "detached-payload", "signature-not-bstr", "header-not-map",
        "header-cut-off",
    ],
)  # fmt: skip
def test_a_bad_cose_structure_is_malformed(cose: bytes, layer: str) -> None:
    assert layer in rejected(encode_text(cose), EsscReject.MALFORMED)


@pytest.mark.parametrize(
    "protected",
    [
        {HEADER_ALG: -35},
        {HEADER_ALG: OMIT},
        {HEADER_ALG: "ES256"},
        {HEADER_ALG: -7.0},
        {HEADER_ALG: -(2**20000)},
    ],
    ids=["ES384", "no-alg", "alg-text", "alg-float", "alg-bignum"],
)
def test_an_alg_other_than_es256_or_eddsa_is_malformed(protected: dict[object, object]) -> None:
    assert "alg" in rejected(issue(protected=protected), EsscReject.MALFORMED)


@pytest.mark.parametrize(
    "kid",
    [b"\x01" * 7, b"\x01" * 9, b"", "586be65e66e753d6", OMIT],
    ids=["7-bytes", "9-bytes", "empty", "hex-text", "missing"],
)
def test_a_kid_that_is_not_8_bytes_is_malformed(kid: object) -> None:
    message = rejected(issue(protected={HEADER_KID: kid}), EsscReject.MALFORMED)
    assert "kid is not 8 bytes" in message


def test_an_empty_protected_header_is_malformed() -> None:
    text = code_of([b"", {}, *_valid_items()[2:]])
    assert "alg" in rejected(text, EsscReject.MALFORMED)


@pytest.mark.parametrize(
    ("claims", "named"),
    [
        ({CLAIM_ISS: OMIT}, "claim iss is missing"),
        ({CLAIM_ISS: 310000}, "claim iss is not text"),
        ({CLAIM_ISS: "31000"}, "claim iss is not a 6-digit"),
        ({CLAIM_ISS: "３１００００"}, "claim iss is not a 6-digit"),
        ({CLAIM_EXP: OMIT}, "claim exp is missing"),
        ({CLAIM_EXP: "1795000000"}, "claim exp is not an unsigned"),
        ({CLAIM_EXP: -1}, "claim exp is not an unsigned"),
        ({CLAIM_EXP: True}, "claim exp is not an unsigned"),
        ({CLAIM_EXP: 2**64}, "claim exp is not an unsigned"),
        ({CLAIM_IAT: OMIT}, "claim iat is missing"),
        ({CLAIM_IAT: 1795000000.0}, "claim iat is not an unsigned"),
        ({CLAIM_EXP: int(ISSUED.timestamp()) + 301}, "more than 300 s"),
        ({CLAIM_EXP: int(ISSUED.timestamp()) - 1}, "claim exp is before iat"),
        ({CLAIM_CTI: OMIT}, "claim cti is missing"),
        ({CLAIM_CTI: b"\x01" * 15}, "claim cti is not a 16-byte"),
        ({CLAIM_CTI: CTI.hex()}, "claim cti is not a 16-byte"),
        ({CLAIM_ESSC: OMIT}, "claim essc (-65537) is missing"),
        ({CLAIM_ESSC: [1]}, "claim essc is not a map"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_missing_or_mistyped_claim_is_malformed(claims: dict[object, object], named: str) -> None:
    assert named in rejected(issue(claims=claims), EsscReject.MALFORMED)


@pytest.mark.parametrize(
    ("card", "named"),
    [
        ({"v": OMIT}, "claim essc.v is missing"),
        ({"v": 2}, "claim essc.v is not 1"),
        ({"cid": OMIT}, "claim essc.cid is missing"),
        ({"cid": SHANGHAI_CARD.lower()}, "claim essc.cid is not 32 uppercase hex"),
        ({"cid": SHANGHAI_CARD[:31]}, "claim essc.cid is not 32 uppercase hex"),
        ({"cid": b"310100"}, "claim essc.cid is not text"),
        ({"cno": OMIT}, "claim essc.cno is missing"),
        ({"cno": "S3100001"}, "claim essc.cno is not 9 characters"),
        ({"cno": 310000001}, "claim essc.cno is not text"),
        ({"nm": 42}, "claim essc.nm is not text"),
        ({"dob": "19850230"}, "claim essc.dob is not a YYYYMMDD date"),
        ({"dob": "1985-02-14"}, "claim essc.dob is not a YYYYMMDD date"),
        ({"dob": 19850214}, "claim essc.dob is not text"),
        ({"lvl": OMIT}, "claim essc.lvl is missing"),
        ({"lvl": 3}, "claim essc.lvl is not 1"),
        ({"lvl": "1"}, "claim essc.lvl is not an unsigned"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_missing_or_mistyped_card_claim_is_malformed(
    card: dict[object, object], named: str
) -> None:
    assert named in rejected(issue(card=card), EsscReject.MALFORMED)


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (cbor2.dumps([1, 2]), "claims: not a map"),
        (b"", "claims"),
        (b"\xa2\x01\x66310000\x01\x66320000", "Duplicate"),  # iss twice: ambiguous
    ],
    ids=["array", "empty", "duplicate-iss"],
)
def test_a_payload_that_is_not_a_claims_map_is_malformed(payload: bytes, named: str) -> None:
    assert named in rejected(issue(raw_payload=payload), EsscReject.MALFORMED)


def test_malformed_wins_over_everything_after_it() -> None:
    # unknown key, bad signature and expired too: the first layer that fails is the reason
    text = issue(claims={CLAIM_CTI: OMIT}, bad_signature=True, iat=NOW - dt.timedelta(days=1))
    rejected(text, EsscReject.MALFORMED, keys=[])


# -- keys --------------------------------------------------------------------------------------
def test_a_kid_not_in_the_trust_list_is_unknown() -> None:
    others = [key for key in KEYS if key.kid != SIM.key("shanghai").kid]
    message = rejected(issue(), EsscReject.UNKNOWN_KEY, keys=others)
    assert SIM.key("shanghai").kid.hex() in message
    assert "sync the issuers list" in message


def test_a_key_with_that_kid_but_another_algorithm_is_not_a_candidate() -> None:
    text = issue(protected={HEADER_ALG: -8})  # signed with the ES256 key, header says EdDSA
    assert "EdDSA" in rejected(text, EsscReject.UNKNOWN_KEY)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"revoked": True}, "revoked"),
        ({"valid_from": T0, "valid_until": NOW - dt.timedelta(days=1)}, "valid only from"),
        ({"valid_from": NOW + dt.timedelta(days=1), "valid_until": FOREVER}, "valid only from"),
        ({"valid_from": T0, "valid_until": NOW}, "valid only from"),  # the end is exclusive
    ],
    ids=["revoked", "expired-key", "key-not-yet-valid", "key-ends-now"],
)
def test_a_revoked_or_out_of_window_key_is_not_valid(changes: dict[str, object], said: str) -> None:
    assert said in rejected(issue(), EsscReject.KEY_NOT_VALID, keys=with_key("shanghai", **changes))


def test_a_production_terminal_refuses_test_keys() -> None:
    assert all(key.test for key in KEYS)
    message = rejected(issue(), EsscReject.KEY_NOT_VALID, production=True)
    assert "test key, refused by a production terminal" in message
    production_keys = [replace(key, test=False) for key in KEYS]
    assert verify(issue(), production_keys, production=True).card_id == SHANGHAI_CARD


def test_an_issuer_the_key_may_not_sign_for_is_a_mismatch() -> None:
    message = rejected(issue(iss="320000"), EsscReject.ISSUER_MISMATCH)
    assert "320000" in message
    narrow = with_key("shanghai", regions=("3101",))
    rejected(issue(iss="310000"), EsscReject.ISSUER_MISMATCH, keys=narrow)
    assert verify(issue(iss="310100"), narrow).code is not None  # 6-digit prefixes work too


def test_a_card_from_another_region_family_is_a_mismatch_unless_the_key_crosses() -> None:
    foreign_card = issue(card_id=JIANGSU_CARD, iss="310000", key="shanghai")
    assert "region family 32" in rejected(foreign_card, EsscReject.ISSUER_MISMATCH)
    platform = issue(card_id=JIANGSU_CARD, iss="310000", key="delta")
    assert verify(platform).card_id == JIANGSU_CARD
    rejected(platform, EsscReject.ISSUER_MISMATCH, keys=with_key("delta", cross_region=False))


# -- signatures --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "card_id"), [("shanghai", SHANGHAI_CARD), ("jiangsu", JIANGSU_CARD)], ids=str
)
def test_a_flipped_signature_bit_is_a_bad_signature(key: str, card_id: str) -> None:
    message = rejected(
        issue(key=key, card_id=card_id, bad_signature=True), EsscReject.BAD_SIGNATURE
    )
    assert "forged or altered" in message


def test_a_changed_payload_breaks_the_signature() -> None:
    genuine, forged = cose_items(issue()), cose_items(issue(level=2))
    rejected(code_of([*genuine[:2], forged[2], genuine[3]]), EsscReject.BAD_SIGNATURE)
    assert verify(code_of(genuine)).code is not None


@pytest.mark.parametrize("size", [0, 63, 65, 128])
def test_a_signature_of_the_wrong_size_is_a_bad_signature(size: int) -> None:
    items = cose_items(issue())
    rejected(code_of([*items[:3], b"\x01" * size]), EsscReject.BAD_SIGNATURE)


def test_a_code_signed_by_another_key_with_the_same_kid_is_a_bad_signature() -> None:
    impostor = replace(SIM.key("jiangsu"), kid=SIM.key("anhui").kid, regions=("34",))
    text = IssuerSimulator([impostor]).issue(
        card_id=ANHUI_CARD, card_number="S34000001", iat=ISSUED
    )
    rejected(text, EsscReject.BAD_SIGNATURE)


def test_a_key_problem_comes_before_the_signature() -> None:
    # one key per kid: the contract's order, even when the signature is bad too
    text = issue(bad_signature=True)
    rejected(text, EsscReject.KEY_NOT_VALID, keys=with_key("shanghai", revoked=True))
    rejected(issue(iss="320000", bad_signature=True), EsscReject.ISSUER_MISMATCH)


# -- several keys with one kid: precedence ------------------------------------------------------
def anhui_code(signer: str, *, bad_signature: bool = False) -> str:
    return issue(key=signer, card_id=ANHUI_CARD, bad_signature=bad_signature)


def two_anhui_keys(anhui: dict[str, object], anhui_next: dict[str, object]) -> list[IssuerKey]:
    keys = with_key("anhui", **anhui) if anhui else list(KEYS)
    next_public = SIM.key("anhui-next").public_bytes()
    return [replace(k, **anhui_next) if k.public_key == next_public else k for k in keys]


def test_a_usable_key_that_verifies_wins_over_a_revoked_twin() -> None:
    keys = two_anhui_keys({"revoked": True}, {})
    assert verify(anhui_code("anhui-next"), keys).card_id == ANHUI_CARD


def test_the_signers_own_problem_is_reported_over_a_twins_bad_signature() -> None:
    keys = two_anhui_keys({"revoked": True}, {})
    assert "revoked" in rejected(anhui_code("anhui"), EsscReject.KEY_NOT_VALID, keys=keys)
    keys = two_anhui_keys({"regions": ("35",)}, {})
    rejected(anhui_code("anhui"), EsscReject.ISSUER_MISMATCH, keys=keys)


def test_no_twin_verifying_is_a_bad_signature_if_any_was_usable() -> None:
    rejected(anhui_code("anhui", bad_signature=True), EsscReject.BAD_SIGNATURE)
    keys = two_anhui_keys({"revoked": True}, {})
    rejected(anhui_code("anhui", bad_signature=True), EsscReject.BAD_SIGNATURE, keys=keys)


def test_with_no_usable_twin_the_furthest_problem_is_reported() -> None:
    keys = two_anhui_keys({"revoked": True}, {"regions": ("35",)})
    forged = anhui_code("anhui", bad_signature=True)
    rejected(forged, EsscReject.ISSUER_MISMATCH, keys=keys)
    keys = two_anhui_keys({"revoked": True}, {"valid_from": T0, "valid_until": NOW})
    rejected(forged, EsscReject.KEY_NOT_VALID, keys=keys)


def test_a_twin_record_that_allows_the_card_region_is_preferred() -> None:
    # the same public key listed twice under one kid, once allowed to sign across regions
    shanghai = next(key for key in KEYS if key.kid == SIM.key("shanghai").kid)
    keys = [*KEYS, replace(shanghai, cross_region=True)]
    foreign_card = issue(card_id=JIANGSU_CARD, iss="310000", key="shanghai")
    assert verify(foreign_card, keys).card_id == JIANGSU_CARD
    rejected(foreign_card, EsscReject.ISSUER_MISMATCH)  # without the second record


# -- time --------------------------------------------------------------------------------------
def test_a_code_issued_beyond_the_skew_is_not_yet_valid() -> None:
    at_limit = NOW + SKEW
    assert verify(issue(iat=at_limit)).code is not None
    message = rejected(issue(iat=at_limit + dt.timedelta(seconds=1)), EsscReject.NOT_YET_VALID)
    assert "check the terminal's clock" in message
    rejected(
        issue(iat=NOW + dt.timedelta(seconds=1)), EsscReject.NOT_YET_VALID, skew=dt.timedelta()
    )


def test_expiry_counts_the_skew_and_is_exclusive() -> None:
    text = issue(iat=ISSUED, lifetime=120)
    expires = ISSUED.replace(microsecond=0) + dt.timedelta(seconds=120)
    assert verify(text, now=expires + SKEW - dt.timedelta(seconds=1)).code is not None
    message = rejected(text, EsscReject.EXPIRED, now=expires + SKEW)
    assert "refresh the code" in message
    rejected(text, EsscReject.EXPIRED, now=expires, skew=dt.timedelta())
    assert verify(text, now=expires - dt.timedelta(seconds=1), skew=dt.timedelta()).code


def test_the_signature_is_checked_before_the_time() -> None:
    stale_forgery = issue(iat=NOW - dt.timedelta(days=1), bad_signature=True)
    rejected(stale_forgery, EsscReject.BAD_SIGNATURE)


def test_the_time_is_checked_before_the_card_region() -> None:
    stale = issue(card_id=JIANGSU_CARD, iss="310000", key="shanghai", iat=NOW - dt.timedelta(1))
    rejected(stale, EsscReject.EXPIRED)


def test_the_clock_must_carry_its_offset() -> None:
    with pytest.raises(ValueError, match="offset"):
        verify(issue(), now=NOW.replace(tzinfo=None))


# -- replay ------------------------------------------------------------------------------------
def test_a_code_seen_before_is_marked_replayed_for_the_policy() -> None:
    asked: list[tuple[bytes, dt.datetime]] = []

    def seen(cti: bytes, at: dt.datetime) -> bool:
        asked.append((cti, at))
        return cti == CTI

    credential = verify(issue(), seen=seen)
    assert credential.code is not None
    assert credential.code.replayed is True
    assert asked == [(CTI, NOW)]
    other = verify(issue(cti=b"\x07" * 16), seen=seen)
    assert other.code is not None
    assert other.code.replayed is False
    assert EsscReject.REPLAYED.value == "replayed"


def test_a_rejected_code_is_never_looked_up_as_seen() -> None:
    asked: list[bytes] = []
    rejected(issue(bad_signature=True), EsscReject.BAD_SIGNATURE, seen=lambda c, _: asked.append(c))
    assert asked == []


# -- through a real store ------------------------------------------------------------------------
def test_issuer_keys_synced_from_a_signed_list_verify_codes(
    store: Store,  # noqa: F811 (fixture from test_bundles)
    repository: Repository,  # noqa: F811
) -> None:
    office = Publisher(repository, [("root-2026", ROOT)])
    office.issuers(1, SIM.issuer_keys(), issued_at=T0, valid_until=FOREVER)
    assert sync_from(store, repository, now=NOW).applied == [("issuers", 1)]
    assert len(store.issuer_keys(ANHUI_KID)) == 2
    assert verify_code(issue(), keys_for=store.issuer_keys, now=NOW).card_id == SHANGHAI_CARD
    reader = store.reader()
    anhui = anhui_code("anhui-next")
    assert verify_code(anhui, keys_for=reader.issuer_keys, now=NOW).card_id == ANHUI_CARD
    reader.close()
    with pytest.raises(CodeRejected) as caught:
        verify_code(issue(), keys_for=store.issuer_keys, now=NOW, production=True)
    assert caught.value.reason == EsscReject.KEY_NOT_VALID

    # the back office revokes the Shanghai key: the next sync makes its codes invalid
    revoked = [
        replace(key, revoked=True) if key.kid == SIM.key("shanghai").kid else key
        for key in SIM.issuer_keys()
    ]
    office.issuers(2, revoked, issued_at=T0, valid_until=FOREVER)
    assert sync_from(store, repository, now=NOW).applied == [("issuers", 2)]
    with pytest.raises(CodeRejected) as caught:
        verify_code(issue(), keys_for=store.issuer_keys, now=NOW)
    assert caught.value.reason == EsscReject.KEY_NOT_VALID
    assert "revoked" in caught.value.message


# -- the simulator's fixture keys ----------------------------------------------------------------
def test_the_fixture_key_file_is_what_the_generator_writes(tmp_path: Path) -> None:
    written = tmp_path / issuer.TEST_KEY_FILE
    issuer.write_test_key_file(written)
    assert written.read_bytes() == issuer.test_key_file_path().read_bytes()
    assert "NEVER FOR PRODUCTION" in written.read_text("utf-8")
    keys = issuer.load_test_keys(written)
    assert {key.algorithm for key in keys} == {"es256", "eddsa"}
    own_regions = {key.regions for key in keys if not key.cross_region}
    assert own_regions == {("31",), ("32",), ("33",), ("34",)}


def test_the_fixture_keys_are_test_keys_in_their_window() -> None:
    assert all(key.test for key in KEYS)
    assert {(key.valid_from, key.valid_until) for key in KEYS} == {
        (dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    }
    assert [key.kid for key in KEYS].count(ANHUI_KID) == 2


def test_a_file_that_is_not_a_test_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(issuer.test_key_file_text().replace("test_keys = true", ""), "utf-8")
    with pytest.raises(ValueError, match="not a test key file"):
        issuer.load_test_keys(path)


def test_es256_codes_are_deterministic_for_a_given_cti() -> None:
    assert issue() == issue()
    assert issue() != issue(cti=b"\x01" * 16)


# -- properties --------------------------------------------------------------------------------
@given(st.text(max_size=300))
def test_any_text_is_malformed_never_a_crash(text: str) -> None:
    with pytest.raises(CodeRejected) as caught:
        verify(text)
    assert caught.value.reason == EsscReject.MALFORMED


_BASE45 = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=600)


@given(_BASE45)
def test_any_base45_body_is_malformed_never_a_crash(body: str) -> None:
    with pytest.raises(CodeRejected) as caught:
        verify(PREFIX + body)
    assert caught.value.reason == EsscReject.MALFORMED


_CBOR = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.binary(max_size=40)
    | st.text(max_size=20) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.integers(-70000, 10) | st.text(max_size=4), inner, max_size=6),
    max_leaves=20,
)  # fmt: skip


@given(_CBOR)
def test_any_signed_payload_that_is_not_the_claims_is_malformed(payload: object) -> None:
    with pytest.raises(CodeRejected) as caught:
        verify(issue(raw_payload=cbor2.dumps(payload)))
    assert caught.value.reason == EsscReject.MALFORMED


@given(st.binary(max_size=400))
def test_any_bytes_as_cose_are_rejected(cose: bytes) -> None:
    with pytest.raises(CodeRejected) as caught:
        verify(encode_text(cose))
    assert caught.value.reason in {r.value for r in EsscReject}


@given(st.data())
def test_a_flipped_bit_never_changes_what_a_code_says(data: st.DataObject) -> None:
    text = issue()
    genuine = verify(text)
    cose = bytearray(zlib.decompress(base45.b45decode(text[len(PREFIX) :])))
    index = data.draw(st.integers(0, len(cose) - 1))
    cose[index] ^= 1 << data.draw(st.integers(0, 7))
    outcome = outcome_of(encode_text(bytes(cose)))
    assert outcome == genuine or outcome in {reason.value for reason in EsscReject}


@given(
    name=st.text(min_size=1, max_size=30),
    birth_date=st.dates(dt.date(1900, 1, 1), dt.date(2026, 1, 1)),
    card_number=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=9, max_size=9),
    level=st.sampled_from([1, 2]),
    key=st.sampled_from(["shanghai", "delta"]),
)
def test_card_claims_round_trip(
    name: str, birth_date: dt.date, card_number: str, level: int, key: str
) -> None:
    credential = verify(
        issue(name=name, birth_date=birth_date, card_number=card_number, level=level, key=key)
    )
    assert (credential.name, credential.birth_date, credential.card_number) == (
        name, birth_date, card_number,
    )  # fmt: skip
    assert credential.code is not None
    assert credential.code.level == level
