"""terminal.enrolment and terminal.status: enrolment against an in-process back office (the
grant verified under the root key the technician typed), unenrolment's wipe and its refusals,
and the ``ykt status`` report's alerts."""

from __future__ import annotations

import base64
import datetime as dt
import json
import stat
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sync_support import (
    BASE,
    BO_KEY,
    BO_KEY_ID,
    FAST_RETRY,
    ISSUED,
    LIST_KEY,
    NOW,
    STRANGER,
    FakeBackOffice,
    Fault,
    Sleeps,
    deny,
    publisher,
    root_key,
    signed_by,
    status,
    tap,
)

from offline_store.bundles import Repository, sync_from
from offline_store.errors import DocumentRejected
from offline_store.exchange import EnrolmentGrant
from offline_store.journal import UploadState
from offline_store.store import Store
from offline_store.taps import TrustedTime
from offline_store.trust import ECDSA_P256, ED25519, public_key_bytes
from terminal.clock import ClockSample
from terminal.enrolment import (
    Enrolment,
    TerminalFiles,
    enrol,
    parse_root_key,
    root_key_text,
    unenrol,
    unsent_usage,
)
from terminal.errors import (
    AlreadyEnrolled,
    BackOfficeRefused,
    BackOfficeUnreachable,
    ConfigError,
    NotEnrolled,
    UnsentUsage,
)
from terminal.status import UploadLimits, terminal_status
from terminal.sync.backoffice_api import BackOfficeApi
from terminal.sync.state import SyncProblem, SyncState
from terminal.sync.usage import UsageOutbox
from terminal.terminal_keys import TerminalKeys

NEW_ID = "T-009"
ROOT_TEXT = root_key_text(root_key())


@pytest.fixture(autouse=True)
def no_key_file_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YKT_TERMINAL_KEYS", raising=False)


@pytest.fixture
def office(tmp_path: Path) -> FakeBackOffice:
    backoffice = FakeBackOffice(tmp_path / "published")
    backoffice.tokens[NEW_ID] = "token-1"
    return backoffice


@pytest.fixture
def files(tmp_path: Path) -> TerminalFiles:
    return TerminalFiles.beside(tmp_path / "terminal" / "store.db")


def enrol_with(
    office: FakeBackOffice,
    files: TerminalFiles,
    *,
    terminal_id: str = NEW_ID,
    token: str = "token-1",
    force: bool = False,
    discard_unsent: bool = False,
) -> Enrolment:
    api = BackOfficeApi(BASE, office.client(), FAST_RETRY, sleep=Sleeps())
    return enrol(
        files, api, terminal_id=terminal_id, token=token, root_key=parse_root_key(ROOT_TEXT),
        now=NOW, force=force, discard_unsent=discard_unsent,
    )  # fmt: skip


def open_store(files: TerminalFiles) -> Store:
    keys = TerminalKeys.from_file(files.keys)
    return Store.open(files.store, journal_key=keys.journal_key, create=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- enrol ----------------------------------------------------------------------------------------
def test_enrolment_writes_keys_store_and_enrolment(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    enrolment = enrol_with(office, files)
    assert enrolment.terminal_id == NEW_ID
    assert enrolment.backoffice_url == BASE
    assert enrolment.repository == f"{BASE}/repo/"
    assert Enrolment.load(files.enrolment) == enrolment
    assert mode(files.keys) == 0o600
    assert mode(files.enrolment) == 0o600
    keys = TerminalKeys.from_file(files.keys)
    assert keys.list_key == LIST_KEY  # from the grant
    assert keys.signing_key is not None
    assert [r.url.path for r in office.requests] == ["/api/v1/time", "/api/v1/enrol"]
    asked = json.loads(office.requests[1].content)
    assert asked["terminal_id"] == NEW_ID
    assert asked["token"] == "token-1"
    sent_public = base64.b64decode(asked["public_key"])
    assert office.terminals[NEW_ID] == sent_public
    assert public_key_bytes(Ed25519PrivateKey.from_private_bytes(keys.signing_key)) == sent_public
    with open_store(files) as store:
        assert store.trust.all() == [root_key()]  # exactly the root, nothing else
        assert store.list_states() == []
    assert sorted(p.name for p in files.store.parent.iterdir()) == [
        "enrolment.toml", "store-journal.db", "store.db", "terminal-keys.toml",
    ]  # fmt: skip


def nothing_written(files: TerminalFiles) -> bool:
    """No enrolment, key file or store: at most the pending key kept for a retry."""
    folder = files.store.parent
    return not folder.exists() or [p.name for p in folder.iterdir()] in (
        [],
        [files.pending_key.name],
    )


def grant_for(terminal_id: str) -> Fault:
    grant = EnrolmentGrant(terminal_id, LIST_KEY, BASE, None, NOW).to_bytes()
    return lambda office, request: office.signed(grant)


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (signed_by(STRANGER), DocumentRejected, "not signed by a key this terminal trusts"),
        (signed_by(STRANGER, "stranger"), DocumentRejected, "signed by stranger"),
        (grant_for("T-OTHER"), ConfigError, "granted terminal id T-OTHER, not T-009"),
        (status(403), BackOfficeRefused, "HTTP 403"),
        (status(409), BackOfficeRefused, "HTTP 409"),
        (lambda office, request: office.signed(b'{"format": "ykt-enrolment/1"}'),
         DocumentRejected, "malformed enrolment grant"),
    ],
    ids=["forged", "unknown-key", "other-terminal", "bad-token", "conflict", "malformed"],
)  # fmt: skip
def test_a_grant_that_is_not_valid_enrols_nothing(
    office: FakeBackOffice,
    files: TerminalFiles,
    fault: Fault,
    error: type[Exception],
    message: str,
) -> None:
    office.fail("enrol", fault)
    with pytest.raises(error, match=message):
        enrol_with(office, files)
    assert nothing_written(files)
    assert not files.enrolment.exists()


def test_a_wrong_token_is_refused(office: FakeBackOffice, files: TerminalFiles) -> None:
    with pytest.raises(BackOfficeRefused, match="bad-token") as caught:
        enrol_with(office, files, token="guessed")
    assert caught.value.status == 403
    assert nothing_written(files)


def test_an_unreachable_back_office_enrols_nothing(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    office.fail("enrol", *[status(503)] * FAST_RETRY.attempts)
    with pytest.raises(BackOfficeUnreachable, match=r"HTTP 503 .* after 3 attempts"):
        enrol_with(office, files)
    assert nothing_written(files)


def test_enrolling_twice_is_refused_without_force(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    first = enrol_with(office, files)
    requests = len(office.requests)
    with pytest.raises(AlreadyEnrolled, match="--force"):
        enrol_with(office, files)
    assert len(office.requests) == requests  # refused before asking the back office
    assert Enrolment.load(files.enrolment) == first


def test_a_store_without_enrolment_is_not_overwritten(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    files.store.parent.mkdir(parents=True)
    Store.open(files.store, journal_key=b"j" * 32).close()  # a demo store, say
    with pytest.raises(AlreadyEnrolled):
        enrol_with(office, files)


def test_force_refuses_while_usage_is_unacknowledged(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    first = enrol_with(office, files)
    with open_store(files) as store:
        tap(store, 1)
    office.tokens[NEW_ID] = "token-2"
    with pytest.raises(UnsentUsage, match=r"1 usage record\(s\) are not yet acknowledged"):
        enrol_with(office, files, token="token-2", force=True)
    assert Enrolment.load(files.enrolment) == first
    with open_store(files) as store:
        assert unsent_usage(store) == 1


def test_force_replaces_the_enrolment_with_new_keys(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    enrol_with(office, files)
    old_keys = TerminalKeys.from_file(files.keys)
    with open_store(files) as store:
        tap(store, 1)
    office.tokens[NEW_ID] = "token-2"
    enrol_with(office, files, token="token-2", force=True, discard_unsent=True)
    new_keys = TerminalKeys.from_file(files.keys)
    assert new_keys.signing_key != old_keys.signing_key
    assert new_keys.journal_key != old_keys.journal_key
    with open_store(files) as store:
        assert unsent_usage(store) == 0  # a new, empty journal
        assert store.trust.all() == [root_key()]


def test_the_same_token_with_another_key_is_a_conflict(
    office: FakeBackOffice, files: TerminalFiles, tmp_path: Path
) -> None:
    enrol_with(office, files)
    elsewhere = TerminalFiles.beside(tmp_path / "clone" / "store.db")
    with pytest.raises(BackOfficeRefused, match="HTTP 409") as caught:
        enrol_with(office, elsewhere)
    assert caught.value.status == 409


# -- unenrol --------------------------------------------------------------------------------------
def test_unenrol_wipes_store_wal_keys_enrolment_and_sync_files(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    enrol_with(office, files)
    files.sync_cache.mkdir()
    (files.sync_cache / "index.json").write_text("{}")
    SyncState(last_run=NOW.isoformat()).save(files.sync_state)
    store = open_store(files)  # a store left open (a crash): its WAL and shared memory exist
    wal = files.store.with_name("store.db-wal")
    assert wal.exists()
    removed = unenrol(files)
    store.close()
    assert files.store in removed
    assert wal in removed
    assert {files.keys, files.enrolment, files.sync_cache, files.sync_state} <= set(removed)
    assert [p.name for p in files.store.parent.iterdir() if p.exists()] == []
    assert unenrol(files) == []  # nothing left


def test_unenrol_refuses_while_usage_is_unsent(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    enrol_with(office, files)
    with open_store(files) as store:
        tap(store, 1)
        tap(store, 2)
        store.journal.put_in_batch("usage", [1], 1)
    with pytest.raises(UnsentUsage, match=r"2 usage record\(s\)") as caught:
        unenrol(files)
    assert "ykt usage export" in caught.value.message
    assert files.store.exists()
    assert files.keys.exists()
    assert files.enrolment.exists()
    assert files.store in unenrol(files, discard_unsent=True)
    assert not files.store.exists()


def test_unenrol_after_acknowledgement_needs_no_flag(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    enrol_with(office, files)
    with open_store(files) as store:
        tap(store, 1)
        store.journal.put_in_batch("usage", [1], 1)
        assert store.journal.acknowledge("usage", 1, now=NOW) == 1
        assert store.journal.counts("usage")[UploadState.ACKNOWLEDGED] == 1
    assert files.store in unenrol(files)


def test_unenrol_refuses_when_the_store_cannot_be_checked(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    enrol_with(office, files)
    files.store.write_bytes(b"not an sqlite file at all" * 100)
    with pytest.raises(UnsentUsage, match="cannot be read to check for unsent usage"):
        unenrol(files)
    assert files.store.exists()


def test_unenrol_refuses_when_the_key_file_is_missing(
    office: FakeBackOffice, files: TerminalFiles, tmp_path: Path
) -> None:
    enrol_with(office, files)
    with open_store(files) as store:
        tap(store, 1)
    wrong = TerminalFiles.beside(files.store, tmp_path / "typo" / "terminal-keys.toml")
    with pytest.raises(UnsentUsage, match="cannot be checked for unsent usage"):
        unenrol(wrong)
    assert files.store.exists()
    with open_store(files) as store:
        assert unsent_usage(store) == 1
    assert wrong.store in unenrol(wrong, discard_unsent=True)


# -- the root key ---------------------------------------------------------------------------------
def p256_text() -> str:
    point = public_key_bytes(ec.derive_private_key(0x1234, ec.SECP256R1()))
    return f"bo-p256:{ECDSA_P256}:{base64.b64encode(point).decode()}"


def test_root_keys_round_trip() -> None:
    parsed = parse_root_key(f"  {ROOT_TEXT}\n")
    assert (parsed.key_id, parsed.algorithm) == (BO_KEY_ID, ED25519)
    assert parsed.public_key == public_key_bytes(BO_KEY)
    assert root_key_text(parsed) == ROOT_TEXT
    assert root_key_text(parse_root_key(p256_text())) == p256_text()
    with_colons = f"office:2026:{ED25519}:{base64.b64encode(public_key_bytes(BO_KEY)).decode()}"
    assert parse_root_key(with_colons).key_id == "office:2026"


ED_B64 = base64.b64encode(public_key_bytes(BO_KEY)).decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must read <key id>:<algorithm>:<base64 public key>"),
        ("just-a-key", "must read"),
        (f"bo:rsa:{ED_B64}", "algorithm one of"),
        (f":{ED25519}:{ED_B64}", "must read"),
        (f"bo:{ED25519}:not base64!", "not valid base64"),
        (f"bo:{ED25519}:", "not a valid ed25519 public key"),
        (f"bo:{ED25519}:{base64.b64encode(bytes(31)).decode()}", "not a valid ed25519 public"),
        (f"bo:{ECDSA_P256}:{ED_B64}", "not a valid ecdsa-p256-sha256 public key"),
    ],
)
def test_root_keys_that_cannot_work_are_refused(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_root_key(text)


def test_a_missing_or_damaged_enrolment_file(files: TerminalFiles) -> None:
    with pytest.raises(NotEnrolled, match="ykt enrol"):
        Enrolment.load(files.enrolment)
    files.enrolment.parent.mkdir(parents=True)
    files.enrolment.write_text('terminal_id = "T-1"\n')
    with pytest.raises(ConfigError, match="is damaged"):
        Enrolment.load(files.enrolment)


# -- ykt status -----------------------------------------------------------------------------------
BOOT = "boot-s"


def status_of(
    files: TerminalFiles,
    store: Store,
    *,
    at: dt.datetime = NOW,
    limits: UploadLimits | None = None,
) -> dict[str, object]:
    sample = ClockSample(at, 5000.0 + (at - NOW).total_seconds(), BOOT)
    return terminal_status(
        files, store, sample=sample, limits=limits or UploadLimits(),
        readers=lambda: [{"reader": "Test Reader 0", "card_present": False}],
    )  # fmt: skip


@pytest.fixture
def synced(office: FakeBackOffice, files: TerminalFiles, tmp_path: Path) -> Store:
    """An enrolled terminal with a deny list (valid a week) and a trusted clock."""
    enrol_with(office, files)
    store = open_store(files)
    repository = Repository(tmp_path / "repo")
    publisher(repository).snapshot(
        "deny", 1, deny(range(4)), issued_at=ISSUED, valid_until=NOW + dt.timedelta(days=2)
    )
    assert sync_from(store, repository, now=NOW).applied == [("deny", 1)]
    store.record_trusted_time(TrustedTime(NOW, 5000.0, BOOT, BASE))
    return store


def test_a_healthy_terminal_has_no_alerts(synced: Store, files: TerminalFiles) -> None:
    report = status_of(files, synced)
    assert report["alerts"] == []
    assert set(report) == {
        "enrolment", "now", "lists", "queue", "clock", "sync", "readers", "alerts",
    }  # fmt: skip
    enrolment = report["enrolment"]
    assert isinstance(enrolment, dict)
    assert enrolment["terminal_id"] == NEW_ID
    assert enrolment["root_key"] == BO_KEY_ID
    assert report["lists"] == [
        {
            "name": "deny", "version": 1, "entries": 4, "issued_at": ISSUED.isoformat(),
            "valid_until": (NOW + dt.timedelta(days=2)).isoformat(), "age_hours": 24.0,
            "expired": False,
        }
    ]  # fmt: skip
    assert report["clock"] == {
        "state": "trusted", "detail": "in step with the last trusted time",
        "last_trusted": NOW.isoformat(),
    }  # fmt: skip
    assert report["readers"] == [{"reader": "Test Reader 0", "card_present": False}]
    assert json.loads(json.dumps(report)) == report


def test_the_queue_counts_each_upload_state(synced: Store, files: TerminalFiles) -> None:
    for n in range(4):
        tap(synced, n, at=NOW - dt.timedelta(hours=3 - n))
    synced.journal.put_in_batch("usage", [1, 2], 1)
    synced.journal.acknowledge("usage", 1, now=NOW)
    synced.journal.put_in_batch("usage", [3], 3)
    queue = status_of(files, synced)["queue"]
    assert queue == {
        "usage": {"pending": 1, "in_batch": 1, "acknowledged": 2},
        "audit": {"pending": 0, "in_batch": 0, "acknowledged": 0},
        "unsent": 2,
        "oldest_unsent_at": (NOW - dt.timedelta(hours=1)).isoformat(),
        "oldest_unsent_hours": 1.0,
    }


def test_too_many_unsent_records_raise_an_alert(synced: Store, files: TerminalFiles) -> None:
    for n in range(3):
        tap(synced, n)
    report = status_of(files, synced, limits=UploadLimits(unsent_count=2))
    assert report["alerts"] == [
        "3 usage records wait for upload (limit 2): check the network, or `ykt usage export` "
        "to a stick"
    ]
    assert status_of(files, synced, limits=UploadLimits(unsent_count=3))["alerts"] == []


def test_old_unsent_records_raise_an_alert(synced: Store, files: TerminalFiles) -> None:
    tap(synced, 1, at=NOW - dt.timedelta(hours=30))
    tap(synced, 2, at=NOW - dt.timedelta(hours=1))
    alerts = status_of(files, synced)["alerts"]
    assert isinstance(alerts, list)
    assert len(alerts) == 1
    assert alerts[0].startswith(
        f"the oldest unsent usage record is from {(NOW - dt.timedelta(hours=30)).isoformat()}"
    )
    assert status_of(files, synced, limits=UploadLimits(oldest_unsent=dt.timedelta(hours=31)))[
        "alerts"
    ] == []  # fmt: skip


def test_expired_lists_raise_an_alert(synced: Store, files: TerminalFiles) -> None:
    later = NOW + dt.timedelta(days=3)
    report = status_of(files, synced, at=later)
    lists = report["lists"]
    assert isinstance(lists, list)
    assert lists[0]["expired"] is True
    assert report["alerts"] == [
        f"list deny expired at {(NOW + dt.timedelta(days=2)).isoformat()}: sync"
    ]


def test_an_untrusted_clock_raises_an_alert(office: FakeBackOffice, files: TerminalFiles) -> None:
    enrol_with(office, files)
    with open_store(files) as store:
        report = status_of(files, store)
    assert report["alerts"] == ["clock unverified: the terminal has never synced its time"]
    clock = report["clock"]
    assert isinstance(clock, dict)
    assert clock["last_trusted"] is None


def test_a_clock_set_back_raises_an_alert(synced: Store, files: TerminalFiles) -> None:
    sample = ClockSample(NOW - dt.timedelta(hours=2), 5000.0 + 60, BOOT)
    report = terminal_status(files, synced, sample=sample, limits=UploadLimits(),
                             readers=list)  # fmt: skip
    alerts = report["alerts"]
    assert isinstance(alerts, list)
    assert [a.split(":")[0] for a in alerts] == ["clock rolled-back"]


def test_an_unenrolled_store_says_so(files: TerminalFiles) -> None:
    files.store.parent.mkdir(parents=True)
    with Store.open(files.store, journal_key=b"j" * 32) as store:
        report = status_of(files, store)
    assert report["enrolment"] is None
    assert "not enrolled: run `ykt enrol`" in report["alerts"]  # type: ignore[operator]


def test_status_shows_the_last_sync_errors(synced: Store, files: TerminalFiles) -> None:
    state = SyncState(last_run=NOW.isoformat(), last_source=f"{BASE}/repo/")
    for n in range(7):
        state.note(NOW, "upload", "transient", f"problem {n}")
    state.succeeded(NOW, "lists")
    state.save(files.sync_state)
    sync = status_of(files, synced)["sync"]
    assert isinstance(sync, dict)
    assert sync["last_run"] == NOW.isoformat()
    assert sync["last_success"] == {"lists": NOW.isoformat()}
    assert [e["message"] for e in sync["recent_errors"]] == [f"problem {n}" for n in range(2, 7)]


def test_the_back_office_sees_the_enrolled_key(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    """What enrolment sent is what signs usage: the back office verifies a batch with it."""
    enrol_with(office, files)
    keys = TerminalKeys.from_file(files.keys)
    assert keys.signing_key is not None
    with open_store(files) as store:
        tap(store, 1)
        outbox = UsageOutbox(store, NEW_ID, Ed25519PrivateKey.from_private_bytes(keys.signing_key))
        api = BackOfficeApi(BASE, office.client(), FAST_RETRY, sleep=Sleeps())
        report = outbox.upload(api, now=NOW)
    assert (report.batches_sent, report.records_acknowledged, report.refused) == (1, 1, {})
    assert list(office.events) == [f"{NEW_ID}/usage/1"]


def test_an_answer_without_signature_is_retried_then_unreachable(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    def bare(office: FakeBackOffice, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=office.answer(request).content)

    office.fail("enrol", *[bare] * FAST_RETRY.attempts)
    with pytest.raises(BackOfficeUnreachable, match="carries no Ykt-Signature"):
        enrol_with(office, files)
    assert nothing_written(files)


def test_a_wrong_root_key_is_caught_before_the_back_office_records_a_key(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    stranger_root = root_key(STRANGER, BO_KEY_ID)
    api = BackOfficeApi(BASE, office.client(), FAST_RETRY, sleep=Sleeps())
    with pytest.raises(ConfigError, match=r"does not match the back office .* check --root-key"):
        enrol(files, api, terminal_id=NEW_ID, token="token-1", root_key=stranger_root, now=NOW)
    assert [r.url.path for r in office.requests] == ["/api/v1/time"]  # the enrolment never left
    assert NEW_ID not in office.terminals
    assert nothing_written(files)


def test_a_retry_after_a_lost_answer_sends_the_same_key(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    office.fail("enrol", status(503), status(503), status(503))  # every attempt of this run
    with pytest.raises(BackOfficeUnreachable):
        enrol_with(office, files)
    assert files.pending_key.is_file()
    enrolment = enrol_with(office, files)
    sent = [
        json.loads(r.content)["public_key"] for r in office.requests if r.url.path.endswith("enrol")
    ]
    assert len(set(sent)) == 1  # one key pair, whatever the number of attempts
    keys = TerminalKeys.from_file(files.keys)
    assert keys.signing_key is not None
    assert base64.b64encode(office.terminals[enrolment.terminal_id]).decode() == sent[0]
    assert not files.pending_key.exists()


def test_force_changes_nothing_until_the_new_grant_is_in_hand(
    office: FakeBackOffice, files: TerminalFiles
) -> None:
    enrol_with(office, files)
    before = sorted(p.name for p in files.store.parent.iterdir())
    office.fail("enrol", status(403))
    office.tokens["T-010"] = "token-2"
    with pytest.raises(BackOfficeRefused):
        enrol_with(office, files, terminal_id="T-010", token="token-2", force=True)
    assert Enrolment.load(files.enrolment).terminal_id == NEW_ID  # the old enrolment stands
    assert sorted(p.name for p in files.store.parent.iterdir() if p != files.pending_key) == before


def test_a_refusal_in_the_last_sync_is_an_alert(synced: Store, files: TerminalFiles) -> None:
    state = SyncState(last_run=NOW.isoformat())
    state.last_problems = [
        SyncProblem(NOW.isoformat(), "upload", "permanent", "uploading batch T/usage/1: HTTP 403")
    ]
    state.save(files.sync_state)
    alerts = status_of(files, synced)["alerts"]
    assert isinstance(alerts, list)
    assert any("refused usage in the last sync" in a and "HTTP 403" in a for a in alerts)


def test_a_damaged_enrolment_file_is_an_alert_not_a_crash(
    synced: Store, files: TerminalFiles
) -> None:
    files.enrolment.write_text("terminal_id = [", "utf-8")
    report = status_of(files, synced)
    assert report["enrolment"] is None
    alerts = report["alerts"]
    assert isinstance(alerts, list)
    assert any("is damaged" in a and "re-enrol" in a for a in alerts)


def test_the_upload_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YKT_ALERT_UNSENT_HOURS", "6")
    monkeypatch.setenv("YKT_ALERT_UNSENT_COUNT", "500")
    assert UploadLimits.from_environment() == UploadLimits(dt.timedelta(hours=6), 500)
    monkeypatch.setenv("YKT_ALERT_UNSENT_COUNT", "many")
    with pytest.raises(ConfigError, match="YKT_ALERT_UNSENT_COUNT a whole number"):
        UploadLimits.from_environment()
