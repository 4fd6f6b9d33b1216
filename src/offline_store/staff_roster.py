"""The staff roster: who may sign in at a terminal, and with which role.

The back office publishes it as the one-document list ``staff`` (``store.STAFF_LIST``, a signed
bundle like the policy); the terminal keeps the applied document in its list file.  A member is
known by a keyed reference of their own social security card (``HolderKeyer.card_ref``, never
the card id or a name), an opaque staff id chosen by the venue (``S-0007``), a role
and a PIN verifier.

Two factors: the card (something they have, authenticated by the security module where there
is one) and the PIN (something they know).  The verifier is
``scrypt(HMAC-SHA256(list_key, "ykt-staff-pin" 0x00 staff_id 0x00 pin), salt)``: the roster alone
(a copied ``store.db``) cannot be brute-forced without the terminal key file, and with it each
guess still costs one scrypt (about 50 ms, 16 MiB).  A 6-digit PIN can still be found offline
by someone holding both files; that gives one factor, not the card, which is why sign-in needs
both and the terminal locks a member out after repeated wrong PINs (``terminal.staff``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from offline_store.canonical_json import canonical_json
from offline_store.errors import DocumentRejected

ROSTER_FORMAT = "ykt-staff/1"
#: scrypt cost: ~50 ms and 16 MiB per guess on a terminal-class CPU
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT_BYTES = 16
PIN_PATTERN = re.compile(r"\d{6,12}")
STAFF_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


class StaffRole(StrEnum):
    """``desk``: overrides at the desk.  ``tech``: everything desk may, plus tech mode and
    leaving a kiosk."""

    DESK = "desk"
    TECH = "tech"

    def may(self, needed: StaffRole) -> bool:
        return self is StaffRole.TECH or needed is StaffRole.DESK


def check_pin_format(pin: str) -> None:
    if not PIN_PATTERN.fullmatch(pin):
        raise DocumentRejected("a staff PIN is 6 to 12 digits")


def pin_verifier(pin: str, *, staff_id: str, salt: bytes, list_key: bytes) -> bytes:
    """The stored verifier of ``pin`` (see the module text); 32 bytes."""
    keyed = hmac.new(
        list_key, b"ykt-staff-pin\x00" + staff_id.encode() + b"\x00" + pin.encode(), hashlib.sha256
    ).digest()
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(keyed)


@dataclass(frozen=True, slots=True)
class StaffMember:
    staff_id: str
    card_ref: bytes
    role: StaffRole
    pin_salt: bytes
    pin_verifier: bytes

    def pin_matches(self, pin: str, list_key: bytes) -> bool:
        candidate = pin_verifier(pin, staff_id=self.staff_id, salt=self.pin_salt, list_key=list_key)
        return hmac.compare_digest(candidate, self.pin_verifier)

    def to_json(self) -> dict[str, object]:
        return {
            "staff_id": self.staff_id,
            "card_ref": self.card_ref.hex(),
            "role": self.role.value,
            "pin_salt": self.pin_salt.hex(),
            "pin_verifier": self.pin_verifier.hex(),
        }

    @classmethod
    def from_json(cls, item: Mapping[str, object]) -> StaffMember:
        try:
            staff_id = item["staff_id"]
            if not isinstance(staff_id, str) or not STAFF_ID_PATTERN.fullmatch(staff_id):
                raise DocumentRejected(f"staff id {staff_id!r} is not 1-32 letters/digits/._-")
            fields = {name: _hex(item[name], name) for name in ("card_ref", "pin_salt",
                                                                "pin_verifier")}  # fmt: skip
            return cls(
                staff_id=staff_id,
                card_ref=fields["card_ref"],
                role=StaffRole(str(item["role"])),
                pin_salt=fields["pin_salt"],
                pin_verifier=fields["pin_verifier"],
            )
        except KeyError as exc:
            raise DocumentRejected(f"a staff roster member lacks {exc.args[0]!r}") from exc
        except ValueError as exc:
            raise DocumentRejected(f"a staff member's role is not desk or tech: {exc}") from exc


def new_member(
    staff_id: str, card_ref: bytes, role: StaffRole, pin: str, *, list_key: bytes, salt: bytes
) -> StaffMember:
    """A roster entry (the back office's side); ``salt`` is fresh random bytes."""
    check_pin_format(pin)
    if not STAFF_ID_PATTERN.fullmatch(staff_id):
        raise DocumentRejected(f"staff id {staff_id!r} is not 1-32 letters/digits/._-")
    verifier = pin_verifier(pin, staff_id=staff_id, salt=salt, list_key=list_key)
    return StaffMember(staff_id, card_ref, role, salt, verifier)


@dataclass(frozen=True, slots=True)
class StaffRoster:
    members: tuple[StaffMember, ...] = ()

    def by_card(self, card_ref: bytes) -> StaffMember | None:
        for member in self.members:
            if hmac.compare_digest(member.card_ref, card_ref):
                return member
        return None

    def to_document(self) -> bytes:
        members = sorted(self.members, key=lambda m: m.staff_id)
        return canonical_json({"format": ROSTER_FORMAT, "members": [m.to_json() for m in members]})

    @classmethod
    def of(cls, members: Iterable[StaffMember]) -> StaffRoster:
        return cls(tuple(members))

    @classmethod
    def from_document(cls, content: bytes) -> StaffRoster:
        """Parse a published roster; :class:`DocumentRejected` says what is wrong."""
        try:
            document = json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DocumentRejected(f"the staff roster is not JSON: {exc}") from exc
        if not isinstance(document, dict) or document.get("format") != ROSTER_FORMAT:
            raise DocumentRejected(f"the staff roster is not in the {ROSTER_FORMAT} format")
        items = document.get("members")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise DocumentRejected("the staff roster's members are not a list of objects")
        members = tuple(StaffMember.from_json(item) for item in items)
        ids = [m.staff_id for m in members]
        if len(set(ids)) != len(ids):
            raise DocumentRejected("the staff roster names a staff id twice")
        refs = [m.card_ref for m in members]
        if len(set(refs)) != len(refs):
            raise DocumentRejected("the staff roster names one card for two staff ids")
        return cls(members)


def _hex(value: object, name: str) -> bytes:
    if not isinstance(value, str):
        raise DocumentRejected(f"a staff roster member's {name} is not hex text")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise DocumentRejected(f"a staff roster member's {name} is not hex") from exc
    if not raw:
        raise DocumentRejected(f"a staff roster member's {name} is empty")
    return raw
