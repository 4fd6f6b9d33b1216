"""terminal.codes.dispatch: classifying scanned texts, describing the unknown, routing."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apdu.ssc import Authenticity
from offline_store.benefit_lists import RefKind
from offline_store.holder_refs import HolderKeyer
from terminal.codes import essc
from terminal.codes.dispatch import (
    ESSC1_PREFIX,
    MAX_CODE_CHARS,
    CodeDispatcher,
    CodeKind,
    classify,
    describe_unrecognised,
    reservation_id,
)
from terminal.codes.essc import verify_code
from terminal.credential import Credential, CredentialKind
from terminal.errors import CodeNotRecognised, CodeRejected, ConfigError, NeedsNetwork

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
PLATFORM = ("GJYB:", "NSSC")
ESSC1 = "ESSC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEXWK G2EP4J0BGJLFX3R3VHXK"
CARD_ID = "310100D15600000500000000000000A1"
IDENTITY_X = "11010519491231002X"
IDENTITY_VALID_CHECKSUM = "130102199001014569"  # region 13: the shape of a WeChat Pay code


class FakeEssc:
    def __init__(self, error: CodeRejected | None = None) -> None:
        self.calls: list[tuple[str, dt.datetime]] = []
        self.error = error

    def __call__(self, text: str, now: dt.datetime) -> Credential:
        self.calls.append((text, now))
        if self.error is not None:
            raise self.error
        return Credential(
            kind=CredentialKind.ESSC_QR, authenticity=Authenticity.VERIFIED, card_id=CARD_ID
        )


class FakePlatform:
    def __init__(self, error: CodeRejected | None = None) -> None:
        self.calls: list[tuple[str, dt.datetime]] = []
        self.error = error

    def check(self, text: str, *, now: dt.datetime) -> Credential:
        self.calls.append((text, now))
        if self.error is not None:
            raise self.error
        return Credential(
            kind=CredentialKind.PLATFORM_CODE, authenticity=Authenticity.VERIFIED, card_id=CARD_ID
        )


# -- classify ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (ESSC1, CodeKind.ESSC1),
        ("ESSC1:", CodeKind.ESSC1),  # the verifier says what is wrong with an empty body
        ("YKTR1:20261123-SHLIB-000042", CodeKind.RESERVATION),
        ("YKTR1:bad id", CodeKind.RESERVATION),  # ours, but malformed: refused as such
        ("GJYB:0123456789ABCDEF", CodeKind.PLATFORM),
        ("NSSC12345", CodeKind.PLATFORM),
        ("essc1:6BFOXN", CodeKind.UNRECOGNISED),  # the prefix is case-sensitive
        (" ESSC1:6BFOXN", CodeKind.UNRECOGNISED),  # only trailing whitespace is stripped
        ("gjyb:0123", CodeKind.UNRECOGNISED),
        ("https://example.org/", CodeKind.UNRECOGNISED),
        ("", CodeKind.UNRECOGNISED),
    ],
)
def test_classify_by_prefix(text: str, kind: CodeKind) -> None:
    assert classify(text, platform_prefixes=PLATFORM) is kind


@pytest.mark.parametrize("suffix", ["\r", "\n", "\r\n", "\t", " \r\n", "\t\t"])
def test_classify_ignores_the_terminator_a_scanner_appends(suffix: str) -> None:
    assert classify(ESSC1 + suffix, platform_prefixes=()) is CodeKind.ESSC1
    assert classify("YKTR1:ABC123" + suffix, platform_prefixes=()) is CodeKind.RESERVATION
    assert classify("GJYB:1" + suffix, platform_prefixes=PLATFORM) is CodeKind.PLATFORM


def test_our_prefixes_win_over_a_platform_prefix_and_empty_prefixes_match_nothing() -> None:
    assert classify(ESSC1, platform_prefixes=("E", "ESS")) is CodeKind.ESSC1
    assert classify("YKTR1:ABC123", platform_prefixes=("YKT",)) is CodeKind.RESERVATION
    assert classify("anything", platform_prefixes=("",)) is CodeKind.UNRECOGNISED
    assert classify("GJYB:1", platform_prefixes=()) is CodeKind.UNRECOGNISED


# -- reservation codes ------------------------------------------------------------------------


@pytest.mark.parametrize("ident", ["ABC123", "20261123-SHLIB-000042", "A" * 32, "------", "0" * 6])
def test_reservation_id_is_the_text_after_the_prefix(ident: str) -> None:
    assert reservation_id(f"YKTR1:{ident}\r\n") == ident


@pytest.mark.parametrize(
    ("ident", "problem"),
    [
        ("ABC12", "5 characters, not 6 to 32"),
        ("A" * 33, "33 characters, not 6 to 32"),
        ("", "0 characters"),
        ("abc-def-123", "lower-case letters"),
        ("ABC_123", "characters other than A-Z, 0-9 and '-'"),
        ("ABC 123", "characters other than"),
        ("预约ABCDEF", "characters other than"),
    ],
)
def test_a_damaged_reservation_code_is_malformed_and_says_why(ident: str, problem: str) -> None:
    with pytest.raises(CodeRejected) as caught:
        reservation_id(f"YKTR1:{ident}")
    assert caught.value.reason == "malformed"
    assert problem in caught.value.message
    assert not ident or ident not in caught.value.message


def test_reservation_id_of_another_kind_is_malformed() -> None:
    with pytest.raises(CodeRejected) as caught:
        reservation_id(ESSC1)
    assert caught.value.reason == "malformed"


# -- what unrecognised texts look like --------------------------------------------------------

LOOKALIKES = [
    ("https://weixin.qq.com/r/abcdef123456", "a web address (URL)"),
    ("HTTP://EXAMPLE.ORG/X?ID=310101198502141235", "a web address (URL)"),
    ("www.example.org/ticket/42", "a web address (URL)"),
    ("alipays://platformapi/startapp?saId=10000007", "a web address (URL)"),
    ("134567890123456789", "a WeChat Pay payment code"),
    ("104567890123456789", "a WeChat Pay payment code"),
    ("2812345678901234", "an Alipay payment code"),
    ("281234567890123456789012", "an Alipay payment code"),
    ("301234567890123456", "an Alipay payment code"),
    ("6212345678901234567", "a UnionPay payment code"),
    ("00020101021126360009A000000333011201234567890123455204581253031565802CN", "an EMVCo"),
    (IDENTITY_X, "an identity number"),
    ("11010519491231002x", "an identity number"),
    (IDENTITY_VALID_CHECKSUM, "an identity number"),  # checksum and birth date hold
    ("310101198502141235", "an identity number"),
    ("990101198502141230", "an identity number"),  # 18 digits, no payment code shape
    ("6901234567892", "plain digits (a barcode)"),
    ("12345", "plain digits (a barcode)"),
    ("62123456789012345678", "plain digits (a barcode)"),  # 20 digits: not UnionPay's 19
    ('{"name": "张三", "ssn": "310101198502141235"}', "JSON data"),
    ("[1, 2, 3]", "JSON data"),
    ("", "an empty scan"),
    ("  \r\n\t", "an empty scan"),
    ("AB\x00CD", "binary data or control characters"),
    ("\x1b[31mred", "binary data or control characters"),
    ("\udcff\udcfeabc", "binary data or control characters"),
    ("abc\ufffddef", "binary data or control characters"),
    ("WIFI:S:Museum-Guest;T:WPA;P:secret-pass;;", "another app's code (prefix WIFI)"),
    ("MECARD:N:Zhang San;TEL:13800138000;;", "another app's code (prefix MECARD)"),
    ("HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH", "another app's code (prefix HC1)"),
    ("S31000001:ABCDEF", "another app's code"),  # card-number-like prefix: never named
    ("310101198502141235:x", "another app's code"),
    ("mailto:someone@example.org", "another app's code"),
    ("tel:+8613800138000", "another app's code"),
    ("essc1:6BFOXN*TS0BI$ZD4N9", "letter case was changed"),
    ("yktr1:abc-123", "letter case was changed"),
    ("\x02ESSC1:6BFOXN*TS0BI", "extra characters before it"),
    ("]Q1YKTR1:ABC123", "extra characters before it"),
    ("张三 13800138000", "text in a format this terminal does not know"),
    ("just some words", "text in a format this terminal does not know"),
]


@pytest.mark.parametrize(("text", "english"), LOOKALIKES)
def test_describe_unrecognised_names_what_the_text_looks_like(text: str, english: str) -> None:
    chinese, described = describe_unrecognised(text)
    assert english in described
    assert chinese.strip()
    assert chinese != described


@pytest.mark.parametrize(("text", "chinese"), [
    ("134567890123456789", "微信支付付款码"),
    ("2812345678901234", "支付宝付款码"),
    ("6212345678901234567", "银联付款码"),
    (IDENTITY_X, "身份证号码"),
    ("WIFI:S:x;;", "其他应用的二维码（前缀 WIFI）"),
])  # fmt: skip
def test_describe_unrecognised_in_chinese(text: str, chinese: str) -> None:
    assert describe_unrecognised(text)[0] == chinese


def test_a_named_prefix_is_short_upper_case_and_not_number_like() -> None:
    assert "prefix" not in describe_unrecognised("ABCDEFGHIJKL:1")[1]  # too long to name
    assert "prefix" not in describe_unrecognised("Wifi:S:x")[1]  # not upper case
    assert "prefix" not in describe_unrecognised("A123:1")[1]  # three digits
    assert "prefix AB12" in describe_unrecognised("AB12:1")[1]


@pytest.mark.parametrize("text", [text for text, _ in LOOKALIKES if len(text.strip()) >= 4])
def test_no_description_or_message_contains_the_scanned_text(text: str) -> None:
    dispatcher = CodeDispatcher(essc=FakeEssc(), platform_prefixes=PLATFORM)
    with pytest.raises(CodeNotRecognised) as caught:
        dispatcher.credential(text, now=NOW)
    chinese, english = describe_unrecognised(text)
    stripped = text.strip()
    for said in (chinese, english, caught.value.message, str(caught.value)):
        assert stripped not in said
    # nor any identifying piece of it: a number run or the part after a prefix
    for piece in re.findall(r"[0-9]{3,}|(?<=:)[^;:]{4,}", stripped):
        assert piece not in caught.value.message


@given(st.text(), st.lists(st.text(max_size=8), max_size=4))
def test_classify_never_raises(text: str, prefixes: list[str]) -> None:
    assert classify(text, platform_prefixes=prefixes) in set(CodeKind)


@given(
    st.text()
    | st.from_regex(r"[0-9]{6,30}", fullmatch=True)
    | st.builds(lambda a, b: a + b, st.from_regex(r"[A-Z0-9]{1,12}:", fullmatch=True), st.text())
)
def test_describe_never_raises_nor_repeats_a_number(text: str) -> None:
    chinese, english = describe_unrecognised(text)
    assert chinese.strip()
    assert english.strip()
    # at most a named prefix's two digits: a scanned number can never come back out
    assert not re.search(r"[0-9]{3}", chinese + english)


# -- the dispatcher ---------------------------------------------------------------------------


def test_essc1_goes_to_the_verifier_with_the_scanner_terminator_stripped() -> None:
    essc = FakeEssc()
    credential = CodeDispatcher(essc=essc).credential(ESSC1 + "\r\n", now=NOW)
    assert essc.calls == [(ESSC1, NOW)]
    assert credential.kind is CredentialKind.ESSC_QR
    assert credential.card_id == CARD_ID


def test_the_dispatcher_and_the_verifier_agree_on_the_prefix() -> None:
    assert ESSC1_PREFIX == essc.PREFIX


def test_the_real_verifier_plugs_in_as_a_partial() -> None:
    dispatcher = CodeDispatcher(essc=functools.partial(verify_code, keys_for=lambda kid: ()))
    with pytest.raises(CodeRejected) as caught:
        dispatcher.credential("ESSC1:not base45 at all!\r\n", now=NOW)
    assert caught.value.reason == "malformed"


def test_the_verifiers_refusal_passes_through_unchanged() -> None:
    refusal = CodeRejected("expired", "the code expired at 09:25")
    with pytest.raises(CodeRejected) as caught:
        CodeDispatcher(essc=FakeEssc(refusal)).credential(ESSC1, now=NOW)
    assert caught.value is refusal


def test_a_reservation_code_becomes_a_reservation_credential() -> None:
    essc = FakeEssc()
    dispatcher = CodeDispatcher(essc=essc)
    credential = dispatcher.credential("YKTR1:20261123-SHLIB-000042\n", now=NOW)
    assert credential.kind is CredentialKind.RESERVATION_CODE
    assert credential.authenticity is Authenticity.NOT_CHECKED
    assert credential.reservation_id == "20261123-SHLIB-000042"
    assert credential.card_id is None
    keyer = HolderKeyer(b"k" * 32)
    ref = keyer.reservation_ref("20261123-SHLIB-000042")
    assert credential.refs(keyer) == [(RefKind.RESERVATION, ref)]
    assert credential.holder_ref(keyer) == ref
    assert essc.calls == []


def test_a_damaged_reservation_code_is_refused_as_malformed() -> None:
    with pytest.raises(CodeRejected) as caught:
        CodeDispatcher(essc=FakeEssc()).credential("YKTR1:abc", now=NOW)
    assert caught.value.reason == "malformed"
    assert type(caught.value) is CodeRejected


def test_a_platform_code_offline_needs_the_network_and_the_platform_is_not_asked() -> None:
    platform = FakePlatform()
    dispatcher = CodeDispatcher(
        essc=FakeEssc(), platform=platform, platform_prefixes=PLATFORM, online=lambda: False
    )
    with pytest.raises(NeedsNetwork) as caught:
        dispatcher.credential("GJYB:0123456789", now=NOW)
    assert caught.value.reason == "needs_network"
    assert caught.value.message == (
        "this code can only be checked online by the national platform and the terminal is "
        "offline — please show your social security card"
    )
    assert platform.calls == []


def test_a_platform_code_without_a_platform_configured_needs_the_network() -> None:
    dispatcher = CodeDispatcher(essc=FakeEssc(), platform_prefixes=PLATFORM, online=lambda: True)
    with pytest.raises(NeedsNetwork) as caught:
        dispatcher.credential("GJYB:0123456789", now=NOW)
    assert caught.value.reason == "needs_network"
    assert "no platform connection configured" in caught.value.message
    assert "0123456789" not in caught.value.message


def test_a_platform_code_online_is_checked_by_the_platform() -> None:
    platform = FakePlatform()
    online_asked: list[bool] = []

    def online() -> bool:
        online_asked.append(True)
        return True

    dispatcher = CodeDispatcher(
        essc=FakeEssc(), platform=platform, platform_prefixes=PLATFORM, online=online
    )
    dispatcher.credential("YKTR1:ABC123", now=NOW)
    assert online_asked == []  # the network only matters to platform codes
    credential = dispatcher.credential("NSSC-ABC\t", now=NOW)
    assert platform.calls == [("NSSC-ABC", NOW)]
    assert credential.kind is CredentialKind.PLATFORM_CODE
    assert online_asked == [True]


@pytest.mark.parametrize(
    "error",
    [
        CodeRejected("platform_refused", "the national platform says this code is not valid"),
        NeedsNetwork("platform_unreachable", "the national platform did not answer"),
    ],
)
def test_the_platforms_refusal_or_failure_passes_through(error: CodeRejected) -> None:
    dispatcher = CodeDispatcher(
        essc=FakeEssc(),
        platform=FakePlatform(error),
        platform_prefixes=PLATFORM,
        online=lambda: True,
    )
    with pytest.raises(CodeRejected) as caught:
        dispatcher.credential("GJYB:1", now=NOW)
    assert caught.value is error


def test_an_unrecognised_code_says_what_it_looks_like() -> None:
    dispatcher = CodeDispatcher(essc=FakeEssc(), platform_prefixes=PLATFORM)
    with pytest.raises(CodeNotRecognised) as caught:
        dispatcher.credential("134567890123456789", now=NOW)
    assert caught.value.reason == "not_recognised"
    assert caught.value.message.startswith(
        "code not recognised: it looks like a WeChat Pay payment code"
    )
    assert "national-platform code" in caught.value.message
    no_platform = CodeDispatcher(essc=FakeEssc())
    with pytest.raises(CodeNotRecognised) as caught:
        no_platform.credential("https://example.org", now=NOW)
    assert "it looks like a web address (URL)" in caught.value.message
    assert "national-platform" not in caught.value.message


def test_an_oversize_scan_is_malformed_before_anything_looks_at_it() -> None:
    essc = FakeEssc()
    platform = FakePlatform()
    dispatcher = CodeDispatcher(
        essc=essc, platform=platform, platform_prefixes=PLATFORM, online=lambda: True
    )
    for text in (ESSC1 + "A" * MAX_CODE_CHARS, "GJYB:" + "0" * MAX_CODE_CHARS):
        with pytest.raises(CodeRejected) as caught:
            dispatcher.credential(text, now=NOW)
        assert caught.value.reason == "malformed"
        assert type(caught.value) is CodeRejected
        assert f"at most {MAX_CODE_CHARS}" in caught.value.message
    assert essc.calls == []
    assert platform.calls == []
    at_limit = ESSC1 + "A" * (MAX_CODE_CHARS - len(ESSC1))
    dispatcher.credential(at_limit, now=NOW)
    assert essc.calls == [(at_limit, NOW)]


@pytest.mark.parametrize(
    ("prefixes", "problem"),
    [
        (("",), "1 to 32 characters"),
        (("X" * 33,), "1 to 32 characters"),
        (("GJ YB:",), "spaces or control characters"),
        (("GJ\tYB",), "spaces or control characters"),
        (("ESSC1:X",), "can never match"),
        (("YKTR1:",), "can never match"),
    ],
)
def test_bad_platform_prefixes_are_a_configuration_error(
    prefixes: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        CodeDispatcher(essc=FakeEssc(), platform_prefixes=prefixes)


def test_the_dispatcher_logs_kinds_and_lengths_never_the_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dispatcher = CodeDispatcher(essc=FakeEssc(), platform_prefixes=PLATFORM)
    with caplog.at_level(logging.DEBUG, logger="terminal.codes"):
        dispatcher.credential("YKTR1:20261123-SHLIB-000042", now=NOW)
        with pytest.raises(CodeNotRecognised):
            dispatcher.credential(IDENTITY_X, now=NOW)
        with pytest.raises(CodeRejected):
            dispatcher.credential("X" * (MAX_CODE_CHARS + 1), now=NOW)
    assert "reservation, 27 characters" in caplog.text
    assert "20261123-SHLIB-000042" not in caplog.text
    assert IDENTITY_X not in caplog.text
    assert "XXXXXXXX" not in caplog.text
