"""The demo venue (``ykt demo``) without PC/SC: its policy, what it asks the back office, the
deck of presenter keys, the venue built with the real back office and without it, and the
script run showing every kind of verdict."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import terminal.demo_venue as venue_module
from apdu.emulator import load_holders
from apdu.ssc import Authenticity, CardRecord
from offline_store.staff_roster import StaffRole, StaffRoster
from offline_store.store import STAFF_LIST, Store
from terminal import demo
from terminal.clock import sample_now
from terminal.codes.issuer import IssuerSimulator
from terminal.credential import Credential
from terminal.demo_venue import (
    DEMO_KEYS,
    DEMO_STAFF,
    DemoDeck,
    Presenter,
    demo_policy_text,
    open_demo_venue,
    populate_commands,
)
from terminal.enrolment import Enrolment, TerminalFiles
from terminal.policy import parse_policy
from terminal.station import Station
from terminal.terminal_keys import TerminalKeys
from terminal.verdict import Outcome

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared expectations
from demo_script import assert_every_key_as_expected

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HOLDERS = load_holders()


# -- the policy and the back-office commands ----------------------------------------------------
def test_the_demo_policy_is_the_default_with_the_documented_changes() -> None:
    default = tomllib.loads(
        resources.files("terminal").joinpath("policies", "default.toml").read_text("utf-8")
    )
    demo_policy = tomllib.loads(demo_policy_text())
    museum = demo_policy["services"]["museum.entry"]
    assert museum.pop("passback_action") == "refer"
    zone = museum["benefits"].pop()
    assert zone["id"] == "demo-zone-half"
    assert zone["regions"] == ["310118", "320509", "330421"]
    assert "windows" not in zone  # at any hour, unlike scenic.entry's weekend free entry
    assert demo_policy == default  # nothing else differs
    policy = parse_policy(demo_policy_text(), "demo-venue.toml")
    assert policy.default_service == "museum.entry"


def test_the_back_office_is_filled_without_identities_on_a_command_line(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    commands = populate_commands(tmp_path, now=now)
    heads = [" ".join(args[:2]) for args, _ in commands]
    assert heads.count("deny add") == 1
    assert heads.count("benefit add") == 8  # 3 holders + 1 reservation id, 2 readers twice
    assert heads.count("issuer add") == len(IssuerSimulator().issuer_keys())
    assert heads.count("policy set") == 1
    assert heads.count("staff add") == len(DEMO_STAFF) == 2
    secrets = [member.pin for member in DEMO_STAFF] + ["M-DEMO-0001"]
    for holder in HOLDERS.values():
        secrets += [holder.card_id, holder.ssn, holder.card_number, holder.name]
    for args, stdin in commands:
        for secret in secrets:
            assert not any(secret in arg for arg in args), (args, "carries an identity")
        if stdin is not None:
            assert "-" in args  # read from standard input
    staff = [(args, stdin) for args, stdin in commands if args[:2] == ("staff", "add")]
    assert staff[0][1] == f"{HOLDERS['sh-staff-gen3'].card_id}\n123456\n"
    assert staff[1][0][5:7] == ("--role", "tech")
    # the reservations cover the demo: from the hour it starts in, China time, for 12 hours
    reservation = next(args for args, _ in commands if "reservations" in args)
    window = reservation[reservation.index("--from") + 1 : reservation.index("--until") + 2]
    assert window == ("2026-11-23T17:00:00+08:00", "--until", "2026-11-24T05:00:00+08:00")


# -- the deck -------------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.cards: list[CardRecord] = []
        self.codes: list[str] = []
        self.problems: list[tuple[str, str]] = []

    def presenter(self) -> Presenter:
        return Presenter(
            card=self.cards.append,
            code=self.codes.append,
            problem=lambda zh, en: self.problems.append((zh, en)),
        )


def _key(name: str) -> Any:
    return next(key for key in DEMO_KEYS if key.key == name)


def test_the_in_process_deck_reads_each_card_through_a_psam() -> None:
    deck = DemoDeck(None, sample=sample_now)
    recorder = Recorder()
    deck.press(_key("f1"))  # not attached yet: nothing happens
    deck.attach(recorder.presenter())
    for name in ("f1", "f4", "f3"):
        deck.press(_key(name))
    valid, clone, expired = recorder.cards
    assert valid.authentic is Authenticity.VERIFIED
    assert clone.authentic is Authenticity.FAILED
    assert valid.card_id == clone.card_id == HOLDERS["sh-gen3"].card_id
    assert expired.card_id == HOLDERS["expired-gen2"].card_id
    assert not recorder.problems


def test_the_code_keys() -> None:
    deck = DemoDeck(None, sample=sample_now)
    recorder = Recorder()
    deck.attach(recorder.presenter())
    deck.press(_key("f9"))  # nothing to repeat yet: said so, nothing presented
    assert recorder.problems == [
        ("请先按 F8 出示电子社保卡二维码", "press F8 first: F9 repeats its code")
    ]
    deck.press(_key("f7"))
    deck.press(_key("f8"))
    deck.press(_key("f9"))
    deck.press(_key("f8"))
    reservation, first, again, second = recorder.codes
    assert reservation == "YKTR1:M-DEMO-0001"
    assert first.startswith("ESSC1:")
    assert again == first  # F9: the same code once more
    assert second != first  # F8: a fresh code each time


def test_the_staff_keys_show_their_pins() -> None:
    labels = {key.key: key.label for key in DEMO_KEYS}
    assert labels["f10"] == "staff D-001 PIN 123456"
    assert labels["f11"] == "staff T-001 PIN 654321"
    assert [key.key for key in DEMO_KEYS] == [f"f{n}" for n in range(1, 12)]


# -- the venue, and the script run ----------------------------------------------------------------
def test_without_pcscd_or_back_office_the_venue_says_so_and_still_decides() -> None:
    lines: list[str] = []
    demo.run(lines.append, script=True, use_pcsc=False, use_backoffice=False)
    assert "reader: in-process reader (no pcscd): --in-process given" in lines
    assert any(line.startswith("note:   no back office: lists published into a folder")
               for line in lines)  # fmt: skip
    assert "lists:  signed demo lists from a folder (no back office)" in lines
    assert_every_key_as_expected(lines)


def test_the_venue_folder_is_removed_at_exit() -> None:
    with open_demo_venue(sample=sample_now, use_pcsc=False, use_backoffice=False) as venue:
        root = venue.root
        assert venue.settings.store_path.is_file()
        assert venue.read_request is None
        assert venue.settings.policy_path == root / "demo-venue.toml"  # nobody publishes it
        assert not venue.settings.production  # a demo terminal accepts test issuer codes
    assert not root.exists()


def test_a_failing_back_office_falls_back_to_folder_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "ykt-backoffice"
    broken.write_text("#!/bin/sh\necho 'error: the disk is full' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(venue_module, "find_backoffice", lambda: str(broken))
    with open_demo_venue(sample=sample_now, use_pcsc=False) as venue:
        assert venue.backoffice_url is None
        assert venue.lists_source == "signed demo lists from a folder (no back office)"
        [note] = venue.notes
        assert note.startswith("the back office failed (ykt-backoffice init failed (exit 1): ")
        assert "the disk is full" in note


@pytest.fixture
def backoffice_available() -> None:
    if venue_module.find_backoffice() is None:
        message = "ykt-backoffice is not installed (./dev setup installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.usefixtures("backoffice_available")
def test_the_venue_is_enrolled_and_synced_with_the_reference_back_office() -> None:
    echoed: list[str] = []
    with open_demo_venue(sample=sample_now, use_pcsc=False, echo=echoed.append) as venue:
        assert venue.backoffice_url is not None
        assert venue.backoffice_url.startswith("http://127.0.0.1:")
        assert venue.notes == []
        assert venue.settings.policy_path is None  # the published policy is used
        files = TerminalFiles.beside(venue.settings.store_path, venue.settings.keys_path)
        enrolment = Enrolment.load(files.enrolment)
        assert enrolment.terminal_id == venue.settings.terminal_id == "DEMO-GATE-1"
        keys = TerminalKeys.from_file(files.keys)
        with Store.open(files.store, journal_key=keys.journal_key, create=False) as store:
            versions = {state.name: state.version for state in store.list_states()}
            roster = store.document(STAFF_LIST)
            trusted = store.trusted_time()
            policy = store.document("policy")
        for name in ("deny", "issuers", "policy", "staff", "benefit:reservations",
                     "benefit:library-readers"):  # fmt: skip
            assert versions.get(name) == 1, versions
        assert trusted is not None  # the back office's signed time
        assert policy is not None
        assert policy.decode() == demo_policy_text()
        assert roster is not None
        members = {m.staff_id: m for m in StaffRoster.from_document(roster).members}
        assert members["D-001"].role is StaffRole.DESK
        assert members["T-001"].role is StaffRole.TECH
        for member in DEMO_STAFF:
            assert members[member.staff_id].pin_matches(member.pin, keys.list_key)
        root = venue.root
    assert not root.exists()
    assert any(line.startswith("back office: http://127.0.0.1:") for line in echoed)


@pytest.mark.usefixtures("backoffice_available")
def test_the_script_shows_every_kind_of_verdict_with_the_back_office() -> None:
    lines: list[str] = []
    demo.run(lines.append, script=True, use_pcsc=False)
    assert any(line.startswith("lists:  reference back office at http://127.0.0.1:")
               for line in lines)  # fmt: skip
    assert_every_key_as_expected(lines)


def test_a_demo_zone_resident_gets_the_demo_zone_benefit_at_the_scenic_area_now() -> None:
    """scenic.entry's free entry needs a weekend daytime; its half price holds at any hour:
    whatever the day and time this runs, the resident gets one of the two."""
    with open_demo_venue(sample=sample_now, use_pcsc=False, use_backoffice=False) as venue:
        recorder = Recorder()
        venue.deck.attach(recorder.presenter())
        venue.deck.press(_key("f5"))
        [record] = recorder.cards
        with Station.open(venue.settings) as station:
            verdict = station.checkpoint.present(
                Credential.from_card(record), sample=sample_now(), service="scenic.entry"
            )
    assert verdict.outcome is Outcome.ADMIT_WITH_BENEFIT, verdict.reasons
    assert verdict.benefit is not None
    assert verdict.benefit.id in ("demo-zone-free", "demo-zone-half")
