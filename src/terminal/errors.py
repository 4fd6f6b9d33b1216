"""Errors of the terminal application, under one root, and the process exit codes.

Card-layer errors (:class:`apdu.errors.ApduError`) keep their own root; the command line maps
both to distinct, documented exit codes (``docs/cli.md``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from apdu import errors as card
from offline_store import errors as store


class TerminalError(Exception):
    """Root of the terminal application's own errors."""

    title: ClassVar[str] = "terminal error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(TerminalError):
    """A command-line option or setting that cannot work (e.g. a missing key file)."""

    title = "bad configuration"


class IncompleteRecord(TerminalError):
    """The card was read but some fields could not be (a gen-3 card without security module)."""

    title = "incomplete card record"


class NotAuthentic(TerminalError):
    """The card failed internal authentication: it may be a clone."""

    title = "card not authentic"


class StoreMissing(TerminalError):
    title = "no offline store"


class ScannerError(TerminalError):
    """A scanner that cannot be used: its port is missing, unplugged or not ours to open."""

    title = "scanner error"


class RelayFailed(TerminalError):
    """The gate relay did not open the gate: its port or GPIO line is missing, unplugged,
    busy, or a write failed.  At a tap the verdict stands (it is journalled first) and the
    screen says the gate did not open; ``ykt relay test`` exits with it."""

    title = "gate relay failed"


class NoCode(TerminalError):
    """No code was scanned in time, or the input ended without one."""

    title = "no code"


class PolicyError(ConfigError):
    """A venue policy file that cannot be used: the message names the line and the problem."""

    title = "bad venue policy"


class CodeRejected(TerminalError):
    """A scanned code that is not a valid credential.  ``reason`` is a stable code
    (for ESSC1 the spec's reject reasons: ``malformed``, ``unknown_key``, ...)."""

    title = "code rejected"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CodeNotRecognised(CodeRejected):
    """Not any kind of code this terminal knows (a URL, a payment code, ...)."""

    title = "code not recognised"


class NeedsNetwork(CodeRejected):
    """A platform code that only the national platform can check, and the platform is not
    reachable (offline, or no endpoint configured)."""

    title = "code needs the network"


class SyncError(TerminalError):
    """The back-office link: sync, upload, enrolment."""

    title = "back-office link error"


class BackOfficeUnreachable(SyncError):
    """Down, slow, cut off or answering 5xx: it may work later (retried with backoff)."""

    title = "back office unreachable"


class BackOfficeRefused(SyncError):
    """A 4xx answer, or an answer that is not what the protocol says: retrying will not help."""

    title = "back office refused the request"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotEnrolled(SyncError):
    title = "terminal not enrolled"


class AlreadyEnrolled(SyncError):
    title = "terminal already enrolled"


class UnsentUsage(SyncError):
    """Wiping or re-enrolling would lose usage events the back office has not acknowledged."""

    title = "usage not yet uploaded"


class OutboxBusy(SyncError):
    """Another sync or usage export holds this terminal's outbox right now."""

    title = "usage outbox busy"


class SyncIncomplete(SyncError):
    """A sync ran but left something undone (a list rejected, batches not acknowledged)."""

    title = "sync incomplete"


class StaffRefused(TerminalError):
    """A staff sign-in or a staff-only action refused (the screen says which and why)."""

    title = "staff sign-in refused"


class NotStaff(StaffRefused):
    title = "not a staff card"


class WrongPin(StaffRefused):
    title = "wrong PIN"

    def __init__(self, message: str, *, attempts_left: int = 0) -> None:
        super().__init__(message)
        self.attempts_left = attempts_left


class LockedOut(StaffRefused):
    title = "staff sign-in locked"


class NotPermitted(StaffRefused):
    title = "not permitted"


class DemoError(TerminalError):
    """``ykt demo``: the demo venue could not be built, or a key of ``--script`` showed no
    verdict."""

    title = "demo"


class ExitCode(IntEnum):
    """Process exit codes of ``ykt``; each failure kind has its own."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    SERVICE_DOWN = 3
    NO_READER = 4
    NO_CARD = 5
    CARD_REMOVED = 6
    NOT_SSC = 7
    CARD_UNREADABLE = 8
    NOT_AUTHENTIC = 9
    SECURITY_MODULE = 10
    READER_UNPLUGGED = 11
    READER_COMMUNICATION = 12
    STACK_UNAVAILABLE = 13
    INCOMPLETE = 14
    CONFIG = 15
    STORE_CORRUPT = 20
    LIST_DAMAGED = 21
    JOURNAL_TAMPERED = 22
    JOURNAL_NOT_DURABLE = 23
    STORE_FULL = 24
    VERSION_REJECTED = 25
    STORE_MISSING = 26
    STORE_ERROR = 27
    BUNDLE_REJECTED = 28
    TRUST_REJECTED = 29
    CODE_REJECTED = 30
    CODE_NOT_RECOGNISED = 31
    CODE_NEEDS_NETWORK = 32
    POLICY = 16
    SCANNER = 17
    STAFF_REFUSED = 18
    RELAY = 19
    BACKOFFICE_UNREACHABLE = 50
    BACKOFFICE_REFUSED = 51
    NOT_ENROLLED = 52
    ALREADY_ENROLLED = 53
    UNSENT_USAGE = 54
    SYNC_INCOMPLETE = 55
    VERDICT_DENY = 41
    VERDICT_REFER = 42
    DEMO = 60


# Most specific first: the first matching class decides.
_EXIT_CODES: tuple[tuple[type[Exception], ExitCode], ...] = (
    (card.CardServiceUnavailable, ExitCode.SERVICE_DOWN),
    (card.StackUnavailable, ExitCode.STACK_UNAVAILABLE),
    (card.NoReaderError, ExitCode.NO_READER),
    (card.ReaderUnplugged, ExitCode.READER_UNPLUGGED),
    (card.NoCardError, ExitCode.NO_CARD),
    (card.CardRemovedError, ExitCode.CARD_REMOVED),
    (card.ReaderCommunicationError, ExitCode.READER_COMMUNICATION),
    (card.NotSocialSecurityCard, ExitCode.NOT_SSC),
    (card.SecurityModuleError, ExitCode.SECURITY_MODULE),
    (card.ResponseError, ExitCode.CARD_UNREADABLE),
    (card.StatusError, ExitCode.CARD_UNREADABLE),
    (card.CardDataError, ExitCode.CARD_UNREADABLE),
    (card.CardServiceError, ExitCode.READER_COMMUNICATION),
    (NotAuthentic, ExitCode.NOT_AUTHENTIC),
    (IncompleteRecord, ExitCode.INCOMPLETE),
    (PolicyError, ExitCode.POLICY),
    (ConfigError, ExitCode.CONFIG),
    (NoCode, ExitCode.NO_CARD),
    (ScannerError, ExitCode.SCANNER),
    (StaffRefused, ExitCode.STAFF_REFUSED),
    (RelayFailed, ExitCode.RELAY),
    (CodeNotRecognised, ExitCode.CODE_NOT_RECOGNISED),
    (NeedsNetwork, ExitCode.CODE_NEEDS_NETWORK),
    (CodeRejected, ExitCode.CODE_REJECTED),
    (StoreMissing, ExitCode.STORE_MISSING),
    (BackOfficeUnreachable, ExitCode.BACKOFFICE_UNREACHABLE),
    (BackOfficeRefused, ExitCode.BACKOFFICE_REFUSED),
    (NotEnrolled, ExitCode.NOT_ENROLLED),
    (AlreadyEnrolled, ExitCode.ALREADY_ENROLLED),
    (UnsentUsage, ExitCode.UNSENT_USAGE),
    (SyncIncomplete, ExitCode.SYNC_INCOMPLETE),
    (DemoError, ExitCode.DEMO),
    (store.DocumentRejected, ExitCode.BACKOFFICE_REFUSED),
    (SyncError, ExitCode.SYNC_INCOMPLETE),
    (store.ListDamaged, ExitCode.LIST_DAMAGED),
    (store.StoreCorrupt, ExitCode.STORE_CORRUPT),
    (store.JournalTampered, ExitCode.JOURNAL_TAMPERED),
    (store.JournalNotDurable, ExitCode.JOURNAL_NOT_DURABLE),
    (store.StoreFull, ExitCode.STORE_FULL),
    (store.VersionRejected, ExitCode.VERSION_REJECTED),
    (store.TrustRejected, ExitCode.TRUST_REJECTED),
    (store.BundleRejected, ExitCode.BUNDLE_REJECTED),
    (store.StoreError, ExitCode.STORE_ERROR),
)


def exit_code_for(error: Exception) -> ExitCode:
    for kind, code in _EXIT_CODES:
        if isinstance(error, kind):
            return code
    return ExitCode.INTERNAL
