"""Two sealers at once (the sync loop and `ykt usage export`, say) never make one event count
twice or vanish: a batch number is taken once, a batch is sealed all or nothing, an
acknowledgement marks exactly the records it names, and one outbox user at a time."""

from __future__ import annotations

from pathlib import Path

import pytest
from sync_support import JOURNAL_KEY, NOW, TERMINAL_ID, TERMINAL_KEY, new_store, tap

from offline_store.errors import BatchMismatch
from offline_store.journal import UploadState
from offline_store.store import Store
from terminal.errors import OutboxBusy
from terminal.sync.usage import UsageOutbox, _outbox_lock


def test_a_batch_number_is_taken_once_and_sealing_is_all_or_nothing(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store.db")
    for n in range(1, 7):
        tap(store, n)
    assert store.journal.put_in_batch("usage", [1, 2, 3], 1)
    assert not store.journal.put_in_batch("usage", [4, 5], 1)  # number 1 is taken
    assert not store.journal.put_in_batch("usage", [3, 4], 3)  # 3 is sealed already
    assert store.journal.seqs("usage", UploadState.PENDING) == [4, 5, 6]  # 4 was not taken
    assert store.journal.put_in_batch("usage", [4, 5, 6], 4)


def test_an_acknowledgement_marks_only_the_records_it_carried(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store.db")
    for n in range(1, 5):
        tap(store, n)
    store.journal.put_in_batch("usage", [1, 2, 3, 4], 1)
    with pytest.raises(BatchMismatch, match="holds 4 records here, the acknowledged one carried 2"):
        store.journal.acknowledge("usage", 1, now=NOW, seqs=[1, 2])
    assert store.journal.counts("usage")[UploadState.IN_BATCH] == 4
    assert store.journal.acknowledge("usage", 1, now=NOW, seqs=[1, 2, 3, 4]) == 4


def test_a_second_sealer_working_from_an_old_view_cannot_widen_a_batch(tmp_path: Path) -> None:
    """The race a review found: sealer A sees 1-3 pending and seals batch 1; meanwhile more
    taps come; sealer B, working from its own older read of 1-6, tries batch 1 again."""
    first = new_store(tmp_path / "store.db")
    for n in range(1, 4):
        tap(first, n)
    second = Store.open(tmp_path / "store.db", journal_key=JOURNAL_KEY)
    stale_view = [1, 2, 3, 4, 5, 6]
    assert first.journal.put_in_batch("usage", [1, 2, 3], 1)
    for n in range(4, 7):
        tap(first, n)
    assert not second.journal.put_in_batch("usage", stale_view, stale_view[0])
    assert [r.seq for r in first.journal.records("usage", UploadState.IN_BATCH)] == [1, 2, 3]
    sealer = UsageOutbox(second, TERMINAL_ID, TERMINAL_KEY, batch_size=100)
    assert sealer.seal_pending() == 3  # re-read: 4-6 in a batch of their own
    batches = {s.batch.number: [r.seq for r in s.batch.records] for s in sealer.unacknowledged()}
    assert batches == {1: [1, 2, 3], 4: [4, 5, 6]}
    second.close()
    first.close()


def test_one_outbox_user_at_a_time(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store.db")
    tap(store, 1)
    outbox = UsageOutbox(store, TERMINAL_ID, TERMINAL_KEY)
    with _outbox_lock(store.path):
        with pytest.raises(OutboxBusy, match="another sync or usage export"):
            outbox.export(tmp_path / "stick")
        assert store.journal.counts("usage")[UploadState.PENDING] == 1  # nothing sealed
    (tmp_path / "stick").mkdir()
    assert outbox.export(tmp_path / "stick") == 1
