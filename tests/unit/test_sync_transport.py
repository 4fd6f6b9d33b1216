"""terminal.sync.transport: what is retried, how long it waits, and what it reports."""

from __future__ import annotations

import random
import re

import httpx
import pytest
from sync_support import Sleeps

from terminal.errors import BackOfficeRefused, BackOfficeUnreachable, ExitCode, exit_code_for
from terminal.sync.transport import (
    RetryPolicy,
    Transient,
    check_status,
    retry_after_seconds,
    with_retries,
)

POLICY = RetryPolicy(attempts=4, first_wait=0.5, longest_wait=10.0, longest_retry_after=30.0)
REQUEST = httpx.Request("GET", "http://backoffice.test/api/v1/time")


def answer(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(
        code, json={"error": "fault", "message": f"said {code}"}, headers=headers, request=REQUEST
    )


class Script:
    """An ``attempt`` answering with the given responses (or raising), one per call."""

    def __init__(self, *steps: httpx.Response | Exception) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        check_status(step, "asking")
        return "done"


@pytest.mark.parametrize("code", [408, 425, 429, 500, 502, 503, 504, 501, 507, 599])
def test_transient_statuses_are_retried_then_reported_unreachable(code: int) -> None:
    sleeps = Sleeps()
    script = Script(*[answer(code)] * 4)
    with pytest.raises(BackOfficeUnreachable) as caught:
        with_retries(POLICY, "asking the time", script, sleep=sleeps)
    assert script.calls == 4
    assert len(sleeps) == 3  # between the attempts, not after the last
    message = caught.value.message
    assert message.startswith(f"asking the time: asking: HTTP {code} (fault: said {code})")
    assert "after 4 attempts" in message
    assert "keeps working offline" in message
    assert exit_code_for(caught.value) is ExitCode.BACKOFFICE_UNREACHABLE


def test_what_failed_is_named_once() -> None:
    def attempt() -> None:
        check_status(answer(503), "fetching index.json")

    with pytest.raises(BackOfficeUnreachable) as caught:
        with_retries(POLICY, "fetching index.json", attempt, sleep=Sleeps())
    assert caught.value.message.startswith("fetching index.json: HTTP 503 (fault: said 503) after")


def test_a_transient_failure_then_success_returns_the_answer() -> None:
    sleeps = Sleeps()
    script = Script(answer(503), answer(500), answer(200))
    assert with_retries(POLICY, "asking", script, sleep=sleeps) == "done"
    assert script.calls == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 413, 422, 301])
def test_other_statuses_are_refused_at_once_with_their_status(code: int) -> None:
    sleeps = Sleeps()
    script = Script(answer(code), answer(200))
    with pytest.raises(BackOfficeRefused) as caught:
        with_retries(POLICY, "uploading", script, sleep=sleeps)
    assert script.calls == 1
    assert sleeps == []
    assert caught.value.status == code
    assert f"HTTP {code} (fault: said {code})" in caught.value.message
    assert "retrying will not help" in caught.value.message
    assert exit_code_for(caught.value) is ExitCode.BACKOFFICE_REFUSED


def test_an_error_body_that_is_not_json_is_still_reported() -> None:
    response = httpx.Response(502, content=b"<html>Bad gateway</html>", request=REQUEST)
    with pytest.raises(Transient) as caught:
        check_status(response, "fetching index.json")
    assert caught.value.message == "fetching index.json: HTTP 502"


def test_a_long_error_message_is_cut() -> None:
    response = httpx.Response(
        400, json={"error": "malformed", "message": "x" * 1000}, request=REQUEST
    )
    with pytest.raises(BackOfficeRefused) as caught:
        check_status(response, "uploading")
    assert "x" * 200 in caught.value.message
    assert "x" * 201 not in caught.value.message


@pytest.mark.parametrize(
    ("error", "described"),
    [
        (httpx.ConnectError("refused"), "cannot connect"),
        (httpx.ReadTimeout("slow"), "no answer in time"),
        (httpx.RemoteProtocolError("cut"), "the connection was cut mid-answer"),
        (httpx.ReadError("reset"), "network error (ReadError)"),
    ],
)
def test_network_errors_are_retried_and_described(error: Exception, described: str) -> None:
    sleeps = Sleeps()
    script = Script(error, error, error, error)
    with pytest.raises(BackOfficeUnreachable, match=re.escape(described)) as caught:
        with_retries(POLICY, "fetching index.json", script, sleep=sleeps)
    assert script.calls == 4
    assert caught.value.__cause__ is error


def test_a_network_error_then_success() -> None:
    script = Script(httpx.ConnectError("refused"), answer(200))
    assert with_retries(POLICY, "asking", script, sleep=Sleeps()) == "done"


def test_other_exceptions_pass_straight_through() -> None:
    script = Script(ValueError("a bug"), answer(200))
    with pytest.raises(ValueError, match="a bug"):
        with_retries(POLICY, "asking", script, sleep=Sleeps())
    assert script.calls == 1


def test_retry_after_seconds_is_honoured() -> None:
    sleeps = Sleeps()
    script = Script(answer(429, **{"Retry-After": "7"}), answer(503, **{"Retry-After": "0"}),
                    answer(200))  # fmt: skip
    assert with_retries(POLICY, "asking", script, sleep=sleeps) == "done"
    assert sleeps == [7.0, 0.0]


def test_retry_after_as_an_http_date_is_taken_against_the_answers_date() -> None:
    response = answer(
        503,
        **{"Retry-After": "Mon, 23 Nov 2026 09:02:00 GMT", "Date": "Mon, 23 Nov 2026 09:00:30 GMT"},
    )
    assert retry_after_seconds(response) == 90.0
    sleeps = Sleeps()
    patient = RetryPolicy(longest_retry_after=120.0)
    assert with_retries(patient, "asking", Script(response, answer(200)), sleep=sleeps) == "done"
    assert sleeps == [90.0]
    sleeps.clear()  # the same answer under the default cap
    assert with_retries(POLICY, "asking", Script(response, answer(200)), sleep=sleeps) == "done"
    assert sleeps == [POLICY.longest_retry_after]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "Mon, 23 Nov 2026 09:02:00 GMT"}, None),  # no Date to take it against
        ({"Retry-After": "Mon, 23 Nov 2026 08:00:00 GMT", "Date": "Mon, 23 Nov 2026 09:00:00 GMT"},
         0.0),  # already past
        ({"Retry-After": " 12 "}, 12.0),
    ],
)  # fmt: skip
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_seconds(answer(503, **headers)) == expected


def test_a_long_retry_after_is_capped() -> None:
    sleeps = Sleeps()
    script = Script(answer(503, **{"Retry-After": "3600"}), answer(200))
    assert with_retries(POLICY, "asking", script, sleep=sleeps) == "done"
    assert sleeps == [POLICY.longest_retry_after]


def test_unparseable_retry_after_falls_back_to_jitter() -> None:
    sleeps = Sleeps()
    script = Script(answer(503, **{"Retry-After": "later"}), answer(200))
    with_retries(POLICY, "asking", script, sleep=sleeps)
    assert len(sleeps) == 1
    assert 0.0 <= sleeps[0] <= POLICY.first_wait


def test_jittered_waits_grow_and_stay_within_longest_wait() -> None:
    random.seed(1234)
    policy = RetryPolicy(attempts=12, first_wait=0.5, longest_wait=10.0)
    for _ in range(20):
        sleeps = Sleeps()
        with pytest.raises(BackOfficeUnreachable):
            with_retries(policy, "asking", Script(*[answer(500)] * 12), sleep=sleeps)
        assert len(sleeps) == 11
        for number, wait in enumerate(sleeps):
            assert 0.0 <= wait <= min(policy.longest_wait, policy.first_wait * 2**number)
    assert len({round(w, 6) for w in sleeps}) > 1  # jittered, not a fixed schedule


def test_the_exponential_ceiling_is_capped_at_longest_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the top of each jitter range
    policy = RetryPolicy(attempts=8, first_wait=0.5, longest_wait=10.0)
    sleeps = Sleeps()
    with pytest.raises(BackOfficeUnreachable):
        with_retries(policy, "asking", Script(*[answer(500)] * 8), sleep=sleeps)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_one_attempt_means_no_wait() -> None:
    sleeps = Sleeps()
    with pytest.raises(BackOfficeUnreachable, match="after 1 attempts"):
        with_retries(RetryPolicy(attempts=1), "asking", Script(answer(500)), sleep=sleeps)
    assert sleeps == []
