"""Benchmark: the offline store at regional scale, against bare sqlite3 in the same run.

Figures (issue 3 targets in brackets), each beside its floor:

* snapshot import of N deny entries                     [10 M in at most 60 s]
  floor: bare ``executemany`` of the same rows into the same kind of table
* a 100,000-entry delta (half additions, half removals;  [at most 2 s]
  with fewer than 200,000 entries, half the list)
  floor: bare ``INSERT OR REPLACE`` / ``DELETE`` of the same rows
* lookup latency, half hits and half misses             [p99 at most 50 µs]
  floor: the bare ``SELECT`` on the same file
* bytes on disk per entry                               [at most 48]
* peak RSS of a process doing lookups                   [at most 200 MB]
* durable journal appends per second                    [at least 500]
  floor: bare insert + commit under ``synchronous=FULL`` in WAL

Run: ``.venv/bin/python bench/store_scale.py [--entries N] [--json FILE]``; the tests run it
with ``--entries 100000 --check`` as a smoke check of correctness (no timing asserted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from offline_store.holder_refs import REF_BYTES
from offline_store.journal import USAGE, UsageEvent
from offline_store.store import (
    DENY_LIST,
    PAGE_BYTES,
    DenyEntry,
    ListReader,
    ListVersion,
    Store,
    digest_of,
)

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
KEY = b"benchmark journal key 0123456789"
REGIONS = [bytes.fromhex(r) for r in ("310100", "320500", "330100", "340100", "310118")]
SPACE = 1 << (8 * REF_BYTES)


def snapshot_records(count: int, seed: int) -> Iterator[bytes]:
    """``count`` records, uniformly spread over the ref space, in ascending order."""
    rng = random.Random(seed)
    step = SPACE // count
    for i in range(count):
        ref = (i * step + rng.randrange(step)).to_bytes(REF_BYTES, "big")
        yield ref + bytes((rng.choice((1, 1, 1, 2, 3, 4, 9)),)) + rng.choice(REGIONS)


def delta_rows(count: int, total: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    """Half additions of new refs, half removals of listed records."""
    rng = random.Random(seed)
    listed = list(snapshot_records(total, 1)) if total <= 200_000 else None
    upserts = [rng.randbytes(REF_BYTES) + b"\x04" + REGIONS[0] for _ in range(count // 2)]
    if listed is not None:
        removals = rng.sample(listed, count // 2)
    else:  # every k-th entry, regenerated without holding the whole list
        k = total // (count // 2)
        removals = [r for i, r in enumerate(snapshot_records(total, 1)) if i % k == 0]
        removals = removals[: count // 2]
    return sorted(upserts), removals


def after_delta(entries: int, upserts: list[bytes], removals: list[bytes]) -> Iterator[bytes]:
    """The list after the delta, streamed (the back office's view, to state its digest)."""
    replaced = {r[:REF_BYTES] for r in upserts} | {r[:REF_BYTES] for r in removals}
    for record in snapshot_records(entries, 1):
        if record[:REF_BYTES] not in replaced:
            yield record
    yield from upserts


def stated_for(version: int, records: Iterator[bytes]) -> ListVersion:
    digest, count = digest_of(records)
    return ListVersion(version, NOW, NOW + dt.timedelta(days=7), count, digest)


def floor_import(path: Path, records: Iterator[bytes]) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(f"PRAGMA page_size={PAGE_BYTES}")  # the same table layout as the store
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE deny_entries (card_ref BLOB PRIMARY KEY, reason INTEGER NOT NULL, "
        "region INTEGER NOT NULL) WITHOUT ROWID"
    )
    rows = ((r[:16], r[16], int(r[17:].hex())) for r in records)
    start = time.perf_counter()
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany("INSERT INTO deny_entries VALUES (?, ?, ?)", rows)
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # as the store does after a snapshot
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss it restarts at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lookup_probe(path: Path, refs: list[bytes], bare: bool) -> dict[str, float]:
    """Time lookups in this process (after one untimed pass, so both sides start warm)."""
    lookup: Callable[[bytes], object]
    if bare:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        query = "SELECT reason, region FROM deny_entries WHERE card_ref = ?"

        def bare_lookup(ref: bytes) -> object:
            return connection.execute(query, (ref,)).fetchone()

        lookup = bare_lookup
    else:
        lookup = ListReader(path).lookup
    for ref in refs:
        lookup(ref)
    samples = []
    for ref in refs:
        start = time.perf_counter()
        lookup(ref)
        samples.append(time.perf_counter() - start)
    samples.sort()
    return {
        "median_us": statistics.median(samples) * 1e6,
        "p99_us": samples[int(0.99 * (len(samples) - 1))] * 1e6,
        "rss_mb": peak_rss_mb(),
    }


def lookups_in_fresh_process(path: Path, refs_file: Path, bare: bool) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--lookup-probe", str(path), str(refs_file)]
        + (["--bare"] if bare else []),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def journal_rate(store: Store, events: int) -> float:
    start = time.perf_counter()
    for n in range(events):
        store.journal.append_event(
            UsageEvent(
                "T-0001",
                NOW + dt.timedelta(seconds=n),
                True,
                "admit",
                ("benefit",),
                {DENY_LIST: 2},
                bytes(16),
                "card",
                uuid.UUID(int=n),
            )
        )
    return events / (time.perf_counter() - start)


def journal_floor(path: Path, events: int) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB, mac BLOB)")
    body = b"x" * 300
    start = time.perf_counter()
    for n in range(events):
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO events VALUES (?, ?, ?)", (n, body, bytes(32)))
        connection.execute("COMMIT")
    rate = events / (time.perf_counter() - start)
    connection.close()
    return rate


def run(entries: int, check: bool, workdir: Path) -> dict[str, object]:
    figures: dict[str, object] = {"entries": entries}
    store_path, floor_path = workdir / "store.db", workdir / "floor.db"

    stated = stated_for(1, snapshot_records(entries, 1))
    store = Store.open(store_path, journal_key=KEY)
    start = time.perf_counter()
    store.apply_deny_snapshot(stated, snapshot_records(entries, 1), now=NOW)
    figures["import_s"] = time.perf_counter() - start
    figures["import_floor_s"] = floor_import(floor_path, snapshot_records(entries, 1))

    delta_size = min(100_000, entries // 2)
    upserts, removals = delta_rows(delta_size, entries, 2)
    stated_delta = stated_for(2, after_delta(entries, upserts, removals))
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # both sides start from a folded WAL
    start = time.perf_counter()
    store.apply_deny_delta(1, stated_delta, upserts, removals, now=NOW)
    figures["delta_s"] = time.perf_counter() - start
    floor = sqlite3.connect(floor_path, isolation_level=None)
    floor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    start = time.perf_counter()
    floor.execute("BEGIN IMMEDIATE")
    floor.executemany(
        "DELETE FROM deny_entries WHERE card_ref = ?", [(r[:REF_BYTES],) for r in removals]
    )
    floor.executemany(
        "INSERT OR REPLACE INTO deny_entries VALUES (?, ?, ?)",
        [(r[:16], r[16], int(r[17:].hex())) for r in upserts],
    )
    floor.execute("COMMIT")
    figures["delta_floor_s"] = time.perf_counter() - start
    floor.close()

    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    figures["bytes_per_entry"] = store_path.stat().st_size / entries

    rng = random.Random(3)
    hits = [u[:REF_BYTES] for u in rng.sample(upserts, min(len(upserts), 25_000))]
    misses = [rng.randbytes(REF_BYTES) for _ in range(len(hits))]
    probe = hits + misses
    rng.shuffle(probe)
    refs_file = workdir / "refs.bin"
    refs_file.write_bytes(b"".join(probe))
    figures["lookup"] = lookups_in_fresh_process(store_path, refs_file, bare=False)
    figures["lookup_floor"] = lookups_in_fresh_process(store_path, refs_file, bare=True)

    if check:
        reader = store.reader()
        for record in upserts[:1000]:
            found = reader.lookup(record[:REF_BYTES])
            assert found == DenyEntry.from_record(record), record.hex()
        for record in removals[:1000]:
            assert reader.lookup(record[:REF_BYTES]) is None
        assert store.version_of(DENY_LIST) == 2
        store.check(full=True)

    events = 300 if check else 2000
    figures["journal_per_s"] = journal_rate(store, events)
    figures["journal_floor_per_s"] = journal_floor(workdir / "journal-floor.db", events)
    if check:
        assert store.journal.verify(USAGE) == events
        figures["checked"] = True
    store.close()
    return figures


def report(figures: dict[str, object]) -> None:
    def ratio(ours: float, floor: float) -> str:
        return f"{ours / floor:.2f}x floor"

    f = figures
    lookup, lookup_floor = f["lookup"], f["lookup_floor"]
    assert isinstance(lookup, dict)
    assert isinstance(lookup_floor, dict)
    print(f"offline store, {f['entries']:,} deny entries")
    print(
        f"snapshot import  {f['import_s']:.2f} s   floor {f['import_floor_s']:.2f} s   "
        f"{ratio(float(str(f['import_s'])), float(str(f['import_floor_s'])))}"
    )
    print(
        f"100k delta       {f['delta_s']:.3f} s  floor {f['delta_floor_s']:.3f} s  "
        f"{ratio(float(str(f['delta_s'])), float(str(f['delta_floor_s'])))}"
    )
    print(
        f"lookup           median {lookup['median_us']:.1f} µs p99 {lookup['p99_us']:.1f} µs   "
        f"floor p99 {lookup_floor['p99_us']:.1f} µs   "
        f"{ratio(lookup['p99_us'], lookup_floor['p99_us'])}"
    )
    print(f"peak RSS (lookups)  {lookup['rss_mb']:.0f} MB   floor {lookup_floor['rss_mb']:.0f} MB")
    print(f"bytes per entry  {f['bytes_per_entry']:.1f}")
    print(
        f"journal          {f['journal_per_s']:.0f} durable appends/s   floor "
        f"{f['journal_floor_per_s']:.0f}/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--check", action="store_true", help="verify results (smoke mode)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--lookup-probe", nargs=2, metavar=("DB", "REFS"))
    parser.add_argument("--bare", action="store_true")
    args = parser.parse_args()
    if args.lookup_probe:
        path, refs_file = Path(args.lookup_probe[0]), Path(args.lookup_probe[1])
        raw = refs_file.read_bytes()
        refs = [raw[i : i + REF_BYTES] for i in range(0, len(raw), REF_BYTES)]
        print(json.dumps(lookup_probe(path, refs, args.bare)))
        return 0
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        figures = run(args.entries, args.check, Path(folder))
    report(figures)
    if figures.get("checked"):
        print("checks passed: lookups, removals, versions, full integrity, journal chain")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
