"""The back office's data directory (``--data DIR``)::

backoffice.db          SQLite: list sources, terminals, usage, published state (backoffice.db)
keys/                  0700: the signing key ring (``<key id>.pem``, Ed25519, 0600) and
keys/list-key.hex      the fleet's list key (hex, 0600): it keys every card and holder ref
policy.toml            the venue policy source, published as list ``policy``
repo/                  the static bundle repository served at ``/repo/`` and exported to sticks
publish.lock           held while ``publish`` runs (one publisher at a time)
"""

from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from backoffice.errors import InputError, NotInitialised
from offline_store.holder_refs import HolderKeyer
from offline_store.whole_files import write_whole

DB_FILE = "backoffice.db"
KEYS_DIR = "keys"
LIST_KEY_FILE = "list-key.hex"
POLICY_FILE = "policy.toml"
REPO_DIR = "repo"
LOCK_FILE = "publish.lock"
LIST_KEY_BYTES = 32


def default_policy_text() -> bytes:
    """The template policy shipped with the back office (the terminal's embedded default)."""
    return (resources.files("backoffice") / "templates" / "default-policy.toml").read_bytes()


def write_secret(path: Path, data: bytes) -> None:
    """A new file readable by its owner only (0600), made durable; never overwrites."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def check_policy_text(data: bytes, where: str) -> None:
    """A policy source must be UTF-8 TOML; the terminal validates the rest before applying."""
    try:
        tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{where} is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where} is not valid TOML: {exc}") from exc


@dataclass(frozen=True, slots=True)
class DataDir:
    root: Path

    @property
    def db_path(self) -> Path:
        return self.root / DB_FILE

    @property
    def keys(self) -> Path:
        return self.root / KEYS_DIR

    @property
    def repo(self) -> Path:
        return self.root / REPO_DIR

    @property
    def policy(self) -> Path:
        return self.root / POLICY_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @classmethod
    def create(cls, root: Path) -> DataDir:
        """Folders, the list key and the default policy (the database and keys come after)."""
        data = cls(root)
        if data.db_path.exists() or (data.keys / LIST_KEY_FILE).exists():
            raise InputError(f"{root} already holds a back office: nothing was changed")
        root.mkdir(parents=True, exist_ok=True)
        data.keys.mkdir(mode=0o700, exist_ok=True)
        data.keys.chmod(0o700)
        data.repo.mkdir(exist_ok=True)
        write_secret(data.keys / LIST_KEY_FILE, secrets.token_bytes(LIST_KEY_BYTES).hex().encode())
        if not data.policy.exists():
            write_whole(data.policy, default_policy_text(), durable=True)
        return data

    @classmethod
    def open(cls, root: Path) -> DataDir:
        data = cls(root)
        if not data.db_path.is_file() or not (data.keys / LIST_KEY_FILE).is_file():
            raise NotInitialised(
                f"{root} is not a back-office data directory: run `ykt-backoffice init --data "
                f"{root}` first"
            )
        return data

    def list_key(self) -> bytes:
        path = self.keys / LIST_KEY_FILE
        try:
            key = bytes.fromhex(path.read_text("ascii").strip())
        except (OSError, ValueError) as exc:
            raise NotInitialised(f"the list key {path} cannot be read: {exc}") from exc
        if len(key) < 16:
            raise NotInitialised(f"the list key {path} is shorter than 16 bytes")
        return key

    def keyer(self) -> HolderKeyer:
        return HolderKeyer(self.list_key())

    def policy_text(self) -> bytes:
        try:
            return self.policy.read_bytes()
        except OSError as exc:
            raise NotInitialised(f"the policy source {self.policy} cannot be read: {exc}") from exc

    def set_policy(self, data: bytes, where: str) -> None:
        check_policy_text(data, where)
        write_whole(self.policy, data, durable=True)
