"""terminal.errors.exit_code_for: every error class has its documented exit code."""

from __future__ import annotations

import pytest

import apdu.errors as card
import offline_store.errors as store
import terminal.cli  # noqa: F401 - load every module that might define error subclasses
from terminal.errors import (
    CodeNotRecognised,
    CodeRejected,
    ConfigError,
    DemoError,
    ExitCode,
    IncompleteRecord,
    NeedsNetwork,
    NoCode,
    NotAuthentic,
    PolicyError,
    RelayFailed,
    ScannerError,
    StoreMissing,
    TerminalError,
    exit_code_for,
)


def _all_subclasses(root: type[Exception]) -> list[type[Exception]]:
    found: list[type[Exception]] = []
    for sub in root.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def _instance(kind: type[Exception]) -> Exception:
    if issubclass(kind, card.StatusError):
        return kind("the card refused", 0x6A82)
    if issubclass(kind, CodeRejected):
        return kind("malformed", "something happened")
    return kind("something happened")


#: docs/cli.md, "Exit codes".
DOCUMENTED: dict[type[Exception], ExitCode] = {
    card.CardServiceError: ExitCode.READER_COMMUNICATION,
    card.CardServiceUnavailable: ExitCode.SERVICE_DOWN,
    card.NoReaderError: ExitCode.NO_READER,
    card.ReaderUnplugged: ExitCode.READER_UNPLUGGED,
    card.NoCardError: ExitCode.NO_CARD,
    card.WaitCancelled: ExitCode.NO_CARD,
    card.CardRemovedError: ExitCode.CARD_REMOVED,
    card.ReaderCommunicationError: ExitCode.READER_COMMUNICATION,
    card.StackUnavailable: ExitCode.STACK_UNAVAILABLE,
    card.ResponseError: ExitCode.CARD_UNREADABLE,
    card.StatusError: ExitCode.CARD_UNREADABLE,
    card.NotSocialSecurityCard: ExitCode.NOT_SSC,
    card.CardDataError: ExitCode.CARD_UNREADABLE,
    card.SecurityModuleError: ExitCode.SECURITY_MODULE,
    card.SecurityModuleMissing: ExitCode.SECURITY_MODULE,
    card.AlgorithmUnsupported: ExitCode.SECURITY_MODULE,
    card.KeyMissing: ExitCode.SECURITY_MODULE,
    ConfigError: ExitCode.CONFIG,
    PolicyError: ExitCode.POLICY,
    CodeRejected: ExitCode.CODE_REJECTED,
    CodeNotRecognised: ExitCode.CODE_NOT_RECOGNISED,
    NeedsNetwork: ExitCode.CODE_NEEDS_NETWORK,
    NoCode: ExitCode.NO_CARD,
    ScannerError: ExitCode.SCANNER,
    RelayFailed: ExitCode.RELAY,
    IncompleteRecord: ExitCode.INCOMPLETE,
    NotAuthentic: ExitCode.NOT_AUTHENTIC,
    StoreMissing: ExitCode.STORE_MISSING,
    DemoError: ExitCode.DEMO,
    store.StoreError: ExitCode.STORE_ERROR,
    store.StoreCorrupt: ExitCode.STORE_CORRUPT,
    store.ListDamaged: ExitCode.LIST_DAMAGED,
    store.JournalTampered: ExitCode.JOURNAL_TAMPERED,
    store.JournalNotDurable: ExitCode.JOURNAL_NOT_DURABLE,
    store.StoreFull: ExitCode.STORE_FULL,
    store.VersionRejected: ExitCode.VERSION_REJECTED,
    store.RollbackRefused: ExitCode.VERSION_REJECTED,
    store.VersionGap: ExitCode.VERSION_REJECTED,
    store.ContentMismatch: ExitCode.VERSION_REJECTED,
    store.BundleRejected: ExitCode.BUNDLE_REJECTED,
    store.TrustRejected: ExitCode.TRUST_REJECTED,
}

SUBCLASSES = (
    _all_subclasses(card.ApduError)
    + _all_subclasses(TerminalError)
    + [store.StoreError, *_all_subclasses(store.StoreError)]
)


def test_walk_finds_the_whole_hierarchy() -> None:
    assert set(DOCUMENTED) <= set(SUBCLASSES)


@pytest.mark.parametrize("kind", SUBCLASSES, ids=lambda k: k.__name__)
def test_every_error_subclass_has_a_specific_exit_code(kind: type[Exception]) -> None:
    code = exit_code_for(_instance(kind))
    assert isinstance(code, ExitCode)
    assert code not in (ExitCode.OK, ExitCode.INTERNAL, ExitCode.USAGE), kind
    if kind in DOCUMENTED:
        assert code is DOCUMENTED[kind]


def test_every_failure_exit_code_is_reachable_from_some_error() -> None:
    reached = {exit_code_for(_instance(kind)) for kind in SUBCLASSES}
    verdicts = {ExitCode.VERDICT_DENY, ExitCode.VERDICT_REFER}  # outcomes of ykt check, not errors
    assert reached == set(ExitCode) - {ExitCode.OK, ExitCode.INTERNAL, ExitCode.USAGE} - verdicts


def test_foreign_errors_are_internal() -> None:
    assert exit_code_for(RuntimeError("bug")) is ExitCode.INTERNAL
    assert exit_code_for(KeyError("x")) is ExitCode.INTERNAL


def test_exit_code_values_are_the_documented_numbers() -> None:
    assert {code.name: code.value for code in ExitCode} == {
        "OK": 0,
        "INTERNAL": 1,
        "USAGE": 2,
        "SERVICE_DOWN": 3,
        "NO_READER": 4,
        "NO_CARD": 5,
        "CARD_REMOVED": 6,
        "NOT_SSC": 7,
        "CARD_UNREADABLE": 8,
        "NOT_AUTHENTIC": 9,
        "SECURITY_MODULE": 10,
        "READER_UNPLUGGED": 11,
        "READER_COMMUNICATION": 12,
        "STACK_UNAVAILABLE": 13,
        "INCOMPLETE": 14,
        "CONFIG": 15,
        "POLICY": 16,
        "SCANNER": 17,
        "STAFF_REFUSED": 18,
        "RELAY": 19,
        "STORE_CORRUPT": 20,
        "LIST_DAMAGED": 21,
        "JOURNAL_TAMPERED": 22,
        "JOURNAL_NOT_DURABLE": 23,
        "STORE_FULL": 24,
        "VERSION_REJECTED": 25,
        "STORE_MISSING": 26,
        "STORE_ERROR": 27,
        "BUNDLE_REJECTED": 28,
        "TRUST_REJECTED": 29,
        "CODE_REJECTED": 30,
        "CODE_NOT_RECOGNISED": 31,
        "CODE_NEEDS_NETWORK": 32,
        "BACKOFFICE_UNREACHABLE": 50,
        "BACKOFFICE_REFUSED": 51,
        "NOT_ENROLLED": 52,
        "ALREADY_ENROLLED": 53,
        "UNSENT_USAGE": 54,
        "SYNC_INCOMPLETE": 55,
        "VERDICT_DENY": 41,
        "VERDICT_REFER": 42,
        "DEMO": 60,
    }


def test_every_error_has_a_title_and_keeps_its_message() -> None:
    for kind in [card.ApduError, TerminalError, *SUBCLASSES]:
        error = _instance(kind)
        assert kind.title
        assert kind.title.strip() == kind.title
        assert error.message == "the card refused" or error.message == "something happened"  # type: ignore[attr-defined]
