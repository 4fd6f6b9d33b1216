"""The staff roster end to end: ``ykt-backoffice staff add`` and ``publish`` on the real back
office process, the terminal's own sync (``run_sync`` over HTTP), and the roster it applied
verifying the member's PIN with the terminal's list key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from link_support import enrol_terminal, publish

from backoffice_fixture import RunningBackOffice, backoffice_env
from offline_store.holder_refs import HolderKeyer
from offline_store.staff_roster import StaffRole, StaffRoster
from offline_store.store import STAFF_LIST

pytestmark = pytest.mark.timeout(120)

CARD = "310100D1560000050000000000A40009"
PIN = "90817263545"


def test_a_staff_member_reaches_the_terminal_and_their_pin_verifies(
    backoffice_server: RunningBackOffice, tmp_path: Path
) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "backoffice", "staff", "add", "D-001", "--card-id", "-",
         "--role", "desk", "--pin-stdin", "--data", str(backoffice_server.data)],
        input=f"{CARD}\n{PIN}\n", capture_output=True, text=True, env=backoffice_env(),
        timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert PIN not in added.stdout + added.stderr
    assert CARD not in added.stdout + added.stderr
    publish(backoffice_server)
    terminal = enrol_terminal(backoffice_server, tmp_path / "terminal")

    outcome = terminal.sync()
    assert outcome.complete, outcome.problems
    assert outcome.lists is not None
    assert (STAFF_LIST, 1) in outcome.lists.applied
    with terminal.open() as store:
        content = store.document(STAFF_LIST)
    assert content is not None
    roster = StaffRoster.from_document(content)
    member = roster.by_card(HolderKeyer(terminal.keys.list_key).card_ref(CARD))
    assert member is not None
    assert (member.staff_id, member.role) == ("D-001", StaffRole.DESK)
    assert member.pin_matches(PIN, terminal.keys.list_key)
    assert not member.pin_matches("123456", terminal.keys.list_key)

    # removed at the back office: the emptied roster replaces it on the next sync
    backoffice_server.cli("staff", "remove", "D-001")
    publish(backoffice_server)
    outcome = terminal.sync()
    assert outcome.lists is not None
    assert (STAFF_LIST, 2) in outcome.lists.applied
    with terminal.open() as store:
        emptied = store.document(STAFF_LIST)
    assert emptied is not None
    assert StaffRoster.from_document(emptied).members == ()
