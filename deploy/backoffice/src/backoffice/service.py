"""``BackOffice``: one data directory opened, and what the front ends (CLI, HTTP) call."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from backoffice.datadir import DataDir
from backoffice.db import BackOfficeDb
from backoffice.errors import KeyRingError, Malformed
from backoffice.ingest import Receipt, ingest_batch
from backoffice.keyring import DEFAULT_KEY_YEARS, KeyRing
from backoffice.publishing import PublishReport, PublishSettings, publish, published_trust_key_ids
from backoffice.sources import Sources
from backoffice.staff import Staff
from backoffice.terminals import Terminals
from offline_store.bundles import Repository
from offline_store.errors import StoreError
from offline_store.exchange import EnrolmentGrant, TimeStatement
from offline_store.trust import Signature, TrustedKey

_NONCE = re.compile(r"[0-9a-fA-F]{32}")


class BackOffice:
    def __init__(self, data: DataDir) -> None:
        self.data = data
        self.db = BackOfficeDb(data.db_path)
        self.keys = KeyRing(data.keys, self.db)
        self.sources = Sources(self.db, data.keyer())
        self.staff = Staff(self.db, data.keyer())
        self.terminals = Terminals(self.db)

    @classmethod
    def init(
        cls, root: Path, *, now: dt.datetime, key_years: int = DEFAULT_KEY_YEARS
    ) -> BackOffice:
        """A new data directory: list key, first signing key, default policy, empty database."""
        data = DataDir.create(root)
        office = cls(data)
        office.keys.create(now=now, years=key_years)
        return office

    @classmethod
    def open(cls, root: Path) -> BackOffice:
        return cls(DataDir.open(root))

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> BackOffice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def repository(self) -> Repository:
        return Repository(self.data.repo)

    # -- signing ------------------------------------------------------------------------------
    def root_key(self) -> TrustedKey:
        """The key that signs single-signature statements: give it to ``ykt enrol --root-key``."""
        return self.keys.statement_signer().trusted

    def sign_statement(self, document: bytes) -> Signature:
        return self.keys.statement_signer().sign(document)

    def sign_all(self, document: bytes) -> list[Signature]:
        return [key.sign(document) for key in self.keys.active()]

    # -- protocol -----------------------------------------------------------------------------
    def time_statement(self, nonce: str | None, *, now: dt.datetime) -> bytes:
        if nonce is None or not _NONCE.fullmatch(nonce):
            raise Malformed("nonce must be 32 hex digits")
        return TimeStatement(now, nonce).to_bytes()

    def enrol(
        self,
        body: object,
        *,
        backoffice_url: str,
        repository_url: str | None,
        now: dt.datetime,
    ) -> bytes:
        terminal_id = self.terminals.enrol(body, now=now)
        return EnrolmentGrant(
            terminal_id, self.data.list_key(), backoffice_url, repository_url, now
        ).to_bytes()

    def receive(self, raw: bytes, signatures: list[Signature], *, now: dt.datetime) -> Receipt:
        return ingest_batch(self.db, raw, signatures, now=now)

    # -- admin --------------------------------------------------------------------------------
    def publish(
        self, *, now: dt.datetime, settings: PublishSettings | None = None
    ) -> PublishReport:
        return publish(self.data, self.db, now=now, settings=settings)

    def retire_key(self, key_id: str, *, now: dt.datetime) -> None:
        try:
            published = published_trust_key_ids(self.repository)
        except StoreError as exc:
            raise KeyRingError(
                f"the published trust set cannot be read ({exc.message}): run `publish` first"
            ) from exc
        self.keys.retire(key_id, published=published, now=now)
