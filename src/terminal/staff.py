"""Staff sign-in at a terminal: the staff card, then the PIN; lockout; sign-out after idling.

Sign-in is two steps, both with ``now`` passed in:

1. :meth:`StaffSignIn.identify` takes the credential of the tapped card.  It must be a card (not
   a code), not one that failed authentication (a clone), and on the published staff roster
   (``offline_store.staff_roster``, by keyed card reference).  A member who is locked out is
   told until when.
2. :meth:`StaffSignIn.sign_in` checks the PIN (one scrypt, ~50 ms: call it off the screen's
   thread).  ``max_failures`` wrong PINs in a row lock the member out for ``lock_for``; the
   count and the lock survive a restart (``staff-lockout.json`` beside the store, written
   whole and durably).  A clock set back does not lift a lock early: the lock holds until the
   wall clock passes its end, and the end is never more than ``lock_for`` after the newest
   failure.

Every attempt, success or not, goes to the audit log with the staff id only (never the card
id or the PIN); a card not on the roster is logged without any reference to it.

A :class:`StaffSession` ends at :meth:`StaffSession.idle_expired` (no staff action for
``idle_sign_out``) or when staff sign out.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from apdu.ssc import Authenticity
from offline_store.errors import DocumentRejected, StoreError
from offline_store.holder_refs import HolderKeyer
from offline_store.journal import AuditEntry, StaffAction
from offline_store.staff_roster import StaffMember, StaffRole, StaffRoster
from offline_store.whole_files import write_whole
from terminal.credential import Credential, CredentialKind
from terminal.errors import LockedOut, NotPermitted, NotStaff, WrongPin

log = logging.getLogger(__name__)

LOCKOUT_FILE = "staff-lockout.json"
DEFAULT_MAX_FAILURES = 5
DEFAULT_LOCK_FOR = dt.timedelta(minutes=15)
DEFAULT_IDLE_SIGN_OUT = dt.timedelta(minutes=5)


@dataclass(slots=True)
class StaffSession:
    staff_id: str
    role: StaffRole
    signed_in_at: dt.datetime
    last_active: dt.datetime
    idle_sign_out: dt.timedelta = DEFAULT_IDLE_SIGN_OUT

    def may(self, needed: StaffRole) -> bool:
        return self.role.may(needed)

    def touch(self, now: dt.datetime) -> None:
        """A staff action: the idle time starts again."""
        self.last_active = max(self.last_active, now)

    def idle_expired(self, now: dt.datetime) -> bool:
        # a clock set back counts as activity just now, never as an endless session
        return now - self.last_active >= self.idle_sign_out or now < self.signed_in_at


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: dt.datetime | None = None


@dataclass(slots=True)
class Lockouts:
    """Wrong-PIN counts and locks per staff id, kept in one small JSON file."""

    path: Path
    _by_id: dict[str, _Failures] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Lockouts:
        lockouts = cls(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            for staff_id, item in document.items():
                until = item.get("locked_until")
                lockouts._by_id[staff_id] = _Failures(
                    int(item.get("count", 0)),
                    None if until is None else dt.datetime.fromisoformat(until),
                )
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError, TypeError) as error:
            # a damaged file must not stop every sign-in: counting starts afresh (which lifts
            # the locks it held) and the log says so; the audit log keeps every failed attempt
            log.error("staff lockout file %s unreadable (%s): counting afresh", path, error)
        return lockouts

    def locked_until(self, staff_id: str, now: dt.datetime) -> dt.datetime | None:
        failures = self._by_id.get(staff_id)
        if failures is None or failures.locked_until is None:
            return None
        return failures.locked_until if now < failures.locked_until else None

    def failed(self, staff_id: str, now: dt.datetime, *, max_failures: int,
               lock_for: dt.timedelta) -> _Failures:  # fmt: skip
        failures = self._by_id.setdefault(staff_id, _Failures())
        if failures.locked_until is not None and now >= failures.locked_until:
            failures.count, failures.locked_until = 0, None
        failures.count += 1
        if failures.count >= max_failures:
            failures.locked_until = now + lock_for
        self._save()
        return failures

    def succeeded(self, staff_id: str) -> None:
        if self._by_id.pop(staff_id, None) is not None:
            self._save()

    def _save(self) -> None:
        document = {
            staff_id: {
                "count": f.count,
                "locked_until": None if f.locked_until is None else f.locked_until.isoformat(),
            }
            for staff_id, f in sorted(self._by_id.items())
        }
        try:
            write_whole(self.path, json.dumps(document).encode(), durable=True, private=True)
        except OSError as error:  # the lock still holds in memory until the app restarts
            log.error("staff lockout file %s not saved: %s", self.path, error)


@dataclass(slots=True)
class StaffSignIn:
    """The terminal's side of staff sign-in (see the module text)."""

    roster: Callable[[], StaffRoster | None]
    keyer: HolderKeyer
    lockouts: Lockouts
    audit: Callable[[AuditEntry], object]
    terminal_id: str
    max_failures: int = DEFAULT_MAX_FAILURES
    lock_for: dt.timedelta = DEFAULT_LOCK_FOR
    idle_sign_out: dt.timedelta = DEFAULT_IDLE_SIGN_OUT
    #: the venue's time zone, for the end of a lock in messages
    zone: dt.tzinfo = dt.UTC

    def identify(self, credential: Credential, now: dt.datetime) -> StaffMember:
        """Step 1: the tapped card is a staff member's, and they may try a PIN now."""
        if credential.kind is not CredentialKind.CARD or credential.card_id is None:
            raise NotStaff("staff sign in with their own social security card, not a code")
        if credential.authenticity is Authenticity.FAILED:
            self._log("", StaffAction.SIGN_IN_FAILED, "card failed authentication", now)
            raise NotStaff(
                "this card failed the authenticity check (a possible copy): it cannot be used "
                "to sign in; report it to the site supervisor"
            )
        roster = self._roster()
        member = roster.by_card(self.keyer.card_ref(credential.card_id))
        if member is None:
            self._log("", StaffAction.SIGN_IN_FAILED, "card not on the staff roster", now)
            raise NotStaff(
                "this card is not on the staff roster: sign in with your own card, or ask the "
                "back office to add you (ykt-backoffice staff add)"
            )
        self._check_lock(member, now)
        return member

    def sign_in(self, member: StaffMember, pin: str, now: dt.datetime) -> StaffSession:
        """Step 2: the PIN.  Raises :class:`WrongPin` (with the attempts left) or
        :class:`LockedOut`."""
        self._check_lock(member, now)
        if not member.pin_matches(pin, self.keyer.key):
            failures = self.lockouts.failed(
                member.staff_id, now, max_failures=self.max_failures, lock_for=self.lock_for
            )
            if failures.locked_until is not None:
                self._log(member.staff_id, StaffAction.LOCKED_OUT,
                          f"{failures.count} wrong PINs", now)  # fmt: skip
                raise LockedOut(_locked_message(failures.locked_until, self.zone))
            self._log(member.staff_id, StaffAction.SIGN_IN_FAILED, "wrong PIN", now)
            left = self.max_failures - failures.count
            raise WrongPin(f"wrong PIN: {left} attempt(s) left before a lockout",
                           attempts_left=left)  # fmt: skip
        self.lockouts.succeeded(member.staff_id)
        self._log(member.staff_id, StaffAction.SIGN_IN, member.role.value, now)
        return StaffSession(member.staff_id, member.role, now, now, self.idle_sign_out)

    def sign_out(self, session: StaffSession, now: dt.datetime, why: str) -> None:
        self._log(session.staff_id, StaffAction.SIGN_OUT, why, now)

    def record(self, session: StaffSession, action: StaffAction, detail: str,
               now: dt.datetime) -> None:  # fmt: skip
        """A staff action into the audit log (sync, export, self-test, leaving a kiosk)."""
        self._log(session.staff_id, action, detail, now)

    def require(self, session: StaffSession | None, needed: StaffRole, now: dt.datetime) -> None:
        """A staff-only action: a session of the right role that has not idled out."""
        if session is None or session.idle_expired(now):
            raise NotPermitted(f"sign in first ({needed.value} staff only)")
        if not session.may(needed):
            raise NotPermitted(f"{needed.value} staff only: {session.staff_id} is {session.role}")
        session.touch(now)

    def _roster(self) -> StaffRoster:
        roster = self.roster()
        if roster is None or not roster.members:
            raise NotStaff(
                "no staff roster on this terminal yet: publish staff from the back office "
                "(ykt-backoffice staff add, publish) and sync"
            )
        return roster

    def _check_lock(self, member: StaffMember, now: dt.datetime) -> None:
        until = self.lockouts.locked_until(member.staff_id, now)
        if until is not None:
            raise LockedOut(_locked_message(until, self.zone))

    def _log(self, staff_id: str, action: StaffAction, detail: str, now: dt.datetime) -> None:
        try:
            self.audit(AuditEntry(self.terminal_id, now, staff_id or "-", action, detail))
        except StoreError as error:  # never blocks sign-in or sign-out; the log says why
            log.error("audit record %s not written: %s", action.value, error.message)


def roster_from(document: bytes | None) -> StaffRoster | None:
    """The applied roster document, parsed; None when none was published yet.  A damaged one
    (sync refuses a bad one, so the store was damaged) is a :class:`NotStaff` saying so."""
    if document is None:
        return None
    try:
        return StaffRoster.from_document(document)
    except DocumentRejected as error:
        log.error("the applied staff roster is unreadable: %s", error.message)
        raise NotStaff(
            f"the staff roster on this terminal is damaged ({error.message}): sync again; if "
            "it stays so, call a technician (ykt store check)"
        ) from error


def _locked_message(until: dt.datetime, zone: dt.tzinfo) -> str:
    return (
        f"too many wrong PINs: sign-in is locked until {until.astimezone(zone):%H:%M}; "
        "another member can sign in meanwhile"
    )
