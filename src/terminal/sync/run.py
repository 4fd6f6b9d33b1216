"""One sync: the back office's time, then usage up, then lists down (docs/protocol.md).

The order matters:

1. **Time** first (one small request): the back office's signed time, answering a fresh
   nonce, gives clock trust and the ``now`` that bundles are checked against — a terminal
   whose clock was set back still verifies today's bundles correctly.
2. **Usage up** before lists down, and a failed upload never stops the list refresh.
3. **Lists**: trust first, then every list; each version verified and applied atomically.

From a folder (a USB stick) there is no time and no upload: the stick's ``acks/`` are read
instead, and ``ykt usage export`` writes the outbox.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_store.bundles import (
    INDEX,
    DocumentCheck,
    FolderSource,
    Repository,
    RepositorySource,
    SyncReport,
    sync_from,
)
from offline_store.errors import BundleRejected, DocumentRejected, StoreError
from offline_store.exchange import TimeStatement, verify_from_backoffice
from offline_store.staff_roster import StaffRoster
from offline_store.store import STAFF_LIST, Store
from terminal.clock import ClockSample, trusted_time_from
from terminal.errors import BackOfficeUnreachable, ConfigError, PolicyError, SyncError
from terminal.sync.backoffice_api import BackOfficeApi
from terminal.sync.http_source import HttpRepositorySource
from terminal.sync.state import SyncProblem, SyncState
from terminal.sync.transport import RetryPolicy, new_client
from terminal.sync.usage import DEFAULT_BATCH_SIZE, UploadReport, UsageOutbox

log = logging.getLogger(__name__)
#: a time answer slower than this is not trusted (its error would be up to half of it)
LONGEST_TIME_ROUND_TRIP = 10.0


@dataclass(frozen=True, slots=True)
class SyncTarget:
    """Where lists come from (a URL or a folder) and where usage goes (the API, if any)."""

    repository: str
    api_url: str | None = None

    def __post_init__(self) -> None:
        for url in (self.repository, self.api_url):
            if url is not None and "://" in url:
                check_url(url)

    @property
    def is_folder(self) -> bool:
        return not self.repository.startswith(("http://", "https://"))

    @classmethod
    def parse(cls, text: str, api_url: str | None = None) -> SyncTarget:
        if text.startswith(("http://", "https://")):
            return cls(text, api_url)
        return cls(text, None)


@dataclass(slots=True)
class SyncOutcome:
    source: str
    trusted_time: dt.datetime | None = None
    upload: UploadReport | None = None
    stick_acknowledged: int = 0
    lists: SyncReport | None = None
    index_unchanged: bool = False
    bytes_received: int = 0
    problems: list[SyncProblem] = field(default_factory=list)
    #: what is worth saying but is no problem (e.g. a stick that carries no lists)
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "complete": self.complete,
            "trusted_time": None if self.trusted_time is None else self.trusted_time.isoformat(),
            "upload": None
            if self.upload is None
            else {
                "batches_sent": self.upload.batches_sent,
                "records_acknowledged": self.upload.records_acknowledged,
                "refused": self.upload.refused,
                "interrupted": self.upload.interrupted,
            },
            "stick_acknowledged": self.stick_acknowledged,
            "lists_applied": [] if self.lists is None else [list(a) for a in self.lists.applied],
            "lists_rejected": {} if self.lists is None else self.lists.rejected,
            "index_unchanged": self.index_unchanged,
            "bytes_received": self.bytes_received,
            "problems": [
                {"stage": p.stage, "kind": p.kind, "message": p.message} for p in self.problems
            ],
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class SyncParts:
    """What a sync needs besides the store: identity, keys, places and manners."""

    terminal_id: str
    signing_key: Ed25519PrivateKey
    cache: Path
    state_path: Path
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    batch_size: int = DEFAULT_BATCH_SIZE
    check_document: DocumentCheck | None = None


def run_sync(
    store: Store,
    target: SyncTarget,
    parts: SyncParts,
    *,
    sample: Callable[[], ClockSample],
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncOutcome:
    """Sync once; every problem is in the outcome (and the state file), none is raised."""
    needs_http = not target.is_folder or target.api_url is not None
    own_client = client is None and needs_http
    http = client or (new_client(parts.retry) if own_client else None)
    run = _SyncRun(store, target, parts, sample, sleep)
    try:
        if target.api_url is not None and http is not None:
            api = BackOfficeApi(target.api_url, http, parts.retry, sleep=sleep)
            run.take_time(api)
            run.upload(api)
        if target.is_folder:
            run.read_stick_acks()
        run.lists(http)
    finally:
        if own_client and http is not None:
            http.close()
        run.finish()
    return run.outcome


class _SyncRun:
    def __init__(
        self,
        store: Store,
        target: SyncTarget,
        parts: SyncParts,
        sample: Callable[[], ClockSample],
        sleep: Callable[[float], None],
    ) -> None:
        self.store = store
        self.target = target
        self.parts = parts
        self.sample = sample
        self.sleep = sleep
        self.state = SyncState.load(parts.state_path)
        self.started = sample()
        self.now = self.started.wall
        self.outcome = SyncOutcome(target.repository)
        self.outbox = UsageOutbox(
            store, parts.terminal_id, parts.signing_key, batch_size=parts.batch_size
        )

    def problem(self, stage: str, kind: str, message: str) -> None:
        self.outcome.problems.append(SyncProblem(self.now.isoformat(), stage, kind, message))
        self.state.note(self.now, stage, kind, message)

    def take_time(self, api: BackOfficeApi) -> None:
        try:
            self.now = _take_time(self.store, api, self.sample)
        except (SyncError, StoreError) as error:
            self.problem("time", _kind(error), error.message)
            return
        except OSError as error:
            self.problem("time", "permanent", _disk_problem(error))
            return
        self.outcome.trusted_time = self.now
        self.state.succeeded(self.now, "time")

    def upload(self, api: BackOfficeApi) -> None:
        try:
            report = self.outbox.upload(api, now=self.now)
        except StoreError as error:
            self.problem("upload", "permanent", error.message)
            return
        except OSError as error:
            self.problem("upload", "permanent", _disk_problem(error))
            return
        self.outcome.upload = report
        for message in report.refused.values():  # each names its batch
            self.problem("upload", "permanent", message)
        if report.interrupted:
            self.problem("upload", "transient", report.interrupted)
        elif not report.refused:
            self.state.succeeded(self.now, "upload")

    def read_stick_acks(self) -> None:
        try:
            acknowledged, troubles = self.outbox.read_stick_acks(
                Path(self.target.repository), now=self.now
            )
        except (StoreError, SyncError) as error:
            self.problem("acks", "permanent", error.message)
            return
        except OSError as error:
            self.problem("acks", "permanent", _disk_problem(error))
            return
        self.outcome.stick_acknowledged = acknowledged
        for message in troubles:
            self.problem("acks", "permanent", message)

    def lists(self, http: httpx.Client | None) -> None:
        folder = Path(self.target.repository)
        if self.target.is_folder and not (folder / INDEX).is_file():
            if (folder / "acks").is_dir() or (folder / "outbox").is_dir():
                self.outcome.notes.append(f"{folder} carries no lists (no {INDEX})")
            else:
                self.problem(
                    "lists", "permanent",
                    f"{folder} holds no bundle repository ({INDEX} cannot be read) and no "
                    "acknowledgements: is it the right folder, and is the stick mounted?",
                )  # fmt: skip
            return
        source: RepositorySource
        if self.target.is_folder or http is None:
            source = FolderSource(Path(self.target.repository))
        else:
            source = HttpRepositorySource(
                self.target.repository, http, self.parts.cache, self.parts.retry,
                sleep=self.sleep,
            )  # fmt: skip
        try:
            report = sync_from(
                self.store,
                Repository(self.parts.cache / "repository", source),
                now=self.now,
                check_document=self.parts.check_document,
            )
        except (SyncError, StoreError) as error:
            self.problem("lists", _kind(error), error.message)
        except OSError as error:
            self.problem("lists", "permanent", _disk_problem(error))
        else:
            self.outcome.lists = report
            for list_name, message in report.rejected.items():
                self.problem("lists", "permanent", f"{list_name}: {message}")
            if not report.rejected:
                self.state.succeeded(self.now, "lists")
        if isinstance(source, HttpRepositorySource):
            self.outcome.index_unchanged = source.index_unchanged
            self.outcome.bytes_received = source.bytes_received

    def finish(self) -> None:
        self.state.last_run = self.started.wall.isoformat()
        self.state.last_source = self.target.repository
        self.state.last_problems = list(self.outcome.problems)
        try:
            self.state.save(self.parts.state_path)
        except OSError as error:  # the history for `ykt status` only: the sync itself stands
            message = _disk_problem(error)
            self.outcome.notes.append(f"the sync history was not saved: {message}")
            log.warning("sync state not saved: %s", message)


def check_url(url: str) -> str:
    """An http(s) URL with a host, or :class:`ConfigError` naming what is wrong with it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{url!r} is not a valid URL ({exc})") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(
            f"{url!r} is not an http:// or https:// URL with a host: give the back office's "
            "address (e.g. https://backoffice.example:8443), or a folder path for a stick"
        )
    return url


def _take_time(store: Store, api: BackOfficeApi, sample: Callable[[], ClockSample]) -> dt.datetime:
    """Ask, verify and store the back office's time; the trusted ``now``."""
    nonce = secrets.token_hex(16)
    answer = api.time(nonce, sample)
    statement = TimeStatement.from_bytes(answer.answer.body)
    if statement.nonce != nonce:
        raise DocumentRejected("the time statement answers another request (nonce differs)")
    if answer.round_trip > LONGEST_TIME_ROUND_TRIP:
        raise BackOfficeUnreachable(
            f"the back office's time took {answer.round_trip:.1f} s to arrive: too slow to "
            "trust; clock trust is unchanged"
        )
    server_now = statement.time + dt.timedelta(seconds=answer.round_trip / 2)
    verify_from_backoffice(
        answer.answer.body, [answer.answer.signature], store.trust.all(), now=server_now,
        what="time statement",
    )  # fmt: skip
    store.record_trusted_time(trusted_time_from(answer.received, server_now, api.base_url))
    return server_now


def _disk_problem(error: OSError) -> str:
    where = f" ({error.filename})" if error.filename else ""
    return (
        f"the terminal's disk refused a write{where}: {error.strerror or error}; free space "
        "or check the data folder's permissions, then sync again (nothing was lost)"
    )


def _kind(error: Exception) -> str:
    return "transient" if isinstance(error, BackOfficeUnreachable) else "permanent"


def policy_check(validate: Callable[[str, str], object]) -> DocumentCheck:
    """A :data:`DocumentCheck` for the one-document lists: a policy that ``validate`` (text,
    where) refuses, or a staff roster that does not parse, is refused and the previous one
    stays in force."""

    def check(list_name: str, content: bytes) -> None:
        if list_name == STAFF_LIST:
            try:
                StaffRoster.from_document(content)
            except DocumentRejected as exc:
                raise BundleRejected(
                    f"the published staff roster is not valid, the previous one stays in force: "
                    f"{exc.message}"
                ) from exc
            return
        try:
            validate(content.decode("utf-8"), f"{list_name} from the back office")
        except UnicodeDecodeError as exc:
            raise BundleRejected(f"the published {list_name} is not UTF-8 text") from exc
        except PolicyError as exc:
            raise BundleRejected(
                f"the published {list_name} is not valid, the previous one stays in force: "
                f"{exc.message}"
            ) from exc

    return check
