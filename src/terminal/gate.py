"""A terminal's working parts while it runs, with no screen: what ``ykt run``, ``ykt demo`` and
``ykt demo --script`` share.

:func:`open_gate` puts them together — the station, the sync loop of an enrolled terminal
(started), the card reader watch (started by :meth:`Gate.start_watch`, once there is somewhere
to show what it reads) — and stops them again.  Whoever shows what happens sets
:attr:`Gate.on_card` (a card on the reader: decide it, or hand it to a staff sign-in),
:attr:`Gate.on_verdict`, :attr:`Gate.on_problem` and :attr:`Gate.on_state`: the app
(``terminal.ui.launch``) paints them, ``ykt demo --script`` prints them.

From the configuration (:meth:`LaunchOptions.from_config`) it also puts in the gate relay (on
the checkpoint: pulsed on every journalled admission), a serial scanner (a thread that hands
each code to :attr:`Gate.on_code`), and the metrics file (a thread rewriting it); each is
stopped with the gate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from apdu.ssc import CardRecord
from offline_store.store import Store
from terminal.card_reading import ReadRequest, SecurityModuleChoice
from terminal.clock import ClockSample, sample_now
from terminal.codes.scanners import SerialScanner
from terminal.config import MetricsSection, RelaySection, ScannerSection, TerminalConfig
from terminal.credential import Credential
from terminal.enrolment import TerminalFiles
from terminal.errors import ScannerError
from terminal.metrics import MetricsFile
from terminal.reader_watch import ReaderWatch
from terminal.relay import relay_from
from terminal.station import Station, StationSettings, enrolled_sync_loop
from terminal.status import UploadLimits
from terminal.sync.loop import SyncLoop
from terminal.terminal_keys import TerminalKeys
from terminal.verdict import Verdict

_KEYBOARD = ScannerSection()
_LOG_RELAY = RelaySection()
_NO_METRICS = MetricsSection(path="")
_LIMITS = UploadLimits()


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    """How ``ykt run`` (or the demo) wants the app: the options of ``ykt run``, parsed."""

    mode: str = "gate"
    service: str | None = None
    clear_after: float = 6.0
    #: the card reader to watch; None: none (scanned codes only, or the demo's in-process reader)
    reader: ReadRequest | None = field(default_factory=ReadRequest)
    #: the status bar's reader field when no reader is watched
    reader_off: str = "reader: off"
    scanner: ScannerSection = _KEYBOARD
    relay: RelaySection = _LOG_RELAY
    #: none by default (a demo writes no metrics); ``ykt run`` takes the configuration's
    metrics: MetricsSection = _NO_METRICS
    limits: UploadLimits = _LIMITS
    sync_interval: float = 300.0

    @classmethod
    def from_config(
        cls, config: TerminalConfig, *, security_module: SecurityModuleChoice | None = None
    ) -> LaunchOptions:
        """``ykt run``'s options from the configuration (command-line options already on it).
        ``security_module``: the one already opened (its key file read), else the file's."""
        module = (
            security_module or SecurityModuleChoice.parse(config.reader.security_module).opened()
        )
        reader = (
            ReadRequest(reader_pattern=config.reader.pattern or None, security_module=module)
            if config.reader.enabled
            else None
        )
        return cls(
            mode=config.terminal.mode,
            service=config.terminal.service or None,
            clear_after=config.terminal.clear_after,
            reader=reader,
            scanner=config.scanner,
            relay=config.relay,
            metrics=config.metrics,
            limits=UploadLimits.from_config(config),
            sync_interval=config.sync.interval,
        )


class Gate:
    """An open station with its reader watch and sync loop; where their events go is set by
    whoever shows them (:attr:`on_verdict`, :attr:`on_problem`, :attr:`on_state`)."""

    def __init__(
        self,
        station: Station,
        options: LaunchOptions,
        loop: SyncLoop | None,
        sample: Callable[[], ClockSample],
    ) -> None:
        self.station = station
        self.options = options
        self.loop = loop
        self.sample = sample
        #: a card on the reader (still there): True to flash the reader green
        self.on_card: Callable[[CardRecord], bool] = self.decide_and_show
        self.on_verdict: Callable[[Verdict], None] = lambda verdict: None
        self.on_problem: Callable[[str, str], None] = lambda zh, en: None
        self.on_state: Callable[[str], None] = lambda state: None
        #: a code from the serial scanner
        self.on_code: Callable[[str], None] = lambda text: None
        self._stopping = threading.Event()
        self._scanner: SerialScanner | None = None
        self.metrics: MetricsFile | None = None
        self.watch = (
            None
            if options.reader is None
            else ReaderWatch(
                options.reader,
                self._card,
                on_state=self._state,
                on_problem=self._problem,
            )
        )

    def decide_and_show(self, record: CardRecord) -> bool:
        """Decide the card and hand the verdict to :attr:`on_verdict` (no staff sign-in)."""
        verdict = self.present_card(record)
        self.on_verdict(verdict)
        return verdict.admits

    # the watch's callbacks, through the attributes as they are when it calls
    def _card(self, record: CardRecord) -> bool:  # the card is still on the reader
        return self.on_card(record)

    def _state(self, state: str) -> None:
        self.on_state(state)

    def _problem(self, zh: str, en: str) -> None:
        self.on_problem(zh, en)

    def present_card(self, record: CardRecord) -> Verdict:
        """Decide a card read (and journal it); raises TerminalError or StoreError."""
        return self.station.checkpoint.present(
            Credential.from_card(record), sample=self.sample(), service=self.options.service
        )

    def present_code(self, text: str) -> Verdict:
        """Decide a scanned code (and journal it); a refused code raises CodeRejected."""
        return self.station.checkpoint.present_code(
            text, sample=self.sample(), service=self.options.service
        )

    def online(self) -> bool:
        return self.loop.online() if self.loop is not None else False

    def reader_state(self) -> str:
        return self.watch.state if self.watch is not None else self.options.reader_off

    def start_watch(self) -> None:
        if self.watch is not None:
            threading.Thread(target=self.watch.run, name="ykt-reader", daemon=True).start()

    def start_inputs(self) -> None:
        """The reader watch and the serial scanner (once there is somewhere to show them)."""
        self.start_watch()
        self.start_scanner()

    def start_scanner(self) -> None:
        """Read the serial scanner of ``[scanner] kind = "serial"`` on a thread of its own."""
        if self.options.scanner.kind == "serial":
            threading.Thread(target=self._scan, name="ykt-scanner", daemon=True).start()

    def _scan(self) -> None:
        """Codes from the serial scanner to :attr:`on_code`; a scanner unplugged or missing is
        said once and opened again every 2 s."""
        section = self.options.scanner
        said = ""
        while not self._stopping.is_set():
            try:
                scanner = SerialScanner(section.port, baudrate=section.baud,
                                        framing=section.framing)  # fmt: skip
                self._scanner = scanner
                said = ""
                with scanner:
                    for text in scanner.codes():
                        if text.strip():
                            self.on_code(text)
            except ScannerError as error:
                if error.message != said:
                    self.on_problem("扫码器无法使用，请工作人员处理", error.message)
                    said = error.message
            finally:
                self._scanner = None
            self._stopping.wait(2.0)

    def stop(self) -> None:
        self._stopping.set()
        scanner = self._scanner
        if scanner is not None:
            scanner.close()
        if self.watch is not None:
            self.watch.stop()
        if self.loop is not None:
            self.loop.stop()
        if self.metrics is not None:
            self.metrics.stop()
        relay = self.station.checkpoint.relay
        if relay is not None:
            relay.close()


@contextmanager
def open_gate(
    settings: StationSettings,
    options: LaunchOptions,
    *,
    sample: Callable[[], ClockSample] = sample_now,
) -> Iterator[Gate]:
    """The station (an unknown service is refused here, before any screen), the sync loop of
    an enrolled terminal, running, and the reader watch, not yet started."""
    files = TerminalFiles.beside(settings.store_path, settings.keys_path)
    loop = enrolled_sync_loop(files, sample=sample, interval=options.sync_interval)
    with Station.open(settings, online=loop.online if loop else None) as station:
        station.policy.service(options.service)
        station.checkpoint.relay = relay_from(options.relay)
        station.checkpoint.relay_seconds = options.relay.pulse_seconds
        gate = Gate(station, options, loop, sample)
        if options.metrics.path:
            gate.metrics = _metrics_file(gate, files, Path(options.metrics.path))
            gate.metrics.start()
        if loop is not None:
            loop.start()
        try:
            yield gate
        finally:
            gate.stop()


def _metrics_file(gate: Gate, files: TerminalFiles, path: Path) -> MetricsFile:
    keys = TerminalKeys.from_file(files.keys)
    settings = gate.station.settings
    return MetricsFile(
        path,
        files,
        open_store=lambda: Store.open(files.store, journal_key=keys.journal_key, create=False),
        sample=gate.sample,
        terminal_id=settings.terminal_id,
        limits=gate.options.limits,
        reader_state=gate.reader_state,
        gate_failures=lambda: gate.station.checkpoint.gate_failures,
        interval=gate.options.metrics.interval,
    )
