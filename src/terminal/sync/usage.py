"""Usage upload: the journal's records leave the terminal in signed, numbered batches.

Exactly once:

1. *Seal.*  Pending records of a chain are put in batches of at most ``batch_size``, durably
   (``Journal.put_in_batch``), before anything is sent.  A batch is numbered by the seq of its
   first record, so numbers never repeat even after old records are purged, and the same
   batch always has the same bytes (and, Ed25519 being deterministic, the same signature).
2. *Send* every sealed, unacknowledged batch: POST to the back office, or write it into a
   stick's ``outbox/``.  Sending again is harmless: the back office deduplicates by batch id
   and event id.
3. *Acknowledge* a batch only on the back office's signed acknowledgement that names exactly
   that batch (id, record count, SHA-256 of its bytes).

Records are never deleted here; the journal's retention purge removes acknowledged ones later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_store.errors import BatchMismatch, DocumentRejected
from offline_store.exchange import (
    CHAINS,
    MAX_BATCH_RECORDS,
    Acknowledgement,
    UsageBatch,
    UsageRecord,
    parse_signatures_file,
    sign_document,
    signatures_file,
    verify_from_backoffice,
)
from offline_store.journal import UploadState
from offline_store.store import Store
from offline_store.trust import Signature
from offline_store.whole_files import write_whole
from terminal.errors import BackOfficeRefused, BackOfficeUnreachable, OutboxBusy
from terminal.sync.backoffice_api import BackOfficeApi

DEFAULT_BATCH_SIZE = 1000
#: a 401 or 403 means the terminal itself is refused: no later batch can do better
_TERMINAL_REFUSED = (401, 403)


@dataclass(slots=True)
class UploadReport:
    batches_sent: int = 0
    records_acknowledged: int = 0
    #: batch id → why the back office refused it for good (4xx); its records are kept
    refused: dict[str, str] = field(default_factory=dict)
    #: why sending stopped early and may work later (down, slow, 5xx)
    interrupted: str | None = None


@dataclass(frozen=True, slots=True)
class SealedBatch:
    batch: UsageBatch
    body: bytes
    signature: Signature


class UsageOutbox:
    """The terminal's unacknowledged usage, as signed batches."""

    def __init__(
        self,
        store: Store,
        terminal_id: str,
        signing_key: Ed25519PrivateKey,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH_RECORDS:
            raise ValueError(f"batch_size must be 1..{MAX_BATCH_RECORDS}")
        self._store = store
        self._terminal_id = terminal_id
        self._key = signing_key
        self._batch_size = batch_size

    def seal_pending(self) -> int:
        """Put every pending record in a batch (durably); how many records were sealed."""
        sealed = 0
        for chain in CHAINS:
            for _attempt in range(3):  # another sealer may win a chunk: read what is left
                raced = False
                # a job per batch, not one for all: the journal file is the taps' too, and a
                # tap waits for the write lock no longer than one batch takes to seal
                for chunk in _chunks(self._store.journal.seqs(chain, UploadState.PENDING),
                                     self._batch_size):  # fmt: skip
                    if not self._store.journal.put_in_batch(chain, chunk, chunk[0]):
                        raced = True
                        break
                    sealed += len(chunk)
                if not raced:
                    break
        return sealed

    def unacknowledged(self) -> Iterator[SealedBatch]:
        """Every sealed batch not yet acknowledged, oldest first, ready to send."""
        for chain in CHAINS:
            records = self._store.journal.records(chain, UploadState.IN_BATCH)
            for number, group in itertools.groupby(records, key=lambda r: r.batch):
                if number is None:
                    continue
                batch = UsageBatch(
                    self._terminal_id,
                    chain,
                    int(number),
                    tuple(UsageRecord(r.seq, r.body) for r in group),
                )
                yield self.sealed(batch)

    def sealed(self, batch: UsageBatch) -> SealedBatch:
        body = batch.to_bytes()
        return SealedBatch(batch, body, sign_document(body, self._terminal_id, self._key))

    # -- over the network ----------------------------------------------------------------------
    def upload(self, api: BackOfficeApi, *, now: dt.datetime) -> UploadReport:
        """Seal, then send every unacknowledged batch until one cannot go (reported)."""
        report = UploadReport()
        try:
            with _outbox_lock(self._store.path):
                self._upload(api, report, now=now)
        except OutboxBusy as busy:
            report.interrupted = busy.message
        return report

    def _upload(self, api: BackOfficeApi, report: UploadReport, *, now: dt.datetime) -> None:
        self.seal_pending()
        for sealed in self.unacknowledged():
            batch_id = sealed.batch.batch_id
            try:
                answer = api.post_usage(sealed.body, sealed.signature, batch_id)
            except BackOfficeUnreachable as error:
                report.interrupted = error.message
                return
            except BackOfficeRefused as error:
                report.refused[batch_id] = error.message
                if error.status in _TERMINAL_REFUSED:
                    return
                continue
            report.batches_sent += 1
            try:
                report.records_acknowledged += self._accept_ack(
                    sealed, answer.body, [answer.signature], now=now
                )
            except (DocumentRejected, BatchMismatch) as error:
                report.interrupted = (
                    f"batch {batch_id}: the acknowledgement was not valid ({error.message}); "
                    "the batch stays unacknowledged and is sent again"
                )
                return

    # -- on a stick -------------------------------------------------------------------------------
    def export(self, stick: Path) -> int:
        """Write every unacknowledged batch into ``<stick>/outbox/<terminal>/``; how many."""
        with _outbox_lock(self._store.path):
            return self._export(stick)

    def _export(self, stick: Path) -> int:
        self.seal_pending()
        folder = stick / "outbox" / self._terminal_id
        folder.mkdir(parents=True, exist_ok=True)
        written = 0
        for sealed in self.unacknowledged():
            stem = f"{sealed.batch.chain}-{sealed.batch.number}"
            write_whole(folder / f"{stem}.sig", signatures_file([sealed.signature]), durable=True)
            write_whole(folder / f"{stem}.json", sealed.body, durable=True)
            written += 1
        return written

    def read_stick_acks(self, stick: Path, *, now: dt.datetime) -> tuple[int, list[str]]:
        """Acknowledgements the back office wrote on the stick: (records acknowledged, problems)."""
        folder = stick / "acks" / self._terminal_id
        if not folder.is_dir():
            return 0, []
        with _outbox_lock(self._store.path):
            return self._read_acks(folder, now=now)

    def _read_acks(self, folder: Path, *, now: dt.datetime) -> tuple[int, list[str]]:
        acknowledged, problems = 0, []
        waiting = {f"{s.batch.chain}-{s.batch.number}": s for s in self.unacknowledged()}
        for path in sorted(folder.glob("*.json")):
            sealed = waiting.get(path.stem)
            if sealed is None:
                continue  # acknowledged already, or another terminal's business
            try:
                signatures = parse_signatures_file(path.with_suffix(".sig").read_bytes(), str(path))
                acknowledged += self._accept_ack(sealed, path.read_bytes(), signatures, now=now)
            except OSError as error:
                problems.append(f"{path.name}: cannot be read ({error.strerror or error})")
            except (DocumentRejected, BatchMismatch) as error:
                problems.append(f"{path.name}: {error.message}")
        return acknowledged, problems

    # -- acknowledgements -----------------------------------------------------------------------
    def _accept_ack(
        self, sealed: SealedBatch, body: bytes, signatures: list[Signature], *, now: dt.datetime
    ) -> int:
        verify_from_backoffice(
            body, signatures, self._store.trust.all(), now=now, what="acknowledgement"
        )
        ack = Acknowledgement.from_bytes(body)
        if not ack.confirms(sealed.batch, sealed.body):
            raise DocumentRejected(
                f"the acknowledgement names {ack.batch_id} ({ack.records} records, "
                f"{ack.sha256[:12]}…), not the batch sent ({sealed.batch.batch_id}, "
                f"{len(sealed.batch.records)} records, "
                f"{hashlib.sha256(sealed.body).hexdigest()[:12]}…)"
            )
        return self._store.journal.acknowledge(
            sealed.batch.chain, sealed.batch.number, now=now,
            seqs=[record.seq for record in sealed.batch.records],
        )  # fmt: skip


def outbox_lock_path(store: Path) -> Path:
    return store.with_name(f"{store.stem}-outbox.lock")


@contextlib.contextmanager
def _outbox_lock(store: Path) -> Iterator[None]:
    """One sealer and sender at a time per terminal (the sync loop, ``ykt sync``, ``ykt usage
    export``), across threads and processes: ``flock`` on a file beside the store."""
    with outbox_lock_path(store).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise OutboxBusy(
                "another sync or usage export is working on this terminal's usage right now: "
                "try again when it has finished"
            ) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
