"""Terminals: added by an admin (a one-time enrolment token), enrolled over HTTP, withdrawn.

Only the token's SHA-256 is stored.  ``POST /api/v1/enrol`` with the right token records the
terminal's public key; the same request again gets a grant again; the token with another key
is ``409`` (the terminal id is enrolled).  A terminal id is never reused for another terminal
(its event ids would collide with the old one's): a replacement gets a new id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from backoffice.db import BackOfficeDb
from backoffice.errors import BadToken, Conflict, InputError, Malformed, NotEnrolled

_TERMINAL_ID = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
PUBLIC_KEY_BYTES = 32


def terminal_id_of(text: str) -> str:
    if not _TERMINAL_ID.fullmatch(text):
        raise InputError("a terminal id is 1-64 of A-Z a-z 0-9 . _ : @ -")
    return text


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TerminalInfo:
    terminal_id: str
    added_at: dt.datetime
    enrolled_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    public_key: bytes | None

    @property
    def state(self) -> str:
        if self.withdrawn_at is not None:
            return "withdrawn"
        return "enrolled" if self.enrolled_at is not None else "awaiting enrolment"

    def to_json(self) -> dict[str, object]:
        return {
            "terminal_id": self.terminal_id,
            "state": self.state,
            "added_at": self.added_at.isoformat(),
            "enrolled_at": None if self.enrolled_at is None else self.enrolled_at.isoformat(),
            "withdrawn_at": None if self.withdrawn_at is None else self.withdrawn_at.isoformat(),
            "public_key": None
            if self.public_key is None
            else base64.b64encode(self.public_key).decode(),
        }


class Terminals:
    def __init__(self, db: BackOfficeDb) -> None:
        self.db = db

    def add(self, terminal_id: str, *, now: dt.datetime) -> str:
        """A new one-time enrolment token for ``terminal_id`` (shown once, stored hashed).

        Adding a terminal that has not enrolled yet issues a new token (the old one stops
        working); an enrolled or withdrawn terminal id cannot be given to another terminal.
        """
        terminal_id = terminal_id_of(terminal_id)
        token = secrets.token_urlsafe(24)
        with self.db.job() as connection:
            row = connection.execute(
                "SELECT enrolled_at, withdrawn_at FROM terminals WHERE terminal_id = ?",
                (terminal_id,),
            ).fetchone()
            if row is not None and (row[0] is not None or row[1] is not None):
                raise InputError(
                    f"terminal {terminal_id} is {'withdrawn' if row[1] else 'enrolled'}: a "
                    "terminal id is never reused (its event ids would collide); give the "
                    "replacement a new id"
                )
            connection.execute(
                """INSERT INTO terminals (terminal_id, token_hash, added_at) VALUES (?, ?, ?)
                   ON CONFLICT DO UPDATE SET token_hash = excluded.token_hash""",
                (terminal_id, _token_hash(token), now.isoformat()),
            )
        return token

    def withdraw(self, terminal_id: str, *, now: dt.datetime) -> None:
        with self.db.job() as connection:
            count = connection.execute(
                "UPDATE terminals SET withdrawn_at = ? WHERE terminal_id = ? "
                "AND withdrawn_at IS NULL",
                (now.isoformat(), terminal_id),
            ).rowcount
        if not count:
            raise InputError(f"no terminal {terminal_id} to withdraw (see `terminals`)")

    def all(self) -> list[TerminalInfo]:
        with self.db.reading() as connection:
            rows = connection.execute(
                "SELECT terminal_id, added_at, enrolled_at, withdrawn_at, public_key "
                "FROM terminals ORDER BY terminal_id"
            ).fetchall()
        return [
            TerminalInfo(
                terminal_id,
                dt.datetime.fromisoformat(added_at),
                None if enrolled_at is None else dt.datetime.fromisoformat(enrolled_at),
                None if withdrawn_at is None else dt.datetime.fromisoformat(withdrawn_at),
                None if public_key is None else bytes(public_key),
            )
            for terminal_id, added_at, enrolled_at, withdrawn_at, public_key in rows
        ]

    def enrol(self, body: object, *, now: dt.datetime) -> str:
        """Check an enrolment request and record the key; the enrolled terminal id."""
        if not isinstance(body, dict):
            raise Malformed("the enrolment request must be a JSON object")
        terminal_id, token, public_text = (
            body.get("terminal_id"),
            body.get("token"),
            body.get("public_key"),
        )
        if not (
            isinstance(terminal_id, str) and isinstance(token, str) and isinstance(public_text, str)
        ):
            raise Malformed("terminal_id, token and public_key are required text fields")
        if not _TERMINAL_ID.fullmatch(terminal_id):
            raise Malformed("a terminal id is 1-64 of A-Z a-z 0-9 . _ : @ -")
        try:
            public_key = base64.b64decode(public_text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Malformed("public_key is not base64") from exc
        if len(public_key) != PUBLIC_KEY_BYTES:
            raise Malformed("public_key must be a raw Ed25519 public key (32 bytes)")
        with self.db.job() as connection:
            row = connection.execute(
                "SELECT token_hash, public_key, withdrawn_at FROM terminals WHERE terminal_id = ?",
                (terminal_id,),
            ).fetchone()
            if row is None:
                raise NotEnrolled(f"terminal {terminal_id} is unknown here: ask for a token")
            if row[2] is not None:
                raise NotEnrolled(f"terminal {terminal_id} was withdrawn")
            if not hmac.compare_digest(row[0], _token_hash(token)):
                raise BadToken(f"wrong enrolment token for terminal {terminal_id}")
            if row[1] is not None:
                if bytes(row[1]) != public_key:
                    raise Conflict(
                        f"terminal {terminal_id} is already enrolled with another key (its token "
                        "is used)"
                    )
                return terminal_id  # the same request again: the same answer
            connection.execute(
                "UPDATE terminals SET public_key = ?, enrolled_at = ? WHERE terminal_id = ?",
                (public_key, now.isoformat(), terminal_id),
            )
        return terminal_id
