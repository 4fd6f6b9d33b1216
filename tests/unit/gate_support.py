"""A demo station for the gate screen's tests: signed demo lists, test issuer keys, a trusted
clock at ``sample``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from offline_store.holder_refs import HolderKeyer
from offline_store.store import Store
from terminal.clock import ClockSample
from terminal.demo_lists import seed_demo_store
from terminal.station import Station, StationSettings
from terminal.terminal_keys import TerminalKeys


@contextmanager
def demo_station(folder: Path, sample: ClockSample) -> Iterator[Station]:
    keys = TerminalKeys(os.urandom(32), os.urandom(32))
    (folder / "terminal-keys.toml").write_text(keys.to_toml())
    with Store.open(folder / "store.db", journal_key=keys.journal_key) as store:
        seed_demo_store(store, HolderKeyer(keys.list_key), folder / "repo", sample=sample)
    settings = StationSettings(folder / "store.db", folder / "terminal-keys.toml",
                               production=False)  # fmt: skip
    with Station.open(settings) as station:
        yield station
