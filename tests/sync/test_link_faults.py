"""The terminal's link against the real back office process, through a misbehaving network.

Each test ends by counting at the back office: every event once, none missing, none twice;
and by checking the terminal's lists are one complete version (``verify_list``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fault_proxy import Fault, FaultProxy
from link_support import LinkedTerminal, deny_csv, enrol_terminal, publish, usage_counts

from backoffice_fixture import RunningBackOffice, start_backoffice, stop
from offline_store.bundles import Publisher, Repository
from offline_store.journal import UploadState
from offline_store.store import DENY_LIST, POLICY_LIST

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def terminal(backoffice_server: RunningBackOffice, tmp_path: Path) -> LinkedTerminal:
    backoffice_server.cli("deny", "import-csv", str(deny_csv(tmp_path / "d.csv", range(200))))
    publish(backoffice_server)
    return enrol_terminal(backoffice_server, tmp_path / "terminal")


@pytest.fixture
def proxy(backoffice_server: RunningBackOffice) -> FaultProxy:
    running = FaultProxy(backoffice_server.url).start()
    yield running  # type: ignore[misc]
    running.stop()


def assert_each_event_once(server: RunningBackOffice, terminal: LinkedTerminal) -> None:
    usage = usage_counts(server)["usage"]
    assert usage["events"] == terminal.events
    assert usage["last_seq"] == terminal.events
    assert usage["missing"] == 0
    with terminal.open() as store:
        counts = store.journal.counts("usage")
    assert counts.get(UploadState.ACKNOWLEDGED) == terminal.events
    assert counts.get(UploadState.PENDING, 0) + counts.get(UploadState.IN_BATCH, 0) == 0


def assert_lists_whole(terminal: LinkedTerminal) -> dict[str, int]:
    with terminal.open() as store:
        versions = {}
        for state in store.list_states():
            assert store.verify_list(state.name)
            versions[state.name] = state.version
        return versions


def deny_version(terminal: LinkedTerminal) -> int | None:
    with terminal.open() as store:
        return store.version_of(DENY_LIST)


def test_a_sync_takes_time_uploads_then_fetches_and_the_next_is_a_304(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal
) -> None:
    terminal.tap(25)
    outcome = terminal.sync()
    assert outcome.complete, outcome.problems
    assert outcome.trusted_time is not None
    assert outcome.upload is not None
    assert outcome.upload.records_acknowledged == 25
    assert {name for name, _ in outcome.lists.applied} >= {"trust", DENY_LIST, POLICY_LIST}  # type: ignore[union-attr]
    with terminal.open() as store:
        assert store.trusted_time() is not None
        assert store.current(DENY_LIST)[2] == 200  # type: ignore[index]
        assert store.document(POLICY_LIST)
    assert_each_event_once(backoffice_server, terminal)
    again = terminal.sync()
    assert again.complete
    assert again.index_unchanged
    assert again.upload is not None
    assert again.upload.batches_sent == 0


def test_server_down_then_back_loses_nothing(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal
) -> None:
    terminal.sync()
    before = assert_lists_whole(terminal)
    terminal.tap(30)
    stop(backoffice_server.process)
    outcome = terminal.sync()
    assert {p.stage for p in outcome.problems} == {"time", "upload", "lists"}
    assert all(p.kind == "transient" for p in outcome.problems)
    assert "cannot connect" in outcome.problems[0].message
    assert assert_lists_whole(terminal) == before
    with terminal.open() as store:
        assert store.journal.counts("usage").get(UploadState.ACKNOWLEDGED, 0) == 0
    with start_backoffice(backoffice_server.data, initialise=False) as again:
        assert terminal.sync(again.url).complete
        assert_each_event_once(again, terminal)


def test_a_slow_back_office_is_a_transient_problem_and_the_next_run_catches_up(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, proxy: FaultProxy
) -> None:
    terminal.tap(5)
    proxy.arm(Fault("delay", "/", seconds=2.5))
    outcome = terminal.sync(proxy.url)
    assert outcome.problems
    assert all(p.kind == "transient" for p in outcome.problems)
    assert "no answer in time" in outcome.problems[0].message
    assert deny_version(terminal) is None
    proxy.clear()
    assert terminal.sync(proxy.url).complete
    assert_each_event_once(backoffice_server, terminal)


def test_500s_are_retried_within_the_run(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, proxy: FaultProxy
) -> None:
    terminal.tap(10)
    proxy.arm(Fault("status", "/api/v1/usage", times=2, status=500))
    proxy.arm(Fault("status", "/repo/index.json", times=1, status=503, retry_after="0"))
    outcome = terminal.sync(proxy.url)
    assert outcome.complete, outcome.problems
    posts = [r for r in proxy.requests if r[1] == "/api/v1/usage"]
    assert len(posts) == 3
    assert_each_event_once(backoffice_server, terminal)


def test_an_acknowledgement_lost_on_the_way_back_is_resent_and_counted_once(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, proxy: FaultProxy
) -> None:
    terminal.tap(40)
    proxy.arm(Fault("lost", "/api/v1/usage", times=3, status=502))  # every attempt of this run
    outcome = terminal.sync(proxy.url, batch_size=15)
    assert outcome.upload is not None
    assert outcome.upload.interrupted
    assert "lists" not in {p.stage for p in outcome.problems}  # the upload never blocks lists
    assert deny_version(terminal) is not None
    usage = usage_counts(backoffice_server)["usage"]
    assert usage["events"] == 15  # the first batch arrived; its acknowledgement did not
    with terminal.open() as store:
        assert store.journal.counts("usage").get(UploadState.ACKNOWLEDGED, 0) == 0
    assert terminal.sync(proxy.url, batch_size=15).complete
    assert_each_event_once(backoffice_server, terminal)
    assert usage_counts(backoffice_server)["usage"]["repeated_batches"] >= 1


def test_a_body_cut_short_resumes_with_a_range_request(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, proxy: FaultProxy
) -> None:
    proxy.arm(Fault("truncate", "/repo/objects/", times=1))
    outcome = terminal.sync(proxy.url)
    assert outcome.complete, outcome.problems
    ranged = [r for r in proxy.requests if r[1].startswith("/repo/objects/") and "range" in r[2]]
    assert ranged
    assert ranged[0][2]["range"].startswith("bytes=")
    assert ranged[0][2]["range"] != "bytes=0-"
    assert deny_version(terminal) == 1
    assert_lists_whole(terminal)


def test_a_wrong_body_is_rejected_and_the_list_kept_then_fetched_again(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, proxy: FaultProxy
) -> None:
    proxy.arm(Fault("corrupt", "/repo/objects/", times=1_000))
    outcome = terminal.sync(proxy.url)
    assert any("does not match its manifest" in p.message for p in outcome.problems)
    assert all(p.kind == "permanent" for p in outcome.problems if p.stage == "lists")
    assert deny_version(terminal) is None
    proxy.clear()
    assert terminal.sync(proxy.url).complete
    assert deny_version(terminal) == 1


def test_a_tampered_bundle_on_the_server_is_refused(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, tmp_path: Path
) -> None:
    assert terminal.sync().complete
    backoffice_server.cli("deny", "import-csv", str(deny_csv(tmp_path / "e.csv", range(200, 230))))
    publish(backoffice_server)
    repo = Repository(backoffice_server.data / "repo")
    manifest = repo.manifest(DENY_LIST, 2)
    victim = repo.root / "objects" / manifest.content["records"].sha256
    data = bytearray(victim.read_bytes())
    data[3] ^= 0xFF
    victim.write_bytes(bytes(data))
    outcome = terminal.sync()
    assert any(p.stage == "lists" and DENY_LIST in p.message for p in outcome.problems)
    assert deny_version(terminal) == 1
    assert_lists_whole(terminal)


def test_an_old_repository_replayed_rolls_nothing_back(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, tmp_path: Path
) -> None:
    old = tmp_path / "old-repo"
    shutil.copytree(backoffice_server.data / "repo", old)
    backoffice_server.cli("deny", "import-csv", str(deny_csv(tmp_path / "e.csv", range(200, 230))))
    publish(backoffice_server)
    assert terminal.sync().complete
    assert deny_version(terminal) == 2
    replay = terminal.sync(repository=str(old))  # the old repository, as a stick
    assert replay.lists is not None
    assert replay.lists.applied == []
    assert deny_version(terminal) == 2
    # an old version renamed as a newer one is caught by its own contents
    forged = tmp_path / "forged"
    shutil.copytree(backoffice_server.data / "repo", forged)
    folder = forged / "lists" / DENY_LIST
    shutil.copy(folder / "1.json", folder / "3.json")
    shutil.copy(folder / "1.sig", folder / "3.sig")
    index = json.loads((forged / "index.json").read_bytes())
    index["lists"][DENY_LIST].append({"version": 3, "kind": "snapshot"})
    (forged / "index.json").write_text(json.dumps(index))
    outcome = terminal.sync(repository=str(forged))
    assert any("holds deny version 1" in p.message for p in outcome.problems)
    assert deny_version(terminal) == 2


def test_bundles_from_an_unknown_or_retired_key_are_refused(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, tmp_path: Path
) -> None:
    assert terminal.sync().complete
    old_id = backoffice_server.cli("keys", "root").stdout.split(":")[0]
    old_key = serialization.load_pem_private_key(
        (backoffice_server.data / "keys" / f"{old_id}.pem").read_bytes(), password=None
    )
    assert isinstance(old_key, Ed25519PrivateKey)
    backoffice_server.cli("keys", "rotate")
    publish(backoffice_server)
    assert terminal.sync().complete
    backoffice_server.cli("keys", "retire", old_id)
    publish(backoffice_server)
    assert terminal.sync().complete
    with terminal.open() as store:
        assert old_id not in {key.key_id for key in store.trust.all()}
    forged = tmp_path / "forged"
    shutil.copytree(backoffice_server.data / "repo", forged)
    repo = Repository(forged)
    latest = max(e.version for e in repo.index().lists[DENY_LIST])
    Publisher.resuming(repo, [(old_id, old_key)]).snapshot(
        DENY_LIST, latest + 1, [], issued_at=repo.index().published_at,
        valid_until=repo.manifest(DENY_LIST, latest).valid_until,
    )  # fmt: skip
    outcome = terminal.sync(repository=str(forged))
    assert any("no valid signature" in p.message for p in outcome.problems)
    assert deny_version(terminal) == latest
    # a whole other back office's repository: older versions are not even looked at, and a
    # terminal that has only its root refuses the stranger's trust and lists
    with start_backoffice(tmp_path / "stranger") as stranger:
        publish(stranger)
        outcome = terminal.sync(repository=f"{stranger.url}/repo/")
        assert outcome.lists is not None
        assert outcome.lists.applied == []
        fresh = enrol_terminal(backoffice_server, tmp_path / "fresh", "T-002")
        refused = fresh.sync(repository=f"{stranger.url}/repo/")
    assert any("no valid signature" in p.message for p in refused.problems)
    assert deny_version(fresh) is None
    assert deny_version(terminal) == latest
    assert_lists_whole(terminal)


def test_a_stick_pulled_mid_copy_leaves_complete_lists(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal, tmp_path: Path
) -> None:
    """Every file of an exported stick, in turn, cut in half or missing (the stick pulled
    while the OS was still writing it): the terminal applies what is whole, refuses what is
    not, and its lists are one complete version either way."""
    assert terminal.sync().complete
    at_version_1 = tmp_path / "terminal-v1"
    shutil.copytree(terminal.files.store.parent, at_version_1)
    backoffice_server.cli("deny", "import-csv", str(deny_csv(tmp_path / "e.csv", range(200, 260))))
    publish(backoffice_server)
    stick = tmp_path / "stick"
    backoffice_server.cli("export", str(stick))
    deny_v2 = Repository(stick).manifest(DENY_LIST, 2)
    deny_v2_files = {"lists/deny/2.json", "lists/deny/2.sig"} | {
        f"objects/{ref.sha256}" for ref in deny_v2.content.values()
    }
    files = sorted(str(p.relative_to(stick)) for p in stick.rglob("*") if p.is_file())
    assert deny_v2_files <= set(files)
    for damaged in files:
        for damage in ("torn", "missing"):
            if damage == "torn" and not (stick / damaged).stat().st_size:
                continue  # an empty file (no removals) has no half to lose
            shutil.rmtree(terminal.files.store.parent)
            shutil.copytree(at_version_1, terminal.files.store.parent)
            partial = tmp_path / "partial"
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(stick, partial)
            victim = partial / damaged
            if damage == "torn":
                victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
            else:
                victim.unlink()
            outcome = terminal.sync(repository=str(partial))
            versions = assert_lists_whole(terminal)
            if damaged in deny_v2_files:
                assert versions[DENY_LIST] == 1, (damaged, damage)
                assert any(DENY_LIST in p.message for p in outcome.problems), (damaged, damage)
            elif damaged == "index.json":
                assert versions[DENY_LIST] == 1, (damaged, damage)  # nothing to go by
            else:
                assert versions[DENY_LIST] == 2, (damaged, damage, outcome.problems)


def test_a_withdrawn_terminal_is_refused_for_good_and_keeps_its_events(
    backoffice_server: RunningBackOffice, terminal: LinkedTerminal
) -> None:
    terminal.tap(12)
    backoffice_server.cli("terminal", "withdraw", "T-001")
    outcome = terminal.sync()
    upload = [p for p in outcome.problems if p.stage == "upload"]
    assert [p.kind for p in upload] == ["permanent"]
    assert "HTTP 403" in upload[0].message
    assert "retrying will not help" in upload[0].message
    assert deny_version(terminal) == 1  # the lists were still refreshed
    with terminal.open() as store:
        counts = store.journal.counts("usage")
    assert counts.get(UploadState.ACKNOWLEDGED, 0) == 0
    assert counts.get(UploadState.PENDING, 0) + counts.get(UploadState.IN_BATCH, 0) == 12
