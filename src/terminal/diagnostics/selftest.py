"""The terminal's self test: emulated cards read through the same path as a real card.

A test holder's card (invented data, published test keys) is put in a reader and read by
:func:`terminal.card_reading.read_one` with the software security module, exactly as the
reader watch reads a tap; the holder's fields must come back as issued and the card must prove
itself genuine.  Then a clone (right data, wrong keys) must fail authenticity, and a card
without the social security application must be refused as one.  Each step is timed.

The reader is in this process (:class:`apdu.scripted.EmulatedReaders`), or with
:func:`self_test_pcsc` the vpcd reader of a running pcscd (:class:`apdu.emulator.stack.
PcscStack`), which exercises pyscard and pcscd too.  The report names fields, never their
values beyond the masked forms the screens use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from apdu.emulator import Fault, FaultPlan, Holder, VirtualCard, load_holders, testing_masters
from apdu.emulator.stack import CARD_READER, PcscStack
from apdu.errors import ApduError, CardDataError, NotSocialSecurityCard, ResponseError
from apdu.pcsc import PcscContext
from apdu.scripted import EmulatedReaders
from apdu.security.software import MasterKeys
from apdu.ssc import Authenticity, CardRecord
from apdu.transport import TraceHook
from terminal.card_reading import CardReaders, ReadRequest, SecurityModuleChoice, read_one
from terminal.errors import TerminalError
from terminal.masking import mask_card_id, mask_name, mask_ssn

#: The test holder whose card the self test reads: generation 3, SM4, protected fields.
SELF_TEST_HOLDER = "sh-gen3"
SELF_TEST_READER = "Self-test Reader 00 00"

Clock = Callable[[], float]
#: Puts a card in a reader, yields the readers and the reader's name, takes the card out.
Bench = Callable[[VirtualCard], AbstractContextManager[tuple[CardReaders, str]]]


@dataclass(frozen=True, slots=True)
class SelfTestStep:
    name: str
    passed: bool
    detail: str  # masked values at most
    duration_ms: float

    @property
    def text(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.name:<34} {self.duration_ms:8.1f} ms  {self.detail}"


@dataclass(frozen=True, slots=True)
class SelfTestReport:
    via: str  # which reader the cards were read in
    steps: tuple[SelfTestStep, ...]

    @property
    def passed(self) -> bool:
        return bool(self.steps) and all(step.passed for step in self.steps)

    def lines(self) -> list[str]:
        summary = "self test passed" if self.passed else "self test FAILED"
        return [f"{summary} ({self.via})", *(step.text for step in self.steps)]


#: The holder's fields a read must return exactly as issued.
_CHECKED_FIELDS = (
    "card_id", "card_number", "ssn", "name", "birth_date", "issue_date", "expiry_date",
    "card_type", "issuer_org",
)  # fmt: skip


def _problem(error: ApduError | TerminalError) -> str:
    if isinstance(error, CardDataError | ResponseError):
        return error.title  # its message may quote the card's bytes
    return f"{error.title}: {error.message}"


def _genuine(record: CardRecord, holder: Holder) -> tuple[bool, str]:
    problems = []
    if record.authentic is not Authenticity.VERIFIED:
        problems.append(f"authenticity {record.authentic.value} ({record.authentication_detail})")
    if record.unavailable:
        problems.append("fields left unread: " + ", ".join(sorted(record.unavailable)))
    wrong = [
        name
        for name in _CHECKED_FIELDS
        if name not in record.unavailable and getattr(record, name) != getattr(holder, name)
    ]
    if wrong:
        problems.append("fields not as issued: " + ", ".join(wrong))
    if problems:
        return False, "; ".join(problems)
    return True, (
        f"card {mask_card_id(holder.card_id)}, SSN {mask_ssn(holder.ssn)}, name "
        f"{mask_name(holder.name)}: {len(_CHECKED_FIELDS)} fields as issued, authentic"
    )


def _clone(record: CardRecord, holder: Holder) -> tuple[bool, str]:
    del holder
    if record.authentic is Authenticity.FAILED:
        return True, f"refused as expected: {record.authentication_detail}"
    return False, f"a clone passed as {record.authentic.value}: clones would go unnoticed"


class _Steps:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.steps: list[SelfTestStep] = []

    def add(self, name: str, started: float, passed: bool, detail: str) -> None:
        self.steps.append(SelfTestStep(name, passed, detail, (self.clock() - started) * 1000))


def _run(
    bench: Bench,
    via: str,
    *,
    clock: Clock,
    holder_key: str,
    security_module: SecurityModuleChoice,
    masters: MasterKeys | None,
    trace: TraceHook | None,
) -> SelfTestReport:
    steps = _Steps(clock)
    started = clock()
    try:
        holder = load_holders()[holder_key]
        card_masters = masters if masters is not None else testing_masters()
        module = security_module.opened()
    except (ApduError, TerminalError) as error:
        steps.add("test card and security module", started, False, _problem(error))
        return SelfTestReport(via, tuple(steps.steps))
    except KeyError:
        steps.add("test card and security module", started, False, f"no holder {holder_key!r}")
        return SelfTestReport(via, tuple(steps.steps))
    description = module.software.description if module.software is not None else module.kind
    steps.add("test card and security module", started, True, description)

    checks: list[tuple[str, FaultPlan, Callable[[CardRecord, Holder], tuple[bool, str]]]] = [
        ("genuine card read and verified", FaultPlan(), _genuine),
        ("cloned card refused", FaultPlan(frozenset({Fault.CLONE})), _clone),
    ]
    for name, plan, check in checks:
        started = clock()
        try:
            with bench(VirtualCard(holder, card_masters, plan)) as (readers, reader):
                record = read_one(readers, _request(reader, module, trace))
        except (ApduError, TerminalError) as error:
            steps.add(name, started, False, _problem(error))
            continue
        steps.add(name, started, *check(record, holder))

    name, started = "other card refused", clock()
    other = VirtualCard(holder, card_masters, FaultPlan(frozenset({Fault.NOT_SSC})))
    try:
        with bench(other) as (readers, reader):
            read_one(readers, _request(reader, module, trace))
    except NotSocialSecurityCard as error:
        steps.add(name, started, True, f"refused as expected: {error.title}")
    except (ApduError, TerminalError) as error:
        steps.add(name, started, False, f"refused for the wrong reason: {_problem(error)}")
    else:
        steps.add(name, started, False, "read as a social security card")
    return SelfTestReport(via, tuple(steps.steps))


def _request(reader: str, module: SecurityModuleChoice, trace: TraceHook | None) -> ReadRequest:
    return ReadRequest(
        reader_pattern=reader, security_module=module, wait_seconds=5.0, feedback=False,
        trace=trace,
    )  # fmt: skip


def self_test(
    *,
    clock: Clock,
    holder: str = SELF_TEST_HOLDER,
    security_module: SecurityModuleChoice | None = None,
    masters: MasterKeys | None = None,
    trace: TraceHook | None = None,
) -> SelfTestReport:
    """Emulated cards read in a reader in this process (no pcscd needed).

    ``clock`` gives seconds (monotonic) for the timings; ``security_module`` defaults to the
    software module with the published test keys the emulated cards are made with (the
    terminal's own PSAM is not used: its keys are not the test keys); ``masters`` makes the
    cards with other keys (a test of the self test); ``trace`` sees every exchange.
    """

    @contextmanager
    def in_process(card: VirtualCard) -> Iterator[tuple[CardReaders, str]]:
        yield EmulatedReaders({SELF_TEST_READER: card}), SELF_TEST_READER

    return _run(
        in_process,
        "emulated cards in an in-process reader",
        clock=clock,
        holder_key=holder,
        security_module=security_module or SecurityModuleChoice("software"),
        masters=masters,
        trace=trace,
    )


def self_test_pcsc(
    stack: PcscStack,
    *,
    clock: Clock,
    holder: str = SELF_TEST_HOLDER,
    security_module: SecurityModuleChoice | None = None,
    trace: TraceHook | None = None,
) -> SelfTestReport:
    """The same cards put in the vpcd reader of a running ``stack``: through pyscard and
    pcscd as a USB reader would be read (for a development machine or the demo)."""

    @contextmanager
    def through_pcscd(card: VirtualCard) -> Iterator[tuple[CardReaders, str]]:
        stack.insert(card, CARD_READER)
        try:
            with PcscContext() as context:
                yield context, CARD_READER
        finally:
            stack.remove(CARD_READER)

    return _run(
        through_pcscd,
        f"emulated cards in {CARD_READER!r} through pcscd",
        clock=clock,
        holder_key=holder,
        security_module=security_module or SecurityModuleChoice("software"),
        masters=None,
        trace=trace,
    )
