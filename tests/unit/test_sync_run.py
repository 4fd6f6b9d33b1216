"""terminal.sync.run: one sync end to end against an in-process back office — time first, usage
up (exactly once, acknowledged only on a valid acknowledgement), lists down (trust first, the
policy validated, a terminal too far behind takes the newest snapshot), problems reported."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from sync_support import (
    BASE,
    BO_KEY_ID,
    DEFAULT_POLICY,
    FAST_RETRY,
    ISSUED,
    KEYER,
    NOW,
    REPO,
    STRANGER,
    TERMINAL_ID,
    TERMINAL_KEY,
    UNTIL,
    Clock,
    FakeBackOffice,
    Fault,
    Sleeps,
    ack_changed,
    cut_after,
    deny,
    new_store,
    publish_document,
    publisher,
    root_key,
    signed_by,
    status,
    tap,
    unsigned,
)

from offline_store.bundles import Publisher, Repository
from offline_store.exchange import SIGNATURE_HEADER, TimeStatement, UsageBatch
from offline_store.journal import AuditEntry, StaffAction, UploadState
from offline_store.store import Store
from terminal.policy import parse_policy
from terminal.sync.run import SyncOutcome, SyncParts, SyncTarget, policy_check, run_sync
from terminal.sync.state import KEPT_ERRORS, SyncState

YEAR = dt.timedelta(days=365)


class Terminal:
    """A terminal enrolled with :class:`FakeBackOffice`, and the back office's repository."""

    def __init__(self, tmp_path: Path, *, batch_size: int = 1000, clock: Clock | None = None):
        self.published = Repository(tmp_path / "published")
        self.office = FakeBackOffice(self.published.root)
        self.publisher: Publisher = publisher(self.published)
        self.published.root.mkdir()
        self.published.write_index(published_at=ISSUED)  # nothing published yet
        self.store: Store = new_store(tmp_path / "store.db")
        self.parts = SyncParts(
            terminal_id=TERMINAL_ID,
            signing_key=TERMINAL_KEY,
            cache=tmp_path / "sync-cache",
            state_path=tmp_path / "sync-state.json",
            retry=FAST_RETRY,
            batch_size=batch_size,
            check_document=policy_check(parse_policy),
        )
        self.clock = clock or Clock(NOW)
        self.sleeps = Sleeps()

    def sync(self, client: httpx.Client | None = None) -> SyncOutcome:
        return run_sync(
            self.store, SyncTarget(REPO, BASE), self.parts, sample=self.clock,
            client=client or self.office.client(), sleep=self.sleeps,
        )  # fmt: skip

    def deny_snapshot(self, version: int, numbers: range | list[int]) -> None:
        self.publisher.snapshot("deny", version, deny(numbers), issued_at=ISSUED,
                                valid_until=UNTIL)  # fmt: skip

    def states(self, chain: str = "usage") -> dict[int, UploadState]:
        return {r.seq: r.upload_state for r in self.store.journal.records(chain)}

    def state_file(self) -> SyncState:
        return SyncState.load(self.parts.state_path)

    def posted_batch_ids(self) -> list[str]:
        return [UsageBatch.from_bytes(body).batch_id for body, _ in self.office.posted]


@pytest.fixture
def terminal(tmp_path: Path) -> Terminal:
    return Terminal(tmp_path)


def kinds(outcome: SyncOutcome) -> list[tuple[str, str]]:
    return [(p.stage, p.kind) for p in outcome.problems]


# -- order and time -----------------------------------------------------------------------------
def test_a_sync_takes_time_then_uploads_then_fetches_lists(terminal: Terminal) -> None:
    terminal.deny_snapshot(1, range(10))
    publish_document(terminal.published, 1, DEFAULT_POLICY.encode())
    for n in range(3):
        tap(terminal.store, n)
    outcome = terminal.sync()
    assert outcome.complete, outcome.problems
    paths = terminal.office.paths()
    assert paths[:3] == ["/api/v1/time", "/api/v1/usage", "/repo/index.json"]
    assert all(p.startswith("/repo/") for p in paths[3:])
    assert outcome.upload is not None
    assert (outcome.upload.batches_sent, outcome.upload.records_acknowledged) == (1, 3)
    assert outcome.lists is not None
    assert outcome.lists.applied == [("deny", 1), ("policy", 1)]
    assert terminal.store.document("policy") == DEFAULT_POLICY.encode()
    assert set(terminal.states().values()) == {UploadState.ACKNOWLEDGED}
    assert sorted(terminal.office.events) == [f"{TERMINAL_ID}/usage/{s}" for s in (1, 2, 3)]
    state = terminal.state_file()
    assert set(state.last_success) == {"time", "upload", "lists"}
    assert state.errors == []
    assert state.last_source == REPO
    document = outcome.to_json()
    assert json.loads(json.dumps(document)) == document
    assert document["complete"] is True
    assert document["lists_applied"] == [["deny", 1], ["policy", 1]]


def test_now_comes_from_the_back_office_even_a_year_off(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path, clock=Clock(NOW - YEAR, step=0.2))
    terminal.deny_snapshot(1, range(10))
    outcome = terminal.sync()
    assert outcome.complete, outcome.problems
    # the answer took one clock step (0.2 s): the back office's time plus half of it
    assert outcome.trusted_time == NOW + dt.timedelta(seconds=0.1)
    trusted = terminal.store.trusted_time()
    assert trusted is not None
    assert trusted.wall == NOW + dt.timedelta(seconds=0.1)
    assert trusted.boot_id == "boot-t"
    assert trusted.source == BASE
    # the monotonic reading is the one taken when the answer arrived (the second sample)
    assert trusted.monotonic == pytest.approx(1000.0 + 3 * 0.2)
    assert terminal.store.version_of("deny") == 1  # checked against the back office's now
    nonce = terminal.office.requests[0].url.params["nonce"]
    assert len(nonce) == 32
    assert int(nonce, 16) >= 0  # 32 hex digits


def test_without_the_back_offices_time_a_clock_a_year_behind_rejects_bundles(
    tmp_path: Path,
) -> None:
    terminal = Terminal(tmp_path, clock=Clock(NOW - YEAR))
    terminal.deny_snapshot(1, range(10))
    terminal.office.fail("time", *[status(503)] * FAST_RETRY.attempts)
    outcome = terminal.sync()
    assert kinds(outcome) == [("time", "transient"), ("lists", "permanent")]
    assert "check the terminal's clock" in outcome.problems[1].message
    assert outcome.trusted_time is None
    assert terminal.store.trusted_time() is None
    assert terminal.store.version_of("deny") is None


def nonce_answer(nonce: str) -> Fault:
    return lambda office, request: office.signed(TimeStatement(NOW, nonce).to_bytes())


@pytest.mark.parametrize(
    ("fault", "kind", "message"),
    [
        (nonce_answer("0" * 32), "permanent", "nonce differs"),
        (signed_by(STRANGER), "permanent", "not signed by a key this terminal trusts"),
        (signed_by(STRANGER, "stranger"), "permanent", "signed by stranger"),
        (unsigned(), "transient", f"carries no {SIGNATURE_HEADER}"),
    ],
)
def test_a_time_answer_that_is_not_valid_changes_no_clock_trust(
    terminal: Terminal, fault: Fault, kind: str, message: str
) -> None:
    terminal.office.fail("time", *[fault] * FAST_RETRY.attempts)
    outcome = terminal.sync()
    assert kinds(outcome) == [("time", kind)]
    assert message in outcome.problems[0].message
    assert outcome.trusted_time is None
    assert terminal.store.trusted_time() is None
    assert "time" not in terminal.state_file().last_success


def test_a_time_answer_too_slow_is_not_trusted(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path, clock=Clock(NOW, step=11.0))
    outcome = terminal.sync()
    assert kinds(outcome) == [("time", "transient")]
    assert "11.0 s to arrive: too slow to trust" in outcome.problems[0].message
    assert terminal.store.trusted_time() is None


# -- usage up -------------------------------------------------------------------------------------
def test_a_failed_upload_never_blocks_the_list_refresh(terminal: Terminal) -> None:
    terminal.deny_snapshot(1, range(10))
    tap(terminal.store, 1)
    terminal.office.fail("usage", *[status(500)] * FAST_RETRY.attempts)
    outcome = terminal.sync()
    assert kinds(outcome) == [("upload", "transient")]
    assert outcome.upload is not None
    assert "HTTP 500" in (outcome.upload.interrupted or "")
    assert outcome.lists is not None
    assert outcome.lists.applied == [("deny", 1)]
    assert terminal.states() == {1: UploadState.IN_BATCH}
    assert len(terminal.sleeps) == FAST_RETRY.attempts - 1
    state = terminal.state_file()
    assert [(e.stage, e.kind) for e in state.errors] == [("upload", "transient")]
    assert "upload" not in state.last_success
    assert "lists" in state.last_success


@pytest.mark.parametrize(
    "fault",
    [
        ack_changed(sha256="0" * 64),
        ack_changed(batch_id=f"{TERMINAL_ID}/usage/99"),
        ack_changed(terminal_id="T-002"),
        ack_changed(records=1),
        signed_by(STRANGER),  # under the trusted key's id, but not its signature
        signed_by(STRANGER, "stranger"),  # an unknown key
        unsigned(),
        lambda office, request: httpx.Response(
            200, content=b"{}", headers={SIGNATURE_HEADER: f"{BO_KEY_ID} ed25519 not*base64"}
        ),
        lambda office, request: office.signed(b"not json"),
    ],
    ids=["sha256", "batch-id", "terminal-id", "records", "forged", "unknown-key", "unsigned",
         "garbled-signature", "not-json"],
)  # fmt: skip
def test_records_are_acknowledged_only_on_a_valid_acknowledgement(
    terminal: Terminal, fault: Fault
) -> None:
    for n in range(3):
        tap(terminal.store, n)
    terminal.office.fail("usage", *[fault] * FAST_RETRY.attempts)
    outcome = terminal.sync()
    assert kinds(outcome) == [("upload", "transient")]
    assert outcome.upload is not None
    assert outcome.upload.records_acknowledged == 0
    assert set(terminal.states().values()) == {UploadState.IN_BATCH}
    terminal.office.faults.clear()
    outcome = terminal.sync()  # the batch is sent again and now acknowledged
    assert outcome.complete, outcome.problems
    assert set(terminal.states().values()) == {UploadState.ACKNOWLEDGED}
    assert len(terminal.office.events) == 3
    assert set(terminal.office.stored.values()) == {1}


@pytest.mark.parametrize("code", [400, 409, 413])
def test_a_refused_batch_is_permanent_its_records_kept_and_the_next_batch_goes(
    tmp_path: Path, code: int
) -> None:
    terminal = Terminal(tmp_path, batch_size=2)
    for n in range(4):
        tap(terminal.store, n)
    terminal.office.fail("usage", status(code))
    outcome = terminal.sync()
    assert kinds(outcome) == [("upload", "permanent")]
    assert f"{TERMINAL_ID}/usage/1: " in outcome.problems[0].message
    assert f"HTTP {code}" in outcome.problems[0].message
    assert outcome.upload is not None
    assert list(outcome.upload.refused) == [f"{TERMINAL_ID}/usage/1"]
    assert terminal.states() == {
        1: UploadState.IN_BATCH, 2: UploadState.IN_BATCH,
        3: UploadState.ACKNOWLEDGED, 4: UploadState.ACKNOWLEDGED,
    }  # fmt: skip
    assert terminal.sleeps == []  # not retried
    assert "upload" not in terminal.state_file().last_success


@pytest.mark.parametrize("code", [401, 403])
def test_a_refused_terminal_stops_the_upload(tmp_path: Path, code: int) -> None:
    terminal = Terminal(tmp_path, batch_size=2)
    terminal.deny_snapshot(1, range(3))
    for n in range(4):
        tap(terminal.store, n)
    terminal.office.fail("usage", status(code))
    outcome = terminal.sync()
    assert kinds(outcome) == [("upload", "permanent")]
    assert len(terminal.office.posted) == 1  # the second batch was not tried
    assert set(terminal.states().values()) == {UploadState.IN_BATCH}
    assert terminal.store.version_of("deny") == 1  # lists still refreshed


def test_a_terminal_the_back_office_does_not_know_is_refused(terminal: Terminal) -> None:
    tap(terminal.store, 1)
    terminal.office.terminals.clear()
    outcome = terminal.sync()
    assert kinds(outcome) == [("upload", "permanent")]
    assert "HTTP 403 (not-enrolled" in outcome.problems[0].message
    assert terminal.states() == {1: UploadState.IN_BATCH}


def test_a_batch_resent_after_a_failure_has_the_same_bytes(terminal: Terminal) -> None:
    for n in range(3):
        tap(terminal.store, n)
    terminal.office.fail("usage", *[status(503)] * FAST_RETRY.attempts)
    terminal.sync()
    tap(terminal.store, 3)  # new usage meanwhile goes into a batch of its own
    terminal.office.fail("usage", cut_after(10))  # the acknowledgement is lost once, too
    outcome = terminal.sync()
    assert outcome.complete, outcome.problems
    first = terminal.office.posted[0]
    resent = [p for p in terminal.office.posted if p[0] == first[0]]
    assert len(resent) == FAST_RETRY.attempts + 2  # every attempt: body and signature alike
    assert set(resent) == {first}
    assert terminal.posted_batch_ids()[-1] == f"{TERMINAL_ID}/usage/4"
    assert terminal.office.batches.keys() == {f"{TERMINAL_ID}/usage/1", f"{TERMINAL_ID}/usage/4"}
    assert set(terminal.states().values()) == {UploadState.ACKNOWLEDGED}


def test_each_event_is_kept_once_by_the_back_office_across_runs(terminal: Terminal) -> None:
    for n in range(5):
        tap(terminal.store, n)
    # the back office stores the batch but its acknowledgement never validates: twice
    terminal.office.fail("usage", *[ack_changed(sha256="f" * 64)] * 2)
    first = terminal.sync()
    assert kinds(first) == [("upload", "transient")]
    second = terminal.sync()
    assert kinds(second) == [("upload", "transient")]
    third = terminal.sync()
    assert third.complete, third.problems
    assert third.upload is not None
    assert third.upload.records_acknowledged == 5
    assert len(terminal.office.posted) == 3
    assert len({body for body, _ in terminal.office.posted}) == 1
    assert len(terminal.office.events) == 5
    assert set(terminal.office.stored.values()) == {1}
    fourth = terminal.sync()  # nothing left to send
    assert fourth.upload is not None
    assert fourth.upload.batches_sent == 0
    assert len(terminal.office.posted) == 3


def test_batches_are_numbered_by_their_first_seq_even_after_a_purge(tmp_path: Path) -> None:
    terminal = Terminal(tmp_path, batch_size=2)
    for n in range(3):
        tap(terminal.store, n)
    assert terminal.sync().complete
    assert terminal.posted_batch_ids() == [f"{TERMINAL_ID}/usage/1", f"{TERMINAL_ID}/usage/3"]
    purged = terminal.store.journal.purge_acknowledged("usage", now=NOW + YEAR, retention_days=1)
    assert purged == 3
    assert list(terminal.store.journal.records("usage")) == []
    for n in range(3, 5):
        tap(terminal.store, n)
    outcome = terminal.sync()
    assert outcome.complete, outcome.problems  # a reused number would be a 409 conflict
    assert terminal.posted_batch_ids()[2:] == [f"{TERMINAL_ID}/usage/4"]
    assert sorted(terminal.office.events) == [f"{TERMINAL_ID}/usage/{s}" for s in range(1, 6)]


def test_audit_records_go_up_in_their_own_chain(terminal: Terminal) -> None:
    tap(terminal.store, 1)
    terminal.store.journal.append_audit(
        AuditEntry(TERMINAL_ID, NOW - dt.timedelta(minutes=5), "staff-ref", StaffAction.SYNC)
    )
    assert terminal.sync().complete
    assert terminal.posted_batch_ids() == [f"{TERMINAL_ID}/usage/1", f"{TERMINAL_ID}/audit/1"]
    assert terminal.states("audit") == {1: UploadState.ACKNOWLEDGED}


def test_an_unreachable_back_office_is_reported_and_nothing_is_lost(terminal: Terminal) -> None:
    tap(terminal.store, 1)

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    outcome = terminal.sync(httpx.Client(transport=httpx.MockTransport(down)))
    assert kinds(outcome) == [("time", "transient"), ("upload", "transient"),
                              ("lists", "transient")]  # fmt: skip
    assert all("cannot connect" in p.message for p in outcome.problems)
    assert terminal.states() == {1: UploadState.IN_BATCH}
    assert len(terminal.sleeps) == 3 * (FAST_RETRY.attempts - 1)
    assert len(terminal.state_file().errors) == 3


def test_the_state_file_keeps_recent_errors_and_the_last_successes(terminal: Terminal) -> None:
    tap(terminal.store, 1)
    for _ in range(KEPT_ERRORS + 2):
        terminal.office.fail("usage", *[status(500)] * FAST_RETRY.attempts)
        terminal.sync()
    state = terminal.state_file()
    assert len(state.errors) == KEPT_ERRORS
    assert all(e.stage == "upload" and e.kind == "transient" for e in state.errors)
    assert state.last_run is not None
    assert dt.datetime.fromisoformat(state.last_run) > NOW
    assert terminal.sync().complete
    assert "upload" in terminal.state_file().last_success
    # a damaged state file only loses the history
    terminal.parts.state_path.write_text("{not json")
    assert SyncState.load(terminal.parts.state_path) == SyncState()
    assert terminal.sync().complete
    assert terminal.state_file().last_source == REPO


# -- lists down -----------------------------------------------------------------------------------
def test_an_unchanged_index_is_a_304_and_nothing_is_fetched(terminal: Terminal) -> None:
    terminal.deny_snapshot(1, range(10))
    assert terminal.sync().complete
    before = len(terminal.office.requests)
    outcome = terminal.sync()
    assert outcome.complete
    assert outcome.index_unchanged
    assert outcome.lists is not None
    assert outcome.lists.applied == []
    assert terminal.office.paths()[before:] == ["/api/v1/time", "/repo/index.json"]


def test_trust_updates_are_applied_before_the_lists_they_sign(terminal: Terminal) -> None:
    terminal.publisher.trust(1, [root_key(), root_key(STRANGER, "bo-2027")], issued_at=ISSUED)
    rotated = terminal.publisher.signing_with([("bo-2027", STRANGER)])
    rotated.snapshot("deny", 1, deny(range(5)), issued_at=ISSUED, valid_until=UNTIL)
    outcome = terminal.sync()
    assert outcome.complete, outcome.problems
    assert outcome.lists is not None
    assert outcome.lists.applied == [("trust", 1), ("deny", 1)]
    assert [k.key_id for k in terminal.store.trust.all()] == [BO_KEY_ID, "bo-2027"]


def test_an_invalid_policy_is_rejected_and_the_previous_one_stays(terminal: Terminal) -> None:
    terminal.deny_snapshot(1, range(10))
    publish_document(terminal.published, 1, DEFAULT_POLICY.encode())
    assert terminal.sync().complete
    terminal.publisher.delta(
        "deny", 1, 2, upserts=deny([50]), removals=[], after=deny([*range(10), 50]),
        issued_at=ISSUED, valid_until=UNTIL,
    )  # fmt: skip
    broken = DEFAULT_POLICY.replace('non_local = "refer"', 'non_local = "maybe"')
    assert broken != DEFAULT_POLICY
    publish_document(terminal.published, 2, broken.encode())
    outcome = terminal.sync()
    assert kinds(outcome) == [("lists", "permanent")]
    assert outcome.lists is not None
    assert outcome.lists.applied == [("deny", 2)]  # the other lists go on
    assert (
        "the published policy is not valid, the previous one stays in force"
        in (outcome.lists.rejected["policy"])
    )
    assert terminal.store.version_of("policy") == 1
    assert terminal.store.document("policy") == DEFAULT_POLICY.encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"version = [unclosed", "not valid TOML"), (b"\xff\xfe policy", "is not UTF-8 text")],
)
def test_a_policy_that_is_not_a_policy_is_rejected(
    terminal: Terminal, content: bytes, message: str
) -> None:
    publish_document(terminal.published, 1, content)
    outcome = terminal.sync()
    assert outcome.lists is not None
    assert message in outcome.lists.rejected["policy"]
    assert terminal.store.document("policy") is None


def test_a_terminal_too_far_behind_takes_the_newest_snapshot(terminal: Terminal) -> None:
    terminal.deny_snapshot(1, range(10))
    assert terminal.sync().complete
    members = list(range(10))
    for version in range(2, 6):
        members.append(100 + version)
        terminal.publisher.delta(
            "deny", version - 1, version, upserts=deny([100 + version]), removals=[],
            after=deny(members), issued_at=ISSUED, valid_until=UNTIL,
        )  # fmt: skip
    members.append(106)
    terminal.deny_snapshot(6, members)
    terminal.publisher.delta(
        "deny", 6, 7, upserts=deny([107]), removals=deny([0]), after=deny([*members[1:], 107]),
        issued_at=ISSUED, valid_until=UNTIL,
    )  # fmt: skip
    for version in (2, 3):  # pruned by the back office
        for suffix in (".json", ".sig"):
            (terminal.published.root / "lists" / "deny" / f"{version}{suffix}").unlink()
    terminal.published.write_index(published_at=NOW)
    outcome = terminal.sync()
    assert outcome.complete, outcome.problems
    assert outcome.lists is not None
    assert outcome.lists.applied == [("deny", 6), ("deny", 7)]
    fetched = terminal.office.paths()
    assert "/repo/lists/deny/4.json" in fetched  # the next one found, it does not apply to 1
    assert "/repo/lists/deny/5.json" not in fetched
    reader = terminal.store.reader()
    try:
        assert reader.lookup(KEYER.card_ref("card-107")) is not None
        assert reader.lookup(KEYER.card_ref("card-104")) is not None
        assert reader.lookup(KEYER.card_ref("card-0")) is None
    finally:
        reader.close()
