"""Helpers of the back-office tests: a fixed time, a fake terminal that signs usage batches."""

from __future__ import annotations

import base64
import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backoffice.service import BackOffice
from offline_store.exchange import UsageBatch, UsageRecord, sign_document
from offline_store.trust import Signature

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


class FakeTerminal:
    """A terminal's side of usage upload: its key, and batches signed by it."""

    def __init__(self, terminal_id: str) -> None:
        self.terminal_id = terminal_id
        self.key = Ed25519PrivateKey.generate()

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def batch(
        self, number: int, seqs: range | list[int], chain: str = "usage"
    ) -> tuple[bytes, Signature]:
        batch = UsageBatch(
            self.terminal_id,
            chain,
            number,
            tuple(
                UsageRecord(
                    seq,
                    {
                        "event_id": f"00000000-0000-4000-8000-{seq:012d}",
                        "verdict": "admit",
                        "holder_ref": "ab" * 16,
                        "occurred_at": NOW.isoformat(),
                    },
                )
                for seq in seqs
            ),
        )
        raw = batch.to_bytes()
        return raw, sign_document(raw, self.terminal_id, self.key)


def enrol(office: BackOffice, terminal: FakeTerminal) -> None:
    token = office.terminals.add(terminal.terminal_id, now=NOW)
    office.terminals.enrol(
        {
            "terminal_id": terminal.terminal_id,
            "token": token,
            "public_key": base64.b64encode(terminal.public_key).decode(),
        },
        now=NOW,
    )
