"""SIGKILL at random points of a single-file store's upgrade: the next open finishes it, and
every journal record, head, admission, seen code, the trusted time and every list survive."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from single_file_store import LIST_TABLES, TAP_TABLES, dump, fill, open_single_file, table_names

from offline_store.journal import AUDIT, USAGE
from offline_store.journal_file import journal_path_for
from offline_store.store import Store

WORKER = Path(__file__).with_name("store_split_worker.py")
KEY = b"split test journal key 012345678"
KILLS = 25
NOT_STARTED, COPIED, MOVED = "nothing copied yet", "copied, not dropped", "moved"


def state_of(path: Path) -> str:
    """How far the killed upgrade got (read before anything else opens the store)."""
    journal = journal_path_for(path)
    if not journal.is_file() or journal.stat().st_size == 0:
        return NOT_STARTED
    if "journal_link" in table_names(path):
        return MOVED
    connection = sqlite3.connect(journal)
    try:
        has_row = (
            connection.execute(
                "SELECT count(*) FROM sqlite_master WHERE name = 'journal_file'"
            ).fetchone()[0]
            and connection.execute("SELECT count(*) FROM journal_file").fetchone()[0]
        )
    finally:
        connection.close()
    return COPIED if has_row else NOT_STARTED


def test_sigkill_during_the_upgrade_loses_nothing(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine.db"
    store = open_single_file(pristine, KEY, durable=False)
    fill(store, taps=8000)
    store.close()
    before = dump(pristine)
    path = tmp_path / "store.db"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))

    def fresh() -> None:
        for stale in tmp_path.glob("store*"):
            stale.unlink()
        shutil.copyfile(pristine, path)

    def start() -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), "upgrade", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert worker.stdout is not None
        assert worker.stdout.readline() == b"READY\n"
        return worker

    fresh()  # one upgrade left alone: how long it takes
    worker = start()
    began = time.perf_counter()
    out, err = worker.communicate()
    duration = time.perf_counter() - began
    assert out == b"OPEN\n", err

    rng = random.Random(20261123)
    landed: Counter[str] = Counter()
    for _ in range(KILLS):
        fresh()
        worker = start()
        time.sleep(rng.uniform(0, duration * 1.2))
        worker.send_signal(signal.SIGKILL)
        worker.communicate()
        landed[state_of(path)] += 1
        with Store.open(path, journal_key=KEY) as opened:  # finishes the upgrade
            assert opened.verify_chains() == {USAGE: 8000 - 5, AUDIT: 160}
        assert dump(journal_path_for(path), TAP_TABLES) == {t: before[t] for t in TAP_TABLES}
        assert dump(path, LIST_TABLES) == {t: before[t] for t in LIST_TABLES}
        assert not set(TAP_TABLES) & table_names(path)
    assert landed[COPIED] >= 1, landed  # some kills fell between the copy and the drop
    assert landed[NOT_STARTED] + landed[COPIED] >= KILLS // 4, landed
