"""terminal.clock: the clock-trust fact every verdict carries."""

from __future__ import annotations

import datetime as dt

import pytest

from offline_store.taps import TrustedTime
from terminal.clock import ClockSample, ClockState, assess_clock, trusted_time_from

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
ANCHOR = TrustedTime(T0, 5000.0, "boot-a", "back office")


def at(
    minutes: float, *, monotonic_minutes: float | None = None, boot: str = "boot-a"
) -> ClockSample:
    elapsed = minutes if monotonic_minutes is None else monotonic_minutes
    return ClockSample(T0 + dt.timedelta(minutes=minutes), 5000.0 + elapsed * 60, boot)


@pytest.mark.parametrize(
    ("clock", "floor", "state", "detail"),
    [
        (at(90), None, ClockState.TRUSTED, "in step"),
        (at(90, monotonic_minutes=88), None, ClockState.TRUSTED, "in step"),  # 2 min drift
        (at(30, monotonic_minutes=90), None, ClockState.ROLLED_BACK, "set back by 60 minutes"),
        (at(-30), None, ClockState.ROLLED_BACK, "before the last trusted time"),
        (at(150, monotonic_minutes=90), None, ClockState.UNVERIFIED, "jumped ahead by 60"),
        (at(60 * 24 * 3, boot="boot-b"), None, ClockState.TRUSTED, "restarted"),
        (at(-60, boot="boot-b"), None, ClockState.ROLLED_BACK, "before the last trusted"),
        (at(60 * 24 * 40, boot="boot-b"), None, ClockState.UNVERIFIED, "40 days"),
        (at(90), T0 + dt.timedelta(hours=3), ClockState.ROLLED_BACK, "before a list issued"),
        (at(90), T0 + dt.timedelta(minutes=93), ClockState.TRUSTED, "in step"),  # within 5 min
    ],
)
def test_clock_rules(
    clock: ClockSample, floor: dt.datetime | None, state: ClockState, detail: str
) -> None:
    facts = assess_clock(clock, ANCHOR, floor=floor)
    assert facts.state is state
    assert detail in facts.detail
    assert facts.trusted is (state is ClockState.TRUSTED)
    assert facts.to_json()["state"] == state.value


def test_never_synced_is_unverified() -> None:
    facts = assess_clock(at(0), None)
    assert facts.state is ClockState.UNVERIFIED
    assert facts.last_trusted is None
    assert "never synced" in facts.detail


def test_a_rolled_back_clock_is_caught_even_without_a_trusted_time() -> None:
    facts = assess_clock(at(0), None, floor=T0 + dt.timedelta(days=1))
    assert facts.state is ClockState.ROLLED_BACK


def test_tolerance_is_configurable() -> None:
    clock = at(90, monotonic_minutes=80)  # 10 minutes ahead of the monotonic clock
    assert assess_clock(clock, ANCHOR).state is ClockState.UNVERIFIED
    wide = assess_clock(clock, ANCHOR, tolerance=dt.timedelta(minutes=15))
    assert wide.state is ClockState.TRUSTED


def test_trusted_time_from_a_sync_anchors_the_monotonic_clock() -> None:
    sample = ClockSample(T0 - dt.timedelta(hours=5), 42.0, "boot-z")  # terminal clock wrong
    anchor = trusted_time_from(sample, T0, "sync")
    assert anchor == TrustedTime(T0, 42.0, "boot-z", "sync")
    later = ClockSample(T0 + dt.timedelta(minutes=10), 42.0 + 600, "boot-z")
    assert assess_clock(later, anchor).state is ClockState.TRUSTED
