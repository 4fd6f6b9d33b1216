"""The USB stick: export the repository onto it; ingest the usage batches terminals left on it.

Export order (``docs/protocol.md``): content files, then manifests (each ``.sig`` before its
``.json``), then ``index.json`` last; each file through a temporary name and a rename, so a
stick pulled mid-copy holds whole files or none.  A content file already there with the right
size, or a manifest with the same bytes, is not copied again.

Ingest takes every ``outbox/<terminal>/<chain>-<batch>.json`` with its ``.sig`` through the
same code as ``POST /api/v1/usage`` and writes the acknowledgement to
``acks/<terminal>/<chain>-<batch>.json`` (``.sig`` first, signed by every active key).  A
batch without its ``.sig``, cut short or otherwise bad is reported and skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from backoffice.errors import BackOfficeError, PublishError, RequestRejected
from backoffice.ingest import parse_batch
from backoffice.service import BackOffice
from offline_store.bundles import INDEX
from offline_store.errors import DocumentRejected
from offline_store.exchange import parse_signatures_file, signatures_file

_BATCH_FILE = re.compile(r"(?P<chain>[a-z]+)-(?P<batch>[1-9][0-9]*)\.json")


@dataclass(slots=True)
class ExportReport:
    copied: list[str] = field(default_factory=list)
    skipped: int = 0

    def to_json(self) -> dict[str, object]:
        return {"copied": self.copied, "skipped": self.skipped}


def export_repository(repo: Path, stick: Path) -> ExportReport:
    if not (repo / INDEX).is_file():
        raise PublishError(f"{repo} has no {INDEX} yet: run `publish` first")
    report = ExportReport()
    stick.mkdir(parents=True, exist_ok=True)
    objects = sorted((repo / "objects").iterdir()) if (repo / "objects").is_dir() else []
    for source in objects:
        if source.name.startswith("."):
            continue
        target = stick / "objects" / source.name
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            report.skipped += 1
            continue
        _copy(source, target, report, stick)
    for folder in sorted((repo / "lists").iterdir()) if (repo / "lists").is_dir() else []:
        for manifest in sorted(folder.glob("*.json"), key=lambda p: (len(p.stem), p.stem)):
            for source in (manifest.with_suffix(".sig"), manifest):
                target = stick / "lists" / folder.name / source.name
                if target.is_file() and target.read_bytes() == source.read_bytes():
                    report.skipped += 1
                    continue
                _copy(source, target, report, stick)
    _copy(repo / INDEX, stick / INDEX, report, stick)
    return report


def _copy(source: Path, target: Path, report: ExportReport, stick: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temporary)
    with temporary.open("rb") as file:
        os.fsync(file.fileno())
    temporary.replace(target)
    report.copied.append(target.relative_to(stick).as_posix())


@dataclass(frozen=True, slots=True)
class StickBatch:
    path: str
    #: ingested, repeated (received before: the same acknowledgement), rejected or skipped
    status: str
    message: str = ""
    error: str | None = None
    new: int = 0
    duplicates: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "status": self.status,
            "error": self.error,
            "message": self.message,
            "new": self.new,
            "duplicates": self.duplicates,
        }


def ingest_stick(office: BackOffice, stick: Path, *, now: dt.datetime) -> list[StickBatch]:
    outbox = stick / "outbox"
    if not outbox.is_dir():
        raise BackOfficeError(f"{stick} has no outbox/ folder: no terminal wrote usage to it")
    results = []
    for folder in sorted(p for p in outbox.iterdir() if p.is_dir()):
        for path in sorted(folder.glob("*.json")):
            if path.name.startswith("."):
                continue  # a terminal's temporary file, cut short
            results.append(_ingest_one(office, stick, folder.name, path, now=now))
    return results


def _ingest_one(
    office: BackOffice, stick: Path, terminal: str, path: Path, *, now: dt.datetime
) -> StickBatch:
    relative = path.relative_to(stick).as_posix()
    name = _BATCH_FILE.fullmatch(path.name)
    if name is None:
        return StickBatch(relative, "skipped", "not named <chain>-<batch>.json")
    signature_path = path.with_suffix(".sig")
    try:
        raw = path.read_bytes()
        signature_raw = signature_path.read_bytes()
    except FileNotFoundError:
        return StickBatch(
            relative, "skipped", "no signature file (.sig) beside it: export the batch again"
        )
    except OSError as exc:
        return StickBatch(relative, "skipped", f"cannot be read: {exc.strerror}")
    try:
        batch = parse_batch(raw)
        if (batch.terminal_id, batch.chain, str(batch.number)) != (
            terminal,
            name["chain"],
            name["batch"],
        ):
            return StickBatch(
                relative, "rejected", "the file's name and folder do not match its batch id",
                "malformed",
            )  # fmt: skip
        try:
            signatures = parse_signatures_file(signature_raw, relative)
        except DocumentRejected as exc:
            return StickBatch(relative, "rejected", exc.message, "bad-signature")
        receipt = office.receive(raw, signatures, now=now)
    except RequestRejected as exc:
        return StickBatch(relative, "rejected", exc.message, exc.code)
    ack = receipt.acknowledgement
    ack_bytes = ack.to_bytes()
    target = stick / "acks" / terminal / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    _write(target.with_suffix(".sig"), signatures_file(office.sign_all(ack_bytes)))
    _write(target, ack_bytes)
    return StickBatch(
        relative,
        "repeated" if receipt.repeated else "ingested",
        f"batch {ack.batch_id}: {ack.records} records, {ack.new} new",
        None,
        ack.new,
        ack.duplicates,
    )


def _write(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
