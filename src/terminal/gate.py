"""A terminal's working parts while it runs, with no screen: what ``ykt run``, ``ykt demo`` and
``ykt demo --script`` share.

:func:`open_gate` puts them together — the station, the sync loop of an enrolled terminal
(started), the card reader watch (started by :meth:`Gate.start_watch`, once there is somewhere
to show what it reads) — and stops them again.  Whoever shows what happens sets
:attr:`Gate.on_card` (a card on the reader: decide it, or hand it to a staff sign-in),
:attr:`Gate.on_verdict`, :attr:`Gate.on_problem` and :attr:`Gate.on_state`: the app
(``terminal.ui.launch``) paints them, ``ykt demo --script`` prints them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from apdu.ssc import CardRecord
from offline_store.errors import StoreError
from terminal.card_reading import ReadRequest
from terminal.clock import ClockSample, sample_now
from terminal.codes.scanners import open_serial_source, parse_serial_source
from terminal.credential import Credential
from terminal.enrolment import TerminalFiles
from terminal.errors import TerminalError
from terminal.reader_watch import ReaderWatch
from terminal.scanner_watch import ScannerWatch
from terminal.station import Station, StationSettings, enrolled_sync_loop
from terminal.sync.loop import SyncLoop
from terminal.verdict import Verdict


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
    #: a serial code scanner, ``serial:PORT[@BAUD][,framing]`` (None: a keyboard wedge only)
    scanner: str | None = None


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
        self.on_code: Callable[[str], None] = self.decide_code_and_show
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

        source = options.scanner
        self.scanner_watch = (
            None
            if source is None
            else ScannerWatch(
                lambda stop: open_serial_source(source, stop=stop),
                self._code,
                on_state=self._state,
            )
        )

    def decide_code_and_show(self, text: str) -> None:
        """Decide a scanned code and hand the verdict to :attr:`on_verdict`."""
        try:
            verdict = self.present_code(text)
        except (TerminalError, StoreError) as error:
            self.on_problem(error.title, error.message)
            return
        self.on_verdict(verdict)

    def _code(self, text: str) -> None:
        self.on_code(text)

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
        reader = self.watch.state if self.watch is not None else self.options.reader_off
        if self.scanner_watch is None:
            return reader
        return f"{reader} · {self.scanner_watch.state}"

    def start_watch(self) -> None:
        if self.watch is not None:
            threading.Thread(target=self.watch.run, name="ykt-reader", daemon=True).start()
        if self.scanner_watch is not None:
            threading.Thread(target=self.scanner_watch.run, name="ykt-scanner",
                             daemon=True).start()  # fmt: skip

    def stop(self) -> None:
        if self.scanner_watch is not None:
            self.scanner_watch.stop()
        if self.watch is not None:
            self.watch.stop()
        if self.loop is not None:
            self.loop.stop()


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
    loop = enrolled_sync_loop(files, sample=sample)
    with Station.open(settings, online=loop.online if loop else None) as station:
        station.policy.service(options.service)
        if options.scanner is not None:
            parse_serial_source(options.scanner)  # a malformed source: said before the screen
        gate = Gate(station, options, loop, sample)
        if loop is not None:
            loop.start()
        try:
            yield gate
        finally:
            gate.stop()
