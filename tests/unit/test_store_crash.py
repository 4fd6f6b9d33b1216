"""SIGKILL at 100+ random points: the store opens, checks clean, holds the old or the new list
version (never a mix), and keeps every event whose append had returned, with no torn event."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from offline_store.journal import USAGE
from offline_store.store import DENY_LIST, Store

WORKER = Path(__file__).with_name("store_crash_worker.py")
KEY = b"crash test journal key 0123456789"
KILLS = 110


def test_sigkill_at_random_points_loses_nothing_promised(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    rng = random.Random(20261123)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    worst_gap, held = 0, 0
    for _ in range(KILLS):
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert worker.stdout is not None
        first = worker.stdout.readline()  # the store is open and has a version
        assert first.startswith(b"V "), worker.stderr.read() if worker.stderr else first
        time.sleep(rng.uniform(0, 0.25))
        worker.send_signal(signal.SIGKILL)
        rest, _ = worker.communicate()
        promised_seq, promised_version = held, int(first.split()[1])
        for line in rest.splitlines():
            kind, value = line.split()
            if kind == b"E":
                promised_seq = int(value)
            else:
                promised_version = int(value)
        with Store.open(path, journal_key=KEY) as store:  # quick_check + chains
            version = store.version_of(DENY_LIST)
            assert version in (promised_version, promised_version + 1)
            assert store.verify_list(DENY_LIST)  # the table is exactly what the version states
            held = store.journal.verify(USAGE)
            assert held >= promised_seq
            worst_gap = max(worst_gap, held - promised_seq)
    assert worst_gap <= 1  # at most the one append that was in flight
    with Store.open(path, journal_key=KEY) as store:  # the kills landed across many operations
        assert (store.version_of(DENY_LIST) or 0) > 5  # several 20,000-record deltas landed
        assert store.journal.verify(USAGE) > KILLS
