"""The terminal's own secret keys (list key and journal key), from its key file.

Provisioned at enrolment with the trust material; until enrolment exists (a later issue) the
file is written by the operator or the demo.  Format (TOML, hex)::

    list_key = "64 hex digits"      # HMAC key of card/holder references in lists
    journal_key = "64 hex digits"   # HMAC key of the usage journal and audit chains
    signing_key = "64 hex digits"   # Ed25519 private key signing usage batches (enrolment)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from terminal.errors import ConfigError

STORE_ENV = "YKT_STORE"
KEYS_ENV = "YKT_TERMINAL_KEYS"


def default_store_path() -> Path:
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured)
    return Path.home() / ".local" / "share" / "ykt-terminal" / "store.db"


def default_keys_path(store: Path) -> Path:
    configured = os.environ.get(KEYS_ENV)
    return Path(configured) if configured else store.with_name("terminal-keys.toml")


@dataclass(frozen=True, slots=True)
class TerminalKeys:
    list_key: bytes
    journal_key: bytes
    #: the Ed25519 seed of the key that signs usage batches; None before enrolment (demo)
    signing_key: bytes | None = None

    @classmethod
    def from_file(cls, path: Path) -> TerminalKeys:
        if not path.is_file():
            raise ConfigError(
                f"terminal key file {path} does not exist: it comes with enrolment "
                f"(or set {KEYS_ENV})"
            )
        try:
            document = tomllib.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"terminal key file {path} cannot be read: {exc}") from exc
        keys = {}
        for name in ("list_key", "journal_key"):
            value = document.get(name)
            try:
                key = bytes.fromhex(value) if isinstance(value, str) else b""
            except ValueError:
                key = b""
            if len(key) < 16:
                raise ConfigError(
                    f"terminal key file {path}: {name} must be at least 32 hex digits"
                )
            keys[name] = key
        signing = document.get("signing_key")
        signing_key = None
        if signing is not None:
            try:
                signing_key = bytes.fromhex(signing) if isinstance(signing, str) else b""
            except ValueError:
                signing_key = b""
            if len(signing_key) != 32:
                raise ConfigError(f"terminal key file {path}: signing_key must be 64 hex digits")
        return cls(keys["list_key"], keys["journal_key"], signing_key)

    def to_toml(self) -> str:
        text = f'list_key = "{self.list_key.hex()}"\njournal_key = "{self.journal_key.hex()}"\n'
        if self.signing_key is not None:
            text += f'signing_key = "{self.signing_key.hex()}"\n'
        return text
