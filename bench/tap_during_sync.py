"""Benchmark: durable taps while a big list version is applied beside them.

The requirement: list sync runs beside the gate loop and never delays a verdict.  A tap's
record (``Store.record_tap``: the usage event, its admission and its seen code, one
``BEGIN IMMEDIATE`` job under ``synchronous=FULL``) goes to the journal file, a list version
to the list file, each file with its own writer; so a tap does not wait for an apply.  What an
apply still takes from a tap is the machine they share: the two cores, the GIL when the apply
runs in a thread of the same process, the disk's flushes.

The store: a deny list of N entries (``bench/store_scale.py``'s snapshot generator, seed 1)
applied through ``apply_deny_snapshot`` (not timed).  Then taps, paced at one every
``--interval`` ms throughout (each a ``record_tap`` of a new holder, timed; and the verdict's
reads for it, ``ListReader.lookup`` + ``admissions_since``, timed apart), in this order:

* ``idle``                no apply: the floor, measured before, between and after the applies;
* ``delta (thread)``      ``--deltas`` deltas of 100,000 changes (half additions, half
                          removals) applied one after another by another thread;
* ``snapshot (thread)``   a snapshot of N fresh entries applied by another thread;
* ``delta (process)``, ``snapshot (process)``  the same applied by another process (its own
                          interpreter: no GIL shared with the taps).

Each apply phase reports the taps' latency against the idle floor (p50/p99 ratios), the
longest tap against the apply's duration (a tap that waited for the apply would take about as
long as the apply), and taps refused as not recorded (``JournalNotDurable``: a tap that waited
past the busy timeout).  Only public ``Store`` methods are used, so the same script measures a
store of an older layout too.

Taps come every millisecond, not at a gate's pace: with longer pauses an idle CPU sleeps, and
its wake-up (about 3 ms at one tap per 10 ms on the 2-core VM) swamps both the floor and the
figures under load.

Run: ``.venv/bin/python bench/tap_during_sync.py [--entries N] [--deltas N] [--interval MS]
[--json FILE]`` (defaults: 10,000,000 entries, 5 deltas per mode, a tap every 1 ms); the
tests run it with ``--entries 20000 --check`` (every tap journalled in order, chain, list and
versions checked, no timing asserted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from latency import line, ratios, summary
from offline_store.errors import JournalNotDurable
from offline_store.holder_refs import REF_BYTES
from offline_store.journal import USAGE, UsageEvent
from offline_store.store import (
    DENY_LIST,
    ListReader,
    ListVersion,
    Store,
    digest_of,
    state_digest,
)
from offline_store.taps import TapFacts
from store_scale import snapshot_records

KEY = b"benchmark journal key 0123456789"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
VALID_UNTIL = NOW + dt.timedelta(days=7)
SERVICE = "scenic.entry"
DELTA_CHANGES = 100_000
IDLE_TAPS = 500  # per idle phase
ADDED = b"\x04\x31\x01\x00"  # fraud, region 310100: what a delta adds


@dataclass
class Taps:
    """The taps of one phase: record_tap and lookup times, refusals, the apply's duration."""

    record: list[float] = field(default_factory=list)
    lookup: list[float] = field(default_factory=list)
    refused: int = 0
    apply_s: float = 0.0
    applies: int = 0


class Gate:
    """Paced taps, each a new holder, journalled with its admission and a seen code."""

    def __init__(self, store: Store, interval: float) -> None:
        self.store = store
        self.reader: ListReader = store.reader()
        self.interval = interval
        self.count = 0
        self.recorded: list[int] = []
        self.listed = b""  # a listed ref, looked up on every other tap

    def tap(self, into: Taps) -> None:
        self.count += 1
        n = self.count
        at = NOW + dt.timedelta(seconds=n)  # a code stays replayable 6 min: ~360 seen codes
        ref = n.to_bytes(REF_BYTES, "big")
        clock = time.perf_counter
        began = clock()
        self.reader.lookup(self.listed if n % 2 else ref)
        self.reader.admissions_since([ref], SERVICE, at - dt.timedelta(hours=1))
        looked = clock()
        event = UsageEvent("T-BENCH", at, True, "admit", ("admitted",), {DENY_LIST: 1}, ref,
                           "essc-qr", uuid.UUID(int=n), service=SERVICE)  # fmt: skip
        facts = TapFacts((ref,), SERVICE, at, True, n.to_bytes(16, "big"),
                         at + dt.timedelta(minutes=6))  # fmt: skip
        try:
            self.recorded.append(self.store.record_tap(event, facts))
        except JournalNotDurable:
            into.refused += 1
            return
        into.lookup.append(looked - began)
        into.record.append(clock() - looked)

    def taps(self, into: Taps, *, until: Callable[[], bool] | None = None, count: int = 0) -> None:
        """Tap every ``interval`` (no catching up after a slow one) until ``until()`` or
        ``count`` taps."""
        clock = time.perf_counter
        due = clock()
        done = 0
        while (until is None and done < count) or (until is not None and not until()):
            wait = due - clock()
            if wait > 0:
                time.sleep(wait)
            started = clock()
            self.tap(into)
            done += 1
            due = max(due + self.interval, started)


@dataclass(frozen=True)
class Delta:
    base: int
    stated: ListVersion
    upserts: list[bytes]
    removals: list[bytes]


def next_delta(store: Store, removals: list[bytes], seed: int) -> Delta:
    """A delta on the applied version: ``removals`` leave, as many fresh records join.

    Its digest is the applied digest sum moved by the changes, as a back office keeping the
    list's sum states it (the store checks it after applying)."""
    current = store.current(DENY_LIST)
    assert current is not None
    version, total, count = current
    rng = random.Random(seed)
    upserts = sorted(rng.randbytes(REF_BYTES) + ADDED for _ in range(len(removals)))
    change = sum(map(_term, upserts)) - sum(map(_term, removals))
    stated = ListVersion(version + 1, NOW, VALID_UNTIL, count,
                         state_digest(total + change, count))  # fmt: skip
    return Delta(version, stated, upserts, removals)


def _term(record: bytes) -> int:
    return int.from_bytes(hashlib.sha256(record).digest(), "big")


def spread(entries: int, seed: int, count: int) -> list[bytes]:
    """``count`` records spread over a snapshot's (what a delta removes from it)."""
    step = max(1, entries // count)
    return [r for i, r in enumerate(snapshot_records(entries, seed)) if i % step == 0][:count]


def apply_delta(store: Store, delta: Delta) -> None:
    assert store.apply_deny_delta(delta.base, delta.stated, delta.upserts, delta.removals, now=NOW)


def apply_snapshot(store: Store, stated: ListVersion, entries: int, seed: int) -> None:
    assert store.apply_deny_snapshot(stated, snapshot_records(entries, seed), now=NOW)


def in_child(path: str, job: tuple[Any, ...], started: Any, finished: Any) -> None:
    """Another process's apply: open the store, say when the apply starts, apply, say done."""
    with Store.open(Path(path), journal_key=KEY) as store:
        started.set()
        began = time.perf_counter()
        if job[0] == "delta":
            apply_delta(store, job[1])
        else:
            apply_snapshot(store, job[1], job[2], job[3])
        finished.value = time.perf_counter() - began


def during_thread(gate: Gate, phase: Taps, apply: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            apply()
        except BaseException as error:  # noqa: BLE001 - re-raised in the main thread
            errors.append(error)

    worker = threading.Thread(target=work)
    began = time.perf_counter()
    worker.start()
    gate.taps(phase, until=lambda: not worker.is_alive())
    worker.join()
    phase.apply_s += time.perf_counter() - began
    phase.applies += 1
    if errors:
        raise errors[0]


def during_process(gate: Gate, phase: Taps, job: tuple[Any, ...]) -> None:
    context = multiprocessing.get_context("spawn")
    started, finished = context.Event(), context.Value("d", -1.0)
    child = context.Process(target=in_child, args=(str(gate.store.path), job, started, finished))
    child.start()
    while not started.wait(0.05):
        assert child.is_alive(), "the applying process died before its apply"
    gate.taps(phase, until=lambda: not child.is_alive())
    child.join()
    assert child.exitcode == 0, f"the applying process failed ({child.exitcode})"
    phase.apply_s += finished.value
    phase.applies += 1


def run(entries: int, deltas: int, interval: float, check: bool, workdir: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"entries": entries, "deltas": deltas, "interval_ms": interval}
    store = Store.open(workdir / "store.db", journal_key=KEY)
    began = time.perf_counter()
    assert store.apply_deny_snapshot(snapshot_stated(1, entries, 1), snapshot_records(entries, 1),
                                     now=NOW)  # fmt: skip
    figures["build_s"] = time.perf_counter() - began
    gate = Gate(store, interval / 1000)
    gate.listed = next(snapshot_records(entries, 1))[:REF_BYTES]
    changes = min(DELTA_CHANGES, entries // 2)
    removals = spread(entries, 1, changes // 2)
    phases: dict[str, Taps] = {}
    idles: list[Taps] = []

    def idle() -> None:
        idles.append(Taps())
        gate.taps(idles[-1], count=IDLE_TAPS)

    idle()
    for seed, mode in enumerate(("thread", "process"), start=2):
        phase = phases[f"delta ({mode})"] = Taps()
        for n in range(deltas):
            delta = next_delta(store, removals, seed=100 * seed + n)
            if mode == "thread":
                during_thread(gate, phase, partial(apply_delta, store, delta))
            else:
                during_process(gate, phase, ("delta", delta))
            removals = delta.upserts  # the next delta takes back what this one added
        idle()
        stated = snapshot_stated((store.version_of(DENY_LIST) or 0) + 1, entries, seed)
        phase = phases[f"snapshot ({mode})"] = Taps()
        if mode == "thread":
            during_thread(gate, phase, partial(apply_snapshot, store, stated, entries, seed))
        else:
            during_process(gate, phase, ("snapshot", stated, entries, seed))
        removals = spread(entries, seed, changes // 2)
        idle()

    if check:
        assert gate.recorded == list(range(1, len(gate.recorded) + 1)), "taps journalled in order"
        assert store.journal.verify(USAGE) == len(gate.recorded)
        assert store.version_of(DENY_LIST) == 1 + 2 * (deltas + 1)
        assert store.verify_list(DENY_LIST)
        store.check(full=True)
        figures["checked"] = True
    gate.reader.close()
    store.close()

    figures.update(summarise(idles, phases))
    return figures


def summarise(idles: list[Taps], phases: dict[str, Taps]) -> dict[str, Any]:
    """Each apply phase against the idle phases taken together (the floor)."""
    floor = summary([t for phase in idles for t in phase.record])
    lookup_floor = summary([t for phase in idles for t in phase.lookup])
    figures: dict[str, Any] = {
        "idle": {
            "record_tap": floor,
            "lookup": lookup_floor,
            "refused": sum(phase.refused for phase in idles),
            "record_tap_each": [summary(phase.record) for phase in idles],
        }
    }
    for name, phase in phases.items():
        row: dict[str, Any] = {"applies": phase.applies, "apply_s": phase.apply_s,
                               "refused": phase.refused, "taps": len(phase.record)}  # fmt: skip
        if phase.record:
            row["record_tap"] = summary(phase.record)
            row["lookup"] = summary(phase.lookup)
            row["vs_idle"] = ratios(row["record_tap"], floor)
            row["lookup_vs_idle"] = ratios(row["lookup"], lookup_floor)
            row["longest_tap_vs_apply"] = max(phase.record) / (phase.apply_s / phase.applies)
        figures[name] = row
    return figures


def snapshot_stated(version: int, entries: int, seed: int) -> ListVersion:
    digest, count = digest_of(snapshot_records(entries, seed))
    return ListVersion(version, NOW, VALID_UNTIL, count, digest)


def report(figures: dict[str, Any]) -> None:
    print(
        f"durable taps during list applies: {figures['entries']:,} deny entries, "
        f"{figures['deltas']} deltas of {min(DELTA_CHANGES, figures['entries'] // 2):,} changes "
        f"per mode, a tap every {figures['interval_ms']:g} ms"
    )
    print(f"base list built in {figures['build_s']:.1f} s")
    idle = figures["idle"]
    print("idle (the floor)")
    print("  " + line("record_tap", idle["record_tap"]))
    print("  " + line("lookup + admissions", idle["lookup"]))
    each = ", ".join(f"{f['p50_ms']:.3f}/{f['p99_ms']:.3f}" for f in idle["record_tap_each"])
    print(f"  record_tap p50/p99 of each idle phase (first, between, last): {each} ms")
    for name in ("delta (thread)", "snapshot (thread)", "delta (process)", "snapshot (process)"):
        row = figures[name]
        print(
            f"{name}: {row['applies']} apply(s), {row['apply_s'] / row['applies']:.2f} s each, "
            f"{row['taps']} taps recorded meanwhile, {row['refused']} refused (not recorded)"
        )
        if "record_tap" not in row:
            continue
        versus, reads = row["vs_idle"], row["lookup_vs_idle"]
        print(
            "  " + line("record_tap", row["record_tap"])
            + f"   {versus['ratio_p50']:5.2f}x / {versus['ratio_p99']:5.2f}x idle (p50/p99)"
        )  # fmt: skip
        print(
            "  " + line("lookup + admissions", row["lookup"])
            + f"   {reads['ratio_p50']:5.2f}x / {reads['ratio_p99']:5.2f}x idle (p50/p99)"
        )  # fmt: skip
        print(f"  longest record_tap = {row['longest_tap_vs_apply']:.2%} of the apply's duration")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--deltas", type=int, default=5, help="deltas applied per mode")
    parser.add_argument("--interval", type=float, default=1.0, help="ms between taps")
    parser.add_argument("--check", action="store_true", help="smoke mode: check the store too")
    parser.add_argument("--workdir", type=Path, default=None, help="where the store is made")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    deltas = min(args.deltas, 2) if args.check else args.deltas
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        figures = run(args.entries, deltas, args.interval, args.check, Path(folder))
    report(figures)
    if figures.get("checked"):
        print("checks passed: every tap journalled in order, chain, list version and digest, "
              "full integrity")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
