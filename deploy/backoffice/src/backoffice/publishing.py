"""``publish``: turn the list sources into the next signed versions of the repository.

Per list, the sources are compared with the list as last published (kept in the database):

* the first version of a list is a snapshot;
* a change is a delta (``removals`` = the full old records, or for benefit lists the entry keys
  leaving; ``records`` = the new records), unless the delta would be larger than a snapshot,
  or ``snapshot_every`` versions have passed since the last snapshot (so that a terminal far
  behind catches up with one download): then a snapshot;
* no change, but the last version is more than half its validity old: an empty delta, so the
  terminals' lists never go stale while ``publish`` runs at least daily.

``staff`` (the roster, ``backoffice.staff``) is a whole document like ``policy``: published
when it changed or is half stale, and once published it stays published, so an emptied roster
(the last member removed) reaches the terminals too.

Order: ``trust`` (when the key ring changed), ``issuers``, ``policy``, ``staff``, ``deny``, the
benefit lists; content files before manifests (``Repository.put_manifest``: signatures first), and
``index.json`` last, atomically.  The database records a version only after its files are
written; a version left in the repository by an interrupted run (newer than the database
knows, so never in the index) is removed and published again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from backoffice.datadir import DataDir, check_policy_text
from backoffice.db import BackOfficeDb
from backoffice.errors import InputError, PublishError
from backoffice.keyring import KeyRing, SigningKey
from backoffice.sources import Sources
from backoffice.staff import Staff
from offline_store.benefit_lists import KEY_BYTES, BenefitEntry, RefKind
from offline_store.bundles import (
    INDEX,
    POLICY,
    Manifest,
    Publisher,
    Repository,
    keys_from_content,
    keys_to_content,
    list_folder,
    records_content,
)
from offline_store.errors import StoreError
from offline_store.holder_refs import REF_BYTES
from offline_store.issuer_keys import ISSUERS, issuer_keys_content
from offline_store.store import DENY_LIST, STAFF_LIST, DenyEntry, DenyReason
from offline_store.trust import TRUST, TrustedKey

DEFAULT_VALIDITY = dt.timedelta(days=7)
DEFAULT_SNAPSHOT_EVERY = 50


@dataclass(frozen=True, slots=True)
class PublishSettings:
    #: a list version's ``valid_until`` is its issue time plus this
    validity: dt.timedelta = DEFAULT_VALIDITY
    #: a snapshot at least every this many versions of a list
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY
    #: prune: keep the newest snapshot of each list, what follows it, and at most this many
    #: older versions (None: prune nothing)
    keep_deltas: int | None = None

    def __post_init__(self) -> None:
        if self.validity <= dt.timedelta(0):
            raise InputError("the validity of a list version must be positive")
        if self.snapshot_every < 1:
            raise InputError("--snapshot-every must be at least 1")
        if self.keep_deltas is not None and self.keep_deltas < 0:
            raise InputError("--keep-deltas must be 0 or more")


@dataclass(frozen=True, slots=True)
class PublishedVersion:
    list_name: str
    version: int
    kind: str
    entries: int
    #: why this version: first, changed, refresh (no change, half its validity gone),
    #: every-n (the periodic snapshot), smaller (a snapshot smaller than the delta), keys
    reason: str
    upserts: int = 0
    removals: int = 0


@dataclass(slots=True)
class PublishReport:
    published: list[PublishedVersion] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    index_written: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "published": [
                {
                    "list": p.list_name,
                    "version": p.version,
                    "kind": p.kind,
                    "entries": p.entries,
                    "upserts": p.upserts,
                    "removals": p.removals,
                    "reason": p.reason,
                }
                for p in self.published
            ],
            "pruned": self.pruned,
            "index_written": self.index_written,
        }


@dataclass(frozen=True, slots=True)
class LastPublished:
    list_name: str
    version: int
    kind: str
    issued_at: dt.datetime
    valid_until: dt.datetime
    snapshot_version: int
    content_sha256: str | None

    def half_gone(self, now: dt.datetime) -> bool:
        return now >= self.issued_at + (self.valid_until - self.issued_at) / 2


def published_lists(db: BackOfficeDb) -> dict[str, LastPublished]:
    with db.reading() as connection:
        rows = connection.execute(
            "SELECT list_name, version, kind, issued_at, valid_until, snapshot_version, "
            "content_sha256 FROM published_lists ORDER BY list_name"
        ).fetchall()
    return {
        name: LastPublished(
            name,
            version,
            kind,
            dt.datetime.fromisoformat(issued_at),
            dt.datetime.fromisoformat(valid_until),
            snapshot_version,
            content_sha256,
        )
        for name, version, kind, issued_at, valid_until, snapshot_version, content_sha256 in rows
    }


def published_trust_key_ids(repository: Repository) -> set[str]:
    """The key ids of the newest trust version in the repository (none: empty)."""
    versions = repository.versions(TRUST)
    if not versions:
        return set()
    manifest = repository.manifest(TRUST, versions[-1])
    return {key.key_id for key in keys_from_content(repository.content(manifest, "keys"))}


def publish(
    data: DataDir,
    db: BackOfficeDb,
    *,
    now: dt.datetime,
    settings: PublishSettings | None = None,
) -> PublishReport:
    """Publish every list whose sources changed (or that would go stale); write the index."""
    with _exclusive(data.lock):
        return _Run(data, db, now, settings or PublishSettings()).run()


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise PublishError("another `publish` is running on this data directory") from exc
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class _Run:
    def __init__(
        self, data: DataDir, db: BackOfficeDb, now: dt.datetime, settings: PublishSettings
    ) -> None:
        if now.tzinfo is None:
            raise InputError("publish needs an aware time")
        self.data = data
        self.db = db
        self.now = now.replace(microsecond=0)
        self.settings = settings
        self.report = PublishReport()
        self.repository = Repository(data.repo)
        self.last = published_lists(db)

    def run(self) -> PublishReport:
        policy = self.data.policy_text()
        try:
            check_policy_text(policy, str(self.data.policy))
        except InputError as exc:
            raise PublishError(f"nothing was published: {exc.message}") from exc
        signing = KeyRing(self.data.keys, self.db).active()
        self._reconcile()
        try:
            self.publisher = Publisher.resuming(
                self.repository, [(key.key_id, key.private) for key in signing]
            )
            self._trust(signing)
            self._issuers()
            self._policy(policy)
            self._staff()
            self._deny()
            for name in self._benefit_lists():
                self._benefit(name)
            if self.settings.keep_deltas is not None:
                self._prune(self.settings.keep_deltas)
            if self.report.published or self.report.pruned or not (self.data.repo / INDEX).exists():
                self.repository.write_index(published_at=self.now)
                self.report.index_written = True
        except (StoreError, OSError) as exc:
            message = exc.message if isinstance(exc, StoreError) else str(exc)
            raise PublishError(
                f"publishing stopped ({message}); what was published before stays, run "
                "`publish` again"
            ) from exc
        return self.report

    # -- consistency between the database and the repository ------------------------------------
    def _reconcile(self) -> None:
        for list_name in self.repository.list_names():
            versions = self.repository.versions(list_name)
            last = self.last.get(list_name)
            known = last.version if last else 0
            orphans = [v for v in versions if v > known]
            if orphans and orphans != [known + 1]:
                raise PublishError(
                    f"the repository holds {list_name} versions {orphans} that the database does "
                    f"not know (it published up to {known}): restore {self.data.root} whole from "
                    "one backup"
                )
            for version in orphans:  # an interrupted publish: never in the index
                folder = self.data.repo / "lists" / list_folder(list_name)
                (folder / f"{version}.json").unlink()
                (folder / f"{version}.sig").unlink(missing_ok=True)
        for list_name, last in self.last.items():
            if last.version not in self.repository.versions(list_name):
                raise PublishError(
                    f"the repository lacks {list_name} version {last.version}, which the "
                    f"database says was published: restore {self.data.repo} from backup"
                )

    # -- lists -------------------------------------------------------------------------------
    def _until(self) -> dt.datetime:
        return self.now + self.settings.validity

    def _next(self, list_name: str) -> int:
        last = self.last.get(list_name)
        return 1 if last is None else last.version + 1

    def _trust(self, signing: list[SigningKey]) -> None:
        keys = sorted((key.trusted for key in signing), key=lambda k: k.key_id)
        content = keys_to_content(keys)
        sha = hashlib.sha256(content).hexdigest()
        last = self.last.get(TRUST)
        if last is not None and last.content_sha256 == sha:
            return
        announced = published_trust_key_ids(self.repository)
        if announced and not announced & {key.key_id for key in signing}:
            raise PublishError(
                "no active signing key is in the published trust set: terminals would reject "
                "the new one"
            )
        version = self._next(TRUST)
        self.publisher.trust(version, keys, issued_at=self.now)
        self._record_keys(TRUST, version, "trust", keys_valid_until(keys), sha)
        self.report.published.append(PublishedVersion(TRUST, version, "trust", len(keys), "keys"))

    def _issuers(self) -> None:
        keys = Sources(self.db, self.data.keyer()).issuers()
        last = self.last.get(ISSUERS)
        if not keys and last is None:
            return
        content = issuer_keys_content(keys)
        sha = hashlib.sha256(content).hexdigest()
        reason = _reason_for_whole(last, sha, self.now)
        if reason is None:
            return
        version = self._next(ISSUERS)
        self.publisher.issuers(version, keys, issued_at=self.now, valid_until=self._until())
        self._record_keys(ISSUERS, version, "snapshot", self._until(), sha)
        self.report.published.append(
            PublishedVersion(ISSUERS, version, "snapshot", len(keys), reason)
        )

    def _policy(self, text: bytes) -> None:
        sha = hashlib.sha256(text).hexdigest()
        last = self.last.get(POLICY)
        reason = _reason_for_whole(last, sha, self.now)
        if reason is None:
            return
        version = self._next(POLICY)
        self.publisher.policy(version, text, issued_at=self.now, valid_until=self._until())
        self._record_keys(POLICY, version, "snapshot", self._until(), sha)
        self.report.published.append(PublishedVersion(POLICY, version, "snapshot", 1, reason))

    def _staff(self) -> None:
        roster = Staff(self.db, self.data.keyer()).roster()
        last = self.last.get(STAFF_LIST)
        if not roster.members and last is None:  # no staff yet: no list
            return
        content = roster.to_document()
        sha = hashlib.sha256(content).hexdigest()
        reason = _reason_for_whole(last, sha, self.now)
        if reason is None:
            return
        version = self._next(STAFF_LIST)
        self.publisher.document(
            STAFF_LIST, version, content, issued_at=self.now, valid_until=self._until()
        )
        self._record_keys(STAFF_LIST, version, "snapshot", self._until(), sha)
        self.report.published.append(
            PublishedVersion(STAFF_LIST, version, "snapshot", len(roster.members), reason)
        )

    def _record_keys(
        self, list_name: str, version: int, kind: str, valid_until: dt.datetime, sha: str
    ) -> None:
        with self.db.job() as connection:
            _write_last(connection, list_name, version, kind, self.now, valid_until, version, sha)

    def _deny(self) -> None:
        with self.db.reading() as connection:
            current = {
                bytes(card_ref): DenyEntry(bytes(card_ref), DenyReason(reason), region).to_record()
                for card_ref, reason, region in connection.execute(
                    "SELECT card_ref, reason, region FROM deny_sources"
                )
            }
            published = {
                bytes(card_ref): bytes(record)
                for card_ref, record in connection.execute(
                    "SELECT card_ref, record FROM published_deny"
                )
            }
        self._records(DENY_LIST, current, published)

    def _benefit_lists(self) -> list[str]:
        with self.db.reading() as connection:
            sources = {row[0] for row in connection.execute(
                "SELECT DISTINCT list_name FROM benefit_sources")}  # fmt: skip
        published = {n.removeprefix("benefit:") for n in self.last if n.startswith("benefit:")}
        return sorted(sources | published)

    def _benefit(self, name: str) -> None:
        with self.db.reading() as connection:
            current = {}
            for kind, ref, start, end, attributes in connection.execute(
                "SELECT ref_kind, holder_ref, valid_from, valid_until, attributes "
                "FROM benefit_sources WHERE list_name = ?",
                (name,),
            ):
                record = BenefitEntry(
                    RefKind(kind),
                    bytes(ref),
                    dt.datetime.fromtimestamp(start, dt.UTC),
                    dt.datetime.fromtimestamp(end, dt.UTC),
                    json.loads(attributes),
                ).to_record()
                current[record[:KEY_BYTES]] = record
            published = {
                bytes(key): bytes(record)
                for key, record in connection.execute(
                    "SELECT entry_key, record FROM published_benefit WHERE list_name = ?", (name,)
                )
            }
        self._records(f"benefit:{name}", current, published)

    def _records(
        self, list_name: str, current: dict[bytes, bytes], published: dict[bytes, bytes]
    ) -> None:
        deny = list_name == DENY_LIST
        upserts = sorted(r for k, r in current.items() if published.get(k) != r)
        if deny:  # a changed entry leaves with its full old record and joins with its new one
            removals = sorted(r for k, r in published.items() if current.get(k) != r)
        else:  # benefit lists upsert by key; only keys leaving the list are removals
            removals = sorted(k for k in published if k not in current)
        last = self.last.get(list_name)
        records = sorted(current.values())
        version = self._next(list_name)
        if last is None:
            kind, reason = "snapshot", "first"
        elif not upserts and not removals and not last.half_gone(self.now):
            return
        else:
            reason = "changed" if upserts or removals else "refresh"
            kind = "delta"
            delta_bytes = len(records_content(list_name, upserts)) + sum(map(len, removals))
            if version - last.snapshot_version >= self.settings.snapshot_every:
                kind, reason = "snapshot", "every-n"
            elif delta_bytes > len(records_content(list_name, records)):
                kind, reason = "snapshot", "smaller"
        manifest: Manifest
        if kind == "snapshot":
            manifest = self.publisher.snapshot(
                list_name, version, records, issued_at=self.now, valid_until=self._until()
            )
        else:
            assert last is not None
            manifest = self.publisher.delta(
                list_name,
                last.version,
                version,
                upserts=upserts,
                removals=removals,
                after=records,
                issued_at=self.now,
                valid_until=self._until(),
            )
        leaving = [k for k in published if k not in current]
        snapshot_version = (
            version if kind == "snapshot" else (last.snapshot_version if last else version)
        )
        with self.db.job() as connection:
            _write_state(connection, list_name, leaving, upserts)
            _write_last(
                connection, list_name, version, kind, self.now, manifest.valid_until,
                snapshot_version, None,
            )  # fmt: skip
        self.report.published.append(
            PublishedVersion(
                list_name, version, kind, len(records), reason,
                upserts=len(upserts) if kind == "delta" else len(records),
                removals=len(removals) if kind == "delta" else 0,
            )
        )  # fmt: skip

    # -- pruning -----------------------------------------------------------------------------
    def _prune(self, keep: int) -> None:
        lists = self.data.repo / "lists"
        for list_name in self.repository.list_names():
            if list_name == TRUST:  # every trust step is needed to walk a rotation
                continue
            versions = self.repository.versions(list_name)
            kinds = {v: self.repository.manifest(list_name, v).kind for v in versions}
            snapshots = [v for v in versions if kinds[v] == "snapshot"]
            if not snapshots:
                continue
            older = [v for v in versions if v < snapshots[-1]]
            doomed = older[: len(older) - keep] if keep else older
            for version in doomed:
                folder = lists / list_folder(list_name)
                (folder / f"{version}.json").unlink()
                (folder / f"{version}.sig").unlink(missing_ok=True)
                self.report.pruned.append(f"lists/{list_folder(list_name)}/{version}.json")
        referenced = {
            ref.sha256
            for list_name in self.repository.list_names()
            for version in self.repository.versions(list_name)
            for ref in self.repository.manifest(list_name, version).content.values()
        }
        objects = self.data.repo / "objects"
        for path in sorted(objects.iterdir()) if objects.is_dir() else []:
            if path.name not in referenced:
                os.unlink(path)
                self.report.pruned.append(f"objects/{path.name}")


def keys_valid_until(keys: list[TrustedKey]) -> dt.datetime:
    return max(key.valid_until for key in keys)


def _reason_for_whole(last: LastPublished | None, sha: str, now: dt.datetime) -> str | None:
    """Why a whole-file list (issuers, policy, staff) gets a new version now, or None."""
    if last is None:
        return "first"
    if last.content_sha256 != sha:
        return "changed"
    if last.half_gone(now):
        return "refresh"
    return None


def _write_last(  # noqa: PLR0917  (one row's columns)
    connection: sqlite3.Connection,
    list_name: str,
    version: int,
    kind: str,
    issued_at: dt.datetime,
    valid_until: dt.datetime,
    snapshot_version: int,
    content_sha256: str | None,
) -> None:
    connection.execute(
        "INSERT OR REPLACE INTO published_lists VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            list_name,
            version,
            kind,
            issued_at.isoformat(),
            valid_until.isoformat(),
            snapshot_version,
            content_sha256,
        ),
    )


def _write_state(
    connection: sqlite3.Connection,
    list_name: str,
    leaving: list[bytes],
    upserts: list[bytes],
) -> None:
    """The list as just published: what left is deleted, what changed or joined is written."""
    if list_name == DENY_LIST:
        connection.executemany(
            "DELETE FROM published_deny WHERE card_ref = ?", [(k,) for k in leaving]
        )
        connection.executemany(
            "INSERT OR REPLACE INTO published_deny VALUES (?, ?)",
            [(record[:REF_BYTES], record) for record in upserts],
        )
        return
    name = list_name.removeprefix("benefit:")
    connection.executemany(
        "DELETE FROM published_benefit WHERE list_name = ? AND entry_key = ?",
        [(name, k) for k in leaving],
    )
    connection.executemany(
        "INSERT OR REPLACE INTO published_benefit VALUES (?, ?, ?)",
        [(name, record[:KEY_BYTES], record) for record in upserts],
    )
