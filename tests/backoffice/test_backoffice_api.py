"""The API in process (Starlette's AppClient): usage ingest, enrolment, time, errors."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from backoffice_support import NOW, FakeTerminal

from backoffice.errors import Conflict
from backoffice.ingest import ingest_batch
from backoffice.server import create_app
from backoffice.service import BackOffice
from backoffice.stats import usage_stats
from offline_store.exchange import (
    MAX_BATCH_RECORDS,
    SIGNATURE_HEADER,
    Acknowledgement,
    EnrolmentGrant,
    TimeStatement,
    parse_signature_header,
    sign_document,
    signature_header,
    verify_from_backoffice,
)
from offline_store.trust import TrustedKey

URL = "https://backoffice.test"


class AppClient:
    """Requests to the app in process (httpx's ASGI transport), one event loop per call."""

    def __init__(self, app: object) -> None:
        self.transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url=URL) as client:
                return await client.request(method, url, **kwargs)  # type: ignore[arg-type]

        return anyio.run(send)

    def get(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: object) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@pytest.fixture
def client(office: BackOffice) -> Iterator[AppClient]:
    app = create_app(office.data.root, public_url=URL, clock=lambda: NOW)
    yield AppClient(app)
    app.state.office.close()


def _verified(response: object, office: BackOffice) -> bytes:
    """The answer's body after checking its Ykt-Signature as a terminal would."""
    body: bytes = response.content  # type: ignore[attr-defined]
    signature = parse_signature_header(response.headers[SIGNATURE_HEADER])  # type: ignore[attr-defined]
    trusted: list[TrustedKey] = [office.root_key()]
    verify_from_backoffice(body, [signature], trusted, now=NOW, what="answer")
    return body


def _post(client: AppClient, raw: bytes, signature_text: str | None) -> object:
    headers = {"content-type": "application/json"}
    if signature_text is not None:
        headers[SIGNATURE_HEADER] = signature_text
    return client.post("/api/v1/usage", content=raw, headers=headers)


def _error(response: object) -> tuple[int, str]:
    return response.status_code, response.json()["error"]  # type: ignore[attr-defined]


def test_a_batch_is_acknowledged_once_and_again_the_same(
    client: AppClient, office: BackOffice, terminal: FakeTerminal
) -> None:
    raw, signature = terminal.batch(1, range(1, 11))
    first = _post(client, raw, signature_header(signature))
    assert first.status_code == 200  # type: ignore[attr-defined]
    ack = Acknowledgement.from_bytes(_verified(first, office))
    assert (ack.batch_id, ack.records, ack.new, ack.duplicates) == ("T-001/usage/1", 10, 10, 0)
    assert ack.sha256 == hashlib.sha256(raw).hexdigest()
    again = _post(client, raw, signature_header(signature))
    assert again.status_code == 200  # type: ignore[attr-defined]
    assert again.content == first.content  # type: ignore[attr-defined]
    [stats] = usage_stats(office.db)
    assert (stats.events, stats.gaps, stats.batches, stats.repeated_batches) == (10, [], 1, 1)


def test_events_already_received_in_another_batch_count_once(
    office: BackOffice, terminal: FakeTerminal
) -> None:
    first = ingest_batch(office.db, *_one(terminal.batch(1, range(1, 6))), now=NOW)
    overlap = ingest_batch(office.db, *_one(terminal.batch(2, range(4, 9))), now=NOW)
    assert (first.acknowledgement.new, overlap.acknowledgement.new) == (5, 3)
    assert overlap.acknowledgement.duplicates == 2
    later = ingest_batch(office.db, *_one(terminal.batch(3, [12, 13])), now=NOW)
    assert later.acknowledgement.new == 2
    [stats] = usage_stats(office.db)
    assert (stats.events, stats.last_seq, stats.gaps, stats.duplicates) == (10, 13, [(9, 11)], 2)


def test_another_event_under_a_known_event_id_is_a_conflict_not_a_duplicate(
    office: BackOffice, terminal: FakeTerminal
) -> None:
    ingest_batch(office.db, *_one(terminal.batch(1, range(1, 4))), now=NOW)
    raw, _ = terminal.batch(7, range(3, 6))
    changed = raw.replace(b'"verdict":"admit"', b'"verdict":"deny"', 1)  # seq 3, other content
    signature = sign_document(changed, terminal.terminal_id, terminal.key)
    with pytest.raises(Conflict, match="event T-001/usage/3 was already received with other"):
        ingest_batch(office.db, changed, [signature], now=NOW)
    [stats] = usage_stats(office.db)
    assert (stats.events, stats.batches) == (3, 1)  # nothing of the conflicting batch kept


def _one(pair: tuple[bytes, object]) -> tuple[bytes, list[object]]:
    return pair[0], [pair[1]]


def test_concurrent_identical_uploads_are_stored_once(
    office: BackOffice, terminal: FakeTerminal
) -> None:
    raw, signature = terminal.batch(1, range(1, 501))
    answers: list[bytes] = []
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            receipt = office.receive(raw, [signature], now=NOW)
            answers.append(receipt.acknowledgement.to_bytes())
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(answers)) == 1
    assert json.loads(answers[0])["new"] == 500
    [stats] = usage_stats(office.db)
    assert (stats.events, stats.batches, stats.repeated_batches) == (500, 1, 7)


def test_same_batch_id_with_other_content_is_a_conflict(
    client: AppClient, terminal: FakeTerminal
) -> None:
    raw, signature = terminal.batch(1, range(1, 4))
    assert _post(client, raw, signature_header(signature)).status_code == 200  # type: ignore[attr-defined]
    other, other_signature = terminal.batch(1, range(1, 5))
    assert _error(_post(client, other, signature_header(other_signature))) == (409, "conflict")


def test_rejections(client: AppClient, office: BackOffice, terminal: FakeTerminal) -> None:
    raw, signature = terminal.batch(1, range(1, 4))
    stranger = FakeTerminal("T-999")
    stranger_raw, stranger_signature = stranger.batch(1, [1])
    impostor = FakeTerminal("T-001")  # same id, another key
    impostor_raw, impostor_signature = impostor.batch(1, [1])
    assert _error(_post(client, raw, None)) == (401, "bad-signature")
    assert _error(_post(client, raw, "garbage")) == (401, "bad-signature")
    assert _error(_post(client, impostor_raw, signature_header(impostor_signature))) == (
        401,
        "bad-signature",
    )
    assert _error(_post(client, stranger_raw, signature_header(stranger_signature))) == (
        403,
        "not-enrolled",
    )
    assert _error(_post(client, b"{not json", signature_header(signature))) == (400, "malformed")
    cut = raw.replace(b'"batch_id":"T-001/usage/1"', b'"batch_id":"T-001/usage/2"')
    assert _error(_post(client, cut, signature_header(signature))) == (400, "malformed")
    office.terminals.withdraw("T-001", now=NOW)
    assert _error(_post(client, raw, signature_header(signature))) == (403, "not-enrolled")
    # messages never carry the body
    response = _post(client, b'{"holder":"310101195001011234"}', signature_header(signature))
    assert "310101195001011234" not in response.text  # type: ignore[attr-defined]


def test_limits_are_413(client: AppClient, terminal: FakeTerminal) -> None:
    raw, signature = terminal.batch(1, range(1, MAX_BATCH_RECORDS + 2))
    assert _error(_post(client, raw, signature_header(signature))) == (413, "too-large")
    huge = b"{" + b" " * (8 * 1024 * 1024) + b"}"
    assert _error(_post(client, huge, signature_header(signature))) == (413, "too-large")


def test_enrolment_token_is_one_time(client: AppClient, office: BackOffice) -> None:
    token = office.terminals.add("T-002", now=NOW)
    terminal = FakeTerminal("T-002")
    request = {
        "terminal_id": "T-002",
        "token": token,
        "public_key": base64.b64encode(terminal.public_key).decode(),
    }
    first = client.post("/api/v1/enrol", json=request)
    assert first.status_code == 200
    grant = EnrolmentGrant.from_bytes(_verified(first, office))
    assert grant.terminal_id == "T-002"
    assert grant.list_key == office.data.list_key()
    assert grant.backoffice_url == URL
    assert grant.repository_url is None
    # the same request again: a grant again
    assert client.post("/api/v1/enrol", json=request).status_code == 200
    # the token with another key: the id is enrolled
    other = {**request, "public_key": base64.b64encode(FakeTerminal("x").public_key).decode()}
    assert _error(client.post("/api/v1/enrol", json=other)) == (409, "conflict")
    assert _error(client.post("/api/v1/enrol", json={**request, "token": "wrong"})) == (
        403,
        "bad-token",
    )
    assert _error(client.post("/api/v1/enrol", json={**request, "terminal_id": "T-404"})) == (
        403,
        "not-enrolled",
    )
    assert _error(client.post("/api/v1/enrol", json={**request, "public_key": "AAAA"})) == (
        400,
        "malformed",
    )
    assert _error(client.post("/api/v1/enrol", content=b"[")) == (400, "malformed")
    # the enrolled terminal's batches are accepted
    raw, signature = terminal.batch(1, [1])
    assert _post(client, raw, signature_header(signature)).status_code == 200  # type: ignore[attr-defined]
    # and a new token for an enrolled id is refused (ids are never reused)
    from backoffice.errors import InputError  # noqa: PLC0415

    with pytest.raises(InputError, match="never reused"):
        office.terminals.add("T-002", now=NOW)


def test_a_token_stored_only_as_its_hash(office: BackOffice) -> None:
    token = office.terminals.add("T-003", now=NOW)
    office.db.connection.execute("PRAGMA wal_checkpoint(FULL)")
    assert token.encode() not in office.data.db_path.read_bytes()


def test_time_statement(client: AppClient, office: BackOffice) -> None:
    nonce = "0123456789abcdef0123456789abcdef"
    response = client.get("/api/v1/time", params={"nonce": nonce})
    assert response.status_code == 200
    statement = TimeStatement.from_bytes(_verified(response, office))
    assert (statement.time, statement.nonce) == (NOW, nonce)
    assert _error(client.get("/api/v1/time", params={"nonce": "short"})) == (400, "malformed")
    assert _error(client.get("/api/v1/time")) == (400, "malformed")


def test_health(client: AppClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_repository_caching_headers(client: AppClient, office: BackOffice, tmp_path: Path) -> None:
    office.publish(now=NOW)
    index = client.get("/repo/index.json")
    assert index.headers["cache-control"] == "no-cache"
    assert (
        client.get("/repo/index.json", headers={"if-none-match": index.headers["etag"]}).status_code
        == 304
    )
    manifest = client.get("/repo/lists/deny/1.json")
    assert "immutable" in manifest.headers["cache-control"]
    digest = json.loads(manifest.content)["content"]["records"]["sha256"]
    assert "immutable" in client.get(f"/repo/objects/{digest}").headers["cache-control"]
    assert client.get("/repo/lists/deny/99.json").status_code == 404
    assert dt.datetime  # time is injected: the server's clock is NOW here
