"""What the verdict of a later tap needs to know about earlier ones, kept beside the journal.

* ``admissions``: one row per admitted tap and holder reference given (the terminal gives the
  credential's card identification code reference, so a card tap and an e-card code of that
  card count as one person), with service, time and journal sequence number, for the
  anti-passback window and the daily quota.  Written in the same job as the journal record,
  so the two never disagree.
* ``seen_codes``: the ``cti`` of every verified ESSC1 code with the time until which a replay
  of it is possible (the code's ``exp`` plus the skew); rows past that are purged as taps come.
* ``clock_anchor``: the last trusted time (from a sync with the back office), with the
  monotonic clock reading and the boot it was taken in, so that the terminal can tell whether
  its wall clock can still be trusted.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from sqlite_utils import Database


def create_tap_tables(db: Database) -> None:
    db.execute(
        """CREATE TABLE admissions (
            holder_ref BLOB NOT NULL,
            service TEXT NOT NULL,
            occurred_at INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (holder_ref, service, occurred_at, seq)
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE seen_codes (
            cti BLOB PRIMARY KEY,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID"""
    )
    db.execute(
        """CREATE TABLE clock_anchor (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            wall TEXT NOT NULL,
            monotonic REAL NOT NULL,
            boot_id TEXT NOT NULL,
            source TEXT NOT NULL
        )"""
    )


@dataclass(frozen=True, slots=True)
class TapFacts:
    """What a journal append also records (in the same job)."""

    #: every keyed reference the credential has (card id, SSN, reservation): all are counted
    holder_refs: tuple[bytes, ...]
    service: str
    occurred_at: dt.datetime
    #: the tap let the holder in (counts for anti-passback and the quota)
    admitted: bool
    #: a verified code's token id, and until when a replay of it is possible
    code_id: bytes | None = None
    code_replayable_until: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class TrustedTime:
    """A wall-clock time the terminal can trust, and where its own clocks stood then."""

    wall: dt.datetime
    monotonic: float
    boot_id: str
    source: str


def record_tap_facts(connection: sqlite3.Connection, facts: TapFacts, seq: int) -> None:
    moment = int(facts.occurred_at.timestamp())
    if facts.admitted:
        connection.executemany(
            "INSERT INTO admissions VALUES (?, ?, ?, ?)",
            [(ref, facts.service, moment, seq) for ref in facts.holder_refs],
        )

    if facts.code_id is not None and facts.code_replayable_until is not None:
        connection.execute("DELETE FROM seen_codes WHERE expires_at <= ?", (moment,))
        connection.execute(
            """INSERT INTO seen_codes VALUES (?, ?) ON CONFLICT (cti) DO UPDATE
               SET expires_at = max(expires_at, excluded.expires_at)""",
            (facts.code_id, int(facts.code_replayable_until.timestamp())),
        )


def admissions_since(
    connection: sqlite3.Connection,
    holder_refs: Sequence[bytes],
    service: str,
    since: dt.datetime,
) -> list[dt.datetime]:
    """Times this holder (under any of its references) was admitted to ``service`` at or
    after ``since``, oldest first; a tap recorded under several references counts once."""
    if not holder_refs:
        return []
    marks = ", ".join("?" * len(holder_refs))
    return [
        dt.datetime.fromtimestamp(moment, dt.UTC)
        for moment, _seq in connection.execute(
            f"""SELECT DISTINCT occurred_at, seq FROM admissions WHERE holder_ref IN ({marks})
                AND service = ? AND occurred_at >= ? ORDER BY occurred_at""",  # noqa: S608
            (*holder_refs, service, int(since.timestamp())),
        )
    ]


def last_tap(connection: sqlite3.Connection) -> dt.datetime | None:
    """The time of the newest usage event (read, not written, on the tap path)."""
    row = connection.execute(
        "SELECT body FROM chain_records WHERE chain = 'usage' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    return dt.datetime.fromisoformat(json.loads(row[0])["occurred_at"])


def code_seen(connection: sqlite3.Connection, cti: bytes, at: dt.datetime) -> bool:
    """Whether a code with this token id was verified here and may still be replayed."""
    row = connection.execute(
        "SELECT 1 FROM seen_codes WHERE cti = ? AND expires_at > ?", (cti, int(at.timestamp()))
    ).fetchone()
    return row is not None


def write_trusted_time(connection: sqlite3.Connection, trusted: TrustedTime) -> None:
    connection.execute(
        """INSERT INTO clock_anchor VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET
           wall = excluded.wall, monotonic = excluded.monotonic, boot_id = excluded.boot_id,
           source = excluded.source""",
        (trusted.wall.isoformat(), trusted.monotonic, trusted.boot_id, trusted.source),
    )


def read_trusted_time(connection: sqlite3.Connection) -> TrustedTime | None:
    row = connection.execute(
        "SELECT wall, monotonic, boot_id, source FROM clock_anchor WHERE id = 1"
    ).fetchone()
    if row is None:
        return None
    return TrustedTime(dt.datetime.fromisoformat(row[0]), float(row[1]), str(row[2]), str(row[3]))
