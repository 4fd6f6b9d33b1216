"""The usage journal and the staff audit log: append-only, MAC-chained, durable on return.

Both are *chains* in one table.  Record ``n`` of a chain stores::

    mac_n = HMAC-SHA256(journal_key, mac_{n-1} || chain || seq_n || body_n)

where ``body`` is the record's canonical JSON (sorted keys, no spaces, UTF-8) and ``mac_0`` is
32 zero bytes (or the anchor left by a retention purge).  Without the key nobody can rewrite,
reorder or drop a record without breaking the chain; the chain's head (last seq and mac) is kept
beside it so that a truncated tail is detected too.

An append is one ``BEGIN IMMEDIATE`` job with ``synchronous=FULL``: when :meth:`append_event`
returns, the event is on disk.  If it cannot be made durable (disk full, I/O error) it raises
:class:`~offline_store.errors.JournalNotDurable` and the terminal must not admit on that tap.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sqlite_utils import Database

from offline_store.canonical_json import canonical_json
from offline_store.errors import BatchMismatch, JournalNotDurable, JournalTampered, StoreError
from offline_store.write_job import Writer

ZERO_MAC = bytes(32)


class _Superseded(Exception):
    """Another sealer got there first (inside a job only: it rolls the job back)."""


USAGE = "usage"
AUDIT = "audit"


def add_head_tags(db: Database) -> None:
    """Migration: the chain head and anchor carry their own MAC."""
    db.execute("ALTER TABLE chain_heads ADD COLUMN head_tag BLOB NOT NULL DEFAULT x''")


def create_journal_tables(db: Database) -> None:
    db.execute(
        """CREATE TABLE chain_records (
            chain TEXT NOT NULL,
            seq INTEGER NOT NULL,
            body BLOB NOT NULL,
            mac BLOB NOT NULL,
            upload_state TEXT NOT NULL DEFAULT 'pending',
            batch INTEGER,
            acknowledged_at TEXT,
            PRIMARY KEY (chain, seq)
        ) WITHOUT ROWID"""
    )
    db.execute("CREATE INDEX chain_records_upload ON chain_records (chain, upload_state, seq)")
    db.execute(
        """CREATE TABLE chain_heads (
            chain TEXT PRIMARY KEY,
            anchor_seq INTEGER NOT NULL,
            anchor_mac BLOB NOT NULL,
            head_seq INTEGER NOT NULL,
            head_mac BLOB NOT NULL
        )"""
    )


class UploadState(StrEnum):
    PENDING = "pending"
    IN_BATCH = "in_batch"
    ACKNOWLEDGED = "acknowledged"


class StaffAction(StrEnum):
    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in-failed"  # a wrong PIN, a clone, a card not on the roster
    LOCKED_OUT = "locked-out"
    SIGN_OUT = "sign-out"  # detail: "staff", "idle" or "exit"
    OVERRIDE = "override"
    SYNC = "sync"
    EXPORT = "export"
    IMPORT = "import"  # lists or acknowledgements from a stick
    SELF_TEST = "self-test"
    KIOSK_EXIT = "kiosk-exit"


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One tap and its verdict, as the back office will receive it."""

    terminal_id: str
    occurred_at: dt.datetime
    clock_trusted: bool
    verdict: str
    reasons: tuple[str, ...]
    list_versions: Mapping[str, int]
    holder_ref: bytes  # keyed hash: never a plaintext ID, card number or name
    credential_kind: str  # "card", "essc-qr" or "reservation-code"
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)
    service: str = ""
    #: the benefit granted ("demo-zone-free", "senior-half", ...), when the verdict has one
    benefit: str | None = None
    #: "trusted", "unverified" or "rolled-back": the clock fact the verdict used
    clock_state: str = ""
    #: a code's token id (cti, hex): the back office spots a replay across terminals
    code_id: str | None = None
    #: a staff override's reference, when the verdict was overridden at the desk
    override: str | None = None

    def to_body(self) -> dict[str, object]:
        return {
            "event_id": str(self.event_id),
            "terminal_id": self.terminal_id,
            "occurred_at": self.occurred_at.isoformat(),
            "clock_trusted": self.clock_trusted,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "list_versions": dict(sorted(self.list_versions.items())),
            "holder_ref": self.holder_ref.hex(),
            "credential_kind": self.credential_kind,
            "service": self.service,
            "benefit": self.benefit,
            "clock_state": self.clock_state,
            "code_id": self.code_id,
            "override": self.override,
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    terminal_id: str
    occurred_at: dt.datetime
    staff_ref: str
    action: StaffAction
    detail: str = ""

    def to_body(self) -> dict[str, object]:
        return {
            "terminal_id": self.terminal_id,
            "occurred_at": self.occurred_at.isoformat(),
            "staff_ref": self.staff_ref,
            "action": self.action.value,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ChainRecord:
    chain: str
    seq: int
    body: dict[str, object]
    upload_state: UploadState
    batch: int | None


def chain_mac(key: bytes, previous: bytes, chain: str, seq: int, body: bytes) -> bytes:
    message = previous + chain.encode() + b"\x00" + seq.to_bytes(8, "big") + body
    return hmac.new(key, message, hashlib.sha256).digest()


class Journal:
    """The chains of one store, on the write connection of the store's journal file."""

    def __init__(self, writer: Writer, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the journal key must be at least 16 bytes")
        self._writer = writer
        self._connection = writer.connection
        self._key = key

    def _head_tag(
        self, chain: str, anchor_seq: int, anchor_mac: bytes, head_seq: int, head_mac: bytes
    ) -> bytes:
        message = (
            b"head\x00" + chain.encode() + b"\x00" + anchor_seq.to_bytes(8, "big") + anchor_mac
            + head_seq.to_bytes(8, "big") + head_mac
        )  # fmt: skip
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _write_head(
        self, chain: str, anchor_seq: int, anchor_mac: bytes, head_seq: int, head_mac: bytes
    ) -> None:
        tag = self._head_tag(chain, anchor_seq, anchor_mac, head_seq, head_mac)
        self._connection.execute(
            """INSERT INTO chain_heads (chain, anchor_seq, anchor_mac, head_seq, head_mac, head_tag)
               VALUES (?, ?, ?, ?, ?, ?)
               ON CONFLICT (chain) DO UPDATE SET anchor_seq = excluded.anchor_seq,
               anchor_mac = excluded.anchor_mac, head_seq = excluded.head_seq,
               head_mac = excluded.head_mac, head_tag = excluded.head_tag""",
            (chain, anchor_seq, anchor_mac, head_seq, head_mac, tag),
        )

    def _head(self, chain: str) -> tuple[int, bytes, int, bytes] | None:
        row = self._connection.execute(
            """SELECT anchor_seq, anchor_mac, head_seq, head_mac, head_tag FROM chain_heads
               WHERE chain = ?""",
            (chain,),
        ).fetchone()
        if row is None:
            return None
        anchor_seq, anchor_mac, head_seq, head_mac, tag = row
        head = (int(anchor_seq), bytes(anchor_mac), int(head_seq), bytes(head_mac))
        if not isinstance(tag, bytes) or not hmac.compare_digest(tag, self._head_tag(chain, *head)):
            raise JournalTampered(
                f"the {chain} chain's head was rewritten (records cut off or the anchor moved), "
                "or the terminal key file is not this store's: keep the file and report it"
            )
        return head

    # -- appending -------------------------------------------------------------------------
    def append_event(self, event: UsageEvent, *, also: Callable[[int], None] | None = None) -> int:
        """Append a usage event; durable when this returns; returns its sequence number.

        ``also(seq)`` runs inside the same job (the store's tap facts): all or nothing.
        """
        return self._append(USAGE, event.to_body(), also)

    def append_audit(self, entry: AuditEntry) -> int:
        return self._append(AUDIT, entry.to_body())

    def _append(
        self,
        chain: str,
        body_fields: Mapping[str, object],
        also: Callable[[int], None] | None = None,
    ) -> int:
        body = canonical_json(dict(body_fields))
        try:
            with self._writer.job():
                head = self._head(chain)
                anchor_seq, anchor_mac, seq, previous = (
                    (0, ZERO_MAC, 0, ZERO_MAC) if head is None else head
                )
                seq += 1
                mac = chain_mac(self._key, previous, chain, seq, body)
                self._connection.execute(
                    "INSERT INTO chain_records (chain, seq, body, mac) VALUES (?, ?, ?, ?)",
                    (chain, seq, body, mac),
                )
                self._write_head(chain, anchor_seq, anchor_mac, seq, mac)
                if also is not None:
                    also(seq)
        except StoreError as error:
            if isinstance(error, JournalTampered):
                raise
            raise JournalNotDurable(
                f"the {chain} record could not be written durably ({error.message}): do not "
                "admit on this tap; call staff and free disk space"
            ) from error
        return seq

    # -- reading and upload state ----------------------------------------------------------
    def records(
        self, chain: str = USAGE, state: UploadState | None = None
    ) -> Iterator[ChainRecord]:
        query = "SELECT seq, body, upload_state, batch FROM chain_records WHERE chain = ?"
        parameters: list[object] = [chain]
        if state is not None:
            # without statistics SQLite would walk the whole chain by its primary key
            query = query.replace("chain_records", "chain_records INDEXED BY chain_records_upload")
            query += " AND upload_state = ?"
            parameters.append(state.value)
        for seq, body, upload_state, batch in self._connection.execute(
            query + " ORDER BY seq", parameters
        ):
            yield ChainRecord(chain, int(seq), json.loads(body), UploadState(upload_state), batch)

    def put_in_batch(self, chain: str, seqs: list[int], batch: int) -> bool:
        """Seal ``seqs`` into batch ``batch``, all or nothing; False (no change) if any of
        them is no longer pending or the batch number is taken (another sealer won)."""
        try:
            with self._writer.job():
                if self._connection.execute(
                    "SELECT 1 FROM chain_records WHERE batch = ? AND +chain = ? LIMIT 1",
                    (batch, chain),
                ).fetchone():
                    raise _Superseded
                cursor = self._connection.executemany(
                    """UPDATE chain_records SET upload_state = 'in_batch', batch = ?
                       WHERE chain = ? AND seq = ? AND upload_state = 'pending'""",
                    [(batch, chain, seq) for seq in seqs],
                )
                if cursor.rowcount != len(seqs):
                    raise _Superseded  # rolls the job back: all or nothing
        except _Superseded:
            return False
        return True

    def seqs(self, chain: str, state: UploadState) -> list[int]:
        """The seqs of a chain's records in ``state``, ascending (no bodies read)."""
        return [
            int(seq)
            for (seq,) in self._connection.execute(
                """SELECT seq FROM chain_records INDEXED BY chain_records_upload
                   WHERE chain = ? AND upload_state = ? ORDER BY seq""",
                (chain, state.value),
            )
        ]

    def acknowledge(
        self, chain: str, batch: int, *, now: dt.datetime, seqs: Sequence[int] | None = None
    ) -> int:
        """Mark batch ``batch`` acknowledged; how many records changed.

        With ``seqs`` (the records the acknowledged batch carried) the batch must hold exactly
        those records, or nothing changes and :class:`BatchMismatch` is raised.
        """
        with self._writer.job():
            if seqs is not None:
                held = [
                    int(seq)
                    for (seq,) in self._connection.execute(
                        "SELECT seq FROM chain_records WHERE batch = ? AND +chain = ?",
                        (batch, chain),
                    )
                ]
                if sorted(held) != sorted(seqs):
                    raise BatchMismatch(
                        f"{chain} batch {batch} holds {len(held)} records here, the "
                        f"acknowledged one carried {len(seqs)}: nothing was marked; the batch "
                        "is sent again"
                    )
            cursor = self._connection.execute(
                # "+chain": not the primary key's chain prefix (a walk of the whole chain,
                # which SQLite prefers without statistics) but the batch index (j002)
                """UPDATE chain_records SET upload_state = 'acknowledged', acknowledged_at = ?
                   WHERE batch = ? AND +chain = ? AND upload_state = 'in_batch'""",
                (now.isoformat(), batch, chain),
            )
        return cursor.rowcount

    def purge_acknowledged(self, chain: str, *, now: dt.datetime, retention_days: int) -> int:
        """Drop acknowledged records older than the retention, from the start of the chain only.

        The chain's anchor moves to the last dropped record so verification still holds.
        Records are never dropped past the first one not yet acknowledged.
        """
        cutoff = now - dt.timedelta(days=retention_days)
        with self._writer.job():
            head = self._head(chain)
            last = None
            for seq, mac, state, acknowledged_at in self._connection.execute(
                """SELECT seq, mac, upload_state, acknowledged_at FROM chain_records
                   WHERE chain = ? ORDER BY seq""",
                (chain,),
            ):
                if state != UploadState.ACKNOWLEDGED or acknowledged_at is None:
                    break
                if dt.datetime.fromisoformat(acknowledged_at) > cutoff:
                    break
                last = (int(seq), bytes(mac))
            if last is None or head is None:
                return 0
            dropped = self._connection.execute(
                "DELETE FROM chain_records WHERE chain = ? AND seq <= ?", (chain, last[0])
            ).rowcount
            self._write_head(chain, last[0], last[1], head[2], head[3])
        return dropped

    def counts(self, chain: str) -> dict[UploadState, int]:
        """How many records of a chain are in each upload state."""
        found = dict.fromkeys(UploadState, 0)
        for state, number in self._connection.execute(
            "SELECT upload_state, count(*) FROM chain_records WHERE chain = ? GROUP BY 1",
            (chain,),
        ):
            try:
                found[UploadState(state)] = int(number)
            except ValueError as exc:
                raise JournalTampered(
                    f"the {chain} chain holds records in an unknown upload state {state!r}"
                ) from exc
        return found

    def tally(self, chain: str, key: str, *, after: int = 0) -> tuple[dict[str, int], int]:
        """How many records of ``chain`` after seq ``after`` carry each value of the body's
        ``key`` (e.g. usage records by ``verdict``), and the last seq counted (``after`` when
        there are none): a caller keeps running totals by passing it back next time."""
        if not re.fullmatch(r"[a-z_]+", key):
            raise ValueError(f"not a body key: {key!r}")
        found: dict[str, int] = {}
        last = after
        for value, number, highest in self._connection.execute(
            f"""SELECT json_extract(CAST(body AS TEXT), '$.{key}'), count(*), max(seq)
                FROM chain_records WHERE chain = ? AND seq > ? GROUP BY 1""",  # noqa: S608 - key checked above
            (chain, after),
        ):
            found[str(value)] = found.get(str(value), 0) + int(number)
            last = max(last, int(highest))
        return found, last

    # -- verification ----------------------------------------------------------------------
    def verify(self, chain: str) -> int:
        """Check the whole chain; returns how many records it holds.  Raises JournalTampered."""
        head = self._head(chain)
        expected_seq, previous = (0, ZERO_MAC) if head is None else (head[0], head[1])
        count = 0
        for seq, body, mac in self._connection.execute(
            "SELECT seq, body, mac FROM chain_records WHERE chain = ? ORDER BY seq", (chain,)
        ):
            expected_seq += 1
            if seq != expected_seq:
                raise JournalTampered(
                    f"the {chain} chain jumps from record {expected_seq - 1} to {seq}: records "
                    "were deleted"
                )
            if not isinstance(body, bytes) or not isinstance(mac, bytes):
                raise JournalTampered(
                    f"the {chain} chain is broken at record {seq}: it was rewritten after writing"
                )
            if not hmac.compare_digest(chain_mac(self._key, previous, chain, seq, body), mac):
                raise JournalTampered(
                    f"the {chain} chain is broken at record {seq}: it was altered after writing"
                    + (" (or the terminal key file is not this store's)" if count == 0 else "")
                )
            previous = bytes(mac)
            count += 1
        head_seq = 0 if head is None else head[2]
        if expected_seq != head_seq or (head is not None and previous != head[3]):
            raise JournalTampered(
                f"the {chain} chain ends at record {expected_seq} but its head says {head_seq}: "
                "records at its end were removed"
            )
        return count
