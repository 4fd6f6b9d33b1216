"""The list sources: what the admin commands change and ``publish`` turns into bundles.

Plaintext identity enters here and goes no further: a card identification code, an SSN or a
reservation id is normalised, checked and turned into its keyed reference
(``HolderKeyer``, the fleet's list key) at once; only the reference is stored.  Error messages
name what is wrong, never the value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from backoffice.db import BackOfficeDb
from backoffice.errors import CsvRejected, InputError
from offline_store.benefit_lists import BenefitEntry, RefKind, canonical_attributes
from offline_store.errors import StoreError
from offline_store.holder_refs import HolderKeyer
from offline_store.issuer_keys import IssuerKey
from offline_store.store import DenyEntry, DenyReason, benefit_list_key

#: ``deny add --reason``: the record format's reasons; ``stolen`` is recorded as ``lost``
#: (挂失 covers a lost or a stolen card: the format has no separate code for theft)
REASONS: dict[str, DenyReason] = {
    "lost": DenyReason.LOST,
    "stolen": DenyReason.LOST,
    "cancelled": DenyReason.CANCELLED,
    "replaced": DenyReason.REPLACED,
    "fraud": DenyReason.FRAUD,
    "other": DenyReason.OTHER,
}
_CARD_ID = re.compile(r"[0-9]{6}[0-9A-F]{26}")
_SSN = re.compile(r"[0-9]{17}[0-9X]")
_RESERVATION_ID = re.compile(r"[A-Z0-9._:/-]{1,64}")
_REGION = re.compile(r"[0-9]{6}")
CSV_COLUMNS = ("card_id", "reason", "region")


def card_id_of(text: str) -> str:
    card_id = text.strip().upper()
    if not _CARD_ID.fullmatch(card_id):
        raise InputError(
            "a card identification code (卡识别码) is 32 characters: the issuing region's 6 "
            "digits, then 26 hex digits"
        )
    return card_id


def ssn_of(text: str) -> str:
    ssn = text.strip().upper()
    if not _SSN.fullmatch(ssn):
        raise InputError("a social security number is 18 characters: 17 digits, then a digit or X")
    return ssn


def reservation_id_of(text: str) -> str:
    reservation = text.strip().upper()
    if not _RESERVATION_ID.fullmatch(reservation):
        raise InputError("a reservation id is 1-64 of A-Z, 0-9 and . _ : / -")
    return reservation


def reason_of(text: str) -> DenyReason:
    reason = REASONS.get(text.strip().lower())
    if reason is None:
        raise InputError(f"the reason must be one of {', '.join(REASONS)}")
    return reason


def region_of(text: str | None, card_id: str) -> str:
    region = (text or "").strip() or card_id[:6]
    if not _REGION.fullmatch(region):
        raise InputError("the issuing region is 6 digits (e.g. 310100)")
    return region


def list_name_of(text: str) -> str:
    try:
        benefit_list_key(text)
    except StoreError as exc:
        raise InputError(exc.message) from exc
    return text


#: attribute keys refused on benefit entries: they would carry personal data in clear
IDENTIFYING_ATTRIBUTES = frozenset({
    "name", "姓名", "holder", "holder_name", "id", "id_number", "身份证", "身份证号", "ssn",
    "social_security_number", "社会保障号码", "card", "card_id", "card_number", "卡号", "phone",
    "mobile", "手机", "telephone", "address", "地址", "birth", "birth_date", "出生日期",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Holder:
    """Who an entry is for: exactly one of a card id, an SSN or a reservation id."""

    kind: RefKind
    value: str

    @classmethod
    def of(cls, *, card_id: str | None, ssn: str | None, reservation_id: str | None) -> Holder:
        given = [
            (kind, value)
            for kind, value in (
                (RefKind.CARD_ID, card_id),
                (RefKind.SSN, ssn),
                (RefKind.RESERVATION, reservation_id),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise InputError("give exactly one of --card-id, --ssn and --reservation-id")
        kind, value = given[0]
        if kind is RefKind.CARD_ID:
            return cls(kind, card_id_of(value))
        if kind is RefKind.SSN:
            return cls(kind, ssn_of(value))
        return cls(kind, reservation_id_of(value))

    def ref(self, keyer: HolderKeyer) -> bytes:
        if self.kind is RefKind.CARD_ID:
            return keyer.card_ref(self.value)
        if self.kind is RefKind.SSN:
            return keyer.ssn_ref(self.value)
        return keyer.reservation_ref(self.value)


@dataclass(frozen=True, slots=True)
class SourceCounts:
    deny: int
    benefit: dict[str, int]
    issuers: int
    staff: int = 0


class Sources:
    def __init__(self, db: BackOfficeDb, keyer: HolderKeyer) -> None:
        self.db = db
        self.keyer = keyer

    # -- deny -----------------------------------------------------------------------------
    def deny_add(self, card_id: str, reason: str, region: str | None, *, now: dt.datetime) -> bool:
        """Add or change a deny entry; True when the card was not on the list before."""
        normal = card_id_of(card_id)
        entry = DenyEntry(self.keyer.card_ref(normal), reason_of(reason), region_of(region, normal))
        with self.db.job() as connection:
            return _put_deny(connection, entry, now)

    def deny_remove(self, card_id: str) -> bool:
        card_ref = self.keyer.card_ref(card_id_of(card_id))
        with self.db.job() as connection:
            cursor = connection.execute("DELETE FROM deny_sources WHERE card_ref = ?", (card_ref,))
            return cursor.rowcount > 0

    def deny_import_csv(self, path: Path, *, now: dt.datetime) -> int:
        """Every row of a CSV file (``card_id,reason[,region]`` with that header), or none."""
        try:
            text = path.read_text("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{path} cannot be read as UTF-8 text: {exc}") from exc
        entries, problems = parse_deny_csv(text, self.keyer)
        if problems:
            shown = "; ".join(f"line {line}: {what}" for line, what in problems[:20])
            more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
            raise CsvRejected(
                f"{path}: {len(problems)} bad row(s), nothing was imported: {shown}{more}",
                problems,
            )
        with self.db.job() as connection:
            for entry in entries:
                _put_deny(connection, entry, now)
        return len(entries)

    # -- benefit lists --------------------------------------------------------------------
    def benefit_add(
        self,
        list_name: str,
        holder: Holder,
        *,
        valid_from: dt.datetime,
        valid_until: dt.datetime,
        attributes: Mapping[str, str],
        now: dt.datetime,
    ) -> bool:
        """Add (or replace) one entry; True when its key was new on the list."""
        name = list_name_of(list_name)
        identifying = sorted(k for k in attributes if k.lower() in IDENTIFYING_ATTRIBUTES)
        if identifying:
            raise InputError(
                f"attribute(s) {', '.join(identifying)} would publish personal data to every "
                "terminal in clear: lists carry keyed references only; keep names and numbers "
                "in the back office's own systems"
            )
        try:
            entry = BenefitEntry(
                holder.kind,
                holder.ref(self.keyer),
                valid_from.replace(microsecond=0),
                valid_until.replace(microsecond=0),
                dict(attributes),
            )
        except ValueError as exc:
            raise InputError(str(exc)) from exc
        key = (name, int(entry.ref_kind), entry.holder_ref, int(entry.valid_from.timestamp()))
        with self.db.job() as connection:
            existed = connection.execute(
                "SELECT 1 FROM benefit_sources WHERE list_name = ? AND ref_kind = ? "
                "AND holder_ref = ? AND valid_from = ?",
                key,
            ).fetchone()
            connection.execute(
                """INSERT INTO benefit_sources VALUES (?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT DO UPDATE SET valid_until = excluded.valid_until,
                   attributes = excluded.attributes, updated_at = excluded.updated_at""",
                (
                    *key,
                    int(entry.valid_until.timestamp()),
                    canonical_attributes(entry.attributes).decode(),
                    now.isoformat(),
                ),
            )
            return existed is None

    def benefit_remove(
        self, list_name: str, holder: Holder, *, valid_from: dt.datetime | None = None
    ) -> int:
        """Remove the holder's entries on a list (only the one starting at ``valid_from``)."""
        name = list_name_of(list_name)
        query = (
            "DELETE FROM benefit_sources WHERE list_name = ? AND ref_kind = ? AND holder_ref = ?"
        )
        arguments: list[object] = [name, int(holder.kind), holder.ref(self.keyer)]
        if valid_from is not None:
            query += " AND valid_from = ?"
            arguments.append(int(valid_from.timestamp()))
        with self.db.job() as connection:
            return connection.execute(query, arguments).rowcount

    # -- ESSC1 issuer keys ------------------------------------------------------------------
    def issuer_add(self, key: IssuerKey, *, now: dt.datetime) -> None:
        with self.db.job() as connection:
            if connection.execute(
                "SELECT 1 FROM issuer_sources WHERE kid = ? AND public_key = ?",
                (key.kid, key.public_key),
            ).fetchone():
                raise InputError(
                    f"issuer key {key.kid.hex()} with this public key is already added"
                )
            connection.execute(
                "INSERT INTO issuer_sources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key.kid,
                    key.public_key,
                    key.algorithm,
                    ",".join(key.regions),
                    key.valid_from.isoformat(),
                    key.valid_until.isoformat(),
                    int(key.revoked),
                    int(key.test),
                    int(key.cross_region),
                    now.isoformat(),
                ),
            )

    def issuer_revoke(self, kid: bytes) -> int:
        """Mark every key with this kid revoked (they stay listed, so terminals know)."""
        with self.db.job() as connection:
            count = connection.execute(
                "UPDATE issuer_sources SET revoked = 1 WHERE kid = ?", (kid,)
            ).rowcount
        if not count:
            raise InputError(f"no issuer key has kid {kid.hex()} (see `issuer list`)")
        return int(count)

    def issuers(self) -> list[IssuerKey]:
        with self.db.reading() as connection:
            rows = connection.execute(
                "SELECT kid, algorithm, public_key, regions, valid_from, valid_until, revoked, "
                "test, cross_region FROM issuer_sources ORDER BY kid, public_key"
            ).fetchall()
        return [
            IssuerKey(
                bytes(kid), algorithm, bytes(public_key), tuple(regions.split(",")),
                dt.datetime.fromisoformat(valid_from), dt.datetime.fromisoformat(valid_until),
                bool(revoked), bool(test), bool(cross_region),
            )
            for kid, algorithm, public_key, regions, valid_from, valid_until, revoked, test,
            cross_region in rows
        ]  # fmt: skip

    def counts(self) -> SourceCounts:
        with self.db.reading() as connection:
            deny = connection.execute("SELECT count(*) FROM deny_sources").fetchone()[0]
            benefit = dict(
                connection.execute(
                    "SELECT list_name, count(*) FROM benefit_sources GROUP BY list_name"
                ).fetchall()
            )
            issuers = connection.execute("SELECT count(*) FROM issuer_sources").fetchone()[0]
            staff = connection.execute("SELECT count(*) FROM staff_members").fetchone()[0]
        return SourceCounts(deny, benefit, issuers, staff)


def _put_deny(connection: sqlite3.Connection, entry: DenyEntry, now: dt.datetime) -> bool:
    new = not connection.execute(
        "SELECT 1 FROM deny_sources WHERE card_ref = ?", (entry.card_ref,)
    ).fetchone()
    connection.execute(
        """INSERT INTO deny_sources VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET
           reason = excluded.reason, region = excluded.region, updated_at = excluded.updated_at""",
        (entry.card_ref, int(entry.reason), entry.region, now.isoformat()),
    )
    return new


def parse_deny_csv(text: str, keyer: HolderKeyer) -> tuple[list[DenyEntry], list[tuple[int, str]]]:
    """Entries and problems ``(line, what)``: header ``card_id,reason`` (+ ``region``)."""
    reader = csv.reader(io.StringIO(text))
    problems: list[tuple[int, str]] = []
    entries: list[DenyEntry] = []
    header = next(reader, None)
    if header is None:
        return [], [(1, "the file is empty: the first line must be card_id,reason[,region]")]
    columns = [name.strip().lower() for name in header]
    if (
        columns[:2] != ["card_id", "reason"]
        or not set(columns) <= set(CSV_COLUMNS)
        or len(columns) != len(set(columns))
    ):
        return [], [
            (1, "the first line must be the header card_id,reason or card_id,reason,region")
        ]
    seen: dict[bytes, int] = {}
    for row in reader:
        line = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            problems.append((line, f"{len(row)} columns, expected {len(columns)}"))
            continue
        fields = dict(zip(columns, row, strict=True))
        try:
            card_id = card_id_of(fields["card_id"])
            entry = DenyEntry(
                keyer.card_ref(card_id),
                reason_of(fields["reason"]),
                region_of(fields.get("region"), card_id),
            )
        except InputError as exc:
            problems.append((line, exc.message))
            continue
        if entry.card_ref in seen:
            problems.append((line, f"the same card as line {seen[entry.card_ref]}"))
            continue
        seen[entry.card_ref] = line
        entries.append(entry)
    return entries, problems
