"""Enrolment: a terminal gets its identity, keys and trust root; unenrolment wipes them.

Files beside the store (``<dir>`` = the store's folder)::

    <dir>/enrolment.toml        terminal id, back-office URL, repository URL, root key (public)
    <dir>/terminal-keys.toml    list key (from the grant), journal key, signing key (0600)
    <dir>/store.db …            the offline store (lists, journal)
    <dir>/sync-cache/           partial downloads, the last index.json and its ETag
    <dir>/sync-state.json       what the last syncs did (for ``ykt status``)

``ykt enrol`` makes an Ed25519 key pair, sends the public half with the one-time token the
back office issued, and accepts the enrolment grant only when it is signed by the root key the
technician typed in (``<key id>:<algorithm>:<base64 public key>``, as ``ykt-backoffice keys
root`` prints it).  The store is created with that root as its only trusted key.  The
enrolment file is written last: a terminal killed mid-enrolment is simply not enrolled.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from offline_store.errors import DocumentRejected, StoreError, TrustRejected
from offline_store.exchange import (
    CHAINS,
    EnrolmentGrant,
    TimeStatement,
    verify_from_backoffice,
)
from offline_store.journal import UploadState
from offline_store.journal_file import journal_path_for
from offline_store.store import Store
from offline_store.trust import ALGORITHMS, ED25519, TrustedKey
from offline_store.whole_files import write_whole
from terminal.clock import ClockSample
from terminal.errors import AlreadyEnrolled, ConfigError, NotEnrolled, UnsentUsage
from terminal.staff import LOCKOUT_FILE
from terminal.sync.backoffice_api import BackOfficeApi
from terminal.sync.usage import outbox_lock_path
from terminal.terminal_keys import TerminalKeys, default_keys_path

#: a root key given at enrolment is trusted from long before (bundles already published) to
#: far ahead; the back office narrows it with its first trust update
_ROOT_VALID = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


def parse_root_key(text: str) -> TrustedKey:
    """``<key id>:<algorithm>:<base64 public key>``."""
    parts = text.strip().rsplit(":", 2)
    if len(parts) != 3 or parts[1] not in ALGORITHMS or not parts[0]:
        raise ConfigError(
            "the root key must read <key id>:<algorithm>:<base64 public key> with algorithm "
            f"one of {', '.join(ALGORITHMS)} (ykt-backoffice keys root prints it)"
        )
    try:
        public = base64.b64decode(parts[2], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"the root key's public key is not valid base64 ({exc})") from exc
    try:  # a truncated or mistyped key would be trusted and then verify nothing
        if parts[1] == ED25519:
            Ed25519PublicKey.from_public_bytes(public)
        else:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public)
        return TrustedKey(parts[0], parts[1], public, *_ROOT_VALID)
    except (ValueError, TrustRejected) as exc:
        raise ConfigError(
            f"the root key's public key is not a valid {parts[1]} public key ({len(public)} "
            "bytes): check it against `ykt-backoffice keys root`"
        ) from exc


def root_key_text(key: TrustedKey) -> str:
    return f"{key.key_id}:{key.algorithm}:{base64.b64encode(key.public_key).decode()}"


@dataclass(frozen=True, slots=True)
class TerminalFiles:
    """Where one terminal keeps its things, all derived from the store's path."""

    store: Path
    keys: Path

    @classmethod
    def beside(cls, store: Path, keys: Path | None = None) -> TerminalFiles:
        return cls(store, keys or default_keys_path(store))

    @property
    def enrolment(self) -> Path:
        return self.store.with_name("enrolment.toml")

    @property
    def sync_cache(self) -> Path:
        return self.store.with_name("sync-cache")

    @property
    def pending_key(self) -> Path:
        return self.store.with_name("enrolment-pending.toml")

    @property
    def sync_state(self) -> Path:
        return self.store.with_name("sync-state.json")

    @property
    def staff_lockout(self) -> Path:
        return self.store.with_name(LOCKOUT_FILE)

    def store_files(self) -> list[Path]:
        """The store's database files (lists and journal), with their WAL and shared memory."""
        return [
            path.with_name(path.name + suffix)
            for path in (self.store, journal_path_for(self.store))
            for suffix in ("", "-wal", "-shm")
        ]


@dataclass(frozen=True, slots=True)
class Enrolment:
    terminal_id: str
    backoffice_url: str
    repository_url: str | None
    root_key: TrustedKey
    enrolled_at: dt.datetime

    @property
    def repository(self) -> str:
        return self.repository_url or f"{self.backoffice_url.rstrip('/')}/repo/"

    def to_toml(self) -> str:
        lines = [
            "# written by `ykt enrol`; `ykt unenrol` removes it",
            f'terminal_id = "{self.terminal_id}"',
            f'backoffice_url = "{self.backoffice_url}"',
            f'root_key = "{root_key_text(self.root_key)}"',
            f'enrolled_at = "{self.enrolled_at.isoformat()}"',
        ]
        if self.repository_url:
            lines.append(f'repository_url = "{self.repository_url}"')
        return "\n".join(lines) + "\n"

    @classmethod
    def load(cls, path: Path) -> Enrolment:
        if not path.is_file():
            raise NotEnrolled(
                f"this terminal is not enrolled ({path} does not exist): run `ykt enrol`"
            )
        try:
            document = tomllib.loads(path.read_text("utf-8"))
            repository = document.get("repository_url")
            return cls(
                terminal_id=str(document["terminal_id"]),
                backoffice_url=str(document["backoffice_url"]),
                repository_url=str(repository) if repository else None,
                root_key=parse_root_key(str(document["root_key"])),
                enrolled_at=dt.datetime.fromisoformat(str(document["enrolled_at"])),
            )
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, ValueError) as exc:
            raise ConfigError(f"enrolment file {path} is damaged ({exc}): re-enrol") from exc

    def to_json(self) -> dict[str, object]:
        return {
            "terminal_id": self.terminal_id,
            "backoffice_url": self.backoffice_url,
            "repository": self.repository,
            "root_key": self.root_key.key_id,
            "enrolled_at": self.enrolled_at.isoformat(),
        }


def enrol(
    files: TerminalFiles,
    api: BackOfficeApi,
    *,
    terminal_id: str,
    token: str,
    root_key: TrustedKey,
    now: dt.datetime,
    force: bool = False,
    discard_unsent: bool = False,
) -> Enrolment:
    """Enrol this terminal (see the module docstring); refuses to overwrite without ``force``.

    Nothing on the terminal changes until the grant is in hand and verified: the checks come
    first (an existing enrolment, unsent usage, the root key against the back office's signed
    time), then the request, then the swap.  The key pair is kept in a pending file until the
    grant arrives, so a retry after a lost answer sends the same key (the back office answers
    a repeated request with the grant again; a second key would be refused).
    """
    existing = files.enrolment.exists() or files.store.exists()
    if existing and not force:
        raise AlreadyEnrolled(
            f"this terminal already has an enrolment or a store ({files.enrolment.parent}): "
            "`ykt enrol --force` replaces it (after its usage is uploaded or exported)"
        )
    if existing and not discard_unsent:
        refuse_unsent_usage(files)
    _check_root_key(api, root_key, now)
    signing = _pending_key(files, terminal_id)
    public = base64.b64encode(signing.public_key().public_bytes_raw()).decode()
    answer = api.enrol(terminal_id, token, public)
    verify_from_backoffice(
        answer.body, [answer.signature], [root_key], now=now, what="enrolment grant"
    )
    grant = EnrolmentGrant.from_bytes(answer.body)
    if grant.terminal_id != terminal_id:
        raise ConfigError(
            f"the back office granted terminal id {grant.terminal_id}, not {terminal_id}"
        )
    if existing:
        unenrol(files, discard_unsent=True)  # checked above
    keys = TerminalKeys(grant.list_key, secrets.token_bytes(32), signing.private_bytes_raw())
    files.store.parent.mkdir(parents=True, exist_ok=True)
    write_whole(files.keys, keys.to_toml().encode(), durable=True, private=True)
    with Store.open(files.store, journal_key=keys.journal_key) as store:
        store.trust.provision_root(root_key)
    enrolment = Enrolment(terminal_id, grant.backoffice_url, grant.repository_url, root_key, now)
    write_whole(files.enrolment, enrolment.to_toml().encode(), durable=True, private=True)
    files.pending_key.unlink(missing_ok=True)
    return enrolment


def _check_root_key(api: BackOfficeApi, root_key: TrustedKey, now: dt.datetime) -> None:
    """The back office's signed time must verify under the root key typed in: a wrong key is
    caught before the back office records this terminal's key."""
    nonce = secrets.token_hex(16)
    answer = api.time(nonce, lambda: ClockSample(now, 0.0, "enrolment")).answer
    try:
        verify_from_backoffice(
            answer.body, [answer.signature], [root_key], now=now, what="time statement"
        )
        if TimeStatement.from_bytes(answer.body).nonce != nonce:
            raise DocumentRejected("the time statement answers another request")
    except DocumentRejected as error:
        raise ConfigError(
            f"the root key {root_key.key_id} does not match the back office at "
            f"{api.base_url} ({error.message}): check --root-key against `ykt-backoffice keys "
            "root` on that back office; nothing was sent"
        ) from error


def _pending_key(files: TerminalFiles, terminal_id: str) -> Ed25519PrivateKey:
    """The key pair of an enrolment under way: made once, reused until the grant arrives."""
    try:
        document = tomllib.loads(files.pending_key.read_text("utf-8"))
        if document.get("terminal_id") == terminal_id:
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(str(document["key"])))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, ValueError):
        pass
    key = Ed25519PrivateKey.generate()
    files.pending_key.parent.mkdir(parents=True, exist_ok=True)
    write_whole(
        files.pending_key,
        f'terminal_id = "{terminal_id}"\nkey = "{key.private_bytes_raw().hex()}"\n'.encode(),
        durable=True,
        private=True,
    )
    return key


def unsent_usage(store: Store) -> int:
    """Records of any chain the back office has not acknowledged."""
    return sum(
        counts.get(UploadState.PENDING, 0) + counts.get(UploadState.IN_BATCH, 0)
        for counts in (store.journal.counts(chain) for chain in CHAINS)
    )


def refuse_unsent_usage(
    files: TerminalFiles, open_store: Callable[[Path, bytes], Store] | None = None
) -> None:
    """:class:`UnsentUsage` while the journal holds usage the back office has not acknowledged
    (or cannot be checked)."""
    if not files.store.is_file():
        return
    if not files.keys.is_file():  # e.g. a mistyped --keys: never wipe what we cannot check
        raise UnsentUsage(
            f"the store cannot be checked for unsent usage without its key file "
            f"({files.keys} does not exist): give the right --keys, or `--discard-unsent` "
            "wipes it anyway"
        )
    keys = TerminalKeys.from_file(files.keys)
    opener = open_store or (lambda path, key: Store.open(path, journal_key=key, create=False))
    try:
        with opener(files.store, keys.journal_key) as store:
            waiting = unsent_usage(store)
    except StoreError as error:
        raise UnsentUsage(
            f"the store cannot be read to check for unsent usage ({error.message}); "
            "`--discard-unsent` wipes it anyway"
        ) from error
    if waiting:
        raise UnsentUsage(
            f"{waiting} usage record(s) are not yet acknowledged by the back office: run "
            "`ykt sync` or `ykt usage export <stick>` first, or pass `--discard-unsent`"
        )


def unenrol(
    files: TerminalFiles,
    *,
    discard_unsent: bool = False,
    open_store: Callable[[Path, bytes], Store] | None = None,
) -> list[Path]:
    """Wipe the terminal's personal data and identity; the paths removed.

    Refuses while the journal holds usage the back office has not acknowledged, unless
    ``discard_unsent`` (the technician exported it, or accepts its loss).
    """
    if not discard_unsent:
        refuse_unsent_usage(files, open_store)
    removed = []
    wiped = [*files.store_files(), files.keys, files.enrolment, files.sync_state,
             outbox_lock_path(files.store), files.pending_key, files.staff_lockout]  # fmt: skip
    for path in wiped:
        if path.exists():
            path.unlink()
            removed.append(path)
    if files.sync_cache.exists():
        shutil.rmtree(files.sync_cache)
        removed.append(files.sync_cache)
    return removed
