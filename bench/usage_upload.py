"""Benchmark: uploading 100,000 usage events to the back office.

Target (issue 5): at most 20 s to upload 100,000 events, against the floor of a bare HTTP
transfer of the same bytes in the same run.

Setup (not timed): a reference back office process (``ykt-backoffice serve``) on loopback;
a terminal store whose journal holds 100,000 usage events (durable appends, as taps make
them); for each round a fresh terminal id enrolled with its own key (the back office keeps
each event once, so a round needs events it has not seen) and a copy of that store.

Timed, per round:

* ``upload``     ``UsageOutbox.upload``: seal the pending records into 100 batches of 1,000
                 (durably), sign each (Ed25519), POST it, verify the signed acknowledgement
                 and mark the records acknowledged; the back office verifies each batch and
                 stores its events in one transaction, deduplicating by event id;
* ``bare HTTP``  the same 100 batch bodies POSTed with a bare ``httpx`` client to a bare
                 sink (the same Starlette + uvicorn stack, a route that reads the body and
                 answers 200): the network and HTTP floor for the same bytes.

Run: ``.venv/bin/python bench/usage_upload.py [--events N] [--rounds N] [--json FILE]``.
``--check`` runs a small version (the tests use it) that asserts every event reached the
back office once, and no timing.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from backoffice.service import BackOffice  # noqa: E402
from backoffice_fixture import backoffice_env, run_cli, start_backoffice, stop  # noqa: E402
from offline_store.journal import UploadState, UsageEvent  # noqa: E402
from offline_store.store import Store  # noqa: E402
from terminal.sync.backoffice_api import BackOfficeApi  # noqa: E402
from terminal.sync.transport import RetryPolicy, new_client  # noqa: E402
from terminal.sync.usage import UsageOutbox  # noqa: E402

JOURNAL_KEY = b"bench usage upload journal key!!"
SINK = """
import socket, sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def sink(request):
    await request.body()
    return Response(b"{}", media_type="application/json")
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/sink", sink, methods=["POST"])]),
               log_level="critical")).run(sockets=[sock])
"""


def build_journal(path: Path, events: int) -> None:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with Store.open(path, journal_key=JOURNAL_KEY) as store:
        for n in range(events):
            store.journal.append_event(
                UsageEvent(
                    "T-BENCH",
                    at + dt.timedelta(seconds=n),
                    True,
                    "admit",
                    ("admitted",),
                    {"deny": 7, "benefit:reservations": 3},
                    uuid.UUID(int=n).bytes,
                    "card",
                    event_id=uuid.UUID(int=n),
                    service="museum.entry",
                    clock_state="trusted",
                )
            )


def enrol_key(server_url: str, data: Path, terminal_id: str) -> Ed25519PrivateKey:
    token = json.loads(run_cli(data, "terminal", "add", terminal_id, "--json").stdout)["token"]
    key = Ed25519PrivateKey.generate()
    public = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    with new_client(RetryPolicy()) as client:
        BackOfficeApi(server_url, client, RetryPolicy()).enrol(terminal_id, token, public)
    return key


def main() -> None:  # noqa: PLR0915 - one linear script: setup, rounds, report
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true", help="small, asserts, no timing")
    args = parser.parse_args()
    if args.check:
        args.events, args.batch, args.rounds = 300, 100, 1

    with tempfile.TemporaryDirectory(prefix="ykt-bench-upload-") as scratch:
        work = Path(scratch)
        base = work / "base" / "store.db"
        base.parent.mkdir()
        began = time.perf_counter()
        build_journal(base, args.events)
        print(f"setup: {args.events:,} events journalled in {time.perf_counter() - began:.1f} s")
        sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE,
                                env=backoffice_env())  # fmt: skip
        assert sink.stdout is not None
        sink_url = sink.stdout.readline().decode().split()[-1] + "/sink"
        timings: dict[str, list[float]] = {"upload": [], "bare HTTP": []}
        sent_bytes = 0
        try:
            with start_backoffice(work / "backoffice") as server:
                with BackOffice.open(server.data) as office:
                    root = office.root_key()
                for round_number in range(args.rounds):
                    terminal_id = f"T-BENCH-{round_number}"
                    key = enrol_key(server.url, server.data, terminal_id)
                    copy = work / f"round-{round_number}"
                    bodies = batch_bodies(base, work / "bodies", terminal_id, key, args.batch)
                    shutil.copytree(base.parent, copy)
                    with Store.open(copy / "store.db", journal_key=JOURNAL_KEY) as store:
                        store.trust.provision_root(root)
                        outbox = UsageOutbox(store, terminal_id, key, batch_size=args.batch)
                        with new_client(RetryPolicy()) as client:
                            api = BackOfficeApi(server.url, client, RetryPolicy())
                            start = time.perf_counter()
                            report = outbox.upload(api, now=dt.datetime.now(dt.UTC))
                            timings["upload"].append(time.perf_counter() - start)
                        assert report.interrupted is None, report.interrupted
                        assert not report.refused, report.refused
                        counts = store.journal.counts("usage")
                        assert counts.get(UploadState.ACKNOWLEDGED) == args.events, counts
                    sent_bytes = sum(len(b) for b in bodies)
                    with httpx.Client() as client:
                        start = time.perf_counter()
                        for body in bodies:
                            client.post(sink_url, content=body).raise_for_status()
                        timings["bare HTTP"].append(time.perf_counter() - start)
                    shutil.rmtree(copy)
                stats = json.loads(server.cli("usage", "stats", "--json").stdout)
        finally:
            stop(sink)  # type: ignore[arg-type]
        for row in stats:
            assert row["events"] == args.events, row
            assert row["missing"] == 0, row
        upload = statistics.median(timings["upload"])
        floor = statistics.median(timings["bare HTTP"])
        for name, values in timings.items():
            print(f"{name:<10} median {statistics.median(values):.3f} s  "
                  f"(runs: {', '.join(f'{v:.3f}' for v in values)})")  # fmt: skip
        print(f"{args.events:,} events, {sent_bytes / 1e6:.1f} MB in {len(bodies)} batches; "
              f"upload / bare HTTP = {upload / floor:.2f}x; {args.events / upload:,.0f} events/s; "
              f"target: upload <= 20 s ({'met' if upload <= 20 else 'NOT met'})")  # fmt: skip
        if args.json:
            args.json.write_text(json.dumps({"timings_s": timings, "bytes": sent_bytes,
                                             "ratio": upload / floor}, indent=1))  # fmt: skip


def batch_bodies(base: Path, copy: Path, terminal_id: str, key: Ed25519PrivateKey,
                 batch: int) -> list[bytes]:  # fmt: skip
    """The bodies the upload sends, made on another copy of the store: the floor's payload."""
    shutil.copytree(base.parent, copy)
    with Store.open(copy / "store.db", journal_key=JOURNAL_KEY) as store:
        outbox = UsageOutbox(store, terminal_id, key, batch_size=batch)
        outbox.seal_pending()
        bodies = [sealed.body for sealed in outbox.unacknowledged()]
    shutil.rmtree(copy)
    return bodies


if __name__ == "__main__":
    main()
