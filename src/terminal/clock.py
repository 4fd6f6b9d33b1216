"""Can the terminal trust its own clock?  A fact in every verdict.

Inputs, all passed in (nothing here reads a clock):

* a :class:`ClockSample` — the wall clock, the monotonic clock (``CLOCK_BOOTTIME``: it counts
  through suspend) and the boot id, read once per tap by the front end (:func:`sample_now` is
  the one place that reads them);
* the store's :class:`~offline_store.taps.TrustedTime` — the last time the back office told
  the terminal (from a sync), with the monotonic reading and boot id at that moment;
* ``floor`` — the newest ``issued_at`` of any applied bundle, and ``last_tap`` — the newest
  tap the journal holds: the wall clock cannot honestly be earlier than either.

Rules, first match wins:

1. wall < floor − tolerance, wall < last tap − tolerance, or wall < last trusted − tolerance:
   **rolled back**.
2. no trusted time ever: **unverified** (a terminal that has never synced its time).
3. same boot: the wall clock must have advanced like the monotonic clock since the trusted
   time, within the tolerance; behind it: **rolled back**; ahead of it: **unverified** (set
   forward, or drifting badly).
4. another boot (the monotonic clock restarted): the wall clock is plausible if it is not
   earlier than the trusted time and not more than ``max_offline`` after it: **trusted**;
   otherwise **unverified** (the real-time clock may have been reset or the battery died).
5. otherwise **trusted**.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from offline_store.taps import TrustedTime

#: How far the wall clock may stray from what the monotonic clock predicts.
DEFAULT_TOLERANCE = dt.timedelta(minutes=5)
#: After a reboot, how long after the last trusted time the wall clock is still believed.
DEFAULT_MAX_OFFLINE = dt.timedelta(days=31)
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class ClockState(StrEnum):
    TRUSTED = "trusted"
    UNVERIFIED = "unverified"
    ROLLED_BACK = "rolled-back"


@dataclass(frozen=True, slots=True)
class ClockSample:
    wall: dt.datetime
    monotonic: float
    boot_id: str


@dataclass(frozen=True, slots=True)
class ClockFacts:
    state: ClockState
    wall: dt.datetime
    last_trusted: dt.datetime | None
    detail: str

    @property
    def trusted(self) -> bool:
        return self.state is ClockState.TRUSTED

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state.value,
            "terminal_time": self.wall.isoformat(),
            "last_trusted": None if self.last_trusted is None else self.last_trusted.isoformat(),
            "detail": self.detail,
        }


def sample_now() -> ClockSample:
    """The front end's one reading of the clocks for a tap (the only clock read here)."""
    try:
        boot_id = _BOOT_ID.read_text().strip()
    except OSError:
        boot_id = "unknown"
    # CLOCK_BOOTTIME keeps counting while the terminal is suspended (CLOCK_MONOTONIC does
    # not, and a resume would look like the wall clock jumping ahead)
    return ClockSample(dt.datetime.now(dt.UTC), time.clock_gettime(time.CLOCK_BOOTTIME), boot_id)


def trusted_time_from(sample: ClockSample, server_time: dt.datetime, source: str) -> TrustedTime:
    """The anchor to store when the back office says it is ``server_time`` at ``sample``."""
    return TrustedTime(server_time, sample.monotonic, sample.boot_id, source)


def assess_clock(
    sample: ClockSample,
    anchor: TrustedTime | None,
    *,
    floor: dt.datetime | None = None,
    last_tap: dt.datetime | None = None,
    tolerance: dt.timedelta = DEFAULT_TOLERANCE,
    max_offline: dt.timedelta = DEFAULT_MAX_OFFLINE,
) -> ClockFacts:
    wall = sample.wall
    last = None if anchor is None else anchor.wall

    def facts(state: ClockState, detail: str) -> ClockFacts:
        return ClockFacts(state, wall, last, detail)

    if floor is not None and wall < floor - tolerance:
        return facts(
            ClockState.ROLLED_BACK,
            f"terminal time {wall.isoformat()} is before a list issued at {floor.isoformat()}",
        )
    if last_tap is not None and wall < last_tap - tolerance:
        return facts(
            ClockState.ROLLED_BACK,
            f"terminal time {wall.isoformat()} is before its last recorded tap "
            f"{last_tap.isoformat()}",
        )
    if anchor is None:
        return facts(ClockState.UNVERIFIED, "the terminal has never synced its time")
    if wall < anchor.wall - tolerance:
        return facts(
            ClockState.ROLLED_BACK,
            f"terminal time {wall.isoformat()} is before the last trusted time "
            f"{anchor.wall.isoformat()}",
        )
    if sample.boot_id == anchor.boot_id:
        expected = anchor.wall + dt.timedelta(seconds=sample.monotonic - anchor.monotonic)
        off = wall - expected
        if off < -tolerance:
            return facts(
                ClockState.ROLLED_BACK,
                f"the clock was set back by {_minutes(-off)} since the last trusted time",
            )
        if off > tolerance:
            return facts(
                ClockState.UNVERIFIED,
                f"the clock jumped ahead by {_minutes(off)} since the last trusted time",
            )
        return facts(ClockState.TRUSTED, "in step with the last trusted time")
    if wall - anchor.wall > max_offline:
        return facts(
            ClockState.UNVERIFIED,
            f"restarted, and {_minutes(wall - anchor.wall)} since the last trusted time: "
            "sync to confirm the time",
        )
    return facts(ClockState.TRUSTED, "restarted; time plausible since the last trusted time")


def _minutes(span: dt.timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes >= 60 * 48:
        return f"{minutes // (60 * 24)} days"
    if minutes >= 120:
        return f"{minutes // 60} hours"
    return f"{minutes} minutes"


def monotonic_seconds() -> float:
    """The monotonic clock in seconds, for durations (the APDU trace, the self test)."""
    return time.monotonic()
