"""The desk screen, driven with Textual's pilot: taps explained to the clerk, look-ups, staff
sign-in (card + PIN, lockout countdown, idle sign-out) and overrides into the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import card_record, demo_station
from textual.pilot import Pilot
from textual.widgets import Input

from apdu.emulator import load_holders
from offline_store.errors import StoreCorrupt
from offline_store.journal import AUDIT, USAGE
from terminal.clock import ClockSample, sample_now
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.staff import roster_from
from terminal.station import Station
from terminal.ui.desk import DeskApp, OverrideScreen
from terminal.ui.sign_in import SignInScreen
from terminal.ui.widgets import PresenterKey, VerdictPanel

HOLDERS = load_holders()


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.base = sample_now()
        self.offset = dt.timedelta()

    def __call__(self) -> ClockSample:
        return ClockSample(self.base.wall + self.offset,
                           self.base.monotonic + self.offset.total_seconds(),
                           self.base.boot_id)  # fmt: skip


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def station(tmp_path: Path, clock: Clock) -> Iterator[Station]:
    with demo_station(tmp_path, clock()) as opened:
        yield opened


def desk(station: Station, clock: Clock) -> DeskApp:
    return DeskApp(station, service="museum.entry", sample=clock, clear_after=600)


async def settle(app: DeskApp, pilot: Pilot[None]) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def tap(app: DeskApp, pilot: Pilot[None], holder: str, *, clone: bool = False) -> None:
    app.present_card(card_record(holder, clone=clone))
    await settle(app, pilot)


async def type_in(app: DeskApp, pilot: Pilot[None], text: str) -> None:
    for character in text:
        await pilot.press(character)
    await pilot.press("enter")
    await settle(app, pilot)


def shown(app: DeskApp, selector: str) -> str:
    return str(app.query_one(selector).render())


async def sign_in(app: DeskApp, pilot: Pilot[None], holder: str, pin: str) -> None:
    assert isinstance(app.screen, SignInScreen)
    await tap(app, pilot, holder)
    assert not app.screen.query_one("#pin", Input).disabled
    await type_in(app, pilot, pin)


@pytest.mark.anyio
async def test_a_lost_card_at_the_desk_is_explained_with_the_next_step(
    station: Station, clock: Clock
) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        await tap(app, pilot, "sh-lost-gen3")
        assert app.query_one(VerdictPanel).has_class("deny")
        explain = shown(app, "#explain")
        assert "reported lost" in explain
        assert "official ID" in explain  # the clerk's next step
        assert "#1" in explain  # journalled
        assert HOLDERS["sh-lost-gen3"].ssn not in explain
        assert HOLDERS["sh-lost-gen3"].name not in explain


@pytest.mark.anyio
async def test_a_clone_is_explained_as_a_possible_copy(station: Station, clock: Clock) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        await tap(app, pilot, "sh-gen3", clone=True)
        assert "may be a copy" in shown(app, "#explain")


@pytest.mark.anyio
async def test_typed_look_ups_and_a_scanned_code_in_the_field(
    station: Station, clock: Clock
) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        await type_in(app, pilot, HOLDERS["zj-gen2"].ssn)
        explain = shown(app, "#explain")
        assert "library-readers" in explain
        assert HOLDERS["zj-gen2"].ssn not in explain
        await type_in(app, pilot, HOLDERS["sh-lost-gen3"].card_id)
        assert "On the deny list: lost" in shown(app, "#explain")
        await type_in(app, pilot, "S31000001")
        assert "do not use card numbers" in shown(app, "#explain")
        assert station.store.journal.verify(USAGE) == 0  # look-ups journal nothing
        await type_in(app, pilot, f"YKTR1:{DEMO_RESERVATION_ID}")
        assert [v.outcome.value for v in app.verdicts] == ["admit"]
        assert station.store.journal.verify(USAGE) == 1


@pytest.mark.anyio
async def test_an_override_needs_sign_in_then_a_reason_and_is_journalled_and_audited(
    station: Station, clock: Clock
) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        await tap(app, pilot, "zj-gen2")  # no reservation: refused
        assert app.verdicts[-1].outcome.value == "deny"
        await pilot.press("f5")
        await settle(app, pilot)
        assert isinstance(app.screen, SignInScreen)
        await tap(app, pilot, "sh-gen3")  # not a staff card
        assert "not on the staff roster" in str(app.screen.query_one("#sign-in-problem").render())
        await sign_in(app, pilot, "sh-staff-gen3", "123456")
        assert isinstance(app.screen, OverrideScreen)
        await pilot.press("2")  # reservation confirmed another way
        await settle(app, pilot)
        assert app.verdicts[-1].outcome.value == "admit"
        assert "Admitted by staff" in str(app.query_one(VerdictPanel).render())
        assert "staff D-001 (desk)" in shown(app, "#status")
        usage = [r.body for r in station.store.journal.records(USAGE)]
        assert [u["verdict"] for u in usage] == ["deny", "admit"]
        assert usage[1]["override"] == "D-001:reservation_confirmed"
        audit = [
            (r.body["action"], r.body["staff_ref"]) for r in station.store.journal.records(AUDIT)
        ]
        assert audit == [("sign-in-failed", "-"), ("sign-in", "D-001"), ("override", "D-001")]


@pytest.mark.anyio
async def test_a_wrong_pin_counts_down_and_escape_cancels(station: Station, clock: Clock) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("f2")
        await settle(app, pilot)
        await sign_in(app, pilot, "sh-staff-gen3", "000000")
        assert isinstance(app.screen, SignInScreen)
        assert "4 attempt(s) left" in str(app.screen.query_one("#sign-in-problem").render())
        await pilot.press("escape")
        await settle(app, pilot)
        assert not isinstance(app.screen, SignInScreen)
        assert app.staff_session is None


@pytest.mark.anyio
async def test_staff_are_signed_out_after_five_idle_minutes_and_by_f2(
    station: Station, clock: Clock
) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("f2")
        await settle(app, pilot)
        await sign_in(app, pilot, "sh-staff-gen3", "123456")
        assert app.staff_session is not None
        clock.offset = dt.timedelta(minutes=4)
        app._staff_idle()
        assert app.staff_session is not None
        clock.offset = dt.timedelta(minutes=5, seconds=1)
        app._staff_idle()
        assert app.staff_session is None
        assert "staff D-001" not in shown(app, "#status")
        await pilot.press("f2")
        await settle(app, pilot)
        await sign_in(app, pilot, "sh-staff-gen3", "123456")
        await pilot.press("f2")  # signed in: F2 signs out
        await settle(app, pilot)
        assert app.staff_session is None
        details = [
            (r.body["action"], r.body["detail"]) for r in station.store.journal.records(AUDIT)
        ]
        assert ("sign-out", "idle") in details
        assert ("sign-out", "staff") in details


@pytest.mark.anyio
async def test_override_with_nothing_refused_says_so(station: Station, clock: Clock) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        await pilot.press("f5")
        await settle(app, pilot)
        assert "No refusal on screen" in shown(app, "#explain")
        assert not isinstance(app.screen, SignInScreen)


@pytest.mark.anyio
async def test_the_demo_deck_keeps_its_f_keys_and_the_desk_has_ctrl_keys(
    station: Station, clock: Clock
) -> None:
    pressed: list[str] = []
    deck = [
        PresenterKey("f2", "lost card", lambda: pressed.append("f2")),
        PresenterKey("f5", "resident", lambda: pressed.append("f5")),
    ]
    app = DeskApp(station, service="museum.entry", sample=clock, clear_after=600,
                  presenter_keys=deck)  # fmt: skip
    async with app.run_test(size=(110, 40)) as pilot:
        assert "F2 lost card" in shown(app, "#keys")
        await pilot.press("f2")
        await pilot.press("f5")
        await settle(app, pilot)
        assert pressed == ["f2", "f5"]
        assert not isinstance(app.screen, SignInScreen)  # the deck's F2, not the sign-in
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert isinstance(app.screen, SignInScreen)
        await pilot.press("f2")  # a card from the deck while the sign-in waits for one
        await settle(app, pilot)
        assert pressed == ["f2", "f5", "f2"]


@pytest.mark.anyio
async def test_only_the_refusal_on_screen_can_be_overridden(station: Station, clock: Clock) -> None:
    app = DeskApp(station, service="museum.entry", sample=clock, clear_after=0.1)
    async with app.run_test(size=(110, 40)) as pilot:
        await tap(app, pilot, "zj-gen2")
        await pilot.pause(0.3)
        assert app.on_screen is app.verdicts[-1]  # a desk keeps the verdict up
        await type_in(app, pilot, HOLDERS["sh-gen3"].ssn)  # a look-up of someone else
        assert app.on_screen is None
        assert app.query_one(VerdictPanel).has_class("idle")
        await pilot.press("f5")
        await settle(app, pilot)
        assert "No refusal on screen" in shown(app, "#explain")
        await tap(app, pilot, "zj-gen2")
        app.show_problem("卡片移开过早，请重新刷卡", "card removed: tap again")
        await pilot.press("f5")
        await settle(app, pilot)
        assert not isinstance(app.screen, SignInScreen)
        assert station.store.journal.verify(AUDIT) == 0


@pytest.mark.anyio
async def test_a_damaged_roster_or_list_file_is_said_in_the_sign_in_not_a_crash(
    station: Station, clock: Clock
) -> None:
    app = desk(station, clock)
    async with app.run_test(size=(110, 40)) as pilot:
        station.staff.roster = lambda: roster_from(b'{"format": "ykt-staff/1", "members": 7}')
        await pilot.press("f2")
        await settle(app, pilot)
        await tap(app, pilot, "sh-staff-gen3")
        problem = str(app.screen.query_one("#sign-in-problem").render())
        assert "damaged" in problem
        assert "sync again" in problem

        def unreadable() -> None:
            raise StoreCorrupt("the list file cannot be read (disk I/O error)")

        station.staff.roster = unreadable  # type: ignore[assignment]
        await tap(app, pilot, "sh-staff-gen3")
        assert "cannot be read" in str(app.screen.query_one("#sign-in-problem").render())
        assert isinstance(app.screen, SignInScreen)  # still running, nobody signed in
        assert app.staff_session is None
