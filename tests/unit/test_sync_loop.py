"""The sync loop runs beside the gate: own thread, own store connections, never in a tap's way."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

import pytest
from sync_support import (
    ISSUED,
    JOURNAL_KEY,
    NOW,
    TERMINAL_KEY,
    UNTIL,
    Clock,
    new_store,
    publisher,
    tap,
)

from offline_store.bundles import Repository
from offline_store.store import DENY_LIST, DenyReason, Store
from terminal.sync import loop as loop_module
from terminal.sync.loop import SyncLoop
from terminal.sync.run import SyncOutcome, SyncParts, SyncTarget, run_sync


def _big_deny_list(count: int) -> list[bytes]:
    suffix = bytes([DenyReason.LOST]) + bytes.fromhex("310100")
    return sorted(os.urandom(16) + suffix for _ in range(count))


def test_taps_are_journalled_while_the_sync_loop_applies_a_big_list(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    publisher(repository).snapshot(
        DENY_LIST, 1, _big_deny_list(300_000), issued_at=ISSUED, valid_until=UNTIL
    )
    gate = new_store(tmp_path / "store.db")
    done = threading.Event()
    outcomes: list[SyncOutcome] = []

    def finished(outcome: SyncOutcome) -> None:
        outcomes.append(outcome)
        done.set()

    loop = SyncLoop(
        lambda: Store.open(tmp_path / "store.db", journal_key=JOURNAL_KEY),
        SyncTarget(str(repository.root)),
        SyncParts("T-001", TERMINAL_KEY, tmp_path / "cache", tmp_path / "state.json"),
        sample=Clock(NOW), interval=3600, on_outcome=finished,
    )  # fmt: skip
    loop.start()
    waits, during = [], 0
    try:
        n = 0
        while not done.is_set() and n < 5_000:
            n += 1
            began = time.perf_counter()
            tap(gate, n, at=NOW - dt.timedelta(minutes=1))
            waits.append(time.perf_counter() - began)
            during += not done.is_set()
            time.sleep(0.002)  # a busy gate, not a benchmark loop
    finally:
        assert done.wait(120)
        loop.stop()
    assert outcomes[0].complete, outcomes[0].problems
    assert gate.version_of(DENY_LIST) == 1
    assert gate.current(DENY_LIST)[2] == 300_000  # type: ignore[index]
    # the apply took a while, and taps kept being recorded durably all through it, none of
    # them waiting anywhere near as long as the apply (one list file, one journal file)
    assert during >= 20, during
    assert max(waits) < 0.5, max(waits)
    assert gate.journal.counts("usage")
    assert loop.runs == 1
    assert not loop.online()  # a stick or folder never vouches for the network
    gate.close()


def test_the_loop_outlives_a_sync_that_fails_unexpectedly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    new_store(tmp_path / "store.db").close()
    calls: list[int] = []
    ran = threading.Event()

    def flaky(*args: object, **kwargs: object) -> SyncOutcome:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug in one sync")
        ran.set()
        return SyncOutcome("folder")

    monkeypatch.setattr(loop_module, "run_sync", flaky)
    loop = SyncLoop(
        lambda: Store.open(tmp_path / "store.db", journal_key=JOURNAL_KEY),
        SyncTarget(str(tmp_path / "repo")),
        SyncParts("T-001", TERMINAL_KEY, tmp_path / "cache", tmp_path / "state.json"),
        sample=Clock(NOW), interval=3600,
    )  # fmt: skip
    loop.start()
    loop.trigger()  # the first sync raised; "sync now" runs the next at once
    assert ran.wait(10)
    loop.stop()
    assert len(calls) == 2
    assert loop.runs == 1
    assert "sync failed unexpectedly" in caplog.text


def test_a_sync_history_that_cannot_be_saved_is_a_note_not_a_crash(tmp_path: Path) -> None:
    repository = Repository(tmp_path / "repo")
    publisher(repository).snapshot(DENY_LIST, 1, _big_deny_list(10), issued_at=ISSUED,
                                   valid_until=UNTIL)  # fmt: skip
    store = new_store(tmp_path / "store.db")
    state = tmp_path / "state.json"
    state.mkdir()  # the state file cannot be written (a full or broken disk behaves alike)
    outcome = run_sync(
        store, SyncTarget(str(repository.root)),
        SyncParts("T-001", TERMINAL_KEY, tmp_path / "cache", state), sample=Clock(NOW),
    )  # fmt: skip
    assert outcome.complete
    assert store.version_of(DENY_LIST) == 1
    assert any("the sync history was not saved" in note for note in outcome.notes)
    store.close()
