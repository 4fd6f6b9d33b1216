"""The path of one tap: credential → checks → verdict → journal append → feedback.

A :class:`Checkpoint` is the terminal's decision point for one service: it owns a read-only
list connection and the store's writer.  :meth:`Checkpoint.present` takes a credential (from a
card read or a scanned code) and the tap's clock sample, decides, and appends the verdict with
the facts it used to the usage journal **before** releasing it.  If the append cannot be made
durable the verdict becomes *refer to staff* ("this entry could not be recorded"), whatever it
was: a gate never opens on a tap the journal does not hold.  Only then is the gate relay
pulsed (on an admission the journal holds; :mod:`terminal.relay`) and does the feedback hook
run (screen, reader LED/buzzer).  A relay that fails changes nothing recorded: the verdict
says ``gate_opened=False`` and the screen asks staff to help.  Each verdict is logged as one
``event=verdict`` line of codes (outcome, reasons, service, journal seq), never holder data.

A scanned text that is not a credential (a forged or expired code, a payment code, a platform
code while offline) still gets a verdict — deny, or refer when it needs the network — and is
journalled too, with no holder reference, so the back office sees forged-code attempts.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from offline_store.errors import JournalNotDurable, StoreError
from offline_store.holder_refs import HolderKeyer
from offline_store.journal import AuditEntry, StaffAction, UsageEvent
from offline_store.store import ListReader, ListState, Store
from offline_store.taps import TapFacts
from terminal.clock import DEFAULT_TOLERANCE, ClockFacts, ClockSample, assess_clock
from terminal.codes.dispatch import CodeKind, describe_unrecognised
from terminal.credential import Credential, CredentialKind
from terminal.desk import OverrideReason
from terminal.errors import CodeNotRecognised, CodeRejected, NeedsNetwork, NotPermitted
from terminal.logs import log_event
from terminal.policy import VenuePolicy
from terminal.reasons import ReasonCode, reason
from terminal.relay import GateRelay
from terminal.verdict import Outcome, Verdict, decide

log = logging.getLogger(__name__)

_NO_HOLDER = b""


class CodeReader(Protocol):
    """Turns a scanned text into a credential (the code dispatcher)."""

    def credential(self, text: str, *, now: dt.datetime) -> Credential: ...

    def classify(self, text: str) -> CodeKind: ...


#: what a rejected scan is journalled as
_SCANNED_KIND = {
    CodeKind.ESSC1: CredentialKind.ESSC_QR,
    CodeKind.RESERVATION: CredentialKind.RESERVATION_CODE,
    CodeKind.PLATFORM: CredentialKind.PLATFORM_CODE,
    CodeKind.UNRECOGNISED: CredentialKind.UNRECOGNISED_CODE,
}


@dataclass(slots=True)
class Checkpoint:
    store: Store
    policy: VenuePolicy
    keyer: HolderKeyer
    terminal_id: str
    codes: CodeReader | None = None
    feedback: Callable[[Verdict], None] | None = None
    clock_tolerance: dt.timedelta = DEFAULT_TOLERANCE
    #: the ESSC1 verifier's skew: a code can be replayed until its ``exp`` plus this
    code_skew: dt.timedelta = dt.timedelta(seconds=60)
    #: pulsed on every admission the journal holds (None: no gate)
    relay: GateRelay | None = None
    #: how long the relay holds the gate open
    relay_seconds: float = 1.0
    #: admissions whose gate did not open, since this process started (for the metrics)
    gate_failures: int = field(init=False, default=0)
    lists: ListReader = field(init=False)

    def __post_init__(self) -> None:
        self.lists = self.store.reader()

    def close(self) -> None:
        self.lists.close()

    def clock_facts(
        self, sample: ClockSample, states: Sequence[ListState] | None = None
    ) -> ClockFacts:
        """The clock fact of a tap; the newest applied list's issue time is its floor."""
        applied = self.lists.list_states() if states is None else states
        floor = max((state.issued_at for state in applied), default=None)
        return assess_clock(
            sample,
            self.lists.trusted_time(),
            floor=floor,
            last_tap=self.lists.last_tap(),
            tolerance=self.clock_tolerance,
        )

    # -- a tap --------------------------------------------------------------------------
    def present(
        self, credential: Credential, *, sample: ClockSample, service: str | None = None
    ) -> Verdict:
        states = self.lists.list_states()
        verdict = decide(
            credential,
            policy=self.policy,
            service=service,
            lists=self.lists,
            keyer=self.keyer,
            clock=self.clock_facts(sample, states),
            states=states,
        )
        replayable_until = None if credential.code is None else credential.code.expires_at
        return self._release(verdict, replayable_until)

    def present_code(
        self, text: str, *, sample: ClockSample, service: str | None = None
    ) -> Verdict:
        """A scanned text: a credential if it is one, otherwise a verdict saying why not."""
        kind = CredentialKind.UNRECOGNISED_CODE
        if self.codes is None:
            error: CodeRejected = CodeNotRecognised("not_configured", "no code reader configured")
        else:
            kind = _SCANNED_KIND[self.codes.classify(text)]
            try:
                credential = self.codes.credential(text, now=sample.wall)
            except CodeRejected as rejected:
                error = rejected
            else:
                return self.present(credential, sample=sample, service=service)
        looks_like = describe_unrecognised(text)
        verdict = self._code_verdict(error, looks_like, sample, service)
        return self._release(replace(verdict, credential_kind=kind), None)

    def _code_verdict(
        self,
        error: CodeRejected,
        looks_like: tuple[str, str],
        sample: ClockSample,
        service: str | None,
    ) -> Verdict:
        service_name, _ = self.policy.service(service)
        if isinstance(error, NeedsNetwork):
            outcome, why = Outcome.REFER, reason(ReasonCode.CODE_NEEDS_NETWORK, error.message)
        elif isinstance(error, CodeNotRecognised):
            outcome = Outcome.DENY
            why = reason(
                ReasonCode.CODE_NOT_RECOGNISED,
                error.message,
                looks_like=looks_like[0],
                looks_like_en=looks_like[1],
            )
        else:
            outcome = Outcome.DENY
            why = reason(ReasonCode.CODE_REJECTED, f"{error.reason}: {error.message}")
        return Verdict(
            outcome=outcome,
            reasons=(why,),
            service=service_name,
            credential_kind=CredentialKind.ESSC_QR,
            holder={"kind": "code", "rejected": error.reason},
            holder_ref=_NO_HOLDER,
            clock=self.clock_facts(sample),
            list_versions={},
        )

    def explain(
        self, credential: Credential, *, sample: ClockSample, service: str | None = None
    ) -> Verdict:
        """The verdict :meth:`present` would give, without journalling it (a desk look-up)."""
        states = self.lists.list_states()
        return decide(
            credential, policy=self.policy, service=service, lists=self.lists,
            keyer=self.keyer, clock=self.clock_facts(sample, states), states=states,
        )  # fmt: skip

    def override(
        self, refused: Verdict, *, staff_id: str, why: OverrideReason, sample: ClockSample
    ) -> Verdict:
        """A staff override of a refusal: a new admit, journalled with the override's
        reference, then the audit record naming the staff member and what was overridden.

        The caller checks the staff member's sign-in (``StaffSignIn.require``).  If the
        admission cannot be journalled the result is the usual *not recorded* referral and no
        override took place.
        """
        if refused.admits:
            raise NotPermitted("nothing to override: this verdict already admits")
        admitted = replace(
            refused,
            outcome=Outcome.ADMIT,
            reasons=(reason(ReasonCode.STAFF_OVERRIDE, why.value, why=why.zh, why_en=why.en),
                     *refused.reasons),
            benefit=None, flagged=False, code_id=None, journal_seq=None,
            clock=self.clock_facts(sample),
        )  # fmt: skip
        recorded = self._release(admitted, None, override=f"{staff_id}:{why.value}")
        if recorded.journal_seq is None:
            return recorded
        overrode = ",".join(r.code.value for r in refused.reasons)
        original = "look-up" if refused.journal_seq is None else f"usage {refused.journal_seq}"
        detail = f"{why.value}; usage {recorded.journal_seq}; overrode {refused.outcome.value} "
        try:
            self.store.journal.append_audit(
                AuditEntry(self.terminal_id, recorded.clock.wall, staff_id, StaffAction.OVERRIDE,
                           detail + f"({overrode}) from {original}")
            )  # fmt: skip
        except StoreError as error:  # the usage event names the override already
            log.error("override audit record not written: %s", error.message)
        return recorded

    # -- recording and release ----------------------------------------------------------
    def _release(
        self,
        verdict: Verdict,
        replayable_until: dt.datetime | None,
        *,
        override: str | None = None,
    ) -> Verdict:
        verdict = self._record(verdict, replayable_until, override)
        if self.relay is not None and verdict.admits and verdict.journal_seq is not None:
            verdict = replace(verdict, gate_opened=self._open_gate(verdict.journal_seq))
        log_event(
            log, logging.INFO, "verdict",
            outcome=verdict.outcome.value, reasons=[r.code.value for r in verdict.reasons],
            service=verdict.service, credential=verdict.credential_kind.value,
            clock=verdict.clock.state.value, seq=verdict.journal_seq,
            gate={None: "-", True: "opened", False: "failed"}[verdict.gate_opened],
            override=override is not None,
        )  # fmt: skip
        if self.feedback is not None:
            try:
                self.feedback(verdict)
            except Exception:  # feedback must never lose or change a recorded verdict
                log.exception("feedback hook failed for journal record %s", verdict.journal_seq)
        return verdict

    def _open_gate(self, seq: int) -> bool:
        """Pulse the relay; False if the gate did not open (the verdict stands)."""
        assert self.relay is not None
        try:
            self.relay.open_for(self.relay_seconds)
        except Exception as error:  # noqa: BLE001 - a relay must never lose or change a tap
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            log_event(log, logging.ERROR, "gate_not_opened", seq=seq, error=message)
            self.gate_failures += 1
            return False
        return True

    def _record(
        self, verdict: Verdict, replayable_until: dt.datetime | None, override: str | None
    ) -> Verdict:
        now = verdict.clock.wall
        event = UsageEvent(
            terminal_id=self.terminal_id,
            occurred_at=now,
            clock_trusted=verdict.clock.trusted,
            verdict=verdict.outcome.value,
            reasons=tuple(r.code.value for r in verdict.reasons),
            list_versions=verdict.list_versions,
            holder_ref=verdict.holder_ref,
            credential_kind=verdict.credential_kind.value,
            service=verdict.service,
            benefit=None if verdict.benefit is None else verdict.benefit.id,
            clock_state=verdict.clock.state.value,
            code_id=None if verdict.code_id is None else verdict.code_id.hex(),
            override=override,
        )
        until = None if replayable_until is None else replayable_until + self.code_skew
        facts = TapFacts(
            holder_refs=(verdict.holder_ref,) if verdict.holder_ref else (),
            service=verdict.service,
            occurred_at=now,
            admitted=verdict.admits and bool(verdict.holder_ref),
            code_id=verdict.code_id,
            code_replayable_until=until,
        )
        try:
            seq = self.store.record_tap(event, facts)
        except JournalNotDurable as error:
            log.error("usage event not recorded: %s", error.message)
            kept = () if verdict.admits else verdict.reasons
            return replace(
                verdict,
                outcome=Outcome.REFER,
                reasons=(reason(ReasonCode.NOT_RECORDED, error.message), *kept),
                benefit=None,
                flagged=False,
            )
        return replace(verdict, journal_seq=seq)
