"""The staff roster's source: who may sign in at the terminals, published as list ``staff``.

A member is entered with their own card's identification code and a PIN; both are turned
into what the roster format (``offline_store.staff_roster``) holds at once: the card's keyed
reference (the fleet's list key, like every other source) and a salted, list-keyed scrypt
verifier of the PIN.  Neither the card id nor the PIN is stored, logged or echoed; error
messages name what is wrong, never the value.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass

from backoffice.db import BackOfficeDb
from backoffice.errors import InputError
from backoffice.sources import card_id_of
from offline_store.errors import DocumentRejected
from offline_store.holder_refs import HolderKeyer
from offline_store.staff_roster import (
    SALT_BYTES,
    StaffMember,
    StaffRole,
    StaffRoster,
    new_member,
)


@dataclass(frozen=True, slots=True)
class StaffEntry:
    """What ``staff list`` shows: the id and the role, nothing that identifies the person."""

    staff_id: str
    role: StaffRole

    def to_json(self) -> dict[str, str]:
        return {"staff_id": self.staff_id, "role": self.role.value}


def role_of(text: str) -> StaffRole:
    try:
        return StaffRole(text.strip().lower())
    except ValueError as exc:
        roles = ", ".join(role.value for role in StaffRole)
        raise InputError(f"a staff role is one of {roles}") from exc


class Staff:
    def __init__(self, db: BackOfficeDb, keyer: HolderKeyer) -> None:
        self.db = db
        self.keyer = keyer

    def add(self, staff_id: str, card_id: str, role: str, pin: str, *, now: dt.datetime) -> bool:
        """Add a member, or replace their card, role and PIN; True when the id was new.

        One card belongs to one staff id: a card already on the roster under another id is
        refused (the terminal finds a member by their card).
        """
        card_ref = self.keyer.card_ref(card_id_of(card_id))
        try:
            member = new_member(
                staff_id.strip(), card_ref, role_of(role), pin,
                list_key=self.keyer.key, salt=os.urandom(SALT_BYTES),
            )  # fmt: skip
        except DocumentRejected as exc:  # the PIN's or the staff id's format, never the value
            raise InputError(exc.message) from exc
        with self.db.job() as connection:
            holder = connection.execute(
                "SELECT staff_id FROM staff_members WHERE card_ref = ?", (card_ref,)
            ).fetchone()
            if holder is not None and holder[0] != member.staff_id:
                raise InputError(
                    f"that card already belongs to staff member {holder[0]}: one card, one "
                    "staff id (`staff remove` the other first)"
                )
            return _put(connection, member, now)

    def remove(self, staff_id: str) -> bool:
        with self.db.job() as connection:
            cursor = connection.execute(
                "DELETE FROM staff_members WHERE staff_id = ?", (staff_id.strip(),)
            )
            return cursor.rowcount > 0

    def entries(self) -> list[StaffEntry]:
        with self.db.reading() as connection:
            rows = connection.execute(
                "SELECT staff_id, role FROM staff_members ORDER BY staff_id"
            ).fetchall()
        return [StaffEntry(staff_id, StaffRole(role)) for staff_id, role in rows]

    def roster(self) -> StaffRoster:
        """The roster as the next ``publish`` sends it."""
        with self.db.reading() as connection:
            rows = connection.execute(
                "SELECT staff_id, card_ref, role, pin_salt, pin_verifier FROM staff_members "
                "ORDER BY staff_id"
            ).fetchall()
        return StaffRoster.of(
            StaffMember(staff_id, bytes(card_ref), StaffRole(role), bytes(salt), bytes(verifier))
            for staff_id, card_ref, role, salt, verifier in rows
        )


def _put(connection: sqlite3.Connection, member: StaffMember, now: dt.datetime) -> bool:
    new = not connection.execute(
        "SELECT 1 FROM staff_members WHERE staff_id = ?", (member.staff_id,)
    ).fetchone()
    connection.execute(
        """INSERT INTO staff_members VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (staff_id) DO UPDATE
           SET card_ref = excluded.card_ref, role = excluded.role, pin_salt = excluded.pin_salt,
           pin_verifier = excluded.pin_verifier, updated_at = excluded.updated_at""",
        (
            member.staff_id,
            member.card_ref,
            member.role.value,
            member.pin_salt,
            member.pin_verifier,
            now.isoformat(),
        ),
    )
    return new
