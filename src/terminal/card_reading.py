"""One card read on a real (or emulated) PC/SC reader, as ``ykt read`` and the demo do it.

Picks the card reader, opens the chosen security module (none, software keys, or a PSAM in
another slot), waits for the card, reads it, and gives the cardholder reader feedback.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from apdu.emulator import testing_keys_path
from apdu.errors import (
    ApduError,
    NoCardError,
    NoReaderError,
    SecurityModuleMissing,
)
from apdu.feedback import Signal, feedback_for
from apdu.pcsc import InterfacePreference, PcscContext
from apdu.security import SecurityModule
from apdu.security.psam import PsamSecurityModule
from apdu.security.software import SoftwareSecurityModule
from apdu.ssc import Authenticity, CardRecord, read_card
from apdu.transport import CardChannel, TraceHook, Transport
from terminal.codes.scanners import Scanner
from terminal.errors import ConfigError, TerminalError

#: Environment variable holding the default ``--security-module``.
SECURITY_MODULE_ENV = "YKT_SECURITY_MODULE"
DEFAULT_PSAM_PATTERN = "SAM"


@dataclass(frozen=True, slots=True)
class SecurityModuleChoice:
    """Parsed ``--security-module``: ``none``, ``software[:PATH]`` or ``psam[:PATTERN]``."""

    kind: str
    argument: str = ""
    #: the software module, once its key file has been read (so it is read once per run)
    software: SoftwareSecurityModule | None = field(default=None, compare=False, repr=False)

    def opened(self) -> SecurityModuleChoice:
        """This choice with its software key file read now (a bad file is named at once)."""
        if self.kind != "software" or self.software is not None:
            return self
        return replace(self, software=open_software_module(self.argument))

    @classmethod
    def parse(cls, text: str) -> SecurityModuleChoice:
        kind, _, argument = text.partition(":")
        kind = kind.strip().lower()
        if kind not in ("none", "software", "psam"):
            raise ConfigError(
                f"--security-module {text!r}: use none, software[:KEYFILE] or psam[:READER]"
            )
        if kind == "none" and argument:
            raise ConfigError("--security-module none takes no argument")
        return cls(kind, argument)

    @classmethod
    def default(cls) -> SecurityModuleChoice:
        return cls.parse(os.environ.get(SECURITY_MODULE_ENV, "none"))

    @property
    def psam_pattern(self) -> str | None:
        if self.kind != "psam":
            return None
        return self.argument or DEFAULT_PSAM_PATTERN


def open_software_module(argument: str) -> SoftwareSecurityModule:
    path = Path(argument) if argument else testing_keys_path()
    if not path.exists():
        raise ConfigError(f"security module key file {path} does not exist")
    if not path.is_file():
        raise ConfigError(f"security module key file {path} is not a file")
    try:
        return SoftwareSecurityModule.from_file(path)
    except ApduError:
        raise
    except (OSError, ValueError) as exc:
        raise ConfigError(f"security module key file {path} cannot be read: {exc}") from exc


class CardReaders(Protocol):
    """What a read needs of the readers: :class:`~apdu.pcsc.PcscContext`, or an in-process
    stand-in (:class:`apdu.scripted.EmulatedReaders`) for the self test and unit tests."""

    def pick_reader(
        self,
        pattern: str | None = None,
        preference: InterfacePreference = InterfacePreference.AUTO_CONTACT_FIRST,
        *,
        exclude: Sequence[str] = (),
    ) -> str: ...

    def wait_for_card(self, reader: str, timeout: float | None = None) -> bytes: ...

    def connect(self, reader: str) -> Transport: ...


@contextmanager
def security_module(
    choice: SecurityModuleChoice, context: CardReaders
) -> Iterator[tuple[SecurityModule | None, str | None]]:
    """The opened module and, for a PSAM, the reader it occupies (not to be read as a card)."""
    if choice.kind == "none":
        yield None, None
        return
    if choice.kind == "software":
        yield choice.opened().software, None
        return
    pattern = choice.psam_pattern or DEFAULT_PSAM_PATTERN
    try:
        reader = context.pick_reader(pattern)
    except NoReaderError as exc:
        raise SecurityModuleMissing(f"no PSAM reader: {exc.message}") from exc
    try:
        transport = context.connect(reader)
    except NoCardError as exc:
        raise SecurityModuleMissing(
            f"no PSAM in reader {reader!r}: insert the terminal's PSAM card in that slot"
        ) from exc
    try:
        yield PsamSecurityModule(CardChannel(transport)), reader
    finally:
        transport.close()


@dataclass(frozen=True, slots=True)
class ReadRequest:
    reader_pattern: str | None = None
    preference: InterfacePreference = InterfacePreference.AUTO_CONTACT_FIRST
    security_module: SecurityModuleChoice = SecurityModuleChoice("none")
    wait_seconds: float = 10.0
    feedback: bool = True
    #: sees every exchange with the card (not the PSAM): the technician's APDU trace
    trace: TraceHook | None = field(default=None, compare=False, repr=False)


def read_one(
    context: CardReaders,
    request: ReadRequest,
    accept: Callable[[CardRecord], bool] | None = None,
) -> CardRecord:
    """Wait for a card on the chosen reader and read it; raises an ApduError on failure.

    ``accept`` runs while the card is still connected (a gate decides and journals its verdict
    there) and says whether the reader should signal success; without it, a complete read that
    did not fail authentication is a success.
    """
    with security_module(request.security_module, context) as (module, module_reader):
        exclude = (module_reader,) if module_reader else ()
        reader = context.pick_reader(request.reader_pattern, request.preference, exclude=exclude)
        if request.wait_seconds > 0:
            context.wait_for_card(reader, timeout=request.wait_seconds)
        transport = context.connect(reader)
        try:
            try:
                record = read_card(CardChannel(transport, request.trace), module)
            except ApduError:
                if request.feedback:
                    feedback_for(reader).signal(transport, Signal.FAILURE)
                raise
            if accept is not None:
                accepted = accept(record)
            else:
                accepted = record.complete and record.authentic is not Authenticity.FAILED
            if request.feedback:
                signal = Signal.SUCCESS if accepted else Signal.FAILURE
                feedback_for(reader).signal(transport, signal)
            return record
        finally:
            transport.close()


def wait_for_card_or_code(
    context: PcscContext,
    request: ReadRequest,
    scanner: Scanner,
    *,
    wait_seconds: float,
) -> str | None:
    """Watch the card reader and a code scanner at once; whichever comes first wins.

    Returns the scanned text, or ``None`` when a card is in the reader (read it with
    :func:`read_one` and ``wait_seconds=0``).  The loser is stopped: the card wait is cancelled
    (``SCardCancel``), the scanner closed.  No code and no card in ``wait_seconds``:
    :class:`~apdu.errors.NoCardError`.  A reader problem (pcscd down, no reader) is raised as
    soon as it is seen.
    """
    results: queue.Queue[tuple[str, object]] = queue.Queue()
    claimed = threading.Event()
    claim_lock = threading.Lock()

    def claim() -> bool:
        with claim_lock:
            if claimed.is_set():
                return False
            claimed.set()
            return True

    def watch_card() -> None:
        try:
            reader = context.pick_reader(request.reader_pattern, request.preference)
            context.wait_for_card(reader, timeout=wait_seconds)
        except NoCardError:  # cancelled, or no card in time: the code may still come
            return
        except ApduError as error:
            results.put(("error", error))
            return
        if claim():
            results.put(("card", None))

    def watch_scanner() -> None:
        try:
            for text in scanner.codes():
                if text.strip() and claim():
                    results.put(("code", text))
                    return
        except TerminalError as error:
            results.put(("error", error))

    card_thread = threading.Thread(target=watch_card, name="card-wait", daemon=True)
    code_thread = threading.Thread(target=watch_scanner, name="code-wait", daemon=True)
    card_thread.start()
    code_thread.start()
    try:
        kind, value = results.get(timeout=wait_seconds + 1.0)
    except queue.Empty:
        kind, value = "timeout", None
    finally:
        claimed.set()
        if card_thread.is_alive():
            context.cancel()
        scanner.close()
        card_thread.join(timeout=5)
        code_thread.join(timeout=5)
    if kind == "card":
        return None
    if kind == "code":
        return str(value)
    if isinstance(value, ApduError | TerminalError):
        raise value
    raise NoCardError(f"no card and no code within {wait_seconds:g} s: tap a card or scan a code")
