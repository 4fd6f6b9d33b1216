"""One scanner, many code kinds ("多码融合，一码通用"): tell a scanned text's kind and route it.

A scanner hands over decoded text; this module decides what it is and turns it into a
:class:`~terminal.credential.Credential` (or a specific refusal with a reason):

- ``ESSC1:…`` — the electronic social security card's offline code, checked by the injected
  ESSC1 verifier (``terminal.codes.essc``) against the synced trust list;
- ``YKTR1:<reservation id>`` — a venue reservation code (format below), which becomes a
  credential carrying only the reservation id: the policy engine looks the id up in the synced
  reservation lists;
- a configured national-platform prefix — a code only the platform can check, online, through
  a :class:`~terminal.codes.platform.PlatformAdapter`;
- anything else — :class:`~terminal.errors.CodeNotRecognised`, whose message says what the text
  *looks like* (a payment code, a web address, an identity number, ...) without ever repeating
  it: a scanned text may hold personal data, so neither messages nor logs contain it.

Classification looks at the prefix only (case-sensitive, after stripping the trailing
whitespace that keyboard-mode scanners append); the format of the rest is the business of the
kind's own parser, so that a damaged reservation code is refused as ``malformed`` rather than
as "not recognised".

Reservation code format: ``YKTR1:`` followed by the reservation id, 6 to 32 characters of
``A-Z``, ``0-9`` and ``-`` (e.g. ``YKTR1:20261123-SHLIB-000042``).  It is deliberately a
reference, not a signed token: see ``docs/codes.md`` for the trade-off.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from apdu.ssc import Authenticity
from terminal.credential import Credential, CredentialKind
from terminal.errors import CodeNotRecognised, CodeRejected, ConfigError, NeedsNetwork

if TYPE_CHECKING:
    from terminal.codes.platform import PlatformAdapter

__all__ = [
    "ESSC1_PREFIX",
    "MAX_CODE_CHARS",
    "RESERVATION_PREFIX",
    "CodeDispatcher",
    "CodeKind",
    "EsscVerifier",
    "classify",
    "describe_unrecognised",
    "reservation_id",
]

log = logging.getLogger(__name__)

#: the ESSC1 text prefix (the ESSC1 spec, layer 1), case-sensitive
ESSC1_PREFIX = "ESSC1:"
#: the venue reservation code prefix, case-sensitive
RESERVATION_PREFIX = "YKTR1:"
#: longer scans are refused before anything looks at them (an ESSC1 code is well under 2 KiB)
MAX_CODE_CHARS = 8192

_RESERVATION_ID = re.compile(r"[A-Z0-9-]{6,32}")
_MIN_RESERVATION_ID, _MAX_RESERVATION_ID = 6, 32
_MAX_PLATFORM_PREFIX = 32


class EsscVerifier(Protocol):
    """The injected ESSC1 verifier: ``verifier(text, now=now)``, raising CodeRejected with the
    spec's reasons.  ``functools.partial(essc.verify_code, keys_for=...)`` is one, and so is any
    function of ``(text, now)``."""

    def __call__(self, text: str, /, *, now: dt.datetime) -> Credential: ...


class CodeKind(StrEnum):
    ESSC1 = "essc1"  # the electronic card's offline code
    RESERVATION = "reservation"  # a venue reservation code, YKTR1:<id>
    PLATFORM = "platform"  # a national-platform code: only the platform can check it
    UNRECOGNISED = "unrecognised"


def classify(text: str, *, platform_prefixes: Sequence[str]) -> CodeKind:
    """The kind of a scanned text, by its prefix (case-sensitive, trailing whitespace ignored).

    Never raises; an empty string among ``platform_prefixes`` matches nothing.
    """
    code = text.rstrip()
    if code.startswith(ESSC1_PREFIX):
        return CodeKind.ESSC1
    if code.startswith(RESERVATION_PREFIX):
        return CodeKind.RESERVATION
    if any(prefix and code.startswith(prefix) for prefix in platform_prefixes):
        return CodeKind.PLATFORM
    return CodeKind.UNRECOGNISED


def reservation_id(text: str) -> str:
    """The reservation id of a ``YKTR1:`` code; ``CodeRejected("malformed")`` if it has none.

    The message says what is wrong (length, characters) without repeating the id.
    """
    code = text.rstrip()
    if not code.startswith(RESERVATION_PREFIX):
        raise CodeRejected(
            "malformed", f"not a reservation code: it must start {RESERVATION_PREFIX}"
        )
    ident = code[len(RESERVATION_PREFIX) :]
    if _RESERVATION_ID.fullmatch(ident):
        return ident
    if not _MIN_RESERVATION_ID <= len(ident) <= _MAX_RESERVATION_ID:
        problem = (
            f"its reservation id has {len(ident)} characters, "
            f"not {_MIN_RESERVATION_ID} to {_MAX_RESERVATION_ID}"
        )
    elif ident.upper() != ident and _RESERVATION_ID.fullmatch(ident.upper()):
        problem = "its reservation id has lower-case letters (check the scanner's Caps Lock)"
    else:
        problem = "its reservation id has characters other than A-Z, 0-9 and '-'"
    raise CodeRejected(
        "malformed",
        f"reservation code malformed: {problem} — please show the reservation again "
        "or ask staff to look the booking up",
    )


class CodeDispatcher:
    """Routes a scanned text to the checker of its kind and returns the credential.

    ``essc`` verifies ESSC1 codes offline; ``platform`` checks national-platform codes online
    (``None``: no platform configured); ``platform_prefixes`` are the text prefixes of the
    platform's codes; ``online`` says whether the network is believed up right now.
    """

    def __init__(
        self,
        *,
        essc: EsscVerifier,
        platform: PlatformAdapter | None = None,
        platform_prefixes: Sequence[str] = (),
        online: Callable[[], bool] = lambda: False,
    ) -> None:
        for prefix in platform_prefixes:
            _check_platform_prefix(prefix)
        self._essc = essc
        self._platform = platform
        self._platform_prefixes = tuple(platform_prefixes)
        self._online = online

    @property
    def platform_prefixes(self) -> tuple[str, ...]:
        return self._platform_prefixes

    def classify(self, text: str) -> CodeKind:
        return classify(text, platform_prefixes=self._platform_prefixes)

    def credential(self, text: str, *, now: dt.datetime) -> Credential:
        """The credential a scanned text stands for.

        Raises :class:`CodeRejected` (``malformed`` for an oversize or damaged code, the
        verifier's reasons for ESSC1, ``platform_refused``/``platform_bad_answer`` for platform
        codes), :class:`NeedsNetwork` for a platform code that cannot be checked now, and
        :class:`CodeNotRecognised` for anything else.  No message contains the scanned text.
        """
        if len(text) > MAX_CODE_CHARS:
            log.info("scan refused: %d characters, over %d", len(text), MAX_CODE_CHARS)
            raise CodeRejected(
                "malformed",
                f"code too long: {len(text)} characters, at most {MAX_CODE_CHARS} — "
                "check that the scanner sends one code at a time",
            )
        code = text.rstrip()
        kind = self.classify(code)
        log.debug("scan: %s, %d characters", kind.value, len(code))
        if kind is CodeKind.ESSC1:
            return self._essc(code, now=now)
        if kind is CodeKind.RESERVATION:
            return Credential(
                kind=CredentialKind.RESERVATION_CODE,
                authenticity=Authenticity.NOT_CHECKED,
                reservation_id=reservation_id(code),
            )
        if kind is CodeKind.PLATFORM:
            return self._platform_credential(code, now)
        _, looks_like = describe_unrecognised(code)
        raise CodeNotRecognised(
            "not_recognised",
            f"code not recognised: it looks like {looks_like}, not a code this terminal "
            "accepts (electronic social security card code, venue reservation code"
            f"{', national-platform code' if self._platform_prefixes else ''}) — "
            "please show your social security card",
        )

    def _platform_credential(self, code: str, now: dt.datetime) -> Credential:
        if self._platform is None:
            raise NeedsNetwork(
                "needs_network",
                "this code can only be checked online by the national platform and this "
                "terminal has no platform connection configured — please show your social "
                "security card",
            )
        if not self._online():
            raise NeedsNetwork(
                "needs_network",
                "this code can only be checked online by the national platform and the "
                "terminal is offline — please show your social security card",
            )
        return self._platform.check(code, now=now)


def _check_platform_prefix(prefix: str) -> None:
    if not prefix or len(prefix) > _MAX_PLATFORM_PREFIX:
        raise ConfigError(
            f"a platform code prefix must have 1 to {_MAX_PLATFORM_PREFIX} characters "
            f"(got {len(prefix)})"
        )
    if any(char.isspace() or not char.isprintable() for char in prefix):
        raise ConfigError("a platform code prefix must not contain spaces or control characters")
    for ours in (ESSC1_PREFIX, RESERVATION_PREFIX):
        if prefix.startswith(ours):
            raise ConfigError(
                f"platform code prefix {prefix!r} can never match: codes starting {ours} "
                "are the terminal's own"
            )


# -- what an unrecognised text looks like ---------------------------------------------------

_EMPTY = ("空内容", "an empty scan")
_CONTROL = ("二进制数据或控制字符", "binary data or control characters")
_CASE_CHANGED = (
    "大小写被改变的电子社保卡码或预约码（请检查扫码枪的大写锁定或键盘设置）",
    "an electronic card or reservation code whose letter case was changed "
    "(check the scanner's Caps Lock or keyboard settings)",
)
_WRAPPED = (
    "前面带有多余字符的电子社保卡码或预约码（请检查扫码枪的前缀设置）",
    "an electronic card or reservation code with extra characters before it "
    "(check the scanner's prefix settings)",
)
_URL = ("网址", "a web address (URL)")
_EMVCO = ("EMVCo 商户收款码", "an EMVCo merchant payment code")
_IDENTITY = ("身份证号码", "an identity number")
_WECHAT_PAY = ("微信支付付款码", "a WeChat Pay payment code")
_ALIPAY = ("支付宝付款码", "an Alipay payment code")
_UNIONPAY = ("银联付款码", "a UnionPay payment code")
_DIGITS = ("纯数字条形码", "plain digits (a barcode)")
_JSON = ("JSON 数据", "JSON data")
_OTHER_APP = ("其他应用的二维码", "another app's code")
_UNKNOWN = ("无法识别格式的文本", "text in a format this terminal does not know")

_URL_PATTERN = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]{0,15}://|www\.)", re.ASCII)
_APP_PREFIX = re.compile(r"([^\s:]{1,24}):")
#: a prefix short and generic enough to name: upper-case letters, at most two digits, never a
#: number or card-number-like value (a card number is a letter and 8 digits)
_NAMEABLE_PREFIX = re.compile(r"[A-Z][A-Z0-9]{0,9}", re.ASCII)
_MAX_PREFIX_DIGITS = 2
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def describe_unrecognised(text: str) -> tuple[str, str]:
    """A short (Chinese, English) phrase for what ``text`` looks like, never containing it.

    The English phrase reads after "it looks like".  Never raises.
    """
    code = text.strip()
    if not code:
        return _EMPTY
    ours = _find_our_prefix(code)
    if ours == 0 and not code.startswith((ESSC1_PREFIX, RESERVATION_PREFIX)):
        return _CASE_CHANGED
    if ours is not None and ours > 0:
        return _WRAPPED
    if any(_is_control(char) for char in code):
        return _CONTROL
    if _URL_PATTERN.match(code):
        return _URL
    if code.startswith("000201"):
        return _EMVCO
    if code.isascii() and code.isdigit():
        return _describe_digits(code)
    if len(code) == 18 and code[:17].isascii() and code[:17].isdigit() and code[17] in "Xx":
        return _IDENTITY
    if (code[0], code[-1]) in {("{", "}"), ("[", "]")}:
        return _JSON
    prefix = _APP_PREFIX.match(code)
    if prefix:
        name = prefix.group(1)
        if (
            _NAMEABLE_PREFIX.fullmatch(name)
            and sum(char.isdigit() for char in name) <= _MAX_PREFIX_DIGITS
        ):
            return (f"{_OTHER_APP[0]}（前缀 {name}）", f"{_OTHER_APP[1]} (prefix {name})")
        return _OTHER_APP
    return _UNKNOWN


def _find_our_prefix(code: str) -> int | None:
    """Where ESSC1: or YKTR1: first appears in ``code``, ignoring letter case; None if not."""
    upper = code.upper()
    found = [at for at in (upper.find(ESSC1_PREFIX), upper.find(RESERVATION_PREFIX)) if at >= 0]
    return min(found) if found else None


def _describe_digits(digits: str) -> tuple[str, str]:
    """Payment codes by length and leading digits; identity numbers by shape and checksum.

    An 18-digit WeChat Pay code (leading 10-15) shares its shape with identity numbers of
    regions 11-15; a value with a valid identity checksum and birth date counts as an identity
    number (the cautious reading: it is never shown either way).
    """
    length, lead = len(digits), int(digits[:2]) if len(digits) >= 2 else -1
    if length == 18 and _is_identity_number(digits):
        return _IDENTITY
    if length == 18 and 10 <= lead <= 15:
        return _WECHAT_PAY
    if length == 19 and lead == 62:
        return _UNIONPAY
    if 16 <= length <= 24 and 25 <= lead <= 30:
        return _ALIPAY
    if length == 18:
        return _IDENTITY
    return _DIGITS


def _is_identity_number(value: str) -> bool:
    """GB 11643: 17 digits, a birth date at 7-14, and an ISO 7064 MOD 11-2 check character."""
    if len(value) != 18 or not value[:17].isdigit() or not value.isascii():
        return False
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if not 1900 <= born.year <= 2100:
        return False
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17].upper()


def _is_control(char: str) -> bool:
    # Cc control, Cs lone surrogate (undecodable bytes), Co private use, Cn unassigned,
    # and U+FFFD, the mark a lenient decoder leaves for bytes it could not decode.
    return char == "\ufffd" or unicodedata.category(char) in {"Cc", "Cs", "Co", "Cn"}
