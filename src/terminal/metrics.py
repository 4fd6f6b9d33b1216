"""The running terminal's health as a Prometheus textfile-collector file.

node_exporter's textfile collector reads ``*.prom`` files from one folder; the terminal
rewrites its file (``[metrics] path``, default
``/var/lib/prometheus/node-exporter/ykt.prom``) every ``[metrics] interval`` seconds from a
thread of its own, atomically: prometheus_client's ``write_to_textfile`` writes a temporary
file in the same folder and renames it over the old one, so node_exporter never reads half a
file.

The facts are :func:`terminal.status.terminal_status`'s, so ``ykt status --json`` and the
metrics agree.  Every series carries the terminal's id as the label ``terminal`` (an
enrolment id, nothing personal).  docs/configuration.md lists the series; in short:

* ``ykt_verdicts_total{outcome}`` — verdicts **in the usage journal**, by outcome: totals
  from the journal, so a restart does not reset them (only a purge of acknowledged records
  would lower them, which Prometheus reads as a counter reset);
* ``ykt_gate_failures_total`` — admissions whose gate relay failed, counted in this process
  since it started (the journal does not hold relay outcomes);
* ``ykt_list_age_seconds{list}``, ``ykt_list_version{list}``, ``ykt_list_expired{list}``;
* ``ykt_upload_unsent_records{chain}``, ``ykt_upload_oldest_unsent_age_seconds`` (0 when
  nothing waits);
* ``ykt_reader_state{state}`` and ``ykt_clock_state{state}`` — 1 for the current state, 0 for
  the others;
* ``ykt_sync_last_success_timestamp_seconds{stage}`` (time, upload, lists; 0: never);
* ``ykt_alerts`` — how many alerts ``ykt status`` shows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from offline_store.errors import StoreError
from offline_store.exchange import CHAINS
from offline_store.journal import USAGE
from offline_store.store import Store
from terminal.clock import ClockSample, ClockState
from terminal.enrolment import TerminalFiles
from terminal.errors import TerminalError
from terminal.logs import log_event
from terminal.status import UploadLimits, terminal_status
from terminal.verdict import Outcome

log = logging.getLogger(__name__)

#: the reader states of ``ykt_reader_state`` (from the reader watch's status line)
READER_STATES = ("starting", "ready", "service_down", "unavailable", "off")
SYNC_STAGES = ("time", "upload", "lists")


def reader_state_kind(line: str) -> str:
    """The reader watch's status line (``reader: ready``...) as one of :data:`READER_STATES`."""
    if line == "reader: ready":
        return "ready"
    if line == "reader: starting":
        return "starting"
    if "card service down" in line:
        return "service_down"
    if line.endswith("retrying"):
        return "unavailable"
    return "off"


class VerdictTally:
    """Verdicts in the usage journal by outcome: counted once in full, then only the records
    after the last one counted."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = dict.fromkeys((o.value for o in Outcome), 0)
        self._last = 0

    def update(self, store: Store) -> dict[str, int]:
        found, self._last = store.journal.tally(USAGE, "verdict", after=self._last)
        for outcome, number in found.items():
            self.totals[outcome] = self.totals.get(outcome, 0) + number
        return dict(self.totals)


def metric_families(
    report: Mapping[str, object],
    *,
    now: dt.datetime,
    terminal: str,
    verdicts: Mapping[str, int],
    reader: str,
    gate_failures: int,
) -> list[Metric]:
    """The series of one snapshot, from ``terminal_status``'s report."""
    label = ["terminal"]
    families: list[Metric] = []

    counted = CounterMetricFamily(
        "ykt_verdicts", "Verdicts held in the usage journal, by outcome.",
        labels=[*label, "outcome"],
    )  # fmt: skip
    for outcome, number in sorted(verdicts.items()):
        counted.add_metric([terminal, outcome], number)
    failures = CounterMetricFamily(
        "ykt_gate_failures", "Admissions whose gate relay did not open, since the terminal "
        "started.", labels=label,
    )  # fmt: skip
    failures.add_metric([terminal], gate_failures)
    families += [counted, failures]

    age = GaugeMetricFamily("ykt_list_age_seconds", "Age of each applied list (since it was "
                            "issued).", labels=[*label, "list"])  # fmt: skip
    version = GaugeMetricFamily("ykt_list_version", "Applied version of each list.",
                                labels=[*label, "list"])  # fmt: skip
    expired = GaugeMetricFamily("ykt_list_expired", "1 when a list is past its valid-until.",
                                labels=[*label, "list"])  # fmt: skip
    for item in _items(report.get("lists")):
        name = str(item["name"])
        issued = dt.datetime.fromisoformat(str(item["issued_at"]))
        age.add_metric([terminal, name], (now - issued).total_seconds())
        version.add_metric([terminal, name], float(str(item["version"])))
        expired.add_metric([terminal, name], 1.0 if item["expired"] else 0.0)
    families += [age, version, expired]

    queue = report.get("queue")
    assert isinstance(queue, dict)
    unsent = GaugeMetricFamily("ykt_upload_unsent_records", "Records not yet acknowledged by "
                               "the back office, by chain.", labels=[*label, "chain"])  # fmt: skip
    for chain in CHAINS:
        states = queue.get(chain, {})
        waiting = states.get("pending", 0) + states.get("in_batch", 0)
        unsent.add_metric([terminal, chain], float(waiting))
    oldest = GaugeMetricFamily(
        "ykt_upload_oldest_unsent_age_seconds",
        "Age of the oldest record not yet acknowledged (0: none waits).",
        labels=label,
    )
    oldest_at = queue.get("oldest_unsent_at")
    oldest.add_metric(
        [terminal],
        0.0 if not oldest_at else (now - dt.datetime.fromisoformat(oldest_at)).total_seconds(),
    )
    families += [unsent, oldest]

    reader_gauge = GaugeMetricFamily("ykt_reader_state", "1 for the card reader's current "
                                     "state.", labels=[*label, "state"])  # fmt: skip
    current = reader_state_kind(reader)
    for state in READER_STATES:
        reader_gauge.add_metric([terminal, state], 1.0 if state == current else 0.0)
    clock = report.get("clock")
    assert isinstance(clock, dict)
    clock_gauge = GaugeMetricFamily("ykt_clock_state", "1 for the clock trust state.",
                                    labels=[*label, "state"])  # fmt: skip
    for clock_state in ClockState:
        value = 1.0 if clock["state"] == clock_state.value else 0.0
        clock_gauge.add_metric([terminal, clock_state.value], value)
    families += [reader_gauge, clock_gauge]

    sync = report.get("sync")
    assert isinstance(sync, dict)
    success = GaugeMetricFamily("ykt_sync_last_success_timestamp_seconds", "When each sync "
                                "stage last succeeded (Unix time; 0: never).",
                                labels=[*label, "stage"])  # fmt: skip
    last = sync.get("last_success") or {}
    for stage in SYNC_STAGES:
        at = last.get(stage)
        success.add_metric(
            [terminal, stage], dt.datetime.fromisoformat(at).timestamp() if at else 0.0
        )
    alerts = GaugeMetricFamily("ykt_alerts", "Alerts that `ykt status` shows.", labels=label)
    alerts.add_metric([terminal], float(len(_items(report.get("alerts")))))
    families += [success, alerts]
    return families


def _items(value: object) -> list:  # type: ignore[type-arg]
    return list(value) if isinstance(value, list) else []


class _Snapshot:
    """A prometheus_client collector over families computed already."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def write_metrics(path: Path, families: Iterable[Metric]) -> None:
    """Write ``families`` to ``path`` atomically (a temporary file beside it, renamed)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    write_to_textfile(str(path), registry)
    # node_exporter runs as another user: world-readable whatever the service's umask (the
    # file holds no personal data)
    path.chmod(0o644)


class MetricsFile:
    """Rewrites the metrics file every ``interval`` seconds on its own thread, with its own
    store connection (it never holds up a tap)."""

    def __init__(
        self,
        path: Path,
        files: TerminalFiles,
        *,
        open_store: Callable[[], Store],
        sample: Callable[[], ClockSample],
        terminal_id: str,
        limits: UploadLimits,
        reader_state: Callable[[], str] = lambda: "reader: off",
        gate_failures: Callable[[], int] = lambda: 0,
        interval: float = 30.0,
    ) -> None:
        self.path = path
        self.files = files
        self._open_store = open_store
        self._sample = sample
        self.terminal_id = terminal_id
        self.limits = limits
        self._reader_state = reader_state
        self._gate_failures = gate_failures
        self.interval = interval
        self._tally = VerdictTally()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes = 0

    def write_once(self, store: Store) -> None:
        sample = self._sample()
        report = terminal_status(
            self.files, store, sample=sample, limits=self.limits, readers=lambda: []
        )
        families = metric_families(
            report,
            now=sample.wall,
            terminal=self.terminal_id,
            verdicts=self._tally.update(store),
            reader=self._reader_state(),
            gate_failures=self._gate_failures(),
        )
        write_metrics(self.path, families)
        self.writes += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ykt-metrics", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        store: Store | None = None
        failing = False
        try:
            while not self._stop.is_set():
                try:
                    if store is None:
                        store = self._open_store()
                    self.write_once(store)
                    failing = False
                except Exception as error:  # noqa: BLE001  (the thread must outlive any failure)
                    if not failing:  # once per outage, not every interval
                        message = getattr(error, "message", None) or str(error)
                        said = f"{type(error).__name__}: {message}"
                        log_event(log, logging.ERROR, "metrics_not_written",
                                  path=self.path, error=said)  # fmt: skip
                    failing = True
                    if not isinstance(error, OSError | StoreError | TerminalError):
                        _close_quietly(store)  # an unexpected error: a fresh connection
                        store = None
                self._stop.wait(self.interval)
        finally:
            if store is not None:
                store.close()


def _close_quietly(store: Store | None) -> None:
    if store is not None:
        with contextlib.suppress(Exception):
            store.close()
