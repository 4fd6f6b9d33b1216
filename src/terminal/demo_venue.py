"""The demo venue: everything ``ykt demo`` runs the terminal app on, built in a temporary folder.

:func:`open_demo_venue` builds it and takes it down again (the folder is removed at exit):

1. **Lists from the reference back office**, when its command ``ykt-backoffice`` is installed
   (beside this Python, else on ``PATH``): a data folder is made (``init``) and filled through
   its own admin commands — the lost card on the deny list, the day's museum reservations
   (three holders and the reservation ``M-DEMO-0001``), the library readers, the ESSC1 test
   issuer keys, the demo venue policy (``policies/demo-venue.toml``), two staff members —
   then ``publish``; ``serve --port 0`` runs it on loopback; ``terminal add`` gives a token,
   and this terminal is enrolled (:mod:`terminal.enrolment`) and synced once
   (:func:`~terminal.sync.run.run_sync`) exactly as in the field, so the store holds the
   signed lists, the staff roster and the back office's signed time, and the app's sync loop
   keeps talking to it ("online").  Without the command (or if it fails), the same lists are
   published into a folder and applied by sync (:func:`terminal.demo_lists.seed_demo_store`,
   the same staff roster too), with no network; the venue says so.
2. **Emulated cards in the real PC/SC stack**, where pcscd and vsmartcard's vpcd can run
   (:class:`~apdu.emulator.stack.PcscStack`): a test PSAM in the second slot, and the
   :class:`DemoDeck` puts each card in the first slot, where the app's reader watch reads it
   like any card.  Otherwise the deck reads each card in this process through the same card
   reading code (:func:`apdu.ssc.read_card` with a PSAM) and hands the record to the app,
   whose status bar says ``in-process reader (no pcscd): why``.

Nothing here draws a screen: ``terminal.demo`` puts the venue and the app together.  All the
people are invented (``apdu/emulator/holders.toml``), all keys are published test keys.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from apdu.emulator import Fault, FaultPlan, VirtualCard, VirtualPsam, load_holders, testing_masters
from apdu.emulator.stack import CARD_READER, SAM_READER, PcscStack
from apdu.errors import ApduError
from apdu.scripted import EmulatedTransport
from apdu.security.psam import PsamSecurityModule
from apdu.ssc import CardRecord, read_card
from apdu.transport import CardChannel
from offline_store.errors import StoreError
from offline_store.holder_refs import HolderKeyer
from offline_store.store import Store
from offline_store.whole_files import write_whole
from terminal.card_reading import ReadRequest, SecurityModuleChoice
from terminal.clock import ClockSample
from terminal.codes.dispatch import RESERVATION_PREFIX
from terminal.codes.issuer import IssuerSimulator
from terminal.demo_lists import (
    DEMO_DENIED,
    DEMO_READERS,
    DEMO_RESERVATION_ID,
    DEMO_RESERVED,
    seed_demo_store,
)
from terminal.demo_lists import DEMO_STAFF as DEMO_LISTS_STAFF
from terminal.enrolment import TerminalFiles, enrol, parse_root_key
from terminal.errors import (
    BackOfficeRefused,
    BackOfficeUnreachable,
    DemoError,
    SyncError,
    TerminalError,
)
from terminal.station import StationSettings
from terminal.sync.backoffice_api import BackOfficeApi
from terminal.sync.run import SyncTarget, run_sync
from terminal.sync.technician import sync_parts
from terminal.sync.transport import RetryPolicy, new_client
from terminal.terminal_keys import TerminalKeys

DEMO_TERMINAL_ID = "DEMO-GATE-1"
DEMO_POLICY = "demo-venue.toml"
#: the service of the demo gate (the demo policy's default)
DEMO_SERVICE = "museum.entry"
BACKOFFICE_COMMAND = "ykt-backoffice"
#: ``ykt-backoffice`` admin commands run this many at a time while the venue is filled
POPULATE_WORKERS = 3
COMMAND_TIMEOUT = 60.0
SERVE_TIMEOUT = 20.0
VENUE_ZONE = ZoneInfo("Asia/Shanghai")
#: how long the demo's reservations run, from the hour the demo starts in
RESERVED_FOR = dt.timedelta(hours=12)
#: the status bar's reader field when the deck reads the cards itself
IN_PROCESS = "in-process reader (no pcscd): "
#: the app's reader watch on the emulated reader, authenticating with the test PSAM
DEMO_READ_REQUEST = ReadRequest(
    reader_pattern=CARD_READER, security_module=SecurityModuleChoice("psam", SAM_READER)
)


@dataclass(frozen=True, slots=True)
class DemoStaff:
    staff_id: str
    holder: str  # the member's own card (holders.toml)
    role: str  # desk | tech
    pin: str  # a demo PIN, shown on screen: never a real one


#: the demo staff of the folder lists too (``terminal.demo_lists``), in roster order
DEMO_STAFF = tuple(
    DemoStaff(staff_id, holder, role.value, pin)
    for holder, (staff_id, role, pin) in DEMO_LISTS_STAFF.items()
)


class DemoCode(Enum):
    RESERVATION = "reservation"  # YKTR1:M-DEMO-0001
    ESSC1 = "essc1"  # a fresh e-card code of sh-gen3
    ESSC1_AGAIN = "essc1-again"  # the last e-card code once more: a replay


@dataclass(frozen=True, slots=True)
class DemoKey:
    """One presenter key: a card (``holder``, with ``faults``) or a code."""

    key: str  # Textual's key name
    label: str  # on the key line
    #: what it shows at the demo gate (museum.entry) when the keys are pressed F1 to F11
    shows: str
    holder: str | None = None
    faults: frozenset[Fault] = frozenset()
    code: DemoCode | None = None


DEMO_KEYS = (
    DemoKey("f1", "valid card", "admit: a Shanghai card with today's reservation", "sh-gen3"),
    DemoKey("f2", "lost card", "deny: on the deny list, reported lost", "sh-lost-gen3"),
    DemoKey("f3", "expired card", "deny: the card expired in 2024", "expired-gen2"),
    DemoKey("f4", "cloned card", "deny: not authentic (F1's data, wrong keys)", "sh-gen3",
            frozenset({Fault.CLONE})),
    DemoKey("f5", "demo-zone resident", "admit with benefit: demonstration-zone half price",
            "wujiang-resident-gen3"),
    DemoKey("f6", "senior", "admit with benefit: free at 65 and over", "qingpu-senior-gen3"),
    DemoKey("f7", "reservation code", f"admit: {RESERVATION_PREFIX}{DEMO_RESERVATION_ID}",
            code=DemoCode.RESERVATION),
    DemoKey("f8", "e-card code", "refer: F1's holder again within 30 min (anti-passback); "
            "pressed before F1: admit", code=DemoCode.ESSC1),
    DemoKey("f9", "same code again", "deny: the F8 code replayed", code=DemoCode.ESSC1_AGAIN),
    *(DemoKey(f"f{10 + n}", f"staff {m.staff_id} PIN {m.pin}", f"{m.role} staff card, for "
              "staff sign-in; at the gate: deny, no reservation", m.holder)
      for n, m in enumerate(DEMO_STAFF)),
)  # fmt: skip


def demo_policy_text() -> str:
    return resources.files("terminal").joinpath("policies", DEMO_POLICY).read_text("utf-8")


# -- the presenter keys -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Presenter:
    """Where the deck sends what it presents; each is called from the deck's worker thread.
    ``card`` is used only by the in-process reader (through pcscd the reader watch reads)."""

    card: Callable[[CardRecord], None]
    code: Callable[[str], None]
    problem: Callable[[str, str], None]


class DemoDeck:
    """The cards and codes behind the presenter keys.  One at a time: a second key waits until
    the card of the first is off the reader.

    Through pcscd a card stays in the reader until the verdict is shown (:meth:`settle`) and at
    least ``min_hold`` seconds, at most ``max_hold``; then it is pulled out, as a person would.
    """

    def __init__(
        self,
        stack: PcscStack | None,
        *,
        sample: Callable[[], ClockSample],
        min_hold: float = 2.0,
        max_hold: float = 8.0,
    ) -> None:
        self.stack = stack
        self.sample = sample
        self.min_hold = min_hold
        self.max_hold = max_hold
        self.holders = load_holders()
        self.masters = testing_masters()
        self.issuer = IssuerSimulator()
        self.presenter: Presenter | None = None
        self._lock = threading.Lock()
        self._settled = threading.Event()
        self._last_code: str | None = None
        self._psam: PsamSecurityModule | None = None

    def attach(self, presenter: Presenter) -> None:
        self.presenter = presenter

    def settle(self) -> None:
        """The verdict (or a problem) for the card on the reader is shown."""
        self._settled.set()

    def press(self, key: DemoKey) -> None:
        """Present ``key``'s card or code (blocking: run it in a worker thread)."""
        presenter = self.presenter
        if presenter is None:
            return
        with self._lock:
            self._settled.clear()
            if key.code is not None:
                self._present_code(key.code, presenter)
            elif self.stack is not None:
                self._insert(key, self.stack, presenter)
            else:
                self._read_here(key, presenter)

    def action(self, key: DemoKey) -> Callable[[], None]:
        return partial(self.press, key)

    def _card(self, key: DemoKey) -> VirtualCard:
        assert key.holder is not None
        return VirtualCard(self.holders[key.holder], self.masters, FaultPlan(faults=key.faults))

    def _insert(self, key: DemoKey, stack: PcscStack, presenter: Presenter) -> None:
        try:
            stack.insert(self._card(key), CARD_READER)
        except ApduError as error:
            presenter.problem("演示卡片未能放入读卡器", f"demo card not inserted: {error.message}")
            return
        inserted = self.sample().monotonic
        self._settled.wait(self.max_hold)
        # a moment more, so the reader watch is done with the card before it goes
        time.sleep(max(0.3, self.min_hold - (self.sample().monotonic - inserted)))
        try:
            stack.remove(CARD_READER)
        except ApduError as error:
            presenter.problem("演示卡片未能取出", f"demo card not removed: {error.message}")

    def _read_here(self, key: DemoKey, presenter: Presenter) -> None:
        try:
            if self._psam is None:
                self._psam = PsamSecurityModule(
                    CardChannel(EmulatedTransport(VirtualPsam(self.masters), "Demo PSAM"))
                )
            transport = EmulatedTransport(self._card(key), "Demo in-process reader")
            record = read_card(CardChannel(transport), self._psam)
        except ApduError as error:
            presenter.problem("卡片无法读取，请工作人员处理", f"{error.title}: {error.message}")
            return
        presenter.card(record)

    def _present_code(self, code: DemoCode, presenter: Presenter) -> None:
        if code is DemoCode.RESERVATION:
            presenter.code(RESERVATION_PREFIX + DEMO_RESERVATION_ID)
            return
        if code is DemoCode.ESSC1_AGAIN:
            if self._last_code is None:
                presenter.problem(
                    "请先按 F8 出示电子社保卡二维码", "press F8 first: F9 repeats its code"
                )
                return
            presenter.code(self._last_code)
            return
        holder = self.holders["sh-gen3"]
        self._last_code = self.issuer.issue(
            card_id=holder.card_id, card_number=holder.card_number, name=holder.name,
            birth_date=holder.birth_date, iat=self.sample().wall, lifetime=180,
        )  # fmt: skip
        presenter.code(self._last_code)


# -- the reference back office, as its own commands ---------------------------------------------
def find_backoffice() -> str | None:
    """``ykt-backoffice`` beside this Python (the same venv), else on ``PATH``."""
    beside = Path(sys.executable).with_name(BACKOFFICE_COMMAND)
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(BACKOFFICE_COMMAND)


class DemoBackOffice:
    """``ykt-backoffice`` on the demo's data folder.  Identifiers go in on standard input
    (``-``), never on a command line another user could read."""

    def __init__(self, executable: str, data: Path, *, sample: Callable[[], ClockSample]) -> None:
        self.executable = executable
        self.data = data
        self.sample = sample
        self.url: str | None = None
        self._server: subprocess.Popen[bytes] | None = None

    def run(self, *args: str, stdin: str | None = None) -> str:
        what = f"{BACKOFFICE_COMMAND} {' '.join(a for a in args[:2] if not a.startswith('-'))}"
        try:
            result = subprocess.run(  # noqa: S603 - our own command, no shell
                [self.executable, *args, "--data", str(self.data)],
                input=stdin, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackOfficeUnreachable(f"{what} could not run: {exc}") from exc
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
            raise BackOfficeRefused(f"{what} failed (exit {result.returncode}): {last}")
        return result.stdout

    def serve(self) -> str:
        """Start ``serve`` on a free loopback port; its URL once it listens."""
        out = self.data.with_name("backoffice-serve.out")
        err = self.data.with_name("backoffice-serve.log")
        with out.open("wb") as stdout, err.open("wb") as stderr:
            self._server = subprocess.Popen(  # noqa: S603 - our own command, no shell
                [self.executable, "serve", "--data", str(self.data), "--host", "127.0.0.1",
                 "--port", "0"],
                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
            )  # fmt: skip
        deadline = self.sample().monotonic + SERVE_TIMEOUT
        while self.sample().monotonic < deadline:
            first, newline, _ = out.read_text("utf-8", "replace").partition("\n")
            if newline and first.startswith("listening on http://"):
                self.url = first.removeprefix("listening on ")
                return self.url
            if self._server.poll() is not None:
                tail = err.read_text("utf-8", "replace").strip()[-300:]
                raise BackOfficeUnreachable(f"{BACKOFFICE_COMMAND} serve exited: {tail}")
            time.sleep(0.02)  # waiting for a process's first line, not for a card
        raise BackOfficeUnreachable(f"{BACKOFFICE_COMMAND} serve did not listen in time")

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None or server.poll() is not None:
            return
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


Command = tuple[tuple[str, ...], str | None]


def populate_commands(root: Path, *, now: dt.datetime) -> list[Command]:
    """The admin commands (arguments, standard input) that fill the demo back office."""
    holders = load_holders()
    # a visiting slot from the last full hour to 12 hours on: open for the whole demo
    start = now.astimezone(VENUE_ZONE).replace(minute=0, second=0, microsecond=0)
    slot = ("--from", start.isoformat(), "--until", (start + RESERVED_FOR).isoformat())
    year = ("--until", (now + dt.timedelta(days=365)).isoformat())
    museum = ("--attr", f"service={DEMO_SERVICE}")
    commands: list[Command] = []

    def add(*args: str, stdin: str | None = None) -> None:
        commands.append((args, stdin))

    for holder, reason in DEMO_DENIED.items():
        add("deny", "add", "-", "--reason", reason.name.lower(), stdin=holders[holder].card_id)
    for holder in DEMO_RESERVED:
        add("benefit", "add", "reservations", "--card-id", "-", *slot, *museum,
            stdin=holders[holder].card_id)  # fmt: skip
    add("benefit", "add", "reservations", "--reservation-id", "-", *slot, *museum,
        "--attr", "party=1", stdin=DEMO_RESERVATION_ID)  # fmt: skip
    for holder in DEMO_READERS:  # by SSN (a replacement card stays registered) and by card id
        add("benefit", "add", "library-readers", "--ssn", "-", *year, stdin=holders[holder].ssn)
        add("benefit", "add", "library-readers", "--card-id", "-", *year,
            stdin=holders[holder].card_id)  # fmt: skip
    folder = root / "issuer-keys"
    folder.mkdir(exist_ok=True)
    for number, issuer in enumerate(IssuerSimulator().issuer_keys()):
        path = folder / f"{number}-{issuer.kid.hex()}.raw"
        path.write_bytes(issuer.public_key)
        add("issuer", "add", "--kid", issuer.kid.hex(), "--alg", issuer.algorithm,
            "--public-key-file", str(path), "--regions", ",".join(issuer.regions),
            "--valid-from", issuer.valid_from.isoformat(),
            "--valid-until", issuer.valid_until.isoformat(), "--test",
            *(("--cross-region",) if issuer.cross_region else ()))  # fmt: skip
    policy = root / DEMO_POLICY
    policy.write_text(demo_policy_text(), "utf-8")
    add("policy", "set", str(policy))
    for member in DEMO_STAFF:
        add("staff", "add", member.staff_id, "--card-id", "-", "--role", member.role,
            "--pin-stdin", stdin=f"{holders[member.holder].card_id}\n{member.pin}\n")  # fmt: skip
    return commands


# -- the venue ----------------------------------------------------------------------------------
@dataclass
class DemoVenue:
    root: Path
    settings: StationSettings
    deck: DemoDeck
    #: where the lists came from, in words
    lists_source: str
    #: the card reader: the pcscd reader to watch, or None for the in-process reader
    read_request: ReadRequest | None
    #: the reader in words; for the in-process reader, the status bar's reader field
    #: (``in-process reader (no pcscd): why``)
    reader_note: str
    backoffice_url: str | None = None
    #: what did not work and what was done instead, in words (shown before the app starts)
    notes: list[str] = field(default_factory=list)
    #: seconds each stage took, and ``ready`` for the whole
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def open_demo_venue(
    *,
    sample: Callable[[], ClockSample],
    use_pcsc: bool = True,
    use_backoffice: bool = True,
    min_hold: float = 2.0,
    echo: Callable[[str], None] = lambda line: None,
) -> Iterator[DemoVenue]:
    """Build the venue (module docstring); everything is taken down on leaving."""
    started = sample().monotonic
    with ExitStack() as cleanup:
        root = Path(tempfile.mkdtemp(prefix="ykt-demo-"))
        cleanup.callback(shutil.rmtree, root, ignore_errors=True)
        timings: dict[str, float] = {}
        notes: list[str] = []
        with ThreadPoolExecutor(1, thread_name_prefix="ykt-demo-cards") as background:
            cards: Future[tuple[PcscStack | None, str]] = background.submit(
                _card_stack if use_pcsc else lambda: (None, IN_PROCESS + "--in-process given"),
            )
            cleanup.callback(_stop_cards, cards)  # whatever happens next
            lists_start = sample().monotonic
            executable = find_backoffice() if use_backoffice else None
            backoffice: DemoBackOffice | None = None
            if executable is None:
                notes.append(
                    "no back office: lists published into a folder and applied by sync "
                    + ("(--no-backoffice)" if not use_backoffice else
                       f"({BACKOFFICE_COMMAND} is not installed: `./dev setup` installs it)")
                    + "; network offline"
                )  # fmt: skip
            else:
                backoffice = DemoBackOffice(executable, root / "backoffice", sample=sample)
                cleanup.callback(backoffice.stop)
                try:
                    files = _lists_from_backoffice(backoffice, root, sample, echo, timings)
                except (TerminalError, StoreError, OSError) as error:
                    backoffice.stop()
                    backoffice = None
                    message = getattr(error, "message", str(error))
                    notes.append(
                        f"the back office failed ({message}): lists published into a folder "
                        "instead; network offline"
                    )
            if backoffice is None:
                files = _lists_from_folder(root, sample)
            timings["lists"] = sample().monotonic - lists_start
            stack, reader = cards.result()
            timings["cards"] = sample().monotonic - started
        timings["ready"] = sample().monotonic - started
        settings = StationSettings(
            store_path=files.store,
            keys_path=files.keys,
            # without a back office nobody publishes the demo policy: the same file, locally
            policy_path=None if backoffice is not None else root / DEMO_POLICY,
            terminal_id=DEMO_TERMINAL_ID,
            production=False,  # a demo terminal: it accepts the test issuers' codes
        )
        yield DemoVenue(
            root=root,
            settings=settings,
            deck=DemoDeck(stack, sample=sample, min_hold=min_hold),
            lists_source=(
                f"reference back office at {backoffice.url}"
                if backoffice is not None and backoffice.url
                else "signed demo lists from a folder (no back office)"
            ),
            read_request=None if stack is None else DEMO_READ_REQUEST,
            reader_note=reader,
            backoffice_url=None if backoffice is None else backoffice.url,
            notes=notes,
            timings=timings,
        )


def _stop_cards(cards: Future[tuple[PcscStack | None, str]]) -> None:
    """Take the cards out, wait until PC/SC shows both readers empty (a pcscd shared with
    others sees them gone before this returns), then stop pcscd if the demo started it."""
    stack, _ = cards.result()
    if stack is None:
        return
    for reader in (CARD_READER, SAM_READER):
        with contextlib.suppress(ApduError):
            stack.remove(reader)
    stack.stop()


def _card_stack() -> tuple[PcscStack | None, str]:
    """pcscd + vpcd with the test PSAM in, or None and why not."""
    stack = PcscStack()
    try:
        stack.start()
        stack.insert(VirtualPsam(testing_masters()), SAM_READER)
    except (ApduError, OSError) as error:
        stack.stop()
        why = error.message if isinstance(error, ApduError) else str(error)
        return None, IN_PROCESS + why
    daemon = "started for the demo" if stack.started_daemon else "already running"
    return stack, f"emulated cards in {CARD_READER!r}, test PSAM in {SAM_READER!r} (pcscd {daemon})"


def _lists_from_backoffice(
    backoffice: DemoBackOffice,
    root: Path,
    sample: Callable[[], ClockSample],
    echo: Callable[[str], None],
    timings: dict[str, float],
) -> TerminalFiles:
    """Fill, publish and serve the back office; enrol this terminal and sync it once."""
    now = sample().wall
    mark = sample().monotonic

    def took(stage: str) -> None:
        nonlocal mark
        timings[stage] = sample().monotonic - mark
        mark = sample().monotonic

    init = json.loads(backoffice.run("init", "--json"))
    took("init")
    root_key = init["root_key"]
    root_text = f"{root_key['key_id']}:{root_key['algorithm']}:{root_key['public_key']}"
    with ThreadPoolExecutor(POPULATE_WORKERS, thread_name_prefix="ykt-demo-bo") as pool:
        serving = pool.submit(backoffice.serve)
        token = pool.submit(backoffice.run, "terminal", "add", DEMO_TERMINAL_ID, "--json")
        filled = [
            pool.submit(backoffice.run, *args, stdin=stdin)
            for args, stdin in populate_commands(root, now=now)
        ]
        for future in filled:
            future.result()
        took("fill")
        backoffice.run("publish")
        took("publish")
        url = serving.result()
        grant_token = str(json.loads(token.result())["token"])
    echo(f"back office: {url} (data {backoffice.data})")
    files = TerminalFiles.beside(root / "terminal" / "store.db")
    retry = RetryPolicy()
    with new_client(retry) as client:
        enrol(
            files, BackOfficeApi(url, client, retry), terminal_id=DEMO_TERMINAL_ID,
            token=grant_token, root_key=parse_root_key(root_text), now=sample().wall,
        )  # fmt: skip
    took("enrol")
    keys = TerminalKeys.from_file(files.keys)
    with Store.open(files.store, journal_key=keys.journal_key, create=False) as store:
        outcome = run_sync(
            store, SyncTarget(f"{url}/repo/", url), sync_parts(files, keys, DEMO_TERMINAL_ID),
            sample=sample,
        )  # fmt: skip
    took("sync")
    rejected = outcome.lists.rejected if outcome.lists is not None else {}
    if outcome.problems or rejected:
        problems = [f"{p.stage}: {p.message}" for p in outcome.problems]
        problems += [f"{name}: {why}" for name, why in rejected.items()]
        raise SyncError(f"the first sync was incomplete: {'; '.join(problems)}")
    return files


def _lists_from_folder(root: Path, sample: Callable[[], ClockSample]) -> TerminalFiles:
    """The demo lists signed into a folder and synced from it (``ykt dev seed-store``'s way)."""
    (root / DEMO_POLICY).write_text(demo_policy_text(), "utf-8")
    files = TerminalFiles.beside(root / "terminal-offline" / "store.db")
    files.store.parent.mkdir(parents=True)
    keys = TerminalKeys(os.urandom(32), os.urandom(32))
    write_whole(files.keys, keys.to_toml().encode(), durable=False, private=True)
    with Store.open(files.store, journal_key=keys.journal_key) as store:
        seed = seed_demo_store(
            store, HolderKeyer(keys.list_key), root / "demo-repository", sample=sample()
        )
    if seed.report.rejected:
        raise DemoError(f"the demo lists were refused: {seed.report.rejected}")
    return files
