"""National-platform codes: codes only the platform can check, online.

Some electronic card codes carry no offline-verifiable signature: the national platform (or a
provincial gateway to it) is the only party that can say whether one is genuine and whose it
is.  The dispatcher hands such a code to a :class:`PlatformAdapter` when the terminal believes
it is online; offline it refuses with :class:`~terminal.errors.NeedsNetwork` (the holder shows
the physical card instead).

The HTTP protocol :class:`HttpPlatformAdapter` speaks (also in ``docs/codes.md``):

Request — ``POST <endpoint>``, ``Content-Type: application/json``, ``Accept:
application/json``, ``Authorization: Bearer <token>`` when a token is configured::

    {"code": "<the scanned text>", "terminal_id": "<terminal id>", "at": "<ISO 8601 time>"}

``at`` is the terminal's clock (with its UTC offset) when the code was scanned.

Answer — HTTP 200 and a JSON object (unknown keys are ignored)::

    {"valid": true, "card_id": "<32 upper-case hex>", "card_number": "S31000001",
     "name": "张三", "birth_date": "YYYYMMDD", "expiry_date": "YYYYMMDD"}
    {"valid": false, "reason": "expired"}

``card_id`` (卡识别码) is required when ``valid`` is true; the other card fields may be absent.
``reason`` is a short machine word (``[a-z0-9_.-]``, at most 40 characters) for the log and the
refusal message.

How answers map to the terminal's errors:

====================================================  =========================================
answer                                                result
====================================================  =========================================
200, ``valid: true``, fields well formed              a ``PLATFORM_CODE`` credential, verified
200 (or 4xx) with ``valid: false``                    ``CodeRejected("platform_refused")``
4xx (not 408/429)                                     ``CodeRejected("platform_refused")``;
                                                      401/403 say to check the terminal's token
408, 429, 5xx, timeout, connection or network error   ``NeedsNetwork("platform_unreachable")``
3xx, a body that is not the JSON above, over 64 KiB   ``CodeRejected("platform_bad_answer")``
====================================================  =========================================

Neither the code, the token nor the answer's personal fields are logged or put in messages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from contextlib import suppress
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit

import httpx

from apdu.ssc import Authenticity
from terminal.credential import Credential, CredentialKind
from terminal.errors import CodeRejected, ConfigError, NeedsNetwork

__all__ = ["MAX_ANSWER_BYTES", "HttpPlatformAdapter", "PlatformAdapter"]

log = logging.getLogger(__name__)

#: an answer body larger than this is refused unread
MAX_ANSWER_BYTES = 64 * 1024

_CARD_ID = re.compile(r"[0-9A-F]{32}")
_CARD_NUMBER = re.compile(r"[0-9A-Z]{1,20}")
_DATE = re.compile(r"[0-9]{8}")
_REASON = re.compile(r"[a-z0-9_.-]{1,40}")
_MAX_NAME = 64
_TRANSIENT_4XX = frozenset({408, 429})


class PlatformAdapter(Protocol):
    """Checks a national-platform code online.

    Returns a ``PLATFORM_CODE`` credential for a valid code; raises
    :class:`~terminal.errors.CodeRejected` (``platform_refused``, ``platform_bad_answer``) when
    the platform refuses the code or answers nonsense, and
    :class:`~terminal.errors.NeedsNetwork` when the platform cannot be reached.
    """

    def check(self, text: str, *, now: dt.datetime) -> Credential: ...


class HttpPlatformAdapter:
    """:class:`PlatformAdapter` over HTTP(S) with ``httpx`` (protocol in the module docstring).

    ``client`` is for tests (an ``httpx.Client`` over ``httpx.MockTransport``) and for callers
    with their own TLS settings; the adapter closes only a client it created.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        terminal_id: str,
        timeout: float = 5.0,
        token: str | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(
                "the platform endpoint must be an http:// or https:// URL with a host "
                f"(got scheme {parts.scheme or 'none'!r})"
            )
        if not timeout > 0:
            raise ConfigError(f"the platform timeout must be positive (got {timeout})")
        if not terminal_id.strip():
            raise ConfigError("the platform adapter needs the terminal's id")
        self._endpoint = endpoint
        self._host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self._terminal_id = terminal_id
        self._timeout = timeout
        self._token = token
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def check(self, text: str, *, now: dt.datetime) -> Credential:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware: the platform needs an unambiguous time")
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = {"code": text, "terminal_id": self._terminal_id, "at": now.isoformat()}
        try:
            response = self._client.post(
                self._endpoint, json=request, headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as error:
            log.warning("platform %s: timed out (%s)", self._host, type(error).__name__)
            raise NeedsNetwork(
                "platform_unreachable",
                f"the national platform ({self._host}) did not answer within "
                f"{self._timeout:g} s — please show your social security card",
            ) from error
        except httpx.DecodingError as error:
            raise _bad_answer(self._host, "the answer's content encoding is broken") from error
        except httpx.RequestError as error:
            log.warning("platform %s: %s", self._host, type(error).__name__)
            raise NeedsNetwork(
                "platform_unreachable",
                f"the national platform ({self._host}) cannot be reached "
                f"({_transport_failure(error)}) — please show your social security card",
            ) from error
        log.info(
            "platform %s: HTTP %d, %d bytes",
            self._host,
            response.status_code,
            len(response.content),
        )
        return self._answer(response)

    def _answer(self, response: httpx.Response) -> Credential:
        status = response.status_code
        if status >= 500 or status in _TRANSIENT_4XX:
            raise NeedsNetwork(
                "platform_unreachable",
                f"the national platform ({self._host}) is not available right now "
                f"(HTTP {status}) — please show your social security card",
            )
        if 300 <= status < 400:
            raise CodeRejected(
                "platform_bad_answer",
                f"the national platform ({self._host}) answered with a redirect "
                f"(HTTP {status}): check the platform endpoint URL",
            )
        if 400 <= status < 500:
            raise CodeRejected("platform_refused", self._refusal(response))
        if status != 200:
            raise _bad_answer(self._host, f"HTTP {status} instead of 200")
        answer = _json_object(response, self._host)
        valid = answer.get("valid")
        if not isinstance(valid, bool):
            raise _bad_answer(self._host, "'valid' is missing or not true/false")
        if not valid:
            reason = _reason(answer)
            log.info("platform %s refused a code (%s)", self._host, reason or "no reason")
            raise CodeRejected(
                "platform_refused",
                "the national platform says this code is not valid"
                f"{f' ({reason})' if reason else ''} — please refresh the code in the app "
                "or show your social security card",
            )
        return _credential(answer, self._host)

    def _refusal(self, response: httpx.Response) -> str:
        status = response.status_code
        if status in {401, 403}:
            return (
                f"the national platform ({self._host}) refused this terminal (HTTP {status}): "
                "check the terminal id and the platform token"
            )
        if status == 404:
            return (
                f"the national platform ({self._host}) has no such endpoint (HTTP 404): "
                "check the platform endpoint URL"
            )
        reason = None
        with suppress(CodeRejected):  # a refusal without a readable body is still a refusal
            reason = _reason(_json_object(response, self._host))
        return (
            f"the national platform refused this code (HTTP {status}"
            f"{f', {reason}' if reason else ''}) — please show your social security card"
        )


def _transport_failure(error: httpx.RequestError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "connection failed: check the network and the platform endpoint"
    if isinstance(error, httpx.ProxyError):
        return "the proxy failed"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection broke off mid-answer"
    if isinstance(error, httpx.NetworkError):
        return "network error"
    return type(error).__name__


def _bad_answer(host: str, problem: str) -> CodeRejected:
    return CodeRejected(
        "platform_bad_answer",
        f"the national platform ({host}) gave an answer this terminal cannot use: {problem} — "
        "please show your social security card",
    )


def _json_object(response: httpx.Response, host: str) -> dict[str, object]:
    body = response.content
    if len(body) > MAX_ANSWER_BYTES:
        raise _bad_answer(host, f"the answer is {len(body)} bytes, over {MAX_ANSWER_BYTES}")
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are both
        raise _bad_answer(host, "the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise _bad_answer(host, "the answer is not a JSON object")
    return answer


def _reason(answer: dict[str, object]) -> str | None:
    reason = answer.get("reason")
    if isinstance(reason, str) and _REASON.fullmatch(reason):
        return reason
    return None


def _credential(answer: dict[str, object], host: str) -> Credential:
    card_id = answer.get("card_id")
    if not isinstance(card_id, str) or not _CARD_ID.fullmatch(card_id):
        raise _bad_answer(host, "'card_id' must be 32 upper-case hex characters")
    card_number = _optional_text(answer, "card_number", host)
    if card_number is not None and not _CARD_NUMBER.fullmatch(card_number):
        raise _bad_answer(host, "'card_number' must be 1 to 20 upper-case letters and digits")
    name = _optional_text(answer, "name", host)
    if name is not None and not 0 < len(name) <= _MAX_NAME:
        raise _bad_answer(host, f"'name' must have 1 to {_MAX_NAME} characters")
    return Credential(
        kind=CredentialKind.PLATFORM_CODE,
        authenticity=Authenticity.VERIFIED,
        card_id=card_id,
        card_number=card_number,
        name=name,
        birth_date=_optional_date(answer, "birth_date", host),
        expiry_date=_optional_date(answer, "expiry_date", host),
    )


def _optional_text(answer: dict[str, object], key: str, host: str) -> str | None:
    value = answer.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _bad_answer(host, f"'{key}' is not text")


def _optional_date(answer: dict[str, object], key: str, host: str) -> dt.date | None:
    value = _optional_text(answer, key, host)
    if value is None:
        return None
    if _DATE.fullmatch(value):
        try:
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            pass
    raise _bad_answer(host, f"'{key}' is not a date YYYYMMDD")
