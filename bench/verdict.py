"""Benchmark: a card's verdict against a 10,000,000-entry deny list, against bare sqlite3.

Target (issue 4): ``Checkpoint.present`` for a card credential (decide, then the durable
journal append of the verdict and its tap facts) p99 at most 2 ms, card I/O excluded, with
10 million entries on the deny list.

The store is built through the store's own paths: the deny list by ``apply_deny_snapshot`` of
``bench/store_scale.py``'s records (the same generator, seed 1) merged with 5,000 listed bench
holders; a 10,000-entry reservation list by ``apply_benefit_snapshot``; a trusted time; 2,000
earlier admissions by ``record_tap``.  With ``--workdir`` the built store is kept there
(``verdict-base-<entries>-v<format>.db``, about 300 MB at 10 M, and its journal file
``verdict-base-<entries>-v<format>-journal.db``) and reused by later runs; each run works on a
fresh copy of both, so every run starts from the same state.

Holders, one kind per round in turn, each holder tapping once (a fresh card every round):

* ``deny-hit``     on the deny list (lost), ``library.entry``: deny;
* ``miss``         not listed, ``library.entry`` (anti-passback): admit;
* ``reservation``  reserved museum slot, ``museum.entry`` (reservation, passback, quota): admit;
* ``benefit``      demonstration-zone resident, ``scenic.entry``: admit with benefit.

Timed, interleaved round by round (the floor's place rotates; decide runs before present so
both see a first tap):

* ``present``  ``Checkpoint.present``: clock facts, decide, journal append + tap facts in one
               ``BEGIN IMMEDIATE`` job under ``synchronous=FULL`` (WAL), the verdict back;
* ``decide``   ``decide`` alone on the same list connection, clock facts computed beforehand;
* ``floor``    the irreducible I/O: the bare deny-list ``SELECT`` on the same file (a
               read-only connection, the card ref already computed) plus a bare durable
               journal insert (``BEGIN IMMEDIATE``, one row as long as our journal's body,
               ``COMMIT``; WAL, ``synchronous=FULL``, the store's page size) into a file beside
               it.  ``decide`` is compared with the ``SELECT`` part alone.

Run: ``.venv/bin/python bench/verdict.py [--entries N] [--rounds N] [--workdir DIR]
[--json FILE]`` (defaults: 10,000,000 entries, 10,000 rounds); the tests run it with
``--entries 100000 --check`` (a few hundred rounds, every verdict and the store checked, no
timing asserted).
"""

from __future__ import annotations

import argparse
import datetime as dt
import heapq
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from apdu.ssc import Authenticity
from latency import interleaved, line, ratios, summary
from offline_store.benefit_lists import BenefitEntry, RefKind
from offline_store.canonical_json import canonical_json
from offline_store.holder_refs import REF_BYTES, HolderKeyer
from offline_store.journal import USAGE, UsageEvent
from offline_store.journal_file import journal_path_for
from offline_store.store import (
    DENY_LIST,
    PAGE_BYTES,
    DenyEntry,
    DenyReason,
    ListVersion,
    Store,
    digest_of,
)
from offline_store.taps import TapFacts, TrustedTime
from store_scale import snapshot_records
from terminal.checkpoint import Checkpoint
from terminal.clock import ClockFacts, ClockSample
from terminal.credential import Credential, CredentialKind
from terminal.policy import load_policy
from terminal.reasons import ReasonCode
from terminal.verdict import Outcome, Verdict, decide

TARGET_P99_MS = 2.0
#: bump when the base store's content changes, so that a cached one is not reused
BASE_FORMAT = 4  # the store schema of the cached files (bump when the migrations change)
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)  # a Monday, 17:00 in Shanghai
TRUSTED_AT = NOW - dt.timedelta(hours=1)
BOOT = "bench-boot"
ISSUED = NOW - dt.timedelta(days=1)
VALID_UNTIL = NOW + dt.timedelta(days=6)
JOURNAL_KEY = b"benchmark journal key 0123456789"
LIST_KEY = b"benchmark list key 0123456789ab"
KEYER = HolderKeyer(LIST_KEY)
POOL = 5_000  # holders of each kind (each taps once per run)
DECOYS = 5_000  # other holders: reservations and earlier admissions
EARLIER_ADMISSIONS = 2_000
WARM_UP = 200  # rounds, a multiple of the number of kinds (so round i is kind i % 4)
TAP_STEP = dt.timedelta(milliseconds=10)
DECOY_REGION = "330200"  # the decoys' and the probe's regions are no kind's
PROBE_REGION = "340100"


@dataclass(frozen=True)
class Kind:
    name: str
    region: str
    service: str
    outcome: Outcome
    reason: ReasonCode


KINDS = (
    Kind("deny-hit", "310100", "library.entry", Outcome.DENY, ReasonCode.LOST),
    Kind("miss", "320500", "library.entry", Outcome.ADMIT, ReasonCode.ADMITTED),
    Kind("reservation", "330100", "museum.entry", Outcome.ADMIT, ReasonCode.RESERVATION_OK),
    Kind("benefit", "310118", "scenic.entry", Outcome.ADMIT_WITH_BENEFIT, ReasonCode.BENEFIT),
)


def holder(region: str, serial: int) -> Credential:
    """A complete, authenticated generation-3 card read (what ``Credential.from_card`` gives)."""
    born = dt.date(1985, 2, 14)
    return Credential(
        kind=CredentialKind.CARD,
        authenticity=Authenticity.VERIFIED,
        card_id=f"{region}D15600000{serial:017X}"[:32],
        card_number=f"S{serial % 10**8:08d}",
        ssn=f"{region}{born:%Y%m%d}{serial % 10_000:04d}",  # one region per group: unique
        name="张测试",
        birth_date=born,
        issue_date=dt.date(2021, 1, 1),
        expiry_date=dt.date(2031, 1, 1),
        generation=3,
    )


def holders(index: int, region: str, count: int) -> list[Credential]:
    return [holder(region, index * 1_000_000 + n) for n in range(count)]


def card_ref(credential: Credential) -> bytes:
    return KEYER.card_ref(credential.card_id or "")


def deny_stream(entries: int, listed: list[bytes]) -> Iterator[bytes]:
    """store_scale's snapshot records with the listed bench holders merged in, ascending."""
    previous = b""
    for record in heapq.merge(snapshot_records(entries, 1), listed):
        if record[:REF_BYTES] != previous:  # a generated ref equal to a holder's: keep one
            previous = record[:REF_BYTES]
            yield record


def sample_at(i: int) -> ClockSample:
    """Round ``i``'s clock reading, in step with the trusted time (same boot)."""
    wall = NOW + i * TAP_STEP
    return ClockSample(wall, 1000.0 + (wall - TRUSTED_AT).total_seconds(), BOOT)


def build_base(path: Path, entries: int) -> dict[str, float]:
    """The store every run starts from, built through the store's own apply paths."""
    figures: dict[str, float] = {}
    building = path.with_name(f"{path.stem}.building{path.suffix}")
    for stale in building.parent.glob(f"{path.stem}.building*"):
        stale.unlink()
    listed = sorted(
        DenyEntry(card_ref(h), DenyReason.LOST, h.region or "").to_record()
        for h in holders(0, KINDS[0].region, POOL)
    )
    start = time.perf_counter()
    digest, count = digest_of(deny_stream(entries, listed))
    figures["digest_s"] = time.perf_counter() - start
    store = Store.open(building, journal_key=JOURNAL_KEY)
    start = time.perf_counter()
    stated = ListVersion(1, ISSUED, VALID_UNTIL, count, digest)
    assert store.apply_deny_snapshot(stated, deny_stream(entries, listed), now=ISSUED)
    figures["import_s"] = time.perf_counter() - start
    reserved = holders(2, KINDS[2].region, POOL) + holders(9, DECOY_REGION, DECOYS)
    window = (NOW - dt.timedelta(hours=4), NOW + dt.timedelta(hours=4))
    records = sorted(
        BenefitEntry(RefKind.CARD_ID, card_ref(h), *window, {"service": "museum.entry"})
        .to_record()
        for h in reserved
    )  # fmt: skip
    digest, count = digest_of(records)
    reservations = ListVersion(1, ISSUED, VALID_UNTIL, count, digest)
    assert store.apply_benefit_snapshot("reservations", reservations, records, now=ISSUED)
    store.record_trusted_time(TrustedTime(TRUSTED_AT, 1000.0, BOOT, "bench"))
    services = [kind.service for kind in KINDS]
    for n, earlier in enumerate(holders(9, DECOY_REGION, EARLIER_ADMISSIONS)):
        ref = earlier.holder_ref(KEYER)
        when = NOW - dt.timedelta(minutes=1 + n % 240)
        service = services[n % len(services)]
        event = UsageEvent("T-BENCH", when, True, "admit", ("admitted",), {DENY_LIST: 1}, ref,
                           "card", service=service)  # fmt: skip
        store.record_tap(event, TapFacts((ref,), service, when, admitted=True))
    store.close()
    os.replace(journal_path_for(building), journal_path_for(path))
    os.replace(building, path)  # last: the list file says the cached store is complete
    return figures


@dataclass
class Floor:
    """The irreducible I/O of one tap: the bare deny-list SELECT and a bare durable insert."""

    lists: sqlite3.Connection
    journal: sqlite3.Connection
    body: bytes
    seq: int = 0

    @classmethod
    def open(cls, store_path: Path, journal_path: Path, body: bytes) -> Floor:
        lists = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True)
        journal = sqlite3.connect(journal_path, isolation_level=None)
        journal.execute(f"PRAGMA page_size={PAGE_BYTES}")
        journal.execute("PRAGMA journal_mode=WAL")
        journal.execute("PRAGMA synchronous=FULL")
        journal.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body BLOB, mac BLOB)")
        return cls(lists, journal, body)

    def select(self, ref: bytes) -> object:
        return self.lists.execute(
            "SELECT reason, region FROM deny_entries WHERE card_ref = ?", (ref,)
        ).fetchone()

    def insert(self) -> None:
        self.seq += 1
        self.journal.execute("BEGIN IMMEDIATE")
        self.journal.execute(
            "INSERT INTO events VALUES (?, ?, ?)", (self.seq, self.body, b"m" * 32)
        )
        self.journal.execute("COMMIT")

    def close(self) -> None:
        self.lists.close()
        self.journal.close()


def check_verdict(kind: Kind, decided: Verdict, presented: Verdict) -> None:
    assert decided.outcome is kind.outcome, (kind.name, decided.reasons)
    assert any(r.code is kind.reason for r in decided.reasons), (kind.name, decided.reasons)
    assert decided.clock.trusted, decided.clock.detail
    assert decided.list_versions.get(DENY_LIST) == 1
    assert presented.journal_seq is not None, presented.reasons
    assert presented == replace(decided, journal_seq=presented.journal_seq)


def run(entries: int, rounds: int, check: bool, workdir: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"entries": entries, "rounds": rounds}
    base = workdir / f"verdict-base-{entries}-v{BASE_FORMAT}.db"
    if base.is_file() and journal_path_for(base).is_file():
        figures["base"] = "cached"
    else:
        figures["base"] = build_base(base, entries)
    figures["base_mb"] = (base.stat().st_size + journal_path_for(base).stat().st_size) / 1e6
    with tempfile.TemporaryDirectory(dir=workdir) as folder:
        store_path = Path(folder) / "store.db"
        shutil.copyfile(base, store_path)
        shutil.copyfile(journal_path_for(base), journal_path_for(store_path))
        store = Store.open(store_path, journal_key=JOURNAL_KEY)
        try:
            figures.update(measure(store, Path(folder), entries, rounds, check))
        finally:
            store.close()
    return figures


def measure(
    store: Store, folder: Path, entries: int, rounds: int, check: bool
) -> dict[str, object]:
    deny = next(state for state in store.list_states() if state.name == DENY_LIST)
    assert deny.entry_count >= entries + POOL - 1, "the cached base store is not this size"
    journal_before = store.journal.verify(USAGE)
    policy = load_policy()
    checkpoint = Checkpoint(store, policy, KEYER, "T-BENCH")
    pools = [holders(index, kind.region, POOL) for index, kind in enumerate(KINDS)]
    total = rounds + WARM_UP
    assert total <= POOL * len(KINDS), f"at most {POOL * len(KINDS) - WARM_UP} rounds"

    def who(i: int) -> tuple[Kind, Credential]:
        return KINDS[i % len(KINDS)], pools[i % len(KINDS)][i // len(KINDS)]

    refs = [card_ref(who(i)[1]) for i in range(total)]
    samples = [sample_at(i) for i in range(total)]
    clocks: list[ClockFacts] = [checkpoint.clock_facts(s) for s in samples]
    decided: dict[int, Verdict] = {}
    presented: dict[int, Verdict] = {}
    found: dict[int, object] = {}
    select_times: list[float] = []

    # the floor's journal row is as long as our journal's bodies
    checkpoint.present(holder(PROBE_REGION, 0), sample=samples[0], service="library.entry")
    last = list(store.journal.records())[-1]
    floor = Floor.open(store.path, folder / "journal-floor.db", canonical_json(last.body))

    def present(i: int) -> None:
        kind, credential = who(i)
        presented[i] = checkpoint.present(credential, sample=samples[i], service=kind.service)

    def decide_alone(i: int) -> None:
        kind, credential = who(i)
        decided[i] = decide(credential, policy=policy, service=kind.service,
                            lists=checkpoint.lists, keyer=KEYER, clock=clocks[i])  # fmt: skip

    def bare(i: int) -> None:
        began = time.perf_counter()
        found[i] = floor.select(refs[i])
        select_times.append(time.perf_counter() - began)
        floor.insert()

    actions: dict[str, Callable[[int], object]] = {
        "present": present,
        "decide": decide_alone,
        "floor": bare,
    }
    orders = [("decide", "present", "floor"), ("floor", "decide", "present"),
              ("decide", "floor", "present")]  # fmt: skip
    interleaved(actions, WARM_UP, orders=orders)
    del select_times[:]
    timed = interleaved(actions, rounds, start=WARM_UP, orders=orders)
    floor.close()

    for i in range(total):  # every verdict, in every mode
        kind = who(i)[0]
        check_verdict(kind, decided[i], presented[i])
        assert (found[i] is not None) == (kind.name == "deny-hit"), (kind.name, found[i])
    if check:
        for i in range(0, total, max(1, total // 50)):
            entry = checkpoint.lists.lookup(refs[i])
            assert (entry is not None) == (who(i)[0].name == "deny-hit")
        assert store.journal.verify(USAGE) == journal_before + 1 + rounds + WARM_UP
        assert store.verify_list(DENY_LIST)
        store.check(full=True)
    checkpoint.close()

    result: dict[str, object] = {"deny_entries": deny.entry_count}
    for index, kind in enumerate(KINDS):
        picked = slice(index, None, len(KINDS))  # timed round k is round WARM_UP + k
        result[kind.name] = per_kind({name: values[picked] for name, values in timed.items()},
                                     select_times[picked])  # fmt: skip
    result["all"] = per_kind(timed, select_times)
    return result


def per_kind(timed: dict[str, list[float]], selects: list[float]) -> dict[str, object]:
    present, decided, floor = (summary(timed[name]) for name in ("present", "decide", "floor"))
    select = summary(selects)
    return {
        "present": present,
        "decide": decided,
        "floor": floor,
        "floor_select": select,
        "present_vs_floor": ratios(present, floor),
        "decide_vs_select": ratios(decided, select),
    }


def report(figures: dict[str, Any]) -> bool:
    base = figures["base"]
    print(
        f"card verdict, {figures['entries']:,} generated deny entries "
        f"({figures['deny_entries']:,} listed), {figures['rounds']:,} interleaved rounds"
    )
    if isinstance(base, dict):
        print(
            f"base store built: digest pass {base['digest_s']:.1f} s, snapshot import "
            f"{base['import_s']:.1f} s, {figures['base_mb']:.0f} MB"
        )
    else:
        print(f"base store: cached ({figures['base_mb']:.0f} MB), copied for this run")
    for name in [kind.name for kind in KINDS] + ["all"]:
        row = figures[name]
        versus, alone = row["present_vs_floor"], row["decide_vs_select"]
        print(f"{name}")
        print(
            "  " + line("present (decide + journal)", row["present"])
            + f"   {versus['ratio_p50']:5.2f}x / {versus['ratio_p99']:5.2f}x floor (p50/p99)"
        )  # fmt: skip
        print(
            "  " + line("decide alone", row["decide"])
            + f"   {alone['ratio_p50']:5.2f}x / {alone['ratio_p99']:5.2f}x SELECT (p50/p99)"
        )  # fmt: skip
        print("  " + line("floor: SELECT + insert", row["floor"]))
        print("  " + line("  of which bare SELECT", row["floor_select"]))
    p99 = float(figures["all"]["present"]["p99_ms"])
    worst = max((figures[kind.name]["present"]["p99_ms"], kind.name) for kind in KINDS)
    met = p99 <= TARGET_P99_MS
    print(
        f"target: present p99 <= {TARGET_P99_MS:g} ms over the mix ({p99:.3f} ms: "
        f"{'met' if met else 'MISSED'}; worst kind {worst[1]} {worst[0]:.3f} ms)"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=10_000, help="taps timed (all kinds)")
    parser.add_argument("--check", action="store_true", help="smoke mode: check the store too")
    parser.add_argument("--workdir", type=Path, default=None, help="keeps the built store")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    rounds = min(args.rounds, 400) if args.check else args.rounds
    if args.workdir is None:
        with tempfile.TemporaryDirectory() as folder:
            figures = run(args.entries, rounds, args.check, Path(folder))
    else:
        args.workdir.mkdir(parents=True, exist_ok=True)
        figures = run(args.entries, rounds, args.check, args.workdir)
    met = report(figures)
    if args.check:
        print("checks passed: every verdict, the floor's finds, journal chain, list, integrity")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if met or args.check else 1


if __name__ == "__main__":
    sys.exit(main())
