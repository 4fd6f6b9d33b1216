"""Helpers of the back-office tests: a fixed time, a fake terminal that signs usage batches."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backoffice.cli import main
from backoffice.service import BackOffice
from offline_store.exchange import UsageBatch, UsageRecord, sign_document
from offline_store.trust import Signature

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def plaintext_forms(*texts: str, raw: tuple[bytes, ...] = ()) -> list[bytes]:
    """How a plaintext identifier could sit in a file: UTF-8 and UTF-16, as given and lower
    case, and any ``raw`` byte forms (a card id's hex decoded)."""
    forms = [*raw]
    for text in texts:
        for variant in (text, text.lower()):
            forms += [variant.encode("utf-8"), variant.encode("utf-16-le")]
    return forms


def scan_data_dir(data: Path, secrets: list[bytes]) -> list[Path]:
    """Assert no secret is in any file of the data directory (private keys aside); the files."""
    files = [p for p in data.rglob("*") if p.is_file() and p.suffix != ".pem"]
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret not in content, f"plaintext {secret[:4]!r}... in {path}"
    return files


def run(data: Path, *args: str, code: int = 0, stdin: str | None = None) -> Result:
    """``ykt-backoffice ARGS --data DATA`` in process; the exit code must be ``code``."""
    result = CliRunner().invoke(main, [*args, "--data", str(data)], input=stdin)
    assert result.exit_code == code, (result.output, result.exception)
    return result


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
