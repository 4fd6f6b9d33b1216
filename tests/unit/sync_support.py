"""A back office in-process for the sync tests: ``httpx.MockTransport`` over a repository folder.

:class:`FakeBackOffice` serves ``<base>/repo/…`` from a folder as a static server would
(``ETag``/``If-None-Match`` → ``304`` for ``index.json``, ``Range``/``If-Range`` → ``206`` for
content files) and ``<base>/api/v1/…`` as docs/protocol.md says: a signed time statement, an
enrolment grant, and usage ingest that keeps each event once (by batch id and by event id) and
answers with a signed acknowledgement.  Faults are queued per route and used once each:
``office.fail("usage", status(500), status(500))``.

Nothing here sleeps or reads a clock: :class:`Sleeps` records waits, :class:`Clock` is a fake
:class:`~terminal.clock.ClockSample` source.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_store.bundles import Manifest, Publisher, Repository, sign
from offline_store.errors import DocumentRejected
from offline_store.exchange import (
    SIGNATURE_HEADER,
    Acknowledgement,
    EnrolmentGrant,
    TimeStatement,
    UsageBatch,
    parse_signature_header,
    sign_document,
    signature_header,
    verify_from_terminal,
)
from offline_store.holder_refs import HolderKeyer
from offline_store.journal import UsageEvent
from offline_store.store import POLICY_LIST, DenyEntry, DenyReason, Store
from offline_store.trust import ED25519, TrustedKey, public_key_bytes
from terminal.clock import ClockSample
from terminal.sync.transport import RetryPolicy

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
ISSUED = NOW - dt.timedelta(days=1)
UNTIL = NOW + dt.timedelta(days=6)
BASE = "http://backoffice.test"
REPO = f"{BASE}/repo/"
TERMINAL_ID = "T-001"
BO_KEY_ID = "bo-2026"
BO_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
STRANGER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TERMINAL_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(2, 34)))
LIST_KEY = b"sync test list key 0123456789abc"
JOURNAL_KEY = b"sync test journal key 012345678"
KEYER = HolderKeyer(LIST_KEY)
HOLDER_REF = bytes(range(16))
#: retries that never wait long (the waits are recorded, never slept)
FAST_RETRY = RetryPolicy(attempts=3, first_wait=0.01, longest_wait=0.05)
DEFAULT_POLICY = resources.files("terminal.policies").joinpath("default.toml").read_text("utf-8")


def root_key(private: Ed25519PrivateKey = BO_KEY, key_id: str = BO_KEY_ID) -> TrustedKey:
    return TrustedKey(
        key_id,
        ED25519,
        public_key_bytes(private),
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
    )


def new_store(path: Path) -> Store:
    """A store as enrolment leaves it: the back office's root as its only trusted key."""
    store = Store.open(path, journal_key=JOURNAL_KEY)
    store.trust.provision_root(root_key())
    return store


def tap(store: Store, n: int, at: dt.datetime = NOW - dt.timedelta(hours=1)) -> int:
    """Journal usage event ``n`` (its event id derived from ``n``); its seq."""
    event = UsageEvent(
        TERMINAL_ID, at, True, "admit", ("admitted",), {"deny": 1}, HOLDER_REF, "card",
        event_id=uuid.UUID(int=n), service="museum.entry", clock_state="trusted",
    )  # fmt: skip
    return store.journal.append_event(event)


def deny(numbers: range | list[int]) -> list[bytes]:
    return sorted(
        DenyEntry(KEYER.card_ref(f"card-{n}"), DenyReason.LOST, "310100").to_record()
        for n in numbers
    )


def publisher(repository: Repository) -> Publisher:
    return Publisher(repository, [(BO_KEY_ID, BO_KEY)])


def publish_document(
    repository: Repository,
    version: int,
    content: bytes,
    *,
    list_name: str = POLICY_LIST,
    issued_at: dt.datetime = ISSUED,
    valid_until: dt.datetime = UNTIL,
) -> Manifest:
    """A one-document list version (the venue policy), chained to the newest published one."""
    published = repository.versions(list_name)
    previous = repository.manifest(list_name, published[-1]) if published else None
    manifest = Manifest(
        "snapshot", list_name, version, issued_at, valid_until, 1,
        hashlib.sha256(content).digest(), {list_name: repository.put_object(content)},
        previous=None if previous is None else previous.manifest_digest(),
    )  # fmt: skip
    manifest = sign(manifest, BO_KEY_ID, BO_KEY)
    repository.put_manifest(manifest)
    repository.add_to_index(manifest)
    return manifest


class Sleeps(list[float]):
    """A ``sleep=`` that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


class Clock:
    """A ``sample=``: each reading advances both clocks by ``step`` seconds."""

    def __init__(self, wall: dt.datetime = NOW, *, step: float = 0.05, boot_id: str = "boot-t"):
        self.wall = wall
        self.monotonic = 1000.0
        self.step = step
        self.boot_id = boot_id

    def __call__(self) -> ClockSample:
        self.wall += dt.timedelta(seconds=self.step)
        self.monotonic += self.step
        return ClockSample(self.wall, self.monotonic, self.boot_id)


Fault = Callable[["FakeBackOffice", httpx.Request], httpx.Response]


class FakeBackOffice:
    """docs/protocol.md's back office, in-process; see the module docstring."""

    def __init__(self, repository: Path, *, now: dt.datetime = NOW) -> None:
        self.repository = repository
        self.now = now
        self.signer: tuple[str, Ed25519PrivateKey] = (BO_KEY_ID, BO_KEY)
        self.requests: list[httpx.Request] = []
        self.faults: dict[str, list[Fault]] = {}
        #: enrolled terminal id → its Ed25519 public key
        self.terminals: dict[str, bytes] = {TERMINAL_ID: public_key_bytes(TERMINAL_KEY)}
        #: terminal id → its one-time enrolment token; token → the public key it was used with
        self.tokens: dict[str, str] = {}
        self.token_keys: dict[str, bytes] = {}
        #: batch id → SHA-256 of its body; event id → event (each kept once)
        self.batches: dict[str, str] = {}
        self.events: dict[str, object] = {}
        self.stored = Counter[str]()
        #: every usage POST as received, faults included: (body, Ykt-Signature header)
        self.posted: list[tuple[bytes, str]] = []

    # -- set-up ---------------------------------------------------------------------------
    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def fail(self, route: str, *faults: Fault) -> None:
        """Answer the next requests of ``route`` with ``faults``, one each, then normally.

        A route is ``index.json``, ``lists``, ``objects`` (or one ``objects/<sha>``),
        ``time``, ``enrol`` or ``usage``.
        """
        self.faults.setdefault(route, []).extend(faults)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    # -- serving ----------------------------------------------------------------------------
    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/v1/usage":
            self.posted.append((request.content, request.headers.get(SIGNATURE_HEADER, "")))
        relative = path.removeprefix("/repo/").removeprefix("/api/v1/")
        for route in (relative, relative.split("/", 1)[0]):
            queued = self.faults.get(route)
            if queued:
                return queued.pop(0)(self, request)
        return self.answer(request)

    def answer(
        self,
        request: httpx.Request,
        *,
        signer: tuple[str, Ed25519PrivateKey] | None = None,
        ack_changes: dict[str, object] | None = None,
    ) -> httpx.Response:
        path = request.url.path
        if path.startswith("/repo/"):
            return self._file(request, path.removeprefix("/repo/"))
        if path == "/api/v1/time":
            nonce = request.url.params["nonce"]
            return self.signed(TimeStatement(self.now, nonce).to_bytes(), signer)
        if path == "/api/v1/enrol":
            return self._enrol(request, signer)
        if path == "/api/v1/usage":
            return self._usage(request, signer, ack_changes or {})
        return _error(404, "not-found", "no such endpoint")

    def _file(self, request: httpx.Request, relative: str) -> httpx.Response:
        path = self.repository / relative
        if ".." in relative or not path.is_file():
            return _error(404, "not-found", f"{relative} is not published")
        data = path.read_bytes()
        etag = f'"{hashlib.sha256(data).hexdigest()[:32]}"'
        headers = {"ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers=headers)
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes=") and request.headers.get("If-Range") == etag:
            start = int(wanted.removeprefix("bytes=").removesuffix("-"))
            if start >= len(data):
                return httpx.Response(416, headers={"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return httpx.Response(206, content=data[start:], headers=headers)
        return httpx.Response(200, content=data, headers=headers)

    def signed(
        self, body: bytes, signer: tuple[str, Ed25519PrivateKey] | None = None
    ) -> httpx.Response:
        key_id, key = signer or self.signer
        header = signature_header(sign_document(body, key_id, key))
        return httpx.Response(
            200,
            content=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: header},
        )

    def _enrol(
        self, request: httpx.Request, signer: tuple[str, Ed25519PrivateKey] | None
    ) -> httpx.Response:
        asked = json.loads(request.content)
        terminal_id, public = asked["terminal_id"], base64.b64decode(asked["public_key"])
        if self.tokens.get(terminal_id) != asked["token"]:
            return _error(403, "bad-token", "wrong or used token")
        if self.token_keys.setdefault(asked["token"], public) != public:
            return _error(409, "conflict", "this token was used with another key")
        self.terminals[terminal_id] = public
        grant = EnrolmentGrant(terminal_id, LIST_KEY, BASE, None, self.now)
        return self.signed(grant.to_bytes(), signer)

    def _usage(
        self,
        request: httpx.Request,
        signer: tuple[str, Ed25519PrivateKey] | None,
        ack_changes: dict[str, object],
    ) -> httpx.Response:
        body = request.content
        header = request.headers.get(SIGNATURE_HEADER, "")
        try:
            batch = UsageBatch.from_bytes(body)
        except DocumentRejected as error:
            return _error(400, "malformed", error.message)
        public = self.terminals.get(batch.terminal_id)
        if public is None:
            return _error(403, "not-enrolled", "unknown terminal")
        try:
            verify_from_terminal(body, parse_signature_header(header), batch.terminal_id, public)
        except DocumentRejected as error:
            return _error(401, "bad-signature", error.message)
        digest = hashlib.sha256(body).hexdigest()
        if self.batches.setdefault(batch.batch_id, digest) != digest:
            return _error(409, "conflict", "this batch id was received with other content")
        new = 0
        for event_id, record in zip(batch.event_ids(), batch.records, strict=True):
            if event_id not in self.events:
                self.events[event_id] = record.event
                self.stored[event_id] += 1
                new += 1
        ack = Acknowledgement(
            batch.batch_id, batch.terminal_id, digest, len(batch.records), new,
            len(batch.records) - new, self.now,
        )  # fmt: skip
        return self.signed(dataclasses.replace(ack, **ack_changes).to_bytes(), signer)


def _error(code: int, error: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(code, json={"error": error, "message": message}, headers=headers)


# -- faults ---------------------------------------------------------------------------------------
def status(code: int, **headers: str) -> Fault:
    """An error answer (``Retry-After`` as ``Retry_After``: underscores become dashes)."""
    named = {name.replace("_", "-"): value for name, value in headers.items()}
    return lambda office, request: _error(code, "fault", f"injected {code}", **named)


def unsigned() -> Fault:
    """The right answer without its ``Ykt-Signature`` (a proxy stripped it)."""

    def fault(office: FakeBackOffice, request: httpx.Request) -> httpx.Response:
        answer = office.answer(request)
        return httpx.Response(answer.status_code, content=answer.content)

    return fault


def signed_by(key: Ed25519PrivateKey, key_id: str = BO_KEY_ID) -> Fault:
    """The right answer, signed by ``key`` (under a trusted key's id, if you like)."""
    return lambda office, request: office.answer(request, signer=(key_id, key))


def ack_changed(**changes: object) -> Fault:
    """The batch stored, but an acknowledgement (validly signed) with ``changes``."""
    return lambda office, request: office.answer(request, ack_changes=changes)


class _CutStream(httpx.SyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self) -> Iterator[bytes]:
        yield self.data
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def cut_after(size: int) -> Fault:
    """The right answer's headers and first ``size`` bytes, then the connection drops."""

    def fault(office: FakeBackOffice, request: httpx.Request) -> httpx.Response:
        answer = office.answer(request)
        return httpx.Response(
            answer.status_code, headers=answer.headers, stream=_CutStream(answer.content[:size])
        )

    return fault


def short_body(size: int) -> Fault:
    """The right answer's first ``size`` bytes as if they were all of it (no error)."""

    def fault(office: FakeBackOffice, request: httpx.Request) -> httpx.Response:
        answer = office.answer(request)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return httpx.Response(answer.status_code, headers=headers, content=answer.content[:size])

    return fault


def wrong_bytes() -> Fault:
    """The right answer with its bytes changed (same length)."""

    def fault(office: FakeBackOffice, request: httpx.Request) -> httpx.Response:
        answer = office.answer(request)
        data = bytes(b ^ 0xFF for b in answer.content)
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
        return httpx.Response(answer.status_code, headers=headers, content=data)

    return fault
