"""``ykt status``: what a technician (or the fleet monitor) needs to see at a glance.

Lists (versions, ages, expiry), the usage queue and its store-and-forward alerts, clock trust,
the last syncs and their errors, and the readers.  Built from the store, the sync state file
and a clock sample; it never talks to the network.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass

from offline_store.exchange import CHAINS
from offline_store.journal import UploadState
from offline_store.store import Store
from terminal.clock import ClockSample, assess_clock
from terminal.config import TerminalConfig
from terminal.enrolment import Enrolment, TerminalFiles
from terminal.errors import ConfigError, NotEnrolled
from terminal.sync.state import SyncState

ALERT_HOURS_ENV = "YKT_ALERT_UNSENT_HOURS"
ALERT_COUNT_ENV = "YKT_ALERT_UNSENT_COUNT"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Store-and-forward limits: past either, ``ykt status`` raises an alert."""

    oldest_unsent: dt.timedelta = dt.timedelta(hours=24)
    unsent_count: int = 10_000

    @classmethod
    def from_config(cls, config: TerminalConfig) -> UploadLimits:
        """``[alerts]`` (whose fallbacks are the environment variables below)."""
        return cls(dt.timedelta(hours=config.alerts.unsent_hours), config.alerts.unsent_count)

    @classmethod
    def from_environment(cls) -> UploadLimits:
        """``YKT_ALERT_UNSENT_HOURS`` and ``YKT_ALERT_UNSENT_COUNT`` override the defaults."""
        limits = cls()
        try:
            hours = os.environ.get(ALERT_HOURS_ENV)
            count = os.environ.get(ALERT_COUNT_ENV)
            return cls(
                dt.timedelta(hours=float(hours)) if hours else limits.oldest_unsent,
                int(count) if count else limits.unsent_count,
            )
        except ValueError as exc:
            raise ConfigError(
                f"${ALERT_HOURS_ENV} must be a number of hours and ${ALERT_COUNT_ENV} a whole "
                f"number ({exc})"
            ) from exc


def terminal_status(
    files: TerminalFiles,
    store: Store,
    *,
    sample: ClockSample,
    limits: UploadLimits,
    readers: Callable[[], list[dict[str, object]]],
) -> dict[str, object]:
    now = sample.wall
    alerts: list[str] = []
    try:
        enrolment: dict[str, object] | None = Enrolment.load(files.enrolment).to_json()
    except NotEnrolled:
        enrolment = None
        alerts.append("not enrolled: run `ykt enrol`")
    except ConfigError as error:
        enrolment = None
        alerts.append(error.message)

    states = store.list_states()
    lists = []
    for state in states:
        expired = state.valid_until <= now
        if expired:
            alerts.append(f"list {state.name} expired at {state.valid_until.isoformat()}: sync")
        lists.append(
            {
                "name": state.name,
                "version": state.version,
                "entries": state.entry_count,
                "issued_at": state.issued_at.isoformat(),
                "valid_until": state.valid_until.isoformat(),
                "age_hours": round((now - state.issued_at).total_seconds() / 3600, 1),
                "expired": expired,
            }
        )

    queue: dict[str, object] = {}
    unsent_total, oldest = 0, None
    for chain in CHAINS:
        counts = store.journal.counts(chain)
        unsent = counts.get(UploadState.PENDING, 0) + counts.get(UploadState.IN_BATCH, 0)
        unsent_total += unsent
        queue[chain] = {state.value: counts.get(state, 0) for state in UploadState}
        first = _oldest_unsent(store, chain)
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    queue["unsent"] = unsent_total
    queue["oldest_unsent_at"] = None if oldest is None else oldest.isoformat()
    queue["oldest_unsent_hours"] = (
        None if oldest is None else round((now - oldest).total_seconds() / 3600, 1)
    )
    if unsent_total > limits.unsent_count:
        alerts.append(
            f"{unsent_total} usage records wait for upload (limit {limits.unsent_count}): "
            "check the network, or `ykt usage export` to a stick"
        )
    if oldest is not None and now - oldest > limits.oldest_unsent:
        alerts.append(
            f"the oldest unsent usage record is from {oldest.isoformat()} (limit "
            f"{limits.oldest_unsent}): check the network, or `ykt usage export` to a stick"
        )

    reader = store.reader()
    try:
        floor = max((state.issued_at for state in states), default=None)
        clock = assess_clock(sample, reader.trusted_time(), floor=floor, last_tap=reader.last_tap())
    finally:
        reader.close()
    if clock.state.value != "trusted":
        alerts.append(f"clock {clock.state.value}: {clock.detail}")

    sync = SyncState.load(files.sync_state)
    refused = [e for e in sync.last_problems if e.kind == "permanent" and e.stage == "upload"]
    if refused:
        alerts.append(
            f"the back office refused usage in the last sync ({refused[-1].message}): the "
            "events are kept; check the terminal's enrolment with the back office"
        )
    return {
        "enrolment": enrolment,
        "now": now.isoformat(),
        "lists": lists,
        "queue": queue,
        "clock": {
            "state": clock.state.value,
            "detail": clock.detail,
            "last_trusted": None if clock.last_trusted is None else clock.last_trusted.isoformat(),
        },
        "sync": {
            "last_run": sync.last_run,
            "last_source": sync.last_source,
            "last_success": sync.last_success,
            "recent_errors": [
                {"at": e.at, "stage": e.stage, "kind": e.kind, "message": e.message}
                for e in sync.errors[-5:]
            ],
        },
        "readers": readers(),
        "alerts": alerts,
    }


def _oldest_unsent(store: Store, chain: str) -> dt.datetime | None:
    """When the first unacknowledged record of ``chain`` happened (records are in seq order)."""
    firsts = []
    for state in (UploadState.IN_BATCH, UploadState.PENDING):
        record = next(iter(store.journal.records(chain, state)), None)
        if record is not None:
            occurred = record.body.get("occurred_at")
            if isinstance(occurred, str):
                firsts.append(dt.datetime.fromisoformat(occurred))
    return min(firsts, default=None)
