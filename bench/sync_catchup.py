"""Benchmark: a terminal offline for a week catches up 100,000 deny-list changes over HTTP.

Target (issue 5): at most 5 s to catch up 100,000 deny-list changes over loopback HTTP,
against the floor of a bare HTTP transfer of the same bytes in the same run.

Setup (not timed): a reference back office data directory; its signing key publishes a
1,000,000-entry deny snapshot (version 1), then 100 deltas of 1,000 changes each (800 cards
added, 200 removed: 100,000 changes) into its repository, which the real back office process
(``ykt-backoffice serve``, uvicorn) serves on loopback.  The terminal's store trusts the back
office's root key and has version 1 applied.

Timed, interleaved round by round (each round starts from a copy of the version-1 store and
an empty download cache):

* ``catch-up``   ``terminal.sync.run.run_sync`` against the repository URL (lists only):
                 ``index.json``, 100 manifests and signatures, 200 content files, each
                 verified (signature, chain, size, SHA-256) and applied in its own transaction
                 with the list's digest checked;
* ``bare HTTP``  the same files fetched with one bare ``httpx`` client, nothing else done;
* ``apply only`` the same sync from the repository folder (no HTTP): verification and apply.

Run: ``.venv/bin/python bench/sync_catchup.py [--rounds N] [--base N] [--json FILE]``.
``--check`` runs a small version (the tests use it) that asserts the terminal reached the
last version with the right entry count, and no timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from backoffice.service import BackOffice  # noqa: E402
from backoffice_fixture import start_backoffice  # noqa: E402
from offline_store.bundles import Publisher, Repository, sync_from  # noqa: E402
from offline_store.store import DENY_LIST, DenyReason, Store, state_digest  # noqa: E402
from terminal.clock import sample_now  # noqa: E402
from terminal.sync.run import SyncParts, SyncTarget, run_sync  # noqa: E402
from terminal.sync.transport import RetryPolicy, new_client  # noqa: E402

JOURNAL_KEY = b"bench sync catch-up journal key!"
MODULUS = 1 << 256


def _record(rng: random.Random) -> bytes:
    return rng.randbytes(16) + bytes([DenyReason.LOST]) + bytes.fromhex("310100")


def _term(record: bytes) -> int:
    # docs/bundle-format.md: a list's state digest sums SHA-256 of its records mod 2^256
    return int.from_bytes(hashlib.sha256(record).digest(), "big")


def publish(data: Path, base: int, deltas: int, changes: int) -> tuple[int, int]:
    """Snapshot 1 of ``base`` entries, then ``deltas`` deltas; (last version, entry count)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    until = now + dt.timedelta(days=30)
    with BackOffice.open(data) as office:
        signers = office.keys.signers()
    publisher = Publisher(Repository(data / "repo"), signers)
    rng = random.Random(5)
    listed = sorted({_record(rng) for _ in range(base)})
    publisher.snapshot(DENY_LIST, 1, listed, issued_at=now, valid_until=until)
    total = sum(_term(r) for r in listed) % MODULUS
    alive = list(listed)
    for version in range(2, deltas + 2):
        adds = sorted(_record(rng) for _ in range(changes * 4 // 5))
        removed_at = sorted(rng.sample(range(len(alive)), changes - len(adds)), reverse=True)
        removals = sorted(alive[i] for i in removed_at)
        for i in removed_at:
            alive[i] = alive[-1]
            alive.pop()
        alive.extend(adds)
        total = (total + sum(_term(r) for r in adds) - sum(_term(r) for r in removals)) % MODULUS
        publisher.delta(
            DENY_LIST, version - 1, version, upserts=adds, removals=removals,
            after_state=(state_digest(total, len(alive)), len(alive)),
            issued_at=now, valid_until=until,
        )  # fmt: skip
    return deltas + 1, len(alive)


def fetched_paths(repo: Path, first: int, last: int) -> list[str]:
    repository = Repository(repo)
    paths = ["index.json"]
    for version in range(first, last + 1):
        manifest = repository.manifest(DENY_LIST, version)
        paths += [f"lists/deny/{version}.json", f"lists/deny/{version}.sig"]
        paths += [f"objects/{ref.sha256}" for ref in manifest.content.values()]
    return paths


def set_up(data: Path, base_store: Path, args: argparse.Namespace) -> tuple[int, int]:
    """The back office's repository, and a terminal store at version 1 (the week-old one)."""
    BackOffice.init(data, now=dt.datetime.now(dt.UTC)).close()
    last, entries = publish(data, args.base, args.deltas, args.changes)
    with BackOffice.open(data) as office:
        root = office.root_key()
    base_store.parent.mkdir()
    snapshot_only = base_store.parent.with_name("snapshot-repo")
    shutil.copytree(data / "repo", snapshot_only)
    index = json.loads((snapshot_only / "index.json").read_bytes())
    index["lists"][DENY_LIST] = index["lists"][DENY_LIST][:1]
    (snapshot_only / "index.json").write_text(json.dumps(index))
    with Store.open(base_store, journal_key=JOURNAL_KEY) as store:
        store.trust.provision_root(root)
        sync_from(store, Repository(snapshot_only), now=dt.datetime.now(dt.UTC))
        assert store.version_of(DENY_LIST) == 1
    return last, entries


def report(timings: dict[str, list[float]], size: int, path: Path | None) -> None:
    result = {name: statistics.median(values) for name, values in timings.items()}
    for name, values in timings.items():
        print(
            f"{name:<11} median {statistics.median(values):.3f} s  "
            f"(runs: {', '.join(f'{v:.3f}' for v in values)})"
        )
    ratio = result["catch-up"] / result["bare HTTP"]
    print(
        f"catch-up / bare HTTP = {ratio:.2f}x; target: catch-up <= 5 s "
        f"({'met' if result['catch-up'] <= 5 else 'NOT met'})"
    )
    if path:
        path.write_text(json.dumps({"timings_s": timings, "median_s": result,
                                         "ratio": ratio, "bytes": size}, indent=1))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", type=int, default=1_000_000)
    parser.add_argument("--deltas", type=int, default=100)
    parser.add_argument("--changes", type=int, default=1_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true", help="small, asserts, no timing")
    args = parser.parse_args()
    if args.check:
        args.rounds, args.base, args.deltas, args.changes = 1, 2_000, 5, 100

    with tempfile.TemporaryDirectory(prefix="ykt-bench-sync-") as scratch:
        work = Path(scratch)
        data = work / "backoffice"
        base_store = work / "base" / "store.db"
        began = time.perf_counter()
        last, entries = set_up(data, base_store, args)
        setup_s = time.perf_counter() - began
        paths = fetched_paths(data / "repo", 2, last)
        size = sum((data / "repo" / p).stat().st_size for p in paths)
        print(
            f"setup {setup_s:.1f} s: base {args.base:,} entries, {args.deltas} deltas x "
            f"{args.changes:,} changes, {len(paths)} files, {size / 1e6:.2f} MB to fetch"
        )

        with start_backoffice(data, initialise=False) as server:
            repo_url = f"{server.url}/repo/"
            timings: dict[str, list[float]] = {"catch-up": [], "bare HTTP": [], "apply only": []}
            for round_number in range(args.rounds):
                order = ["catch-up", "bare HTTP", "apply only"]
                order = order[round_number % 3 :] + order[: round_number % 3]
                for name in order:
                    terminal = work / f"t-{round_number}-{name.replace(' ', '-')}"
                    shutil.copytree(base_store.parent, terminal)
                    if name == "bare HTTP":
                        with httpx.Client() as client:
                            start = time.perf_counter()
                            got = sum(len(client.get(repo_url + p).content) for p in paths)
                            timings[name].append(time.perf_counter() - start)
                        assert got == size, (got, size)
                        continue
                    parts = SyncParts("T-BENCH", Ed25519PrivateKey.generate(), terminal / "cache",
                                      terminal / "state.json", RetryPolicy())  # fmt: skip
                    target = SyncTarget(repo_url if name == "catch-up" else str(data / "repo"))
                    with Store.open(terminal / "store.db", journal_key=JOURNAL_KEY) as store:
                        with new_client(RetryPolicy()) as client:
                            start = time.perf_counter()
                            outcome = run_sync(store, target, parts, sample=sample_now,
                                               client=client)  # fmt: skip
                            timings[name].append(time.perf_counter() - start)
                        assert outcome.complete, outcome.problems
                        assert store.version_of(DENY_LIST) == last
                        assert store.current(DENY_LIST)[2] == entries  # type: ignore[index]
                    shutil.rmtree(terminal)
        report(timings, size, args.json)


if __name__ == "__main__":
    main()
