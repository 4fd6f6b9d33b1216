"""The technician's sync actions, shared by ``ykt sync`` / ``ykt usage export`` and the tech
screen: one sync from the enrolled back office, a URL or a folder (a USB stick), and the export
of unacknowledged usage to a stick.

Each opens its own store connection (the running app keeps its own) and takes the outbox lock
as the sync loop does, so a tech-screen action and the loop never upload or export at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_store.store import Store
from terminal.clock import ClockSample
from terminal.enrolment import Enrolment, TerminalFiles, unsent_usage
from terminal.errors import ConfigError, NotEnrolled, StoreMissing
from terminal.policy import parse_policy
from terminal.sync.run import SyncOutcome, SyncParts, SyncTarget, check_url, policy_check, run_sync
from terminal.sync.usage import UsageOutbox
from terminal.terminal_keys import TerminalKeys

UNENROLLED_ID = "T-UNENROLLED"


def sync_parts(files: TerminalFiles, keys: TerminalKeys, terminal_id: str) -> SyncParts:
    signing = keys.signing_key or bytes(32)  # unenrolled (a demo store): never uploads
    return SyncParts(
        terminal_id=terminal_id,
        signing_key=Ed25519PrivateKey.from_private_bytes(signing),
        cache=files.sync_cache,
        state_path=files.sync_state,
        check_document=policy_check(parse_policy),
    )


def sync_once(
    files: TerminalFiles, source: str | None, *, sample: Callable[[], ClockSample]
) -> SyncOutcome:
    """One sync: ``source`` None (the enrolled back office), a URL, or a folder (a stick).

    A stick also works on an unenrolled (demo) store: it can refresh lists, not upload.
    """
    if source is not None and "://" in source:
        check_url(source)  # a bad URL is said at once, before anything else
    enrolment: Enrolment | None
    try:
        enrolment = Enrolment.load(files.enrolment)
    except NotEnrolled:
        if source is None or "://" in source:
            raise
        enrolment = None
    if source is None:
        assert enrolment is not None
        target = SyncTarget(enrolment.repository, enrolment.backoffice_url)
    elif "://" in source:
        target = SyncTarget(check_url(source), enrolment.backoffice_url if enrolment else None)
    else:
        target = SyncTarget(str(Path(source)), None)
    keys = TerminalKeys.from_file(files.keys)
    if not files.store.is_file():
        raise StoreMissing(f"no offline store at {files.store}: enrol first (`ykt enrol`)")
    terminal_id = enrolment.terminal_id if enrolment else UNENROLLED_ID
    with Store.open(files.store, journal_key=keys.journal_key, create=False) as opened:
        return run_sync(opened, target, sync_parts(files, keys, terminal_id), sample=sample)


@dataclass(frozen=True, slots=True)
class UsageExport:
    batches: int
    records: int
    folder: Path

    def lines(self) -> list[str]:
        return [
            f"exported {self.batches} batch(es), {self.records} record(s), to {self.folder}",
            "they stay on this terminal until the back office's acknowledgement comes back "
            "(`ykt sync --from <stick>`, or over the network)",
        ]


def export_usage(files: TerminalFiles, stick: Path) -> UsageExport:
    """Write every unacknowledged usage batch, signed, into ``stick/outbox/<terminal id>/``."""
    enrolment = Enrolment.load(files.enrolment)
    keys = TerminalKeys.from_file(files.keys)
    if keys.signing_key is None:
        raise ConfigError(f"terminal key file {files.keys} has no signing key: re-enrol")
    if not stick.is_dir():
        raise ConfigError(f"{stick} is not a folder: mount the stick and give its path")
    with Store.open(files.store, journal_key=keys.journal_key, create=False) as opened:
        outbox = UsageOutbox(
            opened, enrolment.terminal_id, Ed25519PrivateKey.from_private_bytes(keys.signing_key)
        )
        try:
            batches = outbox.export(stick)
        except OSError as exc:
            raise ConfigError(
                f"cannot write to {stick} ({exc.strerror or exc}): the stick may be full, "
                "read-only or pulled out; nothing is lost, export again"
            ) from exc
        waiting = unsent_usage(opened)
    return UsageExport(batches, waiting, stick / "outbox" / enrolment.terminal_id)


def sync_lines(outcome: SyncOutcome) -> list[str]:
    """A sync's outcome in words, one fact a line (``ykt sync`` and the tech screen)."""
    lines = [f"source   {outcome.source}"]
    if outcome.trusted_time:
        lines.append(f"time     {outcome.trusted_time.isoformat()} (back office, clock trusted)")
    if outcome.upload:
        lines.append(
            f"upload   {outcome.upload.batches_sent} batch(es), "
            f"{outcome.upload.records_acknowledged} record(s) acknowledged"
        )
    if outcome.stick_acknowledged:
        lines.append(f"acks     {outcome.stick_acknowledged} record(s) acknowledged from the stick")
    if outcome.lists is not None:
        for name, version in outcome.lists.applied:
            lines.append(f"applied  {name} version {version}")
        if not outcome.lists.applied and not outcome.lists.rejected:
            lines.append("lists    up to date")
    lines += [f"note     {note}" for note in outcome.notes]
    for problem in outcome.problems:
        lines.append(f"{problem.kind:<10}{problem.stage}: {problem.message}")
    return lines
