"""Usage and lists by USB stick: ``UsageOutbox.export`` writes signed batches, the back office's
acknowledgements come back in ``acks/``, and ``run_sync`` from a folder applies both — a stick
pulled mid-copy leaves the lists at a complete version."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sync_support import (
    BO_KEY,
    BO_KEY_ID,
    FAST_RETRY,
    ISSUED,
    KEYER,
    NOW,
    STRANGER,
    TERMINAL_ID,
    TERMINAL_KEY,
    UNTIL,
    Clock,
    Sleeps,
    deny,
    new_store,
    publisher,
    tap,
)

from offline_store.bundles import Publisher, Repository
from offline_store.exchange import (
    Acknowledgement,
    UsageBatch,
    parse_signatures_file,
    sign_document,
    signatures_file,
    verify_from_terminal,
)
from offline_store.journal import UploadState
from offline_store.store import Store
from offline_store.trust import public_key_bytes
from terminal.sync import usage
from terminal.sync.run import SyncOutcome, SyncParts, SyncTarget, run_sync
from terminal.sync.usage import UsageOutbox


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return new_store(tmp_path / "store.db")


@pytest.fixture
def stick(tmp_path: Path) -> Path:
    folder = tmp_path / "stick"
    folder.mkdir()
    return folder


def outbox(store: Store, batch_size: int = 2) -> UsageOutbox:
    return UsageOutbox(store, TERMINAL_ID, TERMINAL_KEY, batch_size=batch_size)


def states(store: Store) -> dict[int, UploadState]:
    return {r.seq: r.upload_state for r in store.journal.records("usage")}


def ingest(
    stick: Path,
    *stems: str,
    key: Ed25519PrivateKey = BO_KEY,
    key_id: str = BO_KEY_ID,
    terminal_id: str = TERMINAL_ID,
) -> list[str]:
    """``ykt-backoffice ingest``: verify each batch in the outbox, write its acknowledgement."""
    folder = stick / "outbox" / terminal_id
    acks = stick / "acks" / terminal_id
    acks.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(folder.glob("*.json")):
        if stems and path.stem not in stems:
            continue
        body = path.read_bytes()
        (signature,) = parse_signatures_file(path.with_suffix(".sig").read_bytes(), str(path))
        verify_from_terminal(body, signature, terminal_id, public_key_bytes(TERMINAL_KEY))
        batch = UsageBatch.from_bytes(body)
        ack = Acknowledgement(
            batch.batch_id, terminal_id, hashlib.sha256(body).hexdigest(), len(batch.records),
            len(batch.records), 0, NOW,
        ).to_bytes()  # fmt: skip
        (acks / path.name).write_bytes(ack)
        (acks / f"{path.stem}.sig").write_bytes(signatures_file([sign_document(ack, key_id, key)]))
        written.append(path.stem)
    return written


# -- export ---------------------------------------------------------------------------------------
def test_export_writes_signed_numbered_batches(store: Store, stick: Path) -> None:
    for n in range(3):
        tap(store, n)
    assert outbox(store).export(stick) == 2
    folder = stick / "outbox" / TERMINAL_ID
    assert sorted(p.name for p in folder.iterdir()) == [
        "usage-1.json",
        "usage-1.sig",
        "usage-3.json",
        "usage-3.sig",
    ]  # fmt: skip  (no temporary file left behind)
    for stem, seqs in (("usage-1", [1, 2]), ("usage-3", [3])):
        body = (folder / f"{stem}.json").read_bytes()
        (signature,) = parse_signatures_file((folder / f"{stem}.sig").read_bytes(), stem)
        assert signature.key_id == TERMINAL_ID
        verify_from_terminal(body, signature, TERMINAL_ID, public_key_bytes(TERMINAL_KEY))
        batch = UsageBatch.from_bytes(body)
        assert [r.seq for r in batch.records] == seqs
        assert batch.batch_id == f"{TERMINAL_ID}/usage/{seqs[0]}"
    assert set(states(store).values()) == {UploadState.IN_BATCH}  # sealed, not acknowledged


def test_export_writes_each_signature_before_its_batch(
    store: Store, stick: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    real = usage.write_whole

    def recording(path: Path, data: bytes, **how: bool) -> None:
        written.append(path.name)
        real(path, data, **how)

    monkeypatch.setattr(usage, "write_whole", recording)
    for n in range(3):
        tap(store, n)
    outbox(store).export(stick)
    assert written == ["usage-1.sig", "usage-1.json", "usage-3.sig", "usage-3.json"]


def test_export_again_writes_the_same_bytes(store: Store, stick: Path) -> None:
    for n in range(5):
        tap(store, n)
    assert outbox(store).export(stick) == 3
    folder = stick / "outbox" / TERMINAL_ID
    first = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert outbox(store).export(stick) == 3
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == first
    # and a new outbox on a second stick (another visit) writes them identically too
    other = stick.parent / "other-stick"
    other.mkdir()
    outbox(store).export(other)
    assert {p.name: p.read_bytes() for p in (other / "outbox" / TERMINAL_ID).iterdir()} == first


def test_export_with_nothing_unsent_writes_nothing(store: Store, stick: Path) -> None:
    assert outbox(store).export(stick) == 0
    assert list((stick / "outbox" / TERMINAL_ID).iterdir()) == []


# -- acknowledgements on the stick ----------------------------------------------------------------
def test_acks_acknowledge_exactly_their_batches(store: Store, stick: Path) -> None:
    for n in range(5):
        tap(store, n)
    outbox(store).export(stick)
    assert ingest(stick, "usage-1", "usage-5") == ["usage-1", "usage-5"]
    assert outbox(store).read_stick_acks(stick, now=NOW) == (3, [])
    assert states(store) == {
        1: UploadState.ACKNOWLEDGED, 2: UploadState.ACKNOWLEDGED, 3: UploadState.IN_BATCH,
        4: UploadState.IN_BATCH, 5: UploadState.ACKNOWLEDGED,
    }  # fmt: skip
    assert outbox(store).read_stick_acks(stick, now=NOW) == (0, [])  # already acknowledged
    assert outbox(store).export(stick) == 1  # only usage-3 is still unacknowledged


def test_no_acks_folder_is_nothing_to_do(store: Store, stick: Path) -> None:
    tap(store, 1)
    outbox(store).export(stick)
    assert outbox(store).read_stick_acks(stick, now=NOW) == (0, [])


def test_another_terminals_acks_are_not_read(store: Store, stick: Path) -> None:
    tap(store, 1)
    outbox(store).export(stick)
    ingest(stick)
    (stick / "acks" / TERMINAL_ID).rename(stick / "acks" / "T-002")
    assert outbox(store).read_stick_acks(stick, now=NOW) == (0, [])
    assert states(store) == {1: UploadState.IN_BATCH}


def rewrite(path: Path, change: bytes | None) -> None:
    if change is None:
        path.unlink()
    else:
        path.write_bytes(change)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda acks: rewrite(acks / "usage-1.json", (acks / "usage-1.json").read_bytes()[:40]),
         "not signed by a key this terminal trusts"),  # torn mid-copy: the signature fails
        (lambda acks: rewrite(acks / "usage-1.sig", None), "cannot be read"),
        (lambda acks: rewrite(acks / "usage-1.sig", b"[{\"key_id\": "), "malformed signatures"),
        (lambda acks: rewrite(acks / "usage-1.sig", b""), "malformed signatures"),
        (lambda acks: [shutil.copy(acks / f"usage-3{s}", acks / f"usage-1{s}")
                       for s in (".json", ".sig")],
         "names T-001/usage/3 (1 records"),  # another batch's valid ack under this name
    ],
    ids=["torn", "no-signature", "torn-signature", "empty-signature", "another-batch"],
)  # fmt: skip
def test_a_damaged_or_misplaced_ack_is_reported_and_the_rest_apply(
    store: Store, stick: Path, damage: object, message: str
) -> None:
    for n in range(3):
        tap(store, n)
    outbox(store).export(stick)
    ingest(stick)
    damage(stick / "acks" / TERMINAL_ID)  # type: ignore[operator]
    acknowledged, problems = outbox(store).read_stick_acks(stick, now=NOW)
    assert acknowledged == 1  # usage-3 still counts
    assert len(problems) == 1
    assert problems[0].startswith("usage-1.json: ")
    assert message in problems[0]
    assert states(store) == {
        1: UploadState.IN_BATCH, 2: UploadState.IN_BATCH, 3: UploadState.ACKNOWLEDGED,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("key", "key_id"), [(STRANGER, BO_KEY_ID), (STRANGER, "stranger")], ids=["forged", "unknown"]
)
def test_a_forged_ack_acknowledges_nothing(
    store: Store, stick: Path, key: Ed25519PrivateKey, key_id: str
) -> None:
    tap(store, 1)
    outbox(store).export(stick)
    ingest(stick, key=key, key_id=key_id)
    acknowledged, problems = outbox(store).read_stick_acks(stick, now=NOW)
    assert acknowledged == 0
    assert problems == [
        "usage-1.json: the acknowledgement is not signed by a key this terminal trusts "
        f"(signed by {key_id}): ignored"
    ]
    assert states(store) == {1: UploadState.IN_BATCH}


# -- run_sync from a folder -----------------------------------------------------------------------
def stick_sync(store: Store, stick: Path, tmp_path: Path) -> SyncOutcome:
    parts = SyncParts(
        TERMINAL_ID, TERMINAL_KEY, tmp_path / "sync-cache", tmp_path / "sync-state.json",
        retry=FAST_RETRY,
    )  # fmt: skip
    return run_sync(store, SyncTarget.parse(str(stick)), parts, sample=Clock(), sleep=Sleeps())


def test_a_stick_sync_reads_acks_and_applies_lists(
    store: Store, stick: Path, tmp_path: Path
) -> None:
    publisher(Repository(stick)).snapshot(
        "deny", 1, deny(range(10)), issued_at=ISSUED, valid_until=UNTIL
    )
    for n in range(3):
        tap(store, n)
    outbox(store).export(stick)
    ingest(stick)
    outcome = stick_sync(store, stick, tmp_path)
    assert outcome.complete, outcome.problems
    assert outcome.stick_acknowledged == 3
    assert outcome.lists is not None
    assert outcome.lists.applied == [("deny", 1)]
    assert outcome.trusted_time is None  # a stick carries no time
    assert outcome.upload is None
    assert store.trusted_time() is None
    assert set(states(store).values()) == {UploadState.ACKNOWLEDGED}


def test_a_stick_sync_reports_a_forged_ack_and_still_applies_lists(
    store: Store, stick: Path, tmp_path: Path
) -> None:
    publisher(Repository(stick)).snapshot(
        "deny", 1, deny(range(10)), issued_at=ISSUED, valid_until=UNTIL
    )
    tap(store, 1)
    outbox(store).export(stick)
    ingest(stick, key=STRANGER)
    outcome = stick_sync(store, stick, tmp_path)
    assert [(p.stage, p.kind) for p in outcome.problems] == [("acks", "permanent")]
    assert store.version_of("deny") == 1
    assert states(store) == {1: UploadState.IN_BATCH}


class BackOfficeRepository:
    """The back office's repository, and stick copies of it (whole or pulled mid-copy)."""

    def __init__(self, tmp_path: Path) -> None:
        self.repository = Repository(tmp_path / "backoffice")
        self.publisher: Publisher = publisher(self.repository)
        self.publisher.snapshot("deny", 1, deny(range(10)), issued_at=ISSUED, valid_until=UNTIL)
        self.publisher.delta(
            "deny", 1, 2, upserts=deny([20]), removals=deny([0]), after=deny([*range(1, 10), 20]),
            issued_at=ISSUED, valid_until=UNTIL,
        )  # fmt: skip

    def copy_to(self, stick: Path) -> Path:
        shutil.rmtree(stick, ignore_errors=True)
        shutil.copytree(self.repository.root, stick)
        return stick

    def object_of(self, stick: Path, version: int, role: str = "records") -> Path:
        manifest = self.repository.manifest("deny", version)
        return stick / "objects" / manifest.content[role].sha256


@pytest.mark.parametrize(
    "pull",
    [
        lambda office, stick: office.object_of(stick, 2).unlink(),
        lambda office, stick: office.object_of(stick, 2).write_bytes(
            office.object_of(stick, 2).read_bytes()[:7]
        ),
        lambda office, stick: office.object_of(stick, 2, "removals").write_bytes(b""),
        lambda office, stick: (stick / "lists" / "deny" / "2.sig").unlink(),
        lambda office, stick: (stick / "lists" / "deny" / "2.json").unlink(),
    ],
    ids=["content-missing", "content-cut", "removals-empty", "signatures-missing",
         "manifest-missing"],
)  # fmt: skip
def test_a_stick_pulled_mid_copy_leaves_the_lists_complete(
    store: Store, tmp_path: Path, pull: object
) -> None:
    office = BackOfficeRepository(tmp_path)
    stick = tmp_path / "stick"
    first = Repository(tmp_path / "first-visit")  # the first visit carried version 1 only
    shutil.copytree(office.repository.root, first.root, dirs_exist_ok=True)
    for suffix in (".json", ".sig"):
        (first.root / "lists" / "deny" / f"2{suffix}").unlink()
    first.write_index(published_at=ISSUED)
    assert stick_sync(store, first.root, tmp_path).complete
    assert store.version_of("deny") == 1

    office.copy_to(stick)
    pull(office, stick)  # type: ignore[operator]
    outcome = stick_sync(store, stick, tmp_path)
    assert [(p.stage, p.kind) for p in outcome.problems] == [("lists", "permanent")]
    assert outcome.lists is not None
    assert "deny" in outcome.lists.rejected
    assert store.version_of("deny") == 1
    assert store.verify_list("deny")
    reader = store.reader()
    try:
        assert reader.lookup(KEYER.card_ref("card-0")) is not None  # version 1, whole
        assert reader.lookup(KEYER.card_ref("card-20")) is None
    finally:
        reader.close()

    office.copy_to(stick)  # the next, complete copy
    assert stick_sync(store, stick, tmp_path).complete
    assert store.version_of("deny") == 2


def test_a_stick_without_an_index_is_reported(store: Store, stick: Path, tmp_path: Path) -> None:
    outcome = stick_sync(store, stick, tmp_path)
    assert [(p.stage, p.kind) for p in outcome.problems] == [("lists", "permanent")]
    assert "index.json cannot be read" in outcome.problems[0].message


def test_a_stick_carrying_only_acknowledgements_is_a_note_not_a_problem(
    store: Store, stick: Path, tmp_path: Path
) -> None:
    (stick / "acks" / TERMINAL_ID).mkdir(parents=True)
    outcome = stick_sync(store, stick, tmp_path)
    assert outcome.complete
    assert outcome.notes == [f"{stick} carries no lists (no index.json)"]
    assert outcome.lists is None
