"""``ykt-backoffice staff``: the roster's source (add, change, remove, list), what is never
stored or printed (the PIN, the card id), and how ``publish`` sends it (list ``staff``)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest
from backoffice_support import plaintext_forms, run, scan_data_dir

from backoffice.service import BackOffice
from offline_store.bundles import Repository, sync_from
from offline_store.staff_roster import StaffRole, StaffRoster
from offline_store.store import STAFF_LIST, Store

DESK_CARD = "310100D1560000050000000000A40009"
TECH_CARD = "330100D1560000050000000000B40010"
#: long and unlike anything else in the files, so finding it is never a coincidence
DESK_PIN = "90817263545"
TECH_PIN = "554433221"
JOURNAL_KEY = b"test journal key 0123456789abcdef"


def _add_both(data: Path) -> list[str]:
    return [
        run(
            data, "staff", "add", "D-001", "--card-id", "-", "--role", "desk", "--pin-stdin",
            stdin=f"{DESK_CARD}\n{DESK_PIN}\n",
        ).output,
        # the PIN prompted for twice (hidden), the card id on the command line
        run(
            data, "staff", "add", "T-001", "--card-id", TECH_CARD, "--role", "tech",
            stdin=f"{TECH_PIN}\n{TECH_PIN}\n",
        ).output,
    ]  # fmt: skip


def test_add_list_change_and_remove(data: Path) -> None:
    first, second = _add_both(data)
    assert "staff member D-001 added (desk)" in first
    assert "staff member T-001 added (tech)" in second
    assert "Repeat for confirmation" in second  # the PIN was asked twice
    assert run(data, "staff", "list").output.splitlines() == ["D-001 desk", "T-001 tech"]
    assert json.loads(run(data, "staff", "list", "--json").output) == [
        {"staff_id": "D-001", "role": "desk"},
        {"staff_id": "T-001", "role": "tech"},
    ]
    assert json.loads(run(data, "lists", "--json").output)["sources"]["staff"] == 2

    # the same id again changes the member: a new role (and PIN), still one entry
    changed = run(
        data, "staff", "add", "D-001", "--card-id", DESK_CARD, "--role", "tech", "--pin-stdin",
        stdin="246813579\n",
    ).output  # fmt: skip
    assert "staff member D-001 changed (tech)" in changed
    assert run(data, "staff", "list").output.splitlines() == ["D-001 tech", "T-001 tech"]

    assert "staff member T-001 removed" in run(data, "staff", "remove", "T-001").output
    assert "no staff member T-001" in run(data, "staff", "remove", "T-001", code=1).output
    assert run(data, "staff", "list").output.splitlines() == ["D-001 tech"]


def test_one_card_is_one_staff_id(data: Path) -> None:
    _add_both(data)
    result = run(
        data, "staff", "add", "D-002", "--card-id", DESK_CARD, "--role", "desk", "--pin-stdin",
        stdin="11223344\n", code=1,
    )  # fmt: skip
    assert "that card already belongs to staff member D-001" in result.output
    assert DESK_CARD not in result.output
    assert [e["staff_id"] for e in json.loads(run(data, "staff", "list", "--json").output)] == [
        "D-001",
        "T-001",
    ]


@pytest.mark.parametrize("pin", ["12345", "12ab56", "1234567890123", "", "12 3456"])
def test_a_bad_pin_is_refused_with_a_clear_message(data: Path, pin: str) -> None:
    result = run(
        data, "staff", "add", "D-001", "--card-id", DESK_CARD, "--role", "desk", "--pin-stdin",
        stdin=f"{pin}\n", code=1,
    )  # fmt: skip
    assert "error: bad input: a staff PIN is 6 to 12 digits" in result.output
    if pin.strip():
        assert pin not in result.output
    assert run(data, "staff", "list").output == ""


def test_bad_staff_ids_roles_and_cards_are_refused(data: Path) -> None:
    bad_id = run(
        data, "staff", "add", "bad id!", "--card-id", DESK_CARD, "--role", "desk", "--pin-stdin",
        stdin=f"{DESK_PIN}\n", code=1,
    )  # fmt: skip
    assert "is not 1-32 letters/digits/._-" in bad_id.output
    bad_role = run(
        data, "staff", "add", "D-001", "--card-id", DESK_CARD, "--role", "boss", "--pin-stdin",
        stdin=f"{DESK_PIN}\n", code=2,
    )  # fmt: skip
    assert "'boss' is not one of 'desk', 'tech'" in bad_role.output
    bad_card = run(
        data, "staff", "add", "D-001", "--card-id", "3101", "--role", "desk", "--pin-stdin",
        stdin=f"{DESK_PIN}\n", code=1,
    )  # fmt: skip
    assert "a card identification code (卡识别码) is 32 characters" in bad_card.output


def test_neither_the_pin_nor_the_card_id_is_stored_or_printed(data: Path) -> None:
    outputs = [
        *_add_both(data),
        run(data, "staff", "list").output,
        run(data, "staff", "list", "--json").output,
        run(data, "publish").output,
        run(data, "lists").output,
        run(data, "lists", "--json").output,
    ]
    secrets = plaintext_forms(
        DESK_PIN, TECH_PIN, DESK_CARD, TECH_CARD,
        raw=(bytes.fromhex(DESK_CARD), bytes.fromhex(TECH_CARD)),
    )  # fmt: skip
    office = BackOffice.open(data)  # held open: its WAL is scanned too
    try:
        files = scan_data_dir(data, secrets)
    finally:
        office.close()
    assert data / "backoffice.db-wal" in files
    for output in outputs:
        for text in (DESK_PIN, TECH_PIN, DESK_CARD, TECH_CARD):
            assert text not in output


def _terminal(tmp_path: Path, data: Path) -> Store:
    store = Store.open(tmp_path / "terminal.db", journal_key=JOURNAL_KEY)
    with BackOffice.open(data) as office:
        store.trust.provision_root(office.root_key())
    return store


def _published(data: Path, *extra: str) -> list[tuple[str, int, str]]:
    report = json.loads(run(data, "publish", "--json", *extra).output)
    return [(p["list"], p["version"], p["reason"]) for p in report["published"]]


def test_publish_sends_the_roster_that_a_terminal_applies(data: Path, tmp_path: Path) -> None:
    from terminal.policy import parse_policy  # noqa: PLC0415  (the terminal's side of the test)
    from terminal.sync.run import policy_check  # noqa: PLC0415

    assert STAFF_LIST not in [name for name, _, _ in _published(data)]  # no staff: no list
    _add_both(data)
    published = _published(data)
    assert published == [(STAFF_LIST, 1, "first")]
    # after the policy, before the card lists
    run(data, "deny", "add", DESK_CARD.replace("A4", "A5"), "--reason", "lost")
    run(data, "staff", "remove", "T-001")
    assert [name for name, _, _ in _published(data)] == [STAFF_LIST, "deny"]
    assert _published(data) == []  # nothing changed: nothing new

    with BackOffice.open(data) as office:
        keyer = office.data.keyer()
        list_key = office.data.list_key()
    store = _terminal(tmp_path, data)
    try:
        now = dt.datetime.now(dt.UTC)
        report = sync_from(
            store, Repository(data / "repo"), now=now, check_document=policy_check(parse_policy)
        )
        assert (STAFF_LIST, 2) in report.applied
        assert not report.rejected
        content = store.document(STAFF_LIST)
        assert content is not None
        roster = StaffRoster.from_document(content)
        [member] = roster.members
        assert (member.staff_id, member.role) == ("D-001", StaffRole.DESK)
        assert roster.by_card(keyer.card_ref(DESK_CARD)) == member
        assert roster.by_card(keyer.card_ref(TECH_CARD)) is None  # removed
        assert member.pin_matches(DESK_PIN, list_key)
        assert not member.pin_matches(TECH_PIN, list_key)
        assert not member.pin_matches(DESK_PIN, b"another fleet's list key!!")

        # the last member removed: an empty roster is published, and the terminal applies it
        run(data, "staff", "remove", "D-001")
        assert _published(data) == [(STAFF_LIST, 3, "changed")]
        report = sync_from(
            store, Repository(data / "repo"), now=now, check_document=policy_check(parse_policy)
        )
        assert report.applied == [(STAFF_LIST, 3)]
        emptied = store.document(STAFF_LIST)
        assert emptied is not None
        assert StaffRoster.from_document(emptied).members == ()
    finally:
        store.close()


def test_a_stale_roster_is_refreshed(data: Path) -> None:
    _add_both(data)
    assert _published(data, "--valid-days", "0.00001") == [
        ("trust", 1, "keys"),
        ("policy", 1, "first"),
        (STAFF_LIST, 1, "first"),
        ("deny", 1, "first"),
    ]
    time.sleep(1.0)  # publish times are whole seconds: past half of the 0.86 s validity
    assert (STAFF_LIST, 2, "refresh") in _published(data)
