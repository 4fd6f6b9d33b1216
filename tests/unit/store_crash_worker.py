"""Run by test_store_crash.py: appends events, applies deltas and snapshots until killed.

After each operation *returns* it prints ``E <seq>`` or ``V <version>`` and flushes, so the
parent knows what the store promised before the SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

from offline_store.holder_refs import REF_BYTES
from offline_store.journal import UsageEvent
from offline_store.store import DENY_LIST, ListVersion, Store, digest_of

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
KEY = b"crash test journal key 0123456789"
_BASE_RNG = random.Random(0)
BASE = sorted(_BASE_RNG.randbytes(REF_BYTES) + b"\x01\x31\x01\x00" for _ in range(20_000))


def upserts_of(version: int) -> list[bytes]:
    rng = random.Random(version)
    return sorted(rng.randbytes(REF_BYTES) + b"\x02\x32\x05\x00" for _ in range(20_000))


def stated(version: int) -> ListVersion:
    records = BASE + (upserts_of(version) if version > 1 else [])
    digest, count = digest_of(records)
    return ListVersion(version, NOW, NOW + dt.timedelta(days=1), count, digest)


def main() -> None:
    path = Path(sys.argv[1])
    store = Store.open(path, journal_key=KEY)
    if store.version_of(DENY_LIST) is None:
        store.apply_deny_snapshot(stated(1), BASE, now=NOW)
    version = store.version_of(DENY_LIST) or 1
    print(f"V {version}", flush=True)
    n = 0
    while True:
        for _ in range(5):
            n += 1
            seq = store.journal.append_event(
                UsageEvent(
                    "T-0001", NOW, True, "admit", ("r",), {DENY_LIST: version}, bytes(16), "card"
                )
            )
            print(f"E {seq}", flush=True)
        if version % 3 == 0:  # every third version arrives as a full snapshot
            store.apply_deny_snapshot(
                stated(version + 1), sorted(BASE + upserts_of(version + 1)), now=NOW
            )
        else:
            removals = upserts_of(version) if version > 1 else []
            store.apply_deny_delta(
                version, stated(version + 1), upserts_of(version + 1), removals, now=NOW
            )
        version += 1
        print(f"V {version}", flush=True)


if __name__ == "__main__":
    main()
