"""HTTP to the back office: one client, bounded retries with backoff and jitter.

What may work later (connection refused or reset, timeouts, a cut-off body, ``408``, ``425``,
``429``, ``5xx``) is retried with exponential backoff and full jitter, honouring
``Retry-After``, a bounded number of times; then :class:`BackOfficeUnreachable`.  Anything else
that is not a success is :class:`BackOfficeRefused` at once: retrying will not help.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx
import tenacity

from terminal.errors import BackOfficeRefused, BackOfficeUnreachable

#: besides every 5xx (docs/protocol.md: "408, 425, 429, 5xx: try again later")
TRANSIENT_STATUSES = frozenset({408, 425, 429})
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard one sync run tries before it reports the back office unreachable."""

    attempts: int = 4
    first_wait: float = 0.5  # seconds; doubles each attempt, full jitter
    longest_wait: float = 10.0
    #: a Retry-After longer than this is not waited for in this run
    longest_retry_after: float = 30.0
    connect_timeout: float = 5.0
    read_timeout: float = 20.0


class Transient(Exception):
    """A failure worth another attempt (inside the retry loop only)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def new_client(policy: RetryPolicy, *, base_url: str = "") -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
        follow_redirects=False,
        headers={"User-Agent": "ykt-terminal"},
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date taken against the answer's ``Date``."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        until = email.utils.parsedate_to_datetime(value)
        sent = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return None
    return max(0.0, (until - sent).total_seconds())


def check_status(response: httpx.Response, what: str) -> None:
    """Raise :class:`Transient` or :class:`BackOfficeRefused` for an unsuccessful answer."""
    if response.status_code < 300:
        return
    detail = _error_detail(response)
    if response.status_code in TRANSIENT_STATUSES or 500 <= response.status_code <= 599:
        raise Transient(
            f"{what}: HTTP {response.status_code}{detail}", retry_after_seconds(response)
        )
    raise BackOfficeRefused(
        f"{what}: the back office answered HTTP {response.status_code}{detail}; retrying will "
        "not help — check the terminal's enrolment and the back office's log",
        status=response.status_code,
    )


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return f" ({body.get('error', 'error')}: {body['message'][:200]})"
    return ""


def with_retries(
    policy: RetryPolicy,
    what: str,
    attempt: Callable[[], _T],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """Run ``attempt`` until it succeeds, fails for good, or the attempts are used up.

    ``attempt`` raises :class:`Transient` (or an ``httpx.TransportError``) for what may work
    later; any other exception passes straight through.
    """
    jitter = tenacity.wait_random_exponential(multiplier=policy.first_wait, max=policy.longest_wait)

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Transient) and error.retry_after is not None:
            return min(error.retry_after, policy.longest_retry_after)
        return float(jitter(state))

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=wait,
        retry=tenacity.retry_if_exception_type((Transient, httpx.TransportError)),
        sleep=sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except Transient as error:
        detail = error.message.removeprefix(f"{what}: ")  # check_status names it already
        raise BackOfficeUnreachable(
            f"{what}: {detail} after {policy.attempts} attempts; the terminal keeps "
            "working offline and tries again later"
        ) from error
    except httpx.TransportError as error:
        raise BackOfficeUnreachable(
            f"{what}: {_describe_transport(error)} after {policy.attempts} attempts; the "
            "terminal keeps working offline and tries again later"
        ) from error


def _describe_transport(error: httpx.TransportError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "cannot connect (back office down or no network)"
    if isinstance(error, httpx.TimeoutException):
        return "no answer in time (back office slow or network down)"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection was cut mid-answer"
    return f"network error ({type(error).__name__})"
