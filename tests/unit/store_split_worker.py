"""Run by the journal-file tests as a second process on the same store.

``upgrade PATH``: prints ``READY`` once imported, opens the store (moving a single-file store's
journal into its journal file), prints ``OPEN``.  The test kills it somewhere in between.

``hold PATH COUNT``: applies a deny snapshot of COUNT records (seed 7) and, halfway through
the records, with the list file's write transaction open, prints ``HOLDING`` and waits for a
line on stdin; then finishes and prints ``APPLIED <version>``.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from collections.abc import Iterator
from pathlib import Path

from offline_store.holder_refs import REF_BYTES
from offline_store.store import ListVersion, Store, digest_of

KEY = b"split test journal key 012345678"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def snapshot(count: int) -> list[bytes]:
    rng = random.Random(7)
    return sorted({rng.randbytes(REF_BYTES) + b"\x01\x31\x01\x00" for _ in range(count)})


def held(records: list[bytes]) -> Iterator[bytes]:
    for n, record in enumerate(records):
        if n == len(records) // 2:
            print("HOLDING", flush=True)
            sys.stdin.readline()
        yield record


def main() -> None:
    mode, path = sys.argv[1], Path(sys.argv[2])
    if mode == "upgrade":
        print("READY", flush=True)
        Store.open(path, journal_key=KEY).close()
        print("OPEN", flush=True)
        return
    records = snapshot(int(sys.argv[3]))
    digest, count = digest_of(records)
    with Store.open(path, journal_key=KEY) as store:
        version = (store.version_of("deny") or 0) + 1
        stated = ListVersion(version, NOW, NOW + dt.timedelta(days=1), count, digest)
        assert store.apply_deny_snapshot(stated, held(records), now=NOW)
    print(f"APPLIED {version}", flush=True)


if __name__ == "__main__":
    main()
