"""The real server as a subprocess on a free loopback port (``backoffice_fixture``): the
repository with ETag and Range, enrolment, time and usage over HTTP, a graceful SIGTERM."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from backoffice_support import FakeTerminal

from backoffice_fixture import RunningBackOffice, backoffice_env, start_backoffice, stop
from offline_store.exchange import (
    SIGNATURE_HEADER,
    Acknowledgement,
    EnrolmentGrant,
    TimeStatement,
    parse_signature_header,
    signature_header,
    verify_from_backoffice,
)
from offline_store.trust import TrustedKey

CARD = "310100D1560000050000000000A10001"


def _root(server: RunningBackOffice) -> TrustedKey:
    key = server.root_key()
    return TrustedKey(
        str(key["key_id"]),
        str(key["algorithm"]),
        base64.b64decode(str(key["public_key"])),
        dt.datetime.fromisoformat(str(key["valid_from"])),
        dt.datetime.fromisoformat(str(key["valid_until"])),
    )


def _verified(response: httpx.Response, root: TrustedKey) -> bytes:
    signature = parse_signature_header(response.headers[SIGNATURE_HEADER])
    now = dt.datetime.now(dt.UTC)
    verify_from_backoffice(response.content, [signature], [root], now=now, what="answer")
    return response.content


def test_the_repository_over_http(backoffice_server: RunningBackOffice) -> None:
    server = backoffice_server
    server.cli("deny", "add", CARD, "--reason", "lost")
    server.cli("publish")
    with httpx.Client(base_url=server.repo_url, timeout=10) as client:
        index = client.get("/index.json")
        assert index.status_code == 200
        assert index.headers["cache-control"] == "no-cache"
        etag = index.headers["etag"]
        assert client.get("/index.json", headers={"If-None-Match": etag}).status_code == 304
        assert json.loads(index.content)["lists"]["deny"] == [{"version": 1, "kind": "snapshot"}]

        manifest = client.get("/lists/policy/1.json")
        assert manifest.headers["cache-control"] == "public, max-age=31536000, immutable"
        ref = json.loads(manifest.content)["content"]["policy"]
        whole = client.get(f"/objects/{ref['sha256']}")
        assert whole.status_code == 200
        assert len(whole.content) == ref["size"]
        assert "immutable" in whole.headers["cache-control"]
        object_etag = whole.headers["etag"]
        part = client.get(
            f"/objects/{ref['sha256']}", headers={"Range": "bytes=100-", "If-Range": object_etag}
        )
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 100-{ref['size'] - 1}/{ref['size']}"
        assert part.content == whole.content[100:]
        stale = client.get(
            f"/objects/{ref['sha256']}", headers={"Range": "bytes=100-", "If-Range": '"stale"'}
        )
        assert stale.status_code == 200
        assert stale.content == whole.content
        assert client.get("/objects/" + "0" * 64).status_code == 404

        server.cli("deny", "remove", CARD)
        server.cli("publish")
        changed = client.get("/index.json", headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert [e["version"] for e in json.loads(changed.content)["lists"]["deny"]] == [1, 2]
    # exactly one line on standard output; the log (stderr) names no plaintext
    assert server.out.read_text("utf-8") == f"listening on {server.url}\n"
    assert CARD not in server.log.read_text("utf-8")


def test_enrol_time_and_usage_over_http(backoffice_server: RunningBackOffice) -> None:
    server = backoffice_server
    root = _root(server)
    terminal = FakeTerminal("T-100")
    token = server.add_terminal(terminal.terminal_id)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        request = {
            "terminal_id": terminal.terminal_id,
            "token": token,
            "public_key": base64.b64encode(terminal.public_key).decode(),
        }
        granted = client.post("/api/v1/enrol", json=request)
        assert granted.status_code == 200, granted.text
        grant = EnrolmentGrant.from_bytes(_verified(granted, root))
        assert grant.backoffice_url == server.url
        assert len(grant.list_key) == 32

        nonce = secrets.token_hex(16)
        answer = client.get("/api/v1/time", params={"nonce": nonce})
        statement = TimeStatement.from_bytes(_verified(answer, root))
        assert statement.nonce == nonce
        assert abs(statement.time - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=30)

        assert client.get("/api/v1/health").json()["status"] == "ok"

    batches = [terminal.batch(n, range(100 * (n - 1) + 1, 100 * n + 1)) for n in (1, 2, 3)]

    def upload(index: int) -> bytes:
        raw, signature = batches[index % 3]
        with httpx.Client(base_url=server.url, timeout=30) as client:
            response = client.post(
                "/api/v1/usage",
                content=raw,
                headers={SIGNATURE_HEADER: signature_header(signature)},
            )
        assert response.status_code == 200, response.text
        ack = Acknowledgement.from_bytes(_verified(response, root))
        assert ack.records == 100
        return response.content

    with ThreadPoolExecutor(max_workers=6) as pool:
        acks = list(pool.map(upload, range(18)))  # each batch six times, concurrently
    assert len(set(acks)) == 3
    stats = server.cli_json("usage", "stats")
    assert isinstance(stats, list)
    [chain] = stats
    assert (chain["events"], chain["last_seq"], chain["missing"], chain["batches"]) == (
        300,
        300,
        0,
        3,
    )
    assert chain["repeated_batches"] == 15

    with httpx.Client(base_url=server.url, timeout=10) as client:
        raw, signature = batches[0]
        tampered = raw.replace(b'"verdict":"admit"', b'"verdict":"deny!"', 1)
        rejected = client.post(
            "/api/v1/usage",
            content=tampered,
            headers={SIGNATURE_HEADER: signature_header(signature)},
        )
        assert (rejected.status_code, rejected.json()["error"]) == (401, "bad-signature")

    assert stop(server.process) == 0  # SIGTERM: a graceful stop


def test_serve_refuses_a_directory_that_is_not_a_back_office(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backoffice", "serve", "--data", str(tmp_path), "--port", "0"],
        capture_output=True, text=True, env=backoffice_env(), timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "ykt-backoffice init" in result.stderr
    assert result.stdout == ""


def test_the_fixture_fails_under_ci_when_the_server_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "not-a-back-office"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="exited 1 before listening"):  # noqa: SIM117
        with start_backoffice(missing, initialise=False):
            pass
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception), start_backoffice(missing, initialise=False):
        pass
