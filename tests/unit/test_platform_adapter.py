"""terminal.codes.platform: the national-platform adapter over HTTP (mock and real socket)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from apdu.ssc import Authenticity
from terminal.codes.dispatch import CodeDispatcher
from terminal.codes.platform import MAX_ANSWER_BYTES, HttpPlatformAdapter
from terminal.credential import Credential, CredentialKind
from terminal.errors import CodeRejected, ConfigError, NeedsNetwork

NOW = dt.datetime(2026, 11, 23, 9, 30, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ENDPOINT = "https://platform.example.cn/v1/codes/check"
CODE = "GJYB:8F3A9C0D2E4B6F7A1C3E5D7B9F0A2C4E"
CARD_ID = "310100D15600000500000000000000A1"
VALID = {
    "valid": True,
    "card_id": CARD_ID,
    "card_number": "S31000001",
    "name": "张测试",
    "birth_date": "19850214",
    "expiry_date": "20301231",
}

Handler = Callable[[httpx.Request], httpx.Response]


def adapter_with(handler: Handler, **options: object) -> HttpPlatformAdapter:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return HttpPlatformAdapter(ENDPOINT, terminal_id="SH-LIB-0007", client=client, **options)  # type: ignore[arg-type]


def answering(status: int, body: object = None, *, raw: bytes | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if raw is not None:
            return httpx.Response(status, content=raw)
        return httpx.Response(status, json=body)

    return handler


def refusal_of(handler: Handler) -> CodeRejected:
    with pytest.raises(CodeRejected) as caught:
        adapter_with(handler).check(CODE, now=NOW)
    assert CODE not in caught.value.message
    assert "8F3A9C0D" not in caught.value.message
    return caught.value


# -- the request ------------------------------------------------------------------------------


def test_the_request_carries_code_terminal_and_time_with_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=VALID)

    adapter_with(handler, token="s3cret-token").check(CODE, now=NOW)
    (request,) = seen
    assert request.method == "POST"
    assert str(request.url) == ENDPOINT
    assert request.headers["Authorization"] == "Bearer s3cret-token"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert json.loads(request.content) == {
        "code": CODE,
        "terminal_id": "SH-LIB-0007",
        "at": "2026-11-23T09:30:15+08:00",
    }


def test_no_token_no_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=VALID)

    adapter_with(handler).check(CODE, now=NOW)
    assert "Authorization" not in seen[0].headers


def test_a_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        adapter_with(answering(200, VALID)).check(CODE, now=dt.datetime(2026, 11, 23, 9, 30))


# -- answers ----------------------------------------------------------------------------------


def test_a_valid_answer_is_a_verified_platform_credential() -> None:
    credential = adapter_with(answering(200, {**VALID, "future_field": [1, 2]})).check(
        CODE, now=NOW
    )
    assert credential == Credential(
        kind=CredentialKind.PLATFORM_CODE,
        authenticity=Authenticity.VERIFIED,
        card_id=CARD_ID,
        card_number="S31000001",
        name="张测试",
        birth_date=dt.date(1985, 2, 14),
        expiry_date=dt.date(2030, 12, 31),
    )
    assert credential.region == "310100"


def test_a_valid_answer_needs_only_the_card_id() -> None:
    credential = adapter_with(answering(200, {"valid": True, "card_id": CARD_ID})).check(
        CODE, now=NOW
    )
    assert credential.kind is CredentialKind.PLATFORM_CODE
    assert credential.card_id == CARD_ID
    assert (credential.name, credential.birth_date, credential.card_number) == (None, None, None)


def test_invalid_says_the_platforms_reason() -> None:
    error = refusal_of(answering(200, {"valid": False, "reason": "expired"}))
    assert error.reason == "platform_refused"
    assert type(error) is CodeRejected
    assert "not valid (expired)" in error.message


def test_a_reason_that_is_not_a_short_word_is_not_repeated() -> None:
    error = refusal_of(answering(200, {"valid": False, "reason": "张测试 310101198502141235"}))
    assert error.reason == "platform_refused"
    assert "310101198502141235" not in error.message
    assert "张测试" not in error.message
    assert "not valid — please refresh the code" in error.message


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_server_trouble_needs_the_network(status: int) -> None:
    error = refusal_of(answering(status, {"error": "busy"}))
    assert isinstance(error, NeedsNetwork)
    assert error.reason == "platform_unreachable"
    assert f"HTTP {status}" in error.message
    assert "platform.example.cn" in error.message


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (httpx.ConnectTimeout("timed out"), "did not answer within 5 s"),
        (httpx.ReadTimeout("timed out"), "did not answer within 5 s"),
        (httpx.ConnectError("[Errno 111] Connection refused"), "connection failed"),
        (httpx.ReadError("[Errno 104] Connection reset by peer"), "network error"),
        (httpx.RemoteProtocolError("peer closed connection"), "broke off mid-answer"),
        (httpx.ProxyError("407"), "the proxy failed"),
    ],
)
def test_transport_failures_need_the_network(failure: httpx.TransportError, said: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        failure.request = request
        raise failure

    error = refusal_of(handler)
    assert isinstance(error, NeedsNetwork)
    assert error.reason == "platform_unreachable"
    assert said in error.message
    assert error.__cause__ is failure


def test_the_configured_timeout_is_used_and_named() -> None:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(NeedsNetwork, match=r"within 1\.5 s"):
        adapter_with(handler, timeout=1.5).check(CODE, now=NOW)
    assert seen[0]["read"] == 1.5


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (400, {"error": "bad request"}, "refused this code (HTTP 400)"),
        (422, {"valid": False, "reason": "revoked"}, "refused this code (HTTP 422, revoked)"),
        (410, None, "refused this code (HTTP 410)"),
        (401, {"error": "unauthorised"}, "check the terminal id and the platform token"),
        (403, None, "refused this terminal (HTTP 403)"),
        (404, None, "check the platform endpoint URL"),
    ],
)
def test_client_errors_are_refusals(status: int, body: object, said: str) -> None:
    error = refusal_of(answering(status, body))
    assert error.reason == "platform_refused"
    assert type(error) is CodeRejected
    assert said in error.message


@pytest.mark.parametrize(
    ("status", "body", "raw", "said"),
    [
        (302, None, b"", "redirect (HTTP 302)"),
        (204, None, b"", "HTTP 204 instead of 200"),
        (200, None, b"<html>gateway login</html>", "not JSON"),
        (200, None, b"\xff\xfe\x00garbage", "not JSON"),
        (200, None, b"[" * 60_000, "not JSON"),
        (200, [VALID], None, "not a JSON object"),
        (200, {"card_id": CARD_ID}, None, "'valid' is missing"),
        (200, {**VALID, "valid": "yes"}, None, "'valid' is missing or not true/false"),
        (200, {**VALID, "valid": 1}, None, "not true/false"),
        (200, {"valid": True}, None, "'card_id' must be 32 upper-case hex"),
        (200, {**VALID, "card_id": CARD_ID.lower()}, None, "'card_id' must be"),
        (200, {**VALID, "card_id": CARD_ID[:-1]}, None, "'card_id' must be"),
        (200, {**VALID, "card_id": 31010019}, None, "'card_id' must be"),
        (200, {**VALID, "card_number": "s3100 001"}, None, "'card_number' must be"),
        (200, {**VALID, "name": ["张", "测试"]}, None, "'name' is not text"),
        (200, {**VALID, "name": ""}, None, "'name' must have 1 to 64"),
        (200, {**VALID, "birth_date": "1985-02-14"}, None, "'birth_date' is not a date"),
        (200, {**VALID, "expiry_date": "20300230"}, None, "'expiry_date' is not a date"),
        (200, {**VALID, "birth_date": 19850214}, None, "'birth_date' is not text"),
        (200, None, b" " * (MAX_ANSWER_BYTES + 1), f"over {MAX_ANSWER_BYTES}"),
    ],
)
def test_an_answer_that_is_not_the_protocol_is_a_bad_answer(
    status: int, body: object, raw: bytes | None, said: str
) -> None:
    error = refusal_of(answering(status, body, raw=raw))
    assert error.reason == "platform_bad_answer"
    assert type(error) is CodeRejected
    assert said in error.message
    assert "张" not in error.message  # the answer's personal fields are not repeated


# -- configuration and lifetime ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "options", "said"),
    [
        ("ftp://platform.example.cn/check", {}, "http:// or https:// URL"),
        ("platform.example.cn/check", {}, "http:// or https:// URL"),
        ("https:///check", {}, "with a host"),
        (ENDPOINT, {"timeout": 0}, "timeout must be positive"),
        (ENDPOINT, {"terminal_id": " "}, "needs the terminal's id"),
    ],
)
def test_bad_configuration_is_refused(endpoint: str, options: dict[str, object], said: str) -> None:
    settings: dict[str, object] = {"terminal_id": "SH-LIB-0007", **options}
    with pytest.raises(ConfigError, match=said):
        HttpPlatformAdapter(endpoint, **settings)  # type: ignore[arg-type]


def test_the_adapter_closes_only_a_client_it_created() -> None:
    injected = httpx.Client(transport=httpx.MockTransport(answering(200, VALID)))
    with HttpPlatformAdapter(ENDPOINT, terminal_id="T1", client=injected) as adapter:
        adapter.check(CODE, now=NOW)
    assert not injected.is_closed
    injected.close()
    own = HttpPlatformAdapter(ENDPOINT, terminal_id="T1")
    own.close()
    assert own._client.is_closed


def test_the_adapter_logs_status_and_size_never_the_code_or_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="terminal.codes"):
        adapter_with(answering(200, VALID), token="s3cret-token").check(CODE, now=NOW)
        with pytest.raises(CodeRejected):
            adapter_with(answering(200, {"valid": False, "reason": "expired"})).check(CODE, now=NOW)
    assert "HTTP 200" in caplog.text
    assert "refused a code (expired)" in caplog.text
    for secret in (CODE, "8F3A9C0D", CARD_ID, "张测试", "S31000001", "s3cret-token"):
        assert secret not in caplog.text


# -- through the dispatcher -------------------------------------------------------------------


def _unused_essc(text: str, now: dt.datetime) -> Credential:
    raise AssertionError("not an ESSC1 code")


def test_the_dispatcher_uses_the_http_adapter_only_when_online() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=VALID) if len(calls) == 1 else httpx.Response(503)

    online = [True]
    dispatcher = CodeDispatcher(
        essc=_unused_essc,
        platform=adapter_with(handler),
        platform_prefixes=("GJYB:",),
        online=lambda: online[0],
    )
    assert dispatcher.credential(CODE + "\r\n", now=NOW).card_id == CARD_ID
    assert json.loads(calls[0].content)["code"] == CODE  # the terminator is not sent
    with pytest.raises(NeedsNetwork) as caught:
        dispatcher.credential(CODE, now=NOW)
    assert caught.value.reason == "platform_unreachable"
    online[0] = False
    with pytest.raises(NeedsNetwork) as caught:
        dispatcher.credential(CODE, now=NOW)
    assert caught.value.reason == "needs_network"
    assert len(calls) == 2


# -- a real socket ----------------------------------------------------------------------------


class _PlatformHandler(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], dict[str, object]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, dict(self.headers), body))
        answer = json.dumps(VALID if body["code"] == CODE else {"valid": False}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def loopback_platform() -> Iterator[
    tuple[str, list[tuple[str, dict[str, str], dict[str, object]]]]
]:
    received: list[tuple[str, dict[str, str], dict[str, object]]] = []
    handler = type("Handler", (_PlatformHandler,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/v1/codes/check", received
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_the_adapter_over_a_real_loopback_socket(
    loopback_platform: tuple[str, list[tuple[str, dict[str, str], dict[str, object]]]],
) -> None:
    url, received = loopback_platform
    with HttpPlatformAdapter(url, terminal_id="SH-LIB-0007", token="t0ken", timeout=5) as adapter:
        credential = adapter.check(CODE, now=NOW)
        with pytest.raises(CodeRejected) as caught:
            adapter.check("GJYB:OTHER", now=NOW)
    assert credential.kind is CredentialKind.PLATFORM_CODE
    assert credential.card_id == CARD_ID
    assert credential.birth_date == dt.date(1985, 2, 14)
    assert caught.value.reason == "platform_refused"
    path, headers, body = received[0]
    assert path == "/v1/codes/check"
    assert headers["Authorization"] == "Bearer t0ken"
    assert body == {"code": CODE, "terminal_id": "SH-LIB-0007", "at": NOW.isoformat()}
    assert len(received) == 2


def test_nothing_listening_on_a_real_port_needs_the_network() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = HttpPlatformAdapter(f"http://127.0.0.1:{port}/check", terminal_id="T1")
    with adapter, pytest.raises(NeedsNetwork) as caught:
        adapter.check(CODE, now=NOW)
    assert caught.value.reason == "platform_unreachable"
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "connection failed" in caught.value.message
