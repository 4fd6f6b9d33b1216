"""Signed bundles: how list versions and trust-key changes travel (network or USB stick alike).

A *repository* is a folder (or the same layout behind a URL)::

    objects/<sha256 hex>                 content files, named by their digest
    lists/<list>/<version>.json          manifests (<list>: deny, benefit-<name>, trust)
    lists/<list>/<version>.sig           their detached signatures (a JSON array)

A manifest is a JSON file; the signatures cover its bytes exactly as they are, so a producer
may serialise it any way it likes.  Its *digest* is SHA-256 of those bytes, and the next
version of the same list names it in ``previous`` (the chain).  ``docs/bundle-format.md``
describes every field precisely enough for another team to produce bundles.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, TypeVar

from offline_store.benefit_lists import KEY_BYTES
from offline_store.canonical_json import canonical_json
from offline_store.errors import (
    BundleRejected,
    ContentMismatch,
    JournalNotDurable,
    StoreError,
    StoreFull,
    TrustRejected,
    VersionGap,
    VersionRejected,
)
from offline_store.issuer_keys import (
    ISSUERS,
    IssuerKey,
    issuer_keys_content,
    issuer_keys_from_content,
)
from offline_store.store import (
    DENY_LIST,
    DOCUMENT_LISTS,
    RECORD_BYTES,
    ListVersion,
    Store,
    benefit_list_key,
    digest_of,
)
from offline_store.trust import (
    TRUST,
    Signature,
    SignerKey,
    TrustedKey,
    first_valid_signer,
    signature_over,
)
from offline_store.whole_files import write_whole

FORMAT = "ykt-bundle/1"
INDEX_FORMAT = "ykt-repo/1"
INDEX = "index.json"
#: the venue policy's list: a snapshot whose one ``policy`` file is the TOML text
POLICY = "policy"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_T = TypeVar("_T")
KINDS = ("snapshot", "delta", "trust")


@dataclass(frozen=True, slots=True)
class ContentRef:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    kind: str
    list: str
    version: int
    issued_at: dt.datetime
    valid_until: dt.datetime
    entry_count: int
    digest: bytes
    content: Mapping[str, ContentRef]
    previous: bytes | None = None
    base_version: int | None = None
    signatures: tuple[Signature, ...] = field(default=())
    #: The manifest file's bytes as received: what the signatures cover, byte for byte.
    raw: bytes = field(default=b"", compare=False, repr=False)

    # -- encoding ------------------------------------------------------------------------
    def body(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "kind": self.kind,
            "list": self.list,
            "version": self.version,
            "base_version": self.base_version,
            "previous": None if self.previous is None else self.previous.hex(),
            "issued_at": self.issued_at.isoformat(),
            "valid_until": self.valid_until.isoformat(),
            "entry_count": self.entry_count,
            "digest": self.digest.hex(),
            "content": {
                role: {"sha256": ref.sha256, "size": ref.size}
                for role, ref in sorted(self.content.items())
            },
        }

    def signed_bytes(self) -> bytes:
        """The received file as is; for a manifest being published, its canonical JSON."""
        return self.raw or canonical_json(self.body())

    def manifest_digest(self) -> bytes:
        return hashlib.sha256(self.signed_bytes()).digest()

    def signatures_json(self) -> bytes:
        return canonical_json(
            [
                {
                    "key_id": s.key_id,
                    "algorithm": s.algorithm,
                    "value": base64.b64encode(s.value).decode(),
                }
                for s in self.signatures
            ]
        )

    @classmethod
    def from_json(cls, raw: bytes, signatures_raw: bytes, where: str) -> Manifest:
        """A received manifest file and its detached signatures file."""
        try:
            document = json.loads(raw)
            signature_list = json.loads(signatures_raw)
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise BundleRejected(f"{where}: not a {FORMAT} manifest")
            kind = str(document["kind"])
            if kind not in KINDS:
                raise BundleRejected(f"{where}: unknown kind {kind!r}")
            previous_hex = _optional(document, "previous", str)
            base_version = _optional(document, "base_version", int)
            return cls(
                kind=kind,
                list=_field(document, "list", str),
                version=_field(document, "version", int),
                base_version=base_version,
                previous=None if previous_hex is None else bytes.fromhex(previous_hex),
                issued_at=_aware(_field(document, "issued_at", str)),
                valid_until=_aware(_field(document, "valid_until", str)),
                entry_count=_field(document, "entry_count", int),
                digest=bytes.fromhex(_field(document, "digest", str)),
                content={
                    str(role): ContentRef(_field(ref, "sha256", str), _field(ref, "size", int))
                    for role, ref in _field(document, "content", dict).items()
                },
                signatures=tuple(
                    Signature(
                        _field(s, "key_id", str),
                        _field(s, "algorithm", str),
                        base64.b64decode(_field(s, "value", str), validate=True),
                    )
                    for s in _as_list(signature_list)
                ),
                raw=bytes(raw),
            )
        except BundleRejected:
            raise
        except (KeyError, TypeError, ValueError, binascii.Error, AttributeError) as exc:
            raise BundleRejected(f"{where}: malformed manifest ({exc})") from exc

    def stated(self) -> ListVersion:
        return ListVersion(
            self.version,
            self.issued_at,
            self.valid_until,
            self.entry_count,
            self.digest,
            manifest_digest=self.manifest_digest(),
        )


def _field(document: object, name: str, kind: type[_T]) -> _T:
    if not isinstance(document, dict):
        raise TypeError("a manifest part is not an object")
    value = document[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{name} must be {kind.__name__}")
    return value


def _as_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise TypeError("the signatures file must hold a JSON array")
    return value


def _optional(document: dict[str, object], name: str, kind: type[_T]) -> _T | None:
    return None if document.get(name) is None else _field(document, name, kind)


def _aware(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("times must carry their offset")
    return moment


# -- signing (the back office's side; tests and the reference back office use it) -------------
def sign(manifest: Manifest, key_id: str, private_key: SignerKey) -> Manifest:
    signature = signature_over(manifest.signed_bytes(), key_id, private_key)
    return replace(manifest, signatures=(*manifest.signatures, signature))


#: How far ahead of the terminal's clock a manifest's issue time may be.
CLOCK_SKEW = dt.timedelta(minutes=10)


def verify_signatures(manifest: Manifest, trusted: list[TrustedKey], *, now: dt.datetime) -> str:
    """The id of a trusted key whose signature holds; the key valid at issue time and now."""
    if manifest.issued_at > now + CLOCK_SKEW:
        raise BundleRejected(
            f"{manifest.list} version {manifest.version} is issued at "
            f"{manifest.issued_at.isoformat()}, after the terminal's clock "
            f"({now.isoformat()}): check the terminal's clock, then sync again"
        )
    if manifest.kind != "trust" and manifest.valid_until <= now:
        raise BundleRejected(
            f"{manifest.list} version {manifest.version} expired at "
            f"{manifest.valid_until.isoformat()}: fetch a current bundle from the back office"
        )
    signer = first_valid_signer(
        manifest.signed_bytes(), manifest.signatures, trusted, valid_at=(manifest.issued_at, now)
    )
    if signer is not None:
        return signer
    error = TrustRejected if manifest.kind == "trust" else BundleRejected
    raise error(
        f"{manifest.list} version {manifest.version}: no valid signature by a trusted key "
        f"(signed by {', '.join(s.key_id for s in manifest.signatures) or 'nobody'}): a forged "
        "or foreign bundle; it was not applied"
    )


# -- content files ---------------------------------------------------------------------------
def split_fixed(content: bytes, size: int, what: str) -> list[bytes]:
    if len(content) % size:
        raise ContentMismatch(f"{what}: {len(content)} bytes is not a whole number of {size}")
    return [content[i : i + size] for i in range(0, len(content), size)]


def split_prefixed(content: bytes, what: str) -> list[bytes]:
    """Records each preceded by a 2-byte big-endian length."""
    records, position = [], 0
    while position < len(content):
        if position + 2 > len(content):
            raise ContentMismatch(f"{what}: cut off in a length prefix")
        size = int.from_bytes(content[position : position + 2], "big")
        record = content[position + 2 : position + 2 + size]
        if len(record) != size:
            raise ContentMismatch(f"{what}: cut off in a record")
        records.append(record)
        position += 2 + size
    return records


def join_prefixed(records: list[bytes]) -> bytes:
    return b"".join(len(r).to_bytes(2, "big") + r for r in records)


def records_content(list_name: str, records: list[bytes]) -> bytes:
    """A ``records`` file: deny records are fixed-size, benefit records length-prefixed."""
    return b"".join(records) if list_name == DENY_LIST else join_prefixed(records)


def keys_to_content(keys: list[TrustedKey]) -> bytes:
    return canonical_json(
        [
            {
                "key_id": k.key_id,
                "algorithm": k.algorithm,
                "public_key": base64.b64encode(k.public_key).decode(),
                "valid_from": k.valid_from.isoformat(),
                "valid_until": k.valid_until.isoformat(),
            }
            for k in keys
        ]
    )


def keys_from_content(content: bytes) -> list[TrustedKey]:
    try:
        return [
            TrustedKey(
                str(k["key_id"]),
                str(k["algorithm"]),
                base64.b64decode(k["public_key"], validate=True),
                _aware(k["valid_from"]),
                _aware(k["valid_until"]),
            )
            for k in json.loads(content)
        ]
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise TrustRejected(f"the trust update's key file is malformed ({exc})") from exc


# -- the repository ----------------------------------------------------------------------------
def list_folder(list_name: str) -> str:
    return list_name.replace(":", "-")


class RepositorySource(Protocol):
    """Where a repository's files come from: a folder, or a URL (``terminal.sync``)."""

    def read(self, relative: str) -> bytes:
        """The file at ``relative`` (``index.json``, ``lists/…``, ``objects/…``).

        A file that is not there raises :class:`BundleRejected`; a transport failure raises
        the source's own error, which stops the whole sync (not only one list).
        """
        ...


class FolderSource:
    """A repository in a folder: a USB stick, or the back office's own copy."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, relative: str) -> bytes:
        path = self.root / relative
        try:
            return path.read_bytes()
        except OSError as exc:
            raise BundleRejected(f"{path} cannot be read: {exc.strerror or exc}") from exc


@dataclass(frozen=True, slots=True)
class IndexEntry:
    version: int
    kind: str


@dataclass(frozen=True, slots=True)
class RepositoryIndex:
    """``index.json``: every published version of every list, ascending."""

    published_at: dt.datetime
    lists: Mapping[str, tuple[IndexEntry, ...]]

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> RepositoryIndex:
        try:
            document = json.loads(raw)
            if not isinstance(document, dict) or document.get("format") != INDEX_FORMAT:
                raise BundleRejected(f"{where}: not a {INDEX_FORMAT} index")
            lists: dict[str, tuple[IndexEntry, ...]] = {}
            for name, entries in _field(document, "lists", dict).items():
                parsed = tuple(
                    IndexEntry(_field(e, "version", int), _field(e, "kind", str))
                    for e in _as_list(entries)
                )
                if [e.version for e in parsed] != sorted({e.version for e in parsed}):
                    raise ValueError(f"the versions of {name} are not strictly ascending")
                lists[str(name)] = parsed
            return cls(_aware(_field(document, "published_at", str)), lists)
        except BundleRejected:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleRejected(f"{where}: malformed index ({exc})") from exc


class Repository:
    """A bundle repository: read through a source (folder or URL), written as a folder."""

    def __init__(self, root: Path, source: RepositorySource | None = None) -> None:
        self.root = root
        self.source: RepositorySource = source or FolderSource(root)

    def index(self) -> RepositoryIndex:
        return RepositoryIndex.from_json(self.source.read(INDEX), INDEX)

    def manifest(self, list_name: str, version: int) -> Manifest:
        relative = f"lists/{list_folder(list_name)}/{version}"
        raw = self.source.read(f"{relative}.json")
        try:
            signatures_raw = self.source.read(f"{relative}.sig")
        except BundleRejected as exc:
            raise BundleRejected(
                f"manifest {relative}.json has no signatures file: unsigned"
            ) from exc
        manifest = Manifest.from_json(raw, signatures_raw, f"{relative}.json")
        if manifest.list != list_name or manifest.version != version:
            raise BundleRejected(
                f"{relative}.json holds {manifest.list} version {manifest.version}"
            )
        return manifest

    def content(self, manifest: Manifest, role: str) -> bytes:
        ref = manifest.content.get(role)
        if ref is None:
            raise BundleRejected(f"{manifest.list} version {manifest.version} has no {role} file")
        if not _SHA256_HEX.fullmatch(ref.sha256):
            raise BundleRejected(f"{manifest.list} version {manifest.version}: bad file name")
        data = self.source.read(f"objects/{ref.sha256}")
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BundleRejected(
                f"content file objects/{ref.sha256[:16]}… of {manifest.list} version "
                f"{manifest.version} does not match its manifest (size or SHA-256): damaged, "
                "cut short or tampered; it was not applied"
            )
        return data

    # -- the folder as published (the back office's side) ------------------------------------
    def versions(self, list_name: str) -> list[int]:
        folder = self.root / "lists" / list_folder(list_name)
        if not folder.is_dir():
            return []
        return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())

    def list_names(self) -> list[str]:
        folder = self.root / "lists"
        if not folder.is_dir():
            return []
        names = []
        for path in sorted(folder.iterdir()):
            name = path.name
            names.append(name.replace("benefit-", "benefit:", 1) if name != TRUST else name)
        return names

    # the publishing side (reference back office, tests)
    def put_object(self, data: bytes) -> ContentRef:
        digest = hashlib.sha256(data).hexdigest()
        path = self.root / "objects" / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return ContentRef(digest, len(data))

    def put_manifest(self, manifest: Manifest) -> None:
        path = self.root / "lists" / list_folder(manifest.list) / f"{manifest.version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        # signatures first: a manifest file is never there without its signatures
        write_whole(path.with_suffix(".sig"), manifest.signatures_json())
        write_whole(path, manifest.signed_bytes())

    def add_to_index(self, manifest: Manifest) -> None:
        """Name a just-published manifest in ``index.json`` (rewritten atomically)."""
        path = self.root / INDEX
        lists: dict[str, list[dict[str, object]]] = {}
        if path.is_file():
            index = RepositoryIndex.from_json(path.read_bytes(), str(path))
            lists = {
                name: [{"version": e.version, "kind": e.kind} for e in entries]
                for name, entries in index.lists.items()
            }
        entries = [e for e in lists.get(manifest.list, []) if e["version"] != manifest.version]
        entries.append({"version": manifest.version, "kind": manifest.kind})
        lists[manifest.list] = sorted(entries, key=lambda e: int(str(e["version"])))
        document = {"format": INDEX_FORMAT, "published_at": manifest.issued_at.isoformat(),
                    "lists": lists}  # fmt: skip
        write_whole(path, canonical_json(document))

    def write_index(self, *, published_at: dt.datetime) -> bytes:
        """``index.json``: every published version of every list (written last, atomically)."""
        lists: dict[str, list[dict[str, object]]] = {}
        for list_name in self.list_names():
            entries = []
            for version in self.versions(list_name):
                manifest = self.manifest(list_name, version)
                entries.append({"version": version, "kind": manifest.kind})
            lists[list_name] = entries
        index = canonical_json(
            {"format": INDEX_FORMAT, "published_at": published_at.isoformat(), "lists": lists}
        )
        write_whole(self.root / INDEX, index)
        return index


# -- applying ----------------------------------------------------------------------------------
def apply_manifest(
    store: Store,
    repository: Repository,
    manifest: Manifest,
    *,
    now: dt.datetime,
    check_document: DocumentCheck | None = None,
) -> bool:
    """Verify a manifest (signature, chain, content files) and apply it atomically."""
    if (manifest.kind == "trust") != (manifest.list == TRUST):
        raise BundleRejected(f"a {manifest.kind} manifest cannot carry the {manifest.list} list")
    verify_signatures(manifest, store.trust.all(), now=now)
    _check_chain(store, manifest)
    stated = manifest.stated()
    if manifest.kind == "trust":
        content = repository.content(manifest, "keys")
        keys = keys_from_content(content)
        return store.apply_trust_update(
            stated, keys, content_digest=hashlib.sha256(content).digest(), now=now
        )
    if manifest.list == ISSUERS:
        if manifest.kind != "snapshot":
            raise BundleRejected("the issuers list travels only as whole snapshots")
        content = repository.content(manifest, "keys")
        return store.apply_issuer_keys(
            stated,
            issuer_keys_from_content(content),
            content_digest=hashlib.sha256(content).digest(),
            now=now,
        )
    if manifest.list in DOCUMENT_LISTS:
        if manifest.kind != "snapshot":
            raise BundleRejected(f"the {manifest.list} list travels only as whole snapshots")
        content = repository.content(manifest, manifest.list)
        if check_document is not None:
            check_document(manifest.list, content)
        return store.apply_document(manifest.list, stated, content, now=now)
    if manifest.list == DENY_LIST:
        records = split_fixed(repository.content(manifest, "records"), RECORD_BYTES, "deny")
        if manifest.kind == "snapshot":
            return store.apply_deny_snapshot(stated, records, now=now)
        removals = split_fixed(repository.content(manifest, "removals"), RECORD_BYTES, "removals")
        return store.apply_deny_delta(_base(manifest), stated, records, removals, now=now)
    if manifest.list.startswith("benefit:"):
        name = manifest.list.removeprefix("benefit:")
        benefit_list_key(name)
        records = split_prefixed(repository.content(manifest, "records"), manifest.list)
        if manifest.kind == "snapshot":
            return store.apply_benefit_snapshot(name, stated, records, now=now)
        removals = split_fixed(repository.content(manifest, "removals"), KEY_BYTES, "removals")
        return store.apply_benefit_delta(name, _base(manifest), stated, records, removals, now=now)
    raise BundleRejected(f"unknown list {manifest.list!r}")


def _base(manifest: Manifest) -> int:
    if manifest.base_version is None:
        raise BundleRejected(f"{manifest.list} delta {manifest.version} names no base version")
    return manifest.base_version


def _check_chain(store: Store, manifest: Manifest) -> None:
    """A delta must chain to the applied manifest; a snapshot too when it is the next one."""
    applied_version = store.version_of(manifest.list)
    applied_digest = store.manifest_digest_of(manifest.list)
    if not applied_digest or applied_version is None:
        return
    follows = manifest.kind == "delta" or manifest.version == applied_version + 1
    if follows and manifest.previous != applied_digest:
        raise BundleRejected(
            f"{manifest.list} version {manifest.version} does not chain to the applied version "
            f"{applied_version} (its 'previous' differs): a forked or substituted bundle"
        )


@dataclass(frozen=True, slots=True)
class SyncReport:
    applied: list[tuple[str, int]]
    #: list → why the rest of it was not applied (that list stops; the others go on)
    rejected: dict[str, str]


#: Checks a one-document list's content before it is applied (the terminal validates a policy
#: with its own rules); raises :class:`BundleRejected` to refuse it.
DocumentCheck = Callable[[str, bytes], None]


def sync_from(
    store: Store,
    repository: Repository,
    *,
    now: dt.datetime,
    check_document: DocumentCheck | None = None,
    index: RepositoryIndex | None = None,
) -> SyncReport:
    """Apply everything newer in ``repository``: trust updates first, then every list.

    The versions come from the repository's ``index.json`` (or ``index``, already fetched).
    Deltas are followed in order; when the next one does not apply to what the terminal has
    (it is too far behind), the newest snapshot is taken and the deltas after it.  A bad or
    forged version stops its own list (what came before it stays applied) and is reported;
    other lists go on.  A failure of the source itself (the network) propagates.
    """
    report = SyncReport([], {})
    listed = (index or repository.index()).lists
    ordered = [TRUST] if TRUST in listed else []
    ordered += sorted(n for n in listed if n != TRUST)
    for list_name in ordered:
        try:
            _sync_list(store, repository, list_name, listed[list_name], report, now=now,
                       check_document=check_document)  # fmt: skip
        except (BundleRejected, VersionRejected, StoreError) as error:
            if isinstance(error, StoreFull | JournalNotDurable):
                raise
            report.rejected[list_name] = error.message
    return report


def _first_trust_version(
    store: Store,
    repository: Repository,
    entries: tuple[IndexEntry, ...],
    report: SyncReport,
    *,
    now: dt.datetime,
) -> None:
    """A terminal that has only its enrolment root starts at the newest trust version that
    root can verify (each is a whole key set): enrolled after a rotation, it cannot verify the
    versions signed by keys retired before it was enrolled, and does not need them."""
    error: BundleRejected | None = None
    for entry in reversed(entries):
        try:
            if apply_manifest(
                store, repository, repository.manifest(TRUST, entry.version), now=now
            ):
                report.applied.append((TRUST, entry.version))
            return
        except BundleRejected as rejected:  # TrustRejected: signed by a key it does not know
            error = rejected
    if error is not None:
        raise error


def _sync_list(
    store: Store,
    repository: Repository,
    list_name: str,
    entries: tuple[IndexEntry, ...],
    report: SyncReport,
    *,
    now: dt.datetime,
    check_document: DocumentCheck | None,
) -> None:
    if list_name == TRUST and store.version_of(TRUST) is None and entries:
        _first_trust_version(store, repository, entries, report, now=now)
    while True:
        applied = store.version_of(list_name) or 0
        newer = [e for e in entries if e.version > applied]
        if not newer:
            return
        chosen = repository.manifest(list_name, newer[0].version)
        if chosen.kind == "delta" and chosen.base_version != applied:
            snapshots = [e.version for e in newer if e.kind in ("snapshot", "trust")]
            if not snapshots:
                raise VersionGap(
                    f"{list_name} delta {chosen.base_version}→{chosen.version} does not apply "
                    f"to version {applied} and no later snapshot is published"
                )
            chosen = repository.manifest(list_name, snapshots[-1])
        if apply_manifest(store, repository, chosen, now=now, check_document=check_document):
            report.applied.append((list_name, chosen.version))
        if (store.version_of(list_name) or 0) <= applied:
            raise VersionRejected(
                f"{list_name} version {chosen.version} did not advance the list from {applied}"
            )


# -- publishing (the back office's side) -------------------------------------------------------
class Publisher:
    """Writes signed, chained manifests and their content files into a repository."""

    def __init__(self, repository: Repository, signers: list[tuple[str, SignerKey]]) -> None:
        self.repository = repository
        self.signers = signers
        self._previous: dict[str, bytes] = {}

    @classmethod
    def resuming(cls, repository: Repository, signers: list[tuple[str, SignerKey]]) -> Publisher:
        """A publisher continuing the chains already in ``repository`` (a back office restart)."""
        publisher = cls(repository, signers)
        for list_name in repository.list_names():
            versions = repository.versions(list_name)
            if versions:
                latest = repository.manifest(list_name, versions[-1])
                publisher._previous[list_name] = latest.manifest_digest()
        return publisher

    def signing_with(self, signers: list[tuple[str, SignerKey]]) -> Publisher:
        """The same back office (same chains) signing with other keys, e.g. after rotation."""
        rotated = Publisher(self.repository, signers)
        rotated._previous = dict(self._previous)
        return rotated

    def _publish(self, manifest: Manifest) -> Manifest:
        manifest = replace(manifest, previous=self._previous.get(manifest.list))
        for key_id, private_key in self.signers:
            manifest = sign(manifest, key_id, private_key)
        self.repository.put_manifest(manifest)
        self.repository.add_to_index(manifest)
        self._previous[manifest.list] = manifest.manifest_digest()
        return manifest

    def snapshot(
        self,
        list_name: str,
        version: int,
        records: list[bytes],
        *,
        issued_at: dt.datetime,
        valid_until: dt.datetime,
    ) -> Manifest:
        """A full list; ``records`` sorted (deny: 20-byte records; benefit: entry records)."""
        digest, count = digest_of(records)
        content = records_content(list_name, records)
        return self._publish(
            Manifest(
                "snapshot", list_name, version, issued_at, valid_until, count, digest,
                {"records": self.repository.put_object(content)},
            )
        )  # fmt: skip

    def delta(
        self,
        list_name: str,
        base_version: int,
        version: int,
        *,
        upserts: list[bytes],
        removals: list[bytes],
        after: list[bytes] | None = None,
        after_state: tuple[bytes, int] | None = None,
        issued_at: dt.datetime,
        valid_until: dt.datetime,
    ) -> Manifest:
        """Changes from ``base_version``; ``after`` is the whole list once they are applied
        (or ``after_state``, its digest and count, when the publisher keeps them itself)."""
        if after_state is not None:
            digest, count = after_state
        elif after is not None:
            digest, count = digest_of(after)
        else:
            raise ValueError("a delta states the list after it: give after or after_state")
        records = records_content(list_name, upserts)
        return self._publish(
            Manifest(
                "delta", list_name, version, issued_at, valid_until, count, digest,
                {
                    "records": self.repository.put_object(records),
                    "removals": self.repository.put_object(b"".join(removals)),
                },
                base_version=base_version,
            )
        )  # fmt: skip

    def issuers(
        self,
        version: int,
        keys: list[IssuerKey],
        *,
        issued_at: dt.datetime,
        valid_until: dt.datetime,
    ) -> Manifest:
        """The whole set of ESSC1 issuer keys (revoked ones stay listed, marked revoked)."""
        content = issuer_keys_content(keys)
        return self._publish(
            Manifest(
                "snapshot", ISSUERS, version, issued_at, valid_until, len(keys),
                hashlib.sha256(content).digest(), {"keys": self.repository.put_object(content)},
            )
        )  # fmt: skip

    def trust(self, version: int, keys: list[TrustedKey], *, issued_at: dt.datetime) -> Manifest:
        content = keys_to_content(keys)
        return self._publish(
            Manifest(
                "trust", TRUST, version, issued_at, max(k.valid_until for k in keys), len(keys),
                hashlib.sha256(content).digest(), {"keys": self.repository.put_object(content)},
            )
        )  # fmt: skip

    def policy(
        self,
        version: int,
        text: bytes,
        *,
        issued_at: dt.datetime,
        valid_until: dt.datetime,
    ) -> Manifest:
        """The venue policy (TOML, UTF-8): one ``policy`` file, entry count 1, its SHA-256."""
        return self.document(POLICY, version, text, issued_at=issued_at, valid_until=valid_until)

    def document(
        self,
        list_name: str,
        version: int,
        content: bytes,
        *,
        issued_at: dt.datetime,
        valid_until: dt.datetime,
    ) -> Manifest:
        """A one-document list (``policy``, ``staff``): one file named after the list, entry
        count 1, its SHA-256."""
        if list_name not in DOCUMENT_LISTS:
            raise ValueError(f"{list_name!r} is not a one-document list")
        return self._publish(
            Manifest(
                "snapshot", list_name, version, issued_at, valid_until, 1,
                hashlib.sha256(content).digest(), {list_name: self.repository.put_object(content)},
            )
        )  # fmt: skip
