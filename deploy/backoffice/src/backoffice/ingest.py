"""Usage ingest: one code path for ``POST /api/v1/usage`` and for a stick's ``outbox/``.

Checks, in order (``docs/protocol.md``): size (413), the batch parses (400; over 5,000 records
413), the terminal is enrolled and not withdrawn (403), the signature is the terminal's (401).
Then, in one write job: a batch id already received with the same SHA-256 gets the same
acknowledgement again (nothing stored twice), with another SHA-256 ``409``; otherwise every
event whose event id (``<terminal>/<chain>/<seq>``) is new is stored, and the batch recorded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from backoffice.db import BackOfficeDb
from backoffice.errors import BadSignature, Conflict, Malformed, NotEnrolled, TooLarge
from offline_store.canonical_json import canonical_json
from offline_store.errors import DocumentRejected
from offline_store.exchange import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    Acknowledgement,
    UsageBatch,
    verify_from_terminal,
)
from offline_store.trust import Signature


@dataclass(frozen=True, slots=True)
class Receipt:
    acknowledgement: Acknowledgement
    #: True when this batch id had been received before (same bytes)
    repeated: bool


def check_size(length: int) -> None:
    if length > MAX_BATCH_BYTES:
        raise TooLarge(f"the batch is {length} bytes, over the limit of {MAX_BATCH_BYTES}")


def parse_batch(raw: bytes) -> UsageBatch:
    check_size(len(raw))
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"the batch is not JSON ({type(exc).__name__})") from exc
    if isinstance(document, dict):
        records = document.get("records")
        if isinstance(records, list) and len(records) > MAX_BATCH_RECORDS:
            raise TooLarge(
                f"the batch holds {len(records)} records, over the limit of {MAX_BATCH_RECORDS}"
            )
    try:
        return UsageBatch.from_bytes(raw)
    except DocumentRejected as exc:
        raise Malformed(exc.message) from exc


def enrolled_key(db: BackOfficeDb, terminal_id: str) -> bytes:
    with db.reading() as connection:
        row = connection.execute(
            "SELECT public_key, withdrawn_at FROM terminals WHERE terminal_id = ?", (terminal_id,)
        ).fetchone()
    if row is None or row[0] is None:
        raise NotEnrolled(f"terminal {terminal_id} is not enrolled here")
    if row[1] is not None:
        raise NotEnrolled(f"terminal {terminal_id} was withdrawn")
    return bytes(row[0])


def ingest_batch(
    db: BackOfficeDb, raw: bytes, signatures: list[Signature], *, now: dt.datetime
) -> Receipt:
    """Verify and store one batch (``raw``: the bytes as received); its acknowledgement."""
    batch = parse_batch(raw)
    public_key = enrolled_key(db, batch.terminal_id)
    if not signatures:
        raise BadSignature("the batch carries no signature")
    signature = next((s for s in signatures if s.key_id == batch.terminal_id), signatures[0])
    try:
        verify_from_terminal(raw, signature, batch.terminal_id, public_key)
    except DocumentRejected as exc:
        raise BadSignature(exc.message) from exc
    sha = hashlib.sha256(raw).hexdigest()
    with db.job() as connection:
        row = connection.execute(
            "SELECT sha256, records, new, duplicates, received_at FROM batches WHERE batch_id = ?",
            (batch.batch_id,),
        ).fetchone()
        if row is not None:
            if row[0] != sha:
                raise Conflict(f"batch {batch.batch_id} was already received with other content")
            connection.execute(
                "UPDATE batches SET repeats = repeats + 1 WHERE batch_id = ?", (batch.batch_id,)
            )
            return Receipt(
                Acknowledgement(
                    batch.batch_id, batch.terminal_id, sha, row[1], row[2], row[3],
                    dt.datetime.fromisoformat(row[4]),
                ),
                repeated=True,
            )  # fmt: skip
        new = 0
        for event_id, record in zip(batch.event_ids(), batch.records, strict=True):
            body = canonical_json(dict(record.event)).decode()
            inserted = connection.execute(
                "INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)",
                (event_id, batch.terminal_id, batch.chain, record.seq, body, batch.batch_id),
            ).rowcount
            if not inserted:
                (kept,) = connection.execute(
                    "SELECT body FROM events WHERE event_id = ?", (event_id,)
                ).fetchone()
                if kept != body:  # a restored or re-created journal reusing a seq: say so
                    raise Conflict(
                        f"event {event_id} was already received with other content (a "
                        "terminal journal restored from backup, or a terminal id reused?): "
                        "nothing of this batch was stored"
                    )
            new += inserted
        received_at = now.replace(microsecond=0)
        duplicates = len(batch.records) - new
        connection.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (
                batch.batch_id, sha, batch.terminal_id, batch.chain, batch.number,
                len(batch.records), new, duplicates, received_at.isoformat(),
            ),
        )  # fmt: skip
    return Receipt(
        Acknowledgement(
            batch.batch_id, batch.terminal_id, sha, len(batch.records), new, duplicates,
            received_at,
        ),
        repeated=False,
    )  # fmt: skip
