"""The USB stick: export the repository onto it; ingest the usage batches terminals left on it.

Export copies what ``index.json`` names, in the order of ``docs/protocol.md``: content files,
then manifests (each ``.sig`` before its ``.json``), then ``index.json`` last; each file through
a temporary name and a rename, so a stick pulled mid-copy holds whole files or none.  A
content file already there with the right size, or a manifest with the same bytes, is not
copied again.

Ingest takes every ``outbox/<terminal>/<chain>-<batch>.json`` with its ``.sig`` through the
same code as ``POST /api/v1/usage`` and writes the acknowledgement to
``acks/<terminal>/<chain>-<batch>.json`` (``.sig`` first, signed by every active key).  A
batch without its ``.sig``, cut short or otherwise bad is reported and skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from backoffice.errors import BackOfficeError, PublishError, RequestRejected
from backoffice.ingest import parse_batch
from backoffice.service import BackOffice
from offline_store.bundles import INDEX, Repository, list_folder
from offline_store.errors import BundleRejected, DocumentRejected
from offline_store.exchange import parse_signatures_file, signatures_file
from offline_store.whole_files import write_whole

_BATCH_FILE = re.compile(r"(?P<chain>[a-z]+)-(?P<batch>[1-9][0-9]*)\.json")


@dataclass(slots=True)
class ExportReport:
    copied: list[str] = field(default_factory=list)
    skipped: int = 0

    def to_json(self) -> dict[str, object]:
        return {"copied": self.copied, "skipped": self.skipped}


def export_repository(repo: Path, stick: Path) -> ExportReport:
    """Copy what ``index.json`` names (and the content files it needs), the index last.

    Only published versions travel: a version an interrupted ``publish`` left in the folder,
    never named by the index, stays at home (a terminal reading the stick by folder would
    otherwise apply a version that the next run replaces).
    """
    index_path = repo / INDEX
    try:
        index_bytes = index_path.read_bytes()
        index = json.loads(index_bytes)
        lists = index["lists"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PublishError(f"{repo} has no readable {INDEX}: run `publish` first") from exc
    repository = Repository(repo)
    manifests = []
    try:
        for list_name, versions in sorted(lists.items()):
            for entry in versions:
                manifests.append(repository.manifest(list_name, int(entry["version"])))
    except (BundleRejected, KeyError, TypeError, ValueError) as exc:
        raise PublishError(f"{repo} does not match its {INDEX} ({exc}): run `publish`") from exc
    report = ExportReport()
    stick.mkdir(parents=True, exist_ok=True)
    digests = sorted({ref.sha256 for m in manifests for ref in m.content.values()})
    for digest in digests:
        source = repo / "objects" / digest
        target = stick / "objects" / digest
        if target.is_file() and target.stat().st_size == source.stat().st_size:
            report.skipped += 1
            continue
        _copy(source, target, report, stick)
    for manifest in manifests:
        folder = f"lists/{list_folder(manifest.list)}"
        for name in (f"{manifest.version}.sig", f"{manifest.version}.json"):
            source, target = repo / folder / name, stick / folder / name
            if target.is_file() and target.read_bytes() == source.read_bytes():
                report.skipped += 1
                continue
            _copy(source, target, report, stick)
    write_whole(stick / INDEX, index_bytes, durable=True)
    report.copied.append(INDEX)
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
    except BackOfficeError as exc:  # e.g. the database busy: this batch waits for next time
        return StickBatch(relative, "skipped", exc.message)
    ack = receipt.acknowledgement
    ack_bytes = ack.to_bytes()
    target = stick / "acks" / terminal / path.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_whole(target.with_suffix(".sig"), signatures_file(office.sign_all(ack_bytes)),
                    durable=True)  # fmt: skip
        write_whole(target, ack_bytes, durable=True)
    except OSError as exc:
        return StickBatch(
            relative, "skipped",
            f"batch {ack.batch_id} was stored, but its acknowledgement could not be written "
            f"({exc.strerror}): ingest the stick again",
        )  # fmt: skip
    return StickBatch(
        relative,
        "repeated" if receipt.repeated else "ingested",
        f"batch {ack.batch_id}: {ack.records} records, {ack.new} new",
        None,
        ack.new,
        ack.duplicates,
    )
