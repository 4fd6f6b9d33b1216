"""SIGKILL the terminal at random points of a sync against the real back office, 110 times.

A forked child runs one sync (time, upload in small batches, download and apply of deny-list
versions that keep being published) and is killed with SIGKILL after a random delay, so kills
land in downloads, applies, uploads and acknowledgements.  After every kill the terminal's
lists must each be one complete version; at the end, after clean syncs, the back office must
hold every usage event exactly once (counted), and the terminal's journal must agree.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from pathlib import Path

import pytest
from link_support import LinkedTerminal, deny_csv, enrol_terminal, publish, usage_counts

from backoffice_fixture import RunningBackOffice
from offline_store.journal import UploadState
from offline_store.store import DENY_LIST

KILLS = 110
pytestmark = pytest.mark.timeout(600)


def _sync_in_child(terminal: LinkedTerminal, url: str) -> None:
    terminal.sync(url, batch_size=20)
    os._exit(0)


def test_sigkill_at_random_points_loses_nothing_and_counts_each_event_once(
    backoffice_server: RunningBackOffice, tmp_path: Path
) -> None:
    server = backoffice_server
    server.cli("deny", "import-csv", str(deny_csv(tmp_path / "base.csv", range(60_000))))
    publish(server)
    terminal = enrol_terminal(server, tmp_path / "terminal")
    context = multiprocessing.get_context("fork")
    rng = random.Random(20261123)

    started = time.monotonic()
    terminal.tap(40)
    clean = context.Process(target=_sync_in_child, args=(terminal, server.url))
    clean.start()
    clean.join(120)
    assert clean.exitcode == 0
    full_sync = time.monotonic() - started  # a first sync: snapshot download and apply

    published = 1
    killed_mid_run = 0
    left_in_batch = 0  # killed between sealing a batch and its acknowledgement
    left_behind = 0  # killed before the newest deny version was applied
    for round_number in range(KILLS):
        if round_number % 8 == 0:
            start = 100_000 + round_number * 1_000
            server.cli(
                "deny", "import-csv",
                str(deny_csv(tmp_path / f"more-{round_number}.csv", range(start, start + 1_500))),
            )  # fmt: skip
            publish(server)
            published += 1
        terminal.tap(rng.randint(5, 60))
        child = context.Process(target=_sync_in_child, args=(terminal, server.url))
        child.start()
        time.sleep(rng.uniform(0.0, full_sync * 0.6))
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
            killed_mid_run += 1
        child.join(60)
        with terminal.open() as store:  # opening verifies both chains
            for state in store.list_states():
                assert store.verify_list(state.name), (round_number, state.name)
            left_in_batch += store.journal.counts("usage").get(UploadState.IN_BATCH, 0) > 0
            left_behind += (store.version_of(DENY_LIST) or 0) < published

    assert killed_mid_run >= KILLS // 2, f"only {killed_mid_run} kills landed inside a sync"
    # the kills hit both directions: uploads mid-way and list versions not yet applied
    assert left_in_batch >= 3, left_in_batch
    assert left_behind >= 3, left_behind
    for _ in range(3):  # clean runs finish whatever the kills left
        outcome = terminal.sync(batch_size=20)
        if outcome.complete:
            break
    assert outcome.complete, outcome.problems

    usage = usage_counts(server)["usage"]
    assert usage["events"] == terminal.events
    assert usage["last_seq"] == terminal.events
    assert usage["missing"] == 0
    with terminal.open() as store:
        counts = store.journal.counts("usage")
        assert counts.get(UploadState.ACKNOWLEDGED) == terminal.events
        assert store.version_of(DENY_LIST) == published
        assert store.current(DENY_LIST)[2] == 60_000 + 1_500 * (published - 1)  # type: ignore[index]
        assert store.verify_list(DENY_LIST)
