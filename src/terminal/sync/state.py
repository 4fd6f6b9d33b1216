"""What the last syncs did, for ``ykt status``: a small JSON file beside the store.

Not evidence and not needed for correctness (the store holds versions and upload states); a
lost or damaged file only loses the history shown in ``ykt status``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from offline_store.whole_files import write_whole

#: how many recent errors ``ykt status`` shows
KEPT_ERRORS = 20


@dataclass(frozen=True, slots=True)
class SyncProblem:
    at: str
    stage: str  # "time", "upload", "lists", "acks"
    kind: str  # "transient" (may work later) or "permanent" (will not, as it is)
    message: str


@dataclass(slots=True)
class SyncState:
    last_run: str | None = None
    last_source: str | None = None
    #: stage → when it last succeeded
    last_success: dict[str, str] = field(default_factory=dict)
    errors: list[SyncProblem] = field(default_factory=list)
    #: the problems of the last run only (what ``ykt status`` raises alerts on)
    last_problems: list[SyncProblem] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> SyncState:
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            document = json.loads(path.read_text("utf-8"))
            return cls(
                last_run=document.get("last_run"),
                last_source=document.get("last_source"),
                last_success=dict(document.get("last_success", {})),
                errors=[SyncProblem(**e) for e in document.get("errors", [])],
                last_problems=[SyncProblem(**e) for e in document.get("last_problems", [])],
            )
        return cls()

    def note(self, now: dt.datetime, stage: str, kind: str, message: str) -> None:
        self.errors.append(SyncProblem(now.isoformat(), stage, kind, message))
        del self.errors[:-KEPT_ERRORS]

    def succeeded(self, now: dt.datetime, stage: str) -> None:
        self.last_success[stage] = now.isoformat()

    def save(self, path: Path) -> None:
        write_whole(path, json.dumps(asdict(self), ensure_ascii=False, indent=1).encode())
