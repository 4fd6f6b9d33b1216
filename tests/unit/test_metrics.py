"""terminal.metrics: the textfile-collector file, parsed back with prometheus_client's own
parser — verdict totals from the journal (not reset by a restart), list ages, the upload queue,
reader and clock state, last sync — agreeing with ``ykt status``; written atomically."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import demo_station
from prometheus_client.parser import text_string_to_metric_families

from apdu.emulator import load_holders
from apdu.ssc import Authenticity
from offline_store.journal import USAGE
from offline_store.store import Store
from terminal.clock import ClockSample
from terminal.config import MetricsSection
from terminal.credential import Credential, CredentialKind
from terminal.demo_lists import DEMO_RESERVATION_ID
from terminal.enrolment import TerminalFiles
from terminal.gate import LaunchOptions, open_gate
from terminal.logs import fields_of
from terminal.metrics import MetricsFile, reader_state_kind
from terminal.station import Station, StationSettings
from terminal.status import UploadLimits, terminal_status
from terminal.sync.state import SyncState
from terminal.terminal_keys import TerminalKeys

START = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)
LATER = START + dt.timedelta(hours=3, seconds=17)


def at(moment: dt.datetime) -> ClockSample:
    return ClockSample(moment, 1000.0 + (moment - START).total_seconds(), "boot")


def holder_card(key: str) -> Credential:
    holder = load_holders()[key]
    return Credential(
        kind=CredentialKind.CARD, authenticity=Authenticity.VERIFIED, card_id=holder.card_id,
        card_number=holder.card_number, ssn=holder.ssn, name=holder.name,
        birth_date=holder.birth_date, expiry_date=holder.expiry_date,
    )  # fmt: skip


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    with demo_station(tmp_path, at(START)) as opened:
        yield opened


def metrics_file(station: Station, path: Path, reader: str = "reader: ready") -> MetricsFile:
    files = TerminalFiles.beside(station.settings.store_path, station.settings.keys_path)
    keys = TerminalKeys.from_file(files.keys)
    return MetricsFile(
        path, files,
        open_store=lambda: Store.open(files.store, journal_key=keys.journal_key, create=False),
        sample=lambda: at(LATER), terminal_id="T-GATE-7", limits=UploadLimits(),
        reader_state=lambda: reader, gate_failures=lambda: 2,
    )  # fmt: skip


def parse(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    values = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return values[(name, tuple(sorted({"terminal": "T-GATE-7", **labels}.items())))]  # type: ignore[no-any-return]


def tap_a_few(station: Station, when: dt.datetime) -> None:
    checkpoint = station.checkpoint
    checkpoint.present(holder_card("sh-gen3"), sample=at(when), service="museum.entry")
    checkpoint.present(holder_card("sh-lost-gen3"), sample=at(when), service="museum.entry")
    checkpoint.present_code(f"YKTR1:{DEMO_RESERVATION_ID}", sample=at(when), service="museum.entry")
    checkpoint.present_code("https://pay.example/?x", sample=at(when), service="museum.entry")


def test_the_file_parses_and_agrees_with_ykt_status(station: Station, tmp_path: Path) -> None:
    tap_a_few(station, START + dt.timedelta(minutes=5))
    files = TerminalFiles.beside(station.settings.store_path, station.settings.keys_path)
    state = SyncState()
    state.succeeded(START, "lists")
    state.save(files.sync_state)
    path = tmp_path / "ykt.prom"
    writer = metrics_file(station, path)
    store = writer._open_store()
    try:
        writer.write_once(store)
        report = terminal_status(files, store, sample=at(LATER), limits=UploadLimits(),
                                 readers=lambda: [])  # fmt: skip
    finally:
        store.close()
    values = parse(path)
    outcomes = {
        o: sum(1 for r in station.store.journal.records() if r.body["verdict"] == o)
        for o in ("admit", "admit_with_benefit", "deny", "refer")
    }
    assert outcomes["admit"] >= 1
    assert outcomes["deny"] >= 1
    for outcome, number in outcomes.items():
        assert value(values, "ykt_verdicts_total", outcome=outcome) == number
    assert value(values, "ykt_gate_failures_total") == 2
    assert report["lists"]
    for item in report["lists"]:  # type: ignore[attr-defined]
        issued = dt.datetime.fromisoformat(item["issued_at"])
        age = value(values, "ykt_list_age_seconds", list=item["name"])
        assert age == (LATER - issued).total_seconds()
        assert abs(age / 3600 - item["age_hours"]) <= 0.05  # what ykt status prints
        assert value(values, "ykt_list_version", list=item["name"]) == item["version"]
        assert value(values, "ykt_list_expired", list=item["name"]) == float(item["expired"])
    assert value(values, "ykt_upload_unsent_records", chain="usage") == report["queue"]["unsent"]  # type: ignore[index]
    assert value(values, "ykt_upload_unsent_records", chain="audit") == 0
    oldest = dt.datetime.fromisoformat(report["queue"]["oldest_unsent_at"])  # type: ignore[index]
    assert value(values, "ykt_upload_oldest_unsent_age_seconds") == (LATER - oldest).total_seconds()
    assert value(values, "ykt_reader_state", state="ready") == 1
    assert value(values, "ykt_reader_state", state="unavailable") == 0
    assert value(values, "ykt_clock_state", state=report["clock"]["state"]) == 1  # type: ignore[index]
    assert sum(v for (n, _), v in values.items() if n == "ykt_clock_state") == 1
    assert value(values, "ykt_sync_last_success_timestamp_seconds", stage="lists") == (
        START.timestamp()
    )
    assert value(values, "ykt_sync_last_success_timestamp_seconds", stage="upload") == 0
    assert value(values, "ykt_alerts") == len(report["alerts"])  # type: ignore[arg-type]
    assert {dict(labels)["terminal"] for _, labels in values} == {"T-GATE-7"}


def test_totals_come_from_the_journal_so_a_restart_does_not_reset_them(
    station: Station, tmp_path: Path
) -> None:
    path = tmp_path / "ykt.prom"
    writer = metrics_file(station, path)
    store = writer._open_store()
    try:
        tap_a_few(station, START + dt.timedelta(minutes=1))
        writer.write_once(store)
        first = parse(path)
        tap_a_few(station, START + dt.timedelta(minutes=2))
        writer.write_once(store)  # only the new records are counted
        second = parse(path)
        restarted = metrics_file(station, path)  # a new process: counted in full again
        restarted.write_once(store)
        third = parse(path)
    finally:
        store.close()
    total = station.store.journal.verify(USAGE)

    def verdicts(values: dict) -> float:  # type: ignore[type-arg]
        return sum(v for (n, _), v in values.items() if n == "ykt_verdicts_total")

    assert verdicts(first) == total / 2
    assert verdicts(second) == total
    assert verdicts(third) == total
    assert second == third


def test_the_file_is_replaced_by_a_rename_and_no_temporary_file_is_left(
    station: Station, tmp_path: Path
) -> None:
    folder = tmp_path / "textfile"
    folder.mkdir()
    path = folder / "ykt.prom"
    path.write_text("# an older file\n")
    before = path.stat().st_ino
    writer = metrics_file(station, path)
    store = writer._open_store()
    try:
        writer.write_once(store)
    finally:
        store.close()
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert sorted(p.name for p in folder.iterdir()) == ["ykt.prom"]
    assert "ykt_verdicts_total" in path.read_text()


def test_reader_states_map_to_the_documented_labels() -> None:
    assert reader_state_kind("reader: ready") == "ready"
    assert reader_state_kind("reader: starting") == "starting"
    assert reader_state_kind("reader: card service down (pcscd), retrying") == "service_down"
    assert reader_state_kind("reader: reader unplugged, retrying") == "unavailable"
    assert reader_state_kind("reader: off") == "off"


def test_journal_tally_counts_by_body_key_after_a_seq(station: Station) -> None:
    tap_a_few(station, START + dt.timedelta(minutes=1))
    found, last = station.store.journal.tally(USAGE, "verdict")
    assert sum(found.values()) == last == 4
    more, after = station.store.journal.tally(USAGE, "verdict", after=last)
    assert (more, after) == ({}, 4)
    with pytest.raises(ValueError, match="not a body key"):
        station.store.journal.tally(USAGE, "verdict') --")


def test_the_running_gate_writes_the_file_and_stops(tmp_path: Path) -> None:
    with demo_station(tmp_path, at(START)) as station:
        settings = station.settings
    path = tmp_path / "metrics" / "ykt.prom"
    path.parent.mkdir()
    options = LaunchOptions(reader=None, metrics=MetricsSection(path=str(path), interval=1))
    with open_gate(settings, options, sample=lambda: at(LATER)) as gate:
        assert gate.metrics is not None
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.exists()
        gate.present_code(f"YKTR1:{DEMO_RESERVATION_ID}")
        while gate.metrics.writes < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gate.metrics.writes >= 2  # refreshed while the terminal runs
    assert path.stat().st_mode & 0o777 == 0o644  # node_exporter is another user
    values = parse(path)
    labels = {dict(k[1])["terminal"] for k in values}
    assert labels == {settings.terminal_id}
    assert value_for(values, "ykt_reader_state", state="off") == 1
    disabled = LaunchOptions(reader=None, metrics=MetricsSection(path=""))
    with open_gate(settings, disabled, sample=lambda: at(LATER)) as gate:
        assert gate.metrics is None


def value_for(values: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return next(
        v for (n, ls), v in values.items()
        if n == name and all(dict(ls).get(k) == w for k, w in labels.items())
    )  # fmt: skip


def test_an_unwritable_folder_is_logged_once_and_the_terminal_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="terminal.metrics")
    with demo_station(tmp_path, at(START)) as station:
        settings = station.settings
    path = tmp_path / "no-such-folder" / "ykt.prom"
    options = LaunchOptions(reader=None, metrics=MetricsSection(path=str(path), interval=1))
    with open_gate(settings, options, sample=lambda: at(LATER)) as gate:
        time.sleep(2.5)
        verdict = gate.present_code(f"YKTR1:{DEMO_RESERVATION_ID}")
        assert verdict.journal_seq == 1
    failures = [fields_of(r) for r in caplog.records]
    assert [f["event"] for f in failures if f] == ["metrics_not_written"]


def test_station_settings_terminal_id_is_the_label(tmp_path: Path) -> None:
    with demo_station(tmp_path, at(START)) as station:
        assert isinstance(station.settings, StationSettings)
        assert station.settings.terminal_id == "T-UNENROLLED"


def test_the_metrics_thread_outlives_an_unexpected_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.ERROR, logger="terminal.metrics")
    with demo_station(tmp_path, at(START)) as station:
        settings = station.settings
    path = tmp_path / "ykt.prom"
    real = MetricsFile.write_once
    calls: list[int] = []

    def flaky(self: MetricsFile, store: Store) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        real(self, store)

    monkeypatch.setattr(MetricsFile, "write_once", flaky)
    options = LaunchOptions(reader=None, metrics=MetricsSection(path=str(path), interval=1))
    with open_gate(settings, options, sample=lambda: at(LATER)):
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert path.exists()  # written after the failure: the thread went on
    failures = [fields_of(r) for r in caplog.records]
    assert [f["event"] for f in failures if f] == ["metrics_not_written"]
