"""Every error the offline store raises, under one root.

::

    StoreError                   root
    ├── StoreCorrupt             the database fails its integrity check
    │   └── ListDamaged          a list table no longer matches its applied version
    ├── VersionRejected          a list version cannot be applied
    │   ├── RollbackRefused      older than (or equal but different from) the current version
    │   ├── VersionGap           a delta whose base is not the current version
    │   └── ContentMismatch      the result's entry count or digest differs from the bundle's
    ├── StoreFull                the disk is full: nothing was changed
    ├── JournalNotDurable        a usage or audit record could not be made durable
    ├── JournalTampered          a chain was altered, reordered, cut or truncated
    │   └── JournalMissing       the journal file is missing, recreated or another store's
    ├── BundleRejected           a forged or damaged bundle: signature, chain or content file
    │   └── TrustRejected        a trust-key change not signed by a trusted key
    ├── DocumentRejected         a malformed or wrongly signed usage batch, acknowledgement,
    │                            time statement or enrolment grant
    └── BatchMismatch            an acknowledged batch holds other records here

Each error carries ``message``: what happened and what to do.
"""

from __future__ import annotations

from typing import ClassVar


class StoreError(Exception):
    title: ClassVar[str] = "offline store error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StoreCorrupt(StoreError):
    title = "offline store damaged"


class ListDamaged(StoreCorrupt):
    title = "list does not match its version"


class VersionRejected(StoreError):
    title = "list version rejected"


class RollbackRefused(VersionRejected):
    title = "list rollback refused"


class VersionGap(VersionRejected):
    title = "list version gap"


class ContentMismatch(VersionRejected):
    title = "list content does not match its bundle"


class StoreFull(StoreError):
    title = "disk full"


class JournalNotDurable(StoreError):
    """The terminal must not admit on a tap whose event could not be recorded."""

    title = "usage event not recorded"


class JournalTampered(StoreError):
    title = "journal chain broken"


class JournalMissing(JournalTampered):
    """The list file says the store has a journal file, and it is not there (or not its own)."""

    title = "journal file missing"


class BundleRejected(StoreError):
    """A bundle that is not what its signer published: bad signature, broken chain, bad file."""

    title = "bundle rejected"


class TrustRejected(BundleRejected):
    title = "trust update rejected"


class DocumentRejected(StoreError):
    """A usage batch or back-office statement that is malformed or not signed as it must be."""

    title = "message rejected"


class BatchMismatch(StoreError):
    """An acknowledgement names a batch that holds other records here: nothing is marked."""

    title = "acknowledged batch does not match"
