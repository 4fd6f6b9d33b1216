"""A venue terminal's working parts, put together: store, keys, policy, code reader, checkpoint.

The command line (``ykt check``, ``ykt verify-code``) and later the TUI open a
:class:`Station` from :class:`StationSettings` and use its checkpoint; nothing here reads a
clock or talks to a reader.  Settings come from the terminal configuration
(:mod:`terminal.config`: the file, command-line options over it, environment variables as
fallbacks; docs/configuration.md).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from offline_store.holder_refs import HolderKeyer
from offline_store.store import POLICY_LIST, STAFF_LIST, Store
from terminal.checkpoint import Checkpoint
from terminal.clock import ClockSample
from terminal.codes.dispatch import CodeDispatcher
from terminal.codes.essc import verify_code
from terminal.codes.platform import HttpPlatformAdapter
from terminal.config import DEFAULT_PLATFORM_PREFIXES, TerminalConfig
from terminal.enrolment import Enrolment, TerminalFiles
from terminal.errors import ConfigError, NotEnrolled, PolicyError, StoreMissing
from terminal.policy import VenuePolicy, load_policy, parse_policy
from terminal.staff import Lockouts, StaffSignIn, roster_from
from terminal.sync.loop import SyncLoop
from terminal.sync.run import SyncTarget
from terminal.sync.technician import sync_parts
from terminal.terminal_keys import TerminalKeys
from terminal.verdict import Verdict

TERMINAL_ID_ENV = "YKT_TERMINAL_ID"


@dataclass(frozen=True, slots=True)
class StationSettings:
    store_path: Path
    keys_path: Path
    policy_path: Path | None = None
    terminal_id: str = "T-UNENROLLED"
    #: a production terminal refuses test issuer keys (the default: a terminal must be told
    #: it is a test or demo terminal, never the other way round)
    production: bool = True
    platform_url: str | None = None
    platform_prefixes: tuple[str, ...] = DEFAULT_PLATFORM_PREFIXES
    code_skew: dt.timedelta = dt.timedelta(seconds=60)

    @classmethod
    def from_config(
        cls, config: TerminalConfig, *, terminal_id: str | None = None
    ) -> StationSettings:
        """The settings of ``config``; the terminal id: ``terminal_id``, else
        ``$YKT_TERMINAL_ID``, else the enrolment's."""
        store = config.terminal.store_path
        return cls(
            store_path=store,
            keys_path=config.terminal.keys_path,
            policy_path=config.terminal.policy_path,
            terminal_id=terminal_id or os.environ.get(TERMINAL_ID_ENV) or _enrolled_id(store),
            production=not config.terminal.testing,
            platform_url=config.platform.url or None,
            platform_prefixes=config.platform.prefixes,
        )


def _enrolled_id(store: Path) -> str:
    try:
        return Enrolment.load(TerminalFiles.beside(store).enrolment).terminal_id
    except (NotEnrolled, ConfigError):
        return "T-UNENROLLED"


@dataclass(slots=True)
class Station:
    settings: StationSettings
    store: Store
    policy: VenuePolicy
    keyer: HolderKeyer
    checkpoint: Checkpoint
    dispatcher: CodeDispatcher
    staff: StaffSignIn
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        settings: StationSettings,
        *,
        feedback: Callable[[Verdict], None] | None = None,
        create: bool = False,
        online: Callable[[], bool] | None = None,
    ) -> Station:
        """Open the parts; a bad policy or key file is refused before the store is touched.

        The policy: the file named in the settings, else the one the back office published
        (synced into the store), else the embedded default.  ``online`` says whether the
        network is up (the sync loop's :meth:`~terminal.sync.loop.SyncLoop.online`); without
        it a configured platform URL counts as online.
        """
        policy = load_policy(settings.policy_path)
        keys = TerminalKeys.from_file(settings.keys_path)
        if not create and not settings.store_path.is_file():
            raise StoreMissing(
                f"no offline store at {settings.store_path}: it is created at enrolment "
                "([terminal] data in the configuration, --store or $YKT_STORE; `ykt dev "
                "seed-store` makes a demo one)"
            )
        store = Store.open(settings.store_path, journal_key=keys.journal_key, create=create)
        published = store.document(POLICY_LIST) if settings.policy_path is None else None
        if published is not None:
            try:
                policy = parse_policy(published.decode("utf-8"), "policy from the back office")
            except (PolicyError, UnicodeDecodeError):
                store.close()
                raise
        keyer = HolderKeyer(keys.list_key)
        checkpoint = Checkpoint(
            store, policy, keyer, settings.terminal_id, feedback=feedback,
            code_skew=settings.code_skew,
        )  # fmt: skip
        lists = checkpoint.lists
        essc = partial(
            verify_code,
            keys_for=lists.issuer_keys,
            skew=settings.code_skew,
            production=settings.production,
            seen=lists.code_seen,
        )
        platform = (
            HttpPlatformAdapter(settings.platform_url, terminal_id=settings.terminal_id)
            if settings.platform_url
            else None
        )
        dispatcher = CodeDispatcher(
            essc=essc,
            platform=platform,
            platform_prefixes=settings.platform_prefixes,
            online=(lambda: platform is not None) if online is None else online,
        )
        checkpoint.codes = dispatcher
        staff = StaffSignIn(
            roster=lambda: roster_from(lists.document(STAFF_LIST)),
            keyer=keyer,
            lockouts=Lockouts.load(TerminalFiles.beside(settings.store_path).staff_lockout),
            audit=store.journal.append_audit,
            terminal_id=settings.terminal_id,
            zone=policy.zone,
        )
        station = cls(settings, store, policy, keyer, checkpoint, dispatcher, staff)
        if platform is not None:
            station._closers.append(platform.close)
        return station

    def close(self) -> None:
        for closer in self._closers:
            closer()
        self.checkpoint.close()
        self.store.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def enrolled_sync_loop(
    files: TerminalFiles, *, sample: Callable[[], ClockSample], interval: float = 300.0
) -> SyncLoop | None:
    """The sync loop of an enrolled terminal, not started (none for a demo store)."""
    try:
        enrolment = Enrolment.load(files.enrolment)
    except NotEnrolled:
        return None
    keys = TerminalKeys.from_file(files.keys)
    return SyncLoop(
        lambda: Store.open(files.store, journal_key=keys.journal_key, create=False),
        SyncTarget(enrolment.repository, enrolment.backoffice_url),
        sync_parts(files, keys, enrolment.terminal_id),
        sample=sample,
        interval=interval,
    )
