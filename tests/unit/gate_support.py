"""A demo station for the gate screen's tests: signed demo lists, test issuer keys, a trusted
clock at ``sample``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from apdu.emulator import (
    Fault,
    FaultPlan,
    VirtualCard,
    load_holders,
    testing_keys_path,
    testing_masters,
)
from apdu.scripted import EmulatedTransport
from apdu.security.software import SoftwareSecurityModule
from apdu.ssc import CardRecord
from apdu.ssc.reader import read_card
from apdu.transport import CardChannel
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


def card_record(holder_key: str, *, clone: bool = False) -> CardRecord:
    """A card read in this process (emulated card, software security module), as a reader
    would hand it to the screen."""
    masters = testing_masters()
    plan = FaultPlan(faults=frozenset({Fault.CLONE}) if clone else frozenset())
    card = VirtualCard(load_holders()[holder_key], masters, plan)
    module = SoftwareSecurityModule.from_file(testing_keys_path())
    return read_card(CardChannel(EmulatedTransport(card)), module)
