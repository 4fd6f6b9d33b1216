"""``ykt enrol``, ``sync``, ``usage export``, ``status`` and ``unenrol`` through CliRunner: the
back office is :class:`sync_support.FakeBackOffice` behind the CLI's HTTP client, PC/SC is
replaced, and every exit code is the one docs/cli.md gives."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from sync_support import (
    BASE,
    ISSUED,
    NOW,
    STRANGER,
    TERMINAL_ID,
    UNTIL,
    FakeBackOffice,
    deny,
    publisher,
    root_key,
    signed_by,
    status,
)
from sync_support import tap as journal_tap

from apdu.errors import CardServiceUnavailable
from offline_store.bundles import Publisher, Repository
from offline_store.journal import UploadState
from offline_store.store import Store
from terminal import cli
from terminal.demo_lists import DEMO_KEY_ID, demo_back_office_key
from terminal.enrolment import root_key_text
from terminal.errors import ExitCode
from terminal.sync import run as sync_run
from terminal.sync.transport import RetryPolicy
from terminal.terminal_keys import TerminalKeys

ROOT_TEXT = root_key_text(root_key())


class _NoPcscd:
    def __init__(self) -> None:
        raise CardServiceUnavailable("the PC/SC service is not running (test)")


class _OneReader:
    class _Status:
        name = "Test Reader 00 00"
        card_present = False

    def __enter__(self) -> _OneReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def status(self) -> list[_Status]:
        return [self._Status()]


class Site:
    """A terminal's folder, the back office behind the CLI's HTTP client, and the ykt runner."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = tmp_path / "terminal"
        self.store = self.folder / "store.db"
        self.published = Repository(tmp_path / "published")
        self.published.root.mkdir()
        self.published.write_index(published_at=ISSUED)
        self.office = FakeBackOffice(self.published.root)
        self.office.tokens[TERMINAL_ID] = "token-1"
        self.office.terminals.clear()
        self.publisher: Publisher = publisher(self.published)

        def client(*args: object, **kwargs: object) -> httpx.Client:
            return self.office.client()

        monkeypatch.setattr(cli, "new_client", client)
        monkeypatch.setattr(sync_run, "new_client", client)
        # one attempt each: the CLI's own retry policy would really sleep between attempts
        monkeypatch.setattr(cli, "RetryPolicy", lambda: RetryPolicy(attempts=1))
        monkeypatch.setattr(cli, "PcscContext", _NoPcscd)
        for name in ("YKT_STORE", "YKT_TERMINAL_KEYS"):
            monkeypatch.delenv(name, raising=False)

    def ykt(self, *args: str) -> Result:
        return CliRunner().invoke(cli.main, [*args, "--store", str(self.store)])

    def enrol(self, *extra: str) -> Result:
        return self.ykt(
            "enrol", "--backoffice", BASE, "--terminal-id", TERMINAL_ID, "--token", "token-1",
            "--root-key", ROOT_TEXT, *extra,
        )  # fmt: skip

    def tap(self, count: int) -> None:
        keys = TerminalKeys.from_file(self.folder / "terminal-keys.toml")
        with Store.open(self.store, journal_key=keys.journal_key, create=False) as store:
            for n in range(count):
                journal_tap(store, n)

    def upload_states(self) -> set[UploadState]:
        keys = TerminalKeys.from_file(self.folder / "terminal-keys.toml")
        with Store.open(self.store, journal_key=keys.journal_key, create=False) as store:
            return {r.upload_state for r in store.journal.records("usage")}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    return Site(tmp_path, monkeypatch)


def exit_code(result: Result) -> ExitCode:
    return ExitCode(result.exit_code)


def problem_line(result: Result, kind: str, text: str) -> bool:
    """``ykt sync`` printed a problem line of ``kind`` carrying ``text``."""
    return any(
        line.startswith(kind) and line.removeprefix(kind).lstrip().startswith(text)
        for line in result.output.splitlines()
    )


# -- enrol --------------------------------------------------------------------------------------
def test_enrol_then_enrol_again_is_53(site: Site) -> None:
    first = site.enrol("--json")
    assert exit_code(first) is ExitCode.OK, first.output
    document = json.loads(first.output)
    assert document["terminal_id"] == TERMINAL_ID
    assert document["root_key"] == root_key().key_id
    assert document["store"] == str(site.store)
    assert (site.folder / "enrolment.toml").is_file()
    again = site.enrol()
    assert exit_code(again) is ExitCode.ALREADY_ENROLLED
    assert "ykt enrol --force" in again.output


def test_enrol_with_the_root_key_from_a_file(site: Site, tmp_path: Path) -> None:
    key_file = tmp_path / "root.txt"
    key_file.write_text(ROOT_TEXT + "\n")
    result = site.ykt(
        "enrol", "--backoffice", BASE, "--terminal-id", TERMINAL_ID, "--token", "token-1",
        "--root-key", f"@{key_file}",
    )  # fmt: skip
    assert exit_code(result) is ExitCode.OK, result.output
    assert f"enrolled   {TERMINAL_ID}" in result.output


@pytest.mark.parametrize(
    ("arrange", "code"),
    [
        (lambda office: office.fail("enrol", signed_by(STRANGER)), ExitCode.BACKOFFICE_REFUSED),
        (lambda office: office.tokens.clear(), ExitCode.BACKOFFICE_REFUSED),
        (lambda office: office.fail("enrol", status(503)), ExitCode.BACKOFFICE_UNREACHABLE),
    ],
    ids=["forged-grant", "bad-token", "unreachable"],
)
def test_enrol_failures_have_their_exit_codes(site: Site, arrange: object, code: ExitCode) -> None:
    arrange(site.office)  # type: ignore[operator]
    result = site.enrol()
    assert exit_code(result) is code, result.output
    assert result.output.startswith("ykt: ")
    assert not (site.folder / "enrolment.toml").exists()


def test_enrol_with_a_bad_root_key_is_a_config_error(site: Site) -> None:
    result = site.ykt(
        "enrol", "--backoffice", BASE, "--terminal-id", TERMINAL_ID, "--token", "token-1",
        "--root-key", "bo:ed25519:AAAA",
    )  # fmt: skip
    assert exit_code(result) is ExitCode.CONFIG
    assert site.office.requests == []


# -- status ---------------------------------------------------------------------------------------
def test_status_json_on_an_enrolled_terminal(site: Site) -> None:
    assert site.enrol().exit_code == 0
    site.tap(2)
    result = site.ykt("status", "--json")
    assert exit_code(result) is ExitCode.OK, result.output
    report = json.loads(result.output)
    assert set(report) == {
        "enrolment", "now", "lists", "queue", "clock", "sync", "readers", "alerts",
    }  # fmt: skip
    assert report["enrolment"]["terminal_id"] == TERMINAL_ID
    assert report["lists"] == []
    assert report["queue"]["unsent"] == 2
    assert report["clock"]["state"] == "unverified"  # never synced its time
    assert report["sync"]["last_run"] is None
    readers = report["readers"]
    assert isinstance(readers, list)
    assert all("error" in r or "reader" in r for r in readers)
    assert readers == [{"error": "the PC/SC service is not running (test)"}]
    assert any(a.startswith("clock unverified") for a in report["alerts"])


def test_status_text_lists_readers_and_alerts(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    assert site.enrol().exit_code == 0
    monkeypatch.setattr(cli, "PcscContext", _OneReader)
    result = site.ykt("status")
    assert exit_code(result) is ExitCode.OK, result.output
    assert f"terminal {TERMINAL_ID}  back office {BASE}" in result.output
    assert "reader   Test Reader 00 00" in result.output
    assert "ALERT    clock unverified" in result.output


def test_status_without_a_store_is_26(site: Site) -> None:
    site.folder.mkdir()
    (site.folder / "terminal-keys.toml").write_text(TerminalKeys(b"l" * 32, b"j" * 32).to_toml())
    assert exit_code(site.ykt("status")) is ExitCode.STORE_MISSING


# -- sync over the network ------------------------------------------------------------------------
def test_sync_over_the_network(site: Site) -> None:
    assert site.enrol().exit_code == 0
    site.publisher.snapshot("deny", 1, deny(range(5)), issued_at=ISSUED, valid_until=UNTIL)
    site.tap(3)
    result = site.ykt("sync", "--json")
    assert exit_code(result) is ExitCode.OK, result.output
    outcome = json.loads(result.output)
    assert outcome["complete"] is True
    assert outcome["lists_applied"] == [["deny", 1]]
    assert outcome["upload"]["records_acknowledged"] == 3
    assert dt.datetime.fromisoformat(outcome["trusted_time"]) >= NOW
    assert site.upload_states() == {UploadState.ACKNOWLEDGED}
    assert len(site.office.events) == 3
    text = site.ykt("sync")
    assert exit_code(text) is ExitCode.OK
    assert "lists    up to date" in text.output
    assert (site.folder / "sync-state.json").is_file()


def test_a_transient_problem_is_50_and_a_permanent_one_55(site: Site) -> None:
    assert site.enrol().exit_code == 0
    site.tap(1)
    site.office.fail("time", *[status(503, Retry_After="0")] * 4)  # no real wait
    transient = site.ykt("sync")
    assert exit_code(transient) is ExitCode.BACKOFFICE_UNREACHABLE, transient.output
    assert problem_line(transient, "transient", "time: asking the back office's time: HTTP 503")
    assert site.upload_states() == {UploadState.ACKNOWLEDGED}  # the upload still went
    site.tap(1)
    site.office.fail("usage", status(409))
    permanent = site.ykt("sync")
    assert exit_code(permanent) is ExitCode.SYNC_INCOMPLETE, permanent.output
    assert problem_line(permanent, "permanent", "upload: uploading batch T-001/usage/2")
    assert site.upload_states() == {UploadState.ACKNOWLEDGED, UploadState.IN_BATCH}  # kept
    status_report = json.loads(site.ykt("status", "--json").output)
    assert [e["kind"] for e in status_report["sync"]["recent_errors"]] == [
        "transient", "permanent",
    ]  # fmt: skip


def test_sync_without_enrolment_needs_a_folder(site: Site) -> None:
    assert exit_code(site.ykt("sync")) is ExitCode.NOT_ENROLLED
    assert exit_code(site.ykt("sync", "--from", f"{BASE}/repo/")) is ExitCode.NOT_ENROLLED
    assert site.office.requests == []


# -- usage export and unenrol ---------------------------------------------------------------------
def test_usage_export_writes_the_outbox(site: Site, tmp_path: Path) -> None:
    assert site.enrol().exit_code == 0
    site.tap(3)
    stick = tmp_path / "stick"
    stick.mkdir()
    result = site.ykt("usage", "export", str(stick), "--json")
    assert exit_code(result) is ExitCode.OK, result.output
    assert json.loads(result.output) == {
        "batches": 1, "records": 3, "folder": str(stick / "outbox" / TERMINAL_ID),
    }  # fmt: skip
    assert sorted(p.name for p in (stick / "outbox" / TERMINAL_ID).iterdir()) == [
        "usage-1.json", "usage-1.sig",
    ]  # fmt: skip
    missing = site.ykt("usage", "export", str(tmp_path / "not-mounted"))
    assert exit_code(missing) is ExitCode.CONFIG


def test_unenrol_with_unsent_usage_is_54(site: Site) -> None:
    assert site.enrol().exit_code == 0
    site.tap(2)
    refused = site.ykt("unenrol")
    assert exit_code(refused) is ExitCode.UNSENT_USAGE
    assert "2 usage record(s)" in refused.output
    assert site.store.is_file()
    forced = site.ykt("unenrol", "--discard-unsent", "--json")
    assert exit_code(forced) is ExitCode.OK, forced.output
    removed = json.loads(forced.output)["removed"]
    assert str(site.store) in removed
    assert not site.store.exists()
    assert not (site.folder / "terminal-keys.toml").exists()
    assert not (site.folder / "enrolment.toml").exists()
    nothing = site.ykt("unenrol")
    assert exit_code(nothing) is ExitCode.OK
    assert "nothing to remove" in nothing.output


def test_enrol_force_with_unsent_usage_is_54(site: Site) -> None:
    assert site.enrol().exit_code == 0
    site.tap(1)
    assert exit_code(site.enrol("--force")) is ExitCode.UNSENT_USAGE
    assert site.store.is_file()


# -- a stick on a demo store ----------------------------------------------------------------------
@pytest.fixture
def demo(site: Site) -> Path:
    """``ykt dev seed-store``: an unenrolled store synced from a demo repository beside it."""
    result = site.ykt("dev", "seed-store")
    assert exit_code(result) is ExitCode.OK, result.output
    return site.folder / "demo-repository"


def demo_publisher(stick: Path) -> Publisher:
    return Publisher.resuming(Repository(stick), [(DEMO_KEY_ID, demo_back_office_key())])


def test_sync_from_a_stick_on_an_unenrolled_demo_store(site: Site, demo: Path) -> None:
    assert exit_code(site.ykt("sync", "--from", str(demo))) is ExitCode.OK  # up to date
    now = dt.datetime.now(dt.UTC)
    demo_publisher(demo).snapshot(
        "deny", 2, deny(range(3)), issued_at=now - dt.timedelta(minutes=1),
        valid_until=now + dt.timedelta(days=1),
    )  # fmt: skip
    result = site.ykt("sync", "--from", str(demo), "--json")
    assert exit_code(result) is ExitCode.OK, result.output
    outcome = json.loads(result.output)
    assert outcome["lists_applied"] == [["deny", 2]]
    assert outcome["upload"] is None
    assert outcome["trusted_time"] is None
    assert site.office.requests == []  # a stick needs no network


def test_a_forged_bundle_on_the_stick_is_55(site: Site, demo: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    Publisher.resuming(Repository(demo), [(DEMO_KEY_ID, STRANGER)]).snapshot(
        "deny", 2, deny(range(3)), issued_at=now, valid_until=now + dt.timedelta(days=1)
    )
    result = site.ykt("sync", "--from", str(demo))
    assert exit_code(result) is ExitCode.SYNC_INCOMPLETE, result.output
    assert problem_line(result, "permanent", "lists: deny: deny version 2: no valid signature")


def test_sync_from_a_folder_that_is_not_a_repository_is_55(site: Site, demo: Path) -> None:
    result = site.ykt("sync", "--from", str(demo.parent / "empty"))
    assert exit_code(result) is ExitCode.SYNC_INCOMPLETE
    assert "index.json cannot be read" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["enrol", "--backoffice", "localhost:8080", "--terminal-id", "T-1", "--token", "t",
          "--root-key", ROOT_TEXT], "is not an http:// or https:// URL"),
        (["sync", "--from", "ftp://example/repo"], "is not an http:// or https:// URL"),
        (["sync", "--from", "http://[::1/repo"], "is not a valid URL"),
    ],
    ids=["no-scheme", "ftp", "garbled"],
)  # fmt: skip
def test_a_bad_url_is_a_configuration_error_at_once(
    site: Site, args: list[str], expected: str
) -> None:
    result = site.ykt(*args)
    assert exit_code(result) is ExitCode.CONFIG, result.output
    assert expected in result.output
    assert site.office.requests == []
