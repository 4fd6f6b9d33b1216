"""What this terminal runs: software versions and the versions of the lists it holds."""

from __future__ import annotations

import datetime as dt
import platform
import sqlite3
from dataclasses import dataclass
from importlib import metadata
from typing import Protocol

from offline_store.store import ListState

#: Distributions whose version the technician's screen shows, by the name it shows them under.
DISTRIBUTIONS = {
    "ykt-terminal": "ykt-terminal",
    "pyscard": "pyscard",
    "textual": "textual",
    "cryptography": "cryptography",
}


def _operating_system() -> str:
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        pretty = ""
    else:
        pretty = release.get("PRETTY_NAME", "")
    kernel = f"{platform.system()} {platform.release()} {platform.machine()}".strip()
    return f"{pretty} ({kernel})" if pretty else kernel


def versions() -> dict[str, str]:
    """Name to version: this software, Python, the libraries that matter, SQLite, the OS."""
    found = {"python": platform.python_version()}
    for shown, distribution in DISTRIBUTIONS.items():
        try:
            found[shown] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            found[shown] = "not installed"
    found["sqlite"] = sqlite3.sqlite_version
    found["os"] = _operating_system()
    order = ["ykt-terminal", "python", "pyscard", "textual", "cryptography", "sqlite", "os"]
    return {name: found[name] for name in order}


class ListStates(Protocol):
    """A store or one of its readers (``Store`` and ``ListReader`` both answer this)."""

    def list_states(self) -> list[ListState]: ...


@dataclass(frozen=True, slots=True)
class ListFacts:
    name: str
    version: int
    entries: int
    issued_at: dt.datetime
    valid_until: dt.datetime
    applied_at: dt.datetime
    age: dt.timedelta  # since the back office issued it
    expired: bool

    @property
    def text(self) -> str:
        hours = self.age.total_seconds() / 3600
        until = self.valid_until.astimezone(dt.UTC)
        state = "EXPIRED" if self.expired else f"valid until {until:%Y-%m-%d %H:%M} UTC"
        return (
            f"{self.name:<24} v{self.version:<6} {self.entries} entries, {hours:.1f} h old, {state}"
        )


def list_versions(store: ListStates, *, now: dt.datetime) -> list[ListFacts]:
    """Every list the store holds, its version, size, age at ``now`` and whether it expired.

    Raises :class:`offline_store.errors.StoreCorrupt` when the versions cannot be read.
    """
    return [
        ListFacts(
            state.name,
            state.version,
            state.entry_count,
            state.issued_at,
            state.valid_until,
            state.applied_at,
            now - state.issued_at,
            state.valid_until <= now,
        )
        for state in store.list_states()
    ]
