"""A terminal enrolled with a real back office process, and ways to drive it."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backoffice.service import BackOffice
from backoffice_fixture import RunningBackOffice
from offline_store.journal import UsageEvent
from offline_store.store import Store
from terminal.clock import sample_now
from terminal.enrolment import Enrolment, TerminalFiles, enrol, parse_root_key
from terminal.policy import parse_policy
from terminal.sync.backoffice_api import BackOfficeApi
from terminal.sync.run import SyncOutcome, SyncParts, SyncTarget, policy_check, run_sync
from terminal.sync.transport import RetryPolicy, new_client
from terminal.terminal_keys import TerminalKeys

#: tries quickly and gives up quickly: fault tests must not wait for real backoff
QUICK = RetryPolicy(
    attempts=3, first_wait=0.05, longest_wait=0.2, connect_timeout=2.0, read_timeout=2.0
)


def deny_csv(path: Path, numbers: range, reason: str = "lost") -> Path:
    lines = ["card_id,reason,region"]
    lines += [f"310100{n:026X},{reason},310100" for n in numbers]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def publish(server: RunningBackOffice, *args: str) -> object:
    return server.cli_json("publish", *args)


@dataclass
class LinkedTerminal:
    files: TerminalFiles
    enrolment: Enrolment
    keys: TerminalKeys
    events: int = 0

    def open(self) -> Store:
        return Store.open(self.files.store, journal_key=self.keys.journal_key, create=False)

    def parts(self, retry: RetryPolicy = QUICK, batch_size: int = 1000) -> SyncParts:
        assert self.keys.signing_key is not None
        return SyncParts(
            terminal_id=self.enrolment.terminal_id,
            signing_key=Ed25519PrivateKey.from_private_bytes(self.keys.signing_key),
            cache=self.files.sync_cache,
            state_path=self.files.sync_state,
            retry=retry,
            batch_size=batch_size,
            check_document=policy_check(parse_policy),
        )

    def sync(
        self,
        url: str | None = None,
        *,
        repository: str | None = None,
        retry: RetryPolicy = QUICK,
        batch_size: int = 1000,
    ) -> SyncOutcome:
        base = url or self.enrolment.backoffice_url
        target = SyncTarget(repository or f"{base}/repo/", base)
        with self.open() as store:
            return run_sync(store, target, self.parts(retry, batch_size), sample=sample_now)

    def tap(self, count: int = 1) -> None:
        """Journal ``count`` usage events (keyed refs only, as a real tap would)."""
        with self.open() as store:
            for _ in range(count):
                self.events += 1
                store.journal.append_event(
                    UsageEvent(
                        self.enrolment.terminal_id,
                        dt.datetime.now(dt.UTC),
                        True,
                        "admit",
                        ("admitted",),
                        {"deny": 1},
                        uuid.uuid4().bytes,
                        "card",
                        service="museum.entry",
                        clock_state="trusted",
                    )
                )


def enrol_terminal(
    server: RunningBackOffice, root: Path, terminal_id: str = "T-001"
) -> LinkedTerminal:
    token = server.add_terminal(terminal_id)
    root_text = server.cli("keys", "root").stdout.strip()
    files = TerminalFiles.beside(root / "store.db")
    with new_client(QUICK) as client:
        enrolment = enrol(
            files, BackOfficeApi(server.url, client, QUICK), terminal_id=terminal_id,
            token=token, root_key=parse_root_key(root_text), now=dt.datetime.now(dt.UTC),
        )  # fmt: skip
    return LinkedTerminal(files, enrolment, TerminalKeys.from_file(files.keys))


def usage_counts(server: RunningBackOffice) -> dict[str, dict[str, object]]:
    stats = server.cli_json("usage", "stats")
    assert isinstance(stats, list)
    return {str(row["chain"]): row for row in stats}


def office(server: RunningBackOffice) -> BackOffice:
    return BackOffice.open(server.data)
