"""Staff sign-in: roster format, two factors, lockout (kept across restarts), idle sign-out,
and the audit log (staff id only, never the card or the PIN)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from verdict_support import KEYER, LIST_KEY, card

from apdu.ssc import Authenticity
from offline_store.errors import DocumentRejected, JournalNotDurable
from offline_store.journal import AuditEntry, StaffAction
from offline_store.staff_roster import StaffRole, StaffRoster, new_member
from terminal.errors import LockedOut, NotPermitted, NotStaff, WrongPin
from terminal.staff import LOCKOUT_FILE, Lockouts, StaffSignIn, roster_from

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
DESK = card(serial=901)
TECH = card(serial=902)
STRANGER = card(serial=903)


def roster() -> StaffRoster:
    assert DESK.card_id is not None
    assert TECH.card_id is not None
    return StaffRoster.of(
        [
            new_member("D-001", KEYER.card_ref(DESK.card_id), StaffRole.DESK, "123456",
                       list_key=LIST_KEY, salt=b"s" * 16),
            new_member("T-001", KEYER.card_ref(TECH.card_id), StaffRole.TECH, "65432100",
                       list_key=LIST_KEY, salt=b"t" * 16),
        ]
    )  # fmt: skip


class Desk:
    def __init__(self, folder: Path, published: StaffRoster | None = None) -> None:
        self.audit: list[AuditEntry] = []
        self.folder = folder
        self.published = roster() if published is None else published
        self.sign_in = self.reopen()

    def reopen(self) -> StaffSignIn:
        return StaffSignIn(
            roster=lambda: self.published,
            keyer=KEYER,
            lockouts=Lockouts.load(self.folder / LOCKOUT_FILE),
            audit=self.audit.append,
            terminal_id="T-0001",
            max_failures=3,
            lock_for=dt.timedelta(minutes=15),
        )


def test_the_roster_round_trips_and_keeps_no_card_id_or_pin() -> None:
    published = roster().to_document()
    parsed = StaffRoster.from_document(published)
    assert [m.staff_id for m in parsed.members] == ["D-001", "T-001"]
    assert parsed.members[0].pin_matches("123456", LIST_KEY)
    assert not parsed.members[0].pin_matches("123457", LIST_KEY)
    assert not parsed.members[0].pin_matches("123456", b"x" * 32)  # the list key is a pepper
    assert DESK.card_id is not None
    for secret in (DESK.card_id, "123456", "65432100", DESK.name or "?"):
        assert secret.encode() not in published


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"not json", "not JSON"),
        (b'{"format": "other"}', "ykt-staff/1"),
        (b'{"format": "ykt-staff/1", "members": [1]}', "list of objects"),
        (b'{"format": "ykt-staff/1", "members": [{"staff_id": "A"}]}', "lacks"),
        (
            b'{"format": "ykt-staff/1", "members": [{"staff_id": "A", "card_ref": "zz", '
            b'"role": "desk", "pin_salt": "00", "pin_verifier": "00"}]}',
            "not hex",
        ),
        (
            b'{"format": "ykt-staff/1", "members": [{"staff_id": "A", "card_ref": "00", '
            b'"role": "boss", "pin_salt": "00", "pin_verifier": "00"}]}',
            "desk or tech",
        ),
    ],
)
def test_a_malformed_roster_is_refused_with_a_reason(document: bytes, fragment: str) -> None:
    with pytest.raises(DocumentRejected, match=fragment):
        StaffRoster.from_document(document)
    with pytest.raises(NotStaff, match="damaged"):  # not "not published yet"
        roster_from(document)
    assert roster_from(None) is None


def test_a_roster_naming_one_card_twice_is_refused() -> None:
    one = roster().members[0]
    twin = new_member("D-002", one.card_ref, StaffRole.DESK, "111111", list_key=LIST_KEY,
                      salt=b"u" * 16)  # fmt: skip
    with pytest.raises(DocumentRejected, match="one card for two"):
        StaffRoster.from_document(StaffRoster.of([one, twin]).to_document())


@pytest.mark.parametrize("pin", ["12345", "abcdef", "1234567890123", ""])
def test_short_or_non_digit_pins_are_refused_at_the_back_office(pin: str) -> None:
    with pytest.raises(DocumentRejected, match="6 to 12 digits"):
        new_member("D-009", b"r" * 16, StaffRole.DESK, pin, list_key=LIST_KEY, salt=b"s" * 16)


def test_card_then_pin_signs_in_and_the_audit_log_names_the_staff_id_only(
    tmp_path: Path,
) -> None:
    desk = Desk(tmp_path)
    member = desk.sign_in.identify(DESK, NOW)
    session = desk.sign_in.sign_in(member, "123456", NOW)
    assert (session.staff_id, session.role) == ("D-001", StaffRole.DESK)
    assert [(e.action, e.staff_ref) for e in desk.audit] == [(StaffAction.SIGN_IN, "D-001")]
    body = json.dumps([e.to_body() for e in desk.audit])
    assert DESK.card_id is not None
    assert DESK.card_id not in body
    assert "123456" not in body


def test_a_card_not_on_the_roster_a_clone_and_a_code_are_refused(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    with pytest.raises(NotStaff, match="not on the staff roster"):
        desk.sign_in.identify(STRANGER, NOW)
    clone = card(serial=901, authentic=Authenticity.FAILED)
    with pytest.raises(NotStaff, match="authenticity"):
        desk.sign_in.identify(clone, NOW)
    assert [e.action for e in desk.audit] == [StaffAction.SIGN_IN_FAILED] * 2
    assert all(e.staff_ref == "-" for e in desk.audit)  # nothing that points at the card


def test_no_roster_says_how_to_get_one(tmp_path: Path) -> None:
    desk = Desk(tmp_path, published=StaffRoster())
    with pytest.raises(NotStaff, match="no staff roster"):
        desk.sign_in.identify(DESK, NOW)


def test_wrong_pins_count_down_then_lock_and_the_lock_survives_a_restart(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    member = desk.sign_in.identify(DESK, NOW)
    with pytest.raises(WrongPin) as first:
        desk.sign_in.sign_in(member, "000000", NOW)
    assert first.value.attempts_left == 2
    with pytest.raises(WrongPin):
        desk.sign_in.sign_in(member, "000001", NOW)
    with pytest.raises(LockedOut, match="locked until"):
        desk.sign_in.sign_in(member, "000002", NOW)
    # the right PIN does not help while locked, even after a restart
    restarted = desk.reopen()
    with pytest.raises(LockedOut):
        restarted.identify(DESK, NOW + dt.timedelta(minutes=14))
    with pytest.raises(LockedOut):
        restarted.sign_in(member, "123456", NOW + dt.timedelta(minutes=14))
    # a clock set back does not lift it
    with pytest.raises(LockedOut):
        restarted.identify(DESK, NOW - dt.timedelta(days=1))
    later = NOW + dt.timedelta(minutes=15)
    session = restarted.sign_in(restarted.identify(DESK, later), "123456", later)
    assert session.staff_id == "D-001"
    actions = [e.action for e in desk.audit]
    assert actions == [StaffAction.SIGN_IN_FAILED, StaffAction.SIGN_IN_FAILED,
                       StaffAction.LOCKED_OUT, StaffAction.SIGN_IN]  # fmt: skip


def test_a_success_resets_the_count(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    member = desk.sign_in.identify(DESK, NOW)
    for _ in range(2):
        with pytest.raises(WrongPin):
            desk.sign_in.sign_in(member, "000000", NOW)
    desk.sign_in.sign_in(member, "123456", NOW)
    with pytest.raises(WrongPin) as again:
        desk.sign_in.sign_in(member, "000000", NOW)
    assert again.value.attempts_left == 2


def test_a_damaged_lockout_file_is_reported_and_counting_starts_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / LOCKOUT_FILE).write_text("{broken", encoding="utf-8")
    desk = Desk(tmp_path)
    assert "unreadable" in caplog.text
    member = desk.sign_in.identify(DESK, NOW)
    with pytest.raises(WrongPin) as wrong:
        desk.sign_in.sign_in(member, "000000", NOW)
    assert wrong.value.attempts_left == 2
    assert json.loads((tmp_path / LOCKOUT_FILE).read_text())["D-001"]["count"] == 1


def test_roles_and_idle_sign_out(tmp_path: Path) -> None:
    desk = Desk(tmp_path)
    clerk = desk.sign_in.sign_in(desk.sign_in.identify(DESK, NOW), "123456", NOW)
    tech = desk.sign_in.sign_in(desk.sign_in.identify(TECH, NOW), "65432100", NOW)
    desk.sign_in.require(clerk, StaffRole.DESK, NOW)
    desk.sign_in.require(tech, StaffRole.DESK, NOW)
    desk.sign_in.require(tech, StaffRole.TECH, NOW)
    with pytest.raises(NotPermitted, match="tech staff only"):
        desk.sign_in.require(clerk, StaffRole.TECH, NOW)
    with pytest.raises(NotPermitted, match="sign in first"):
        desk.sign_in.require(None, StaffRole.DESK, NOW)
    # each action restarts the idle time; five idle minutes end the session
    desk.sign_in.require(clerk, StaffRole.DESK, NOW + dt.timedelta(minutes=4))
    assert not clerk.idle_expired(NOW + dt.timedelta(minutes=8))
    assert clerk.idle_expired(NOW + dt.timedelta(minutes=9))
    with pytest.raises(NotPermitted, match="sign in first"):
        desk.sign_in.require(clerk, StaffRole.DESK, NOW + dt.timedelta(minutes=9))
    assert clerk.idle_expired(NOW - dt.timedelta(minutes=1))  # a clock set back ends it


def test_an_audit_log_that_cannot_be_written_does_not_block_sign_in(tmp_path: Path) -> None:
    def full(entry: AuditEntry) -> int:
        raise JournalNotDurable("disk full")

    desk = Desk(tmp_path)
    desk.sign_in.audit = full
    session = desk.sign_in.sign_in(desk.sign_in.identify(DESK, NOW), "123456", NOW)
    assert session.staff_id == "D-001"
