"""terminal.sync.http_source: the repository over HTTP — conditional index, resumable content
files, retries, and refusals of what is not a repository file."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sync_support import (
    FAST_RETRY,
    ISSUED,
    NOW,
    REPO,
    UNTIL,
    FakeBackOffice,
    Sleeps,
    cut_after,
    deny,
    new_store,
    publisher,
    short_body,
    status,
    wrong_bytes,
)

from offline_store.bundles import Manifest, Publisher, Repository, sync_from
from offline_store.errors import BundleRejected
from offline_store.store import Store
from terminal.errors import BackOfficeUnreachable
from terminal.sync.http_source import HttpRepositorySource
from terminal.sync.transport import RetryPolicy


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.published = Repository(tmp_path / "published")
        self.office = FakeBackOffice(self.published.root)
        self.publisher: Publisher = publisher(self.published)
        self.cache = tmp_path / "cache"
        self.sleeps = Sleeps()
        self.tmp_path = tmp_path

    def source(self, policy: RetryPolicy = FAST_RETRY) -> HttpRepositorySource:
        return HttpRepositorySource(
            REPO, self.office.client(), self.cache, policy, sleep=self.sleeps
        )

    def snapshot(self, version: int, numbers: range) -> Manifest:
        return self.publisher.snapshot(
            "deny", version, deny(numbers), issued_at=ISSUED, valid_until=UNTIL
        )

    def object_path(self, manifest: Manifest) -> str:
        return f"objects/{manifest.content['records'].sha256}"

    def requests_for(self, relative: str) -> list[httpx.Request]:
        return [r for r in self.office.requests if r.url.path == f"/repo/{relative}"]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return new_store(tmp_path / "store.db")


# -- index.json ---------------------------------------------------------------------------------
def test_an_unchanged_index_is_304_and_read_from_the_cache(setup: Setup) -> None:
    setup.snapshot(1, range(5))
    source = setup.source()
    first = source.read("index.json")
    assert first == (setup.published.root / "index.json").read_bytes()
    assert not source.index_unchanged
    assert "If-None-Match" not in setup.office.requests[-1].headers

    again = setup.source()  # the next run: a new source, the same cache
    assert again.read("index.json") == first
    assert again.index_unchanged
    etag = setup.office.requests[-1].headers["If-None-Match"]
    assert etag == (setup.cache / "index.etag").read_text()
    assert again.bytes_received == 0  # a 304 carries no body

    setup.snapshot(2, range(6))  # something new is published: a full answer
    newer = setup.source()
    assert newer.read("index.json") == (setup.published.root / "index.json").read_bytes() != first
    assert not newer.index_unchanged
    assert (setup.cache / "index.json").read_bytes() == (
        setup.published.root / "index.json"
    ).read_bytes()


def test_an_index_without_etag_is_fetched_whole_next_time(setup: Setup) -> None:
    setup.snapshot(1, range(5))
    setup.source().read("index.json")
    assert (setup.cache / "index.etag").is_file()

    published = (setup.published.root / "index.json").read_bytes()
    setup.office.fail("index.json", lambda office, request: httpx.Response(200, content=published))
    assert setup.source().read("index.json") == published
    assert not (setup.cache / "index.etag").exists()
    setup.source().read("index.json")
    assert "If-None-Match" not in setup.office.requests[-1].headers


def test_the_index_is_retried_after_a_server_error(setup: Setup) -> None:
    setup.snapshot(1, range(5))
    setup.office.fail("index.json", status(503), status(500))
    assert setup.source().read("index.json").startswith(b"{")
    assert len(setup.requests_for("index.json")) == 3
    assert len(setup.sleeps) == 2


# -- content files ------------------------------------------------------------------------------
def test_a_download_cut_mid_body_resumes_with_range(setup: Setup) -> None:
    manifest = setup.snapshot(1, range(100))  # 2,000 bytes
    relative = setup.object_path(manifest)
    expected = (setup.published.root / relative).read_bytes()
    setup.office.fail(relative, cut_after(700))
    source = setup.source()
    assert source.read(relative) == expected
    first, second = setup.requests_for(relative)
    assert "Range" not in first.headers
    assert second.headers["Range"] == "bytes=700-"
    assert second.headers["If-Range"] == f'"{manifest.content["records"].sha256[:32]}"'
    assert source.bytes_received == len(expected)  # nothing fetched twice
    assert len(setup.sleeps) == 1
    assert list((setup.cache / "objects").iterdir()) == []  # no partial file left behind


def test_a_download_cut_in_one_run_resumes_in_the_next(setup: Setup) -> None:
    manifest = setup.snapshot(1, range(100))
    relative = setup.object_path(manifest)
    expected = (setup.published.root / relative).read_bytes()
    setup.office.fail(relative, cut_after(1200))
    with pytest.raises(BackOfficeUnreachable, match="cut mid-answer"):
        setup.source(RetryPolicy(attempts=1)).read(relative)
    part = setup.cache / "objects" / f"{manifest.content['records'].sha256}.part"
    assert part.read_bytes() == expected[:1200]

    assert setup.source().read(relative) == expected  # the terminal restarted
    assert setup.requests_for(relative)[-1].headers["Range"] == "bytes=1200-"
    assert not part.exists()


def test_a_partial_file_with_a_stale_etag_is_fetched_whole(setup: Setup) -> None:
    manifest = setup.snapshot(1, range(100))
    relative = setup.object_path(manifest)
    expected = (setup.published.root / relative).read_bytes()
    folder = setup.cache / "objects"
    folder.mkdir(parents=True)
    name = manifest.content["records"].sha256
    (folder / f"{name}.part").write_bytes(b"garbage from another file")
    (folder / f"{name}.etag").write_text('"another file"')
    assert setup.source().read(relative) == expected  # If-Range differs: 200, not appended
    assert setup.requests_for(relative)[0].headers["If-Range"] == '"another file"'


def test_a_range_not_satisfiable_starts_again(setup: Setup) -> None:
    manifest = setup.snapshot(1, range(100))
    relative = setup.object_path(manifest)
    expected = (setup.published.root / relative).read_bytes()
    folder = setup.cache / "objects"
    folder.mkdir(parents=True)
    name = manifest.content["records"].sha256
    (folder / f"{name}.part").write_bytes(expected + b"more than the file")  # not a prefix
    (folder / f"{name}.etag").write_text(f'"{name[:32]}"')
    assert setup.source().read(relative) == expected
    first, second = setup.requests_for(relative)
    assert first.headers["Range"] == f"bytes={len(expected) + 18}-"
    assert "Range" not in second.headers
    assert len(setup.sleeps) == 1


def test_a_missing_file_is_a_rejected_bundle_at_once(setup: Setup) -> None:
    setup.snapshot(1, range(5))
    source = setup.source()
    with pytest.raises(BundleRejected, match=r"objects/0{64} is not on .*\(404\)"):
        source.read("objects/" + "0" * 64)
    with pytest.raises(BundleRejected, match="404"):
        source.read("lists/deny/9.json")
    assert len(setup.office.requests) == 2  # a 404 is not retried
    assert setup.sleeps == []


@pytest.mark.parametrize(
    "relative",
    [
        "../secret",
        "/etc/passwd",
        "objects/../../etc/passwd",
        "lists/deny/../../../x.json",
        "objects/" + "A" * 64,
        "objects/" + "0" * 63,
        "lists/deny/1.txt",
        "lists/Deny/1.json",
        "index.json?x=1",
        "http://elsewhere.test/index.json",
        "",
    ],
)
def test_paths_outside_the_repository_layout_are_refused(setup: Setup, relative: str) -> None:
    with pytest.raises(BundleRejected, match="not a repository path"):
        setup.source().read(relative)
    assert setup.office.requests == []


def test_a_transient_failure_on_a_manifest_is_retried(setup: Setup) -> None:
    setup.snapshot(1, range(5))
    setup.office.fail("lists", status(502), status(429, Retry_After="2"))
    assert setup.source().read("lists/deny/1.json").startswith(b"{")
    assert setup.sleeps[1] == 2.0


# -- through sync_from ----------------------------------------------------------------------------
def http_sync(setup: Setup, store: Store) -> tuple[list[tuple[str, int]], dict[str, str]]:
    report = sync_from(store, Repository(setup.cache / "repository", setup.source()), now=NOW)
    return report.applied, report.rejected


def test_lists_sync_over_http_and_a_cut_download_still_applies(setup: Setup, store: Store) -> None:
    manifest = setup.snapshot(1, range(100))
    setup.office.fail(setup.object_path(manifest), cut_after(333))
    assert http_sync(setup, store) == ([("deny", 1)], {})
    assert store.version_of("deny") == 1


def test_wrong_bytes_reject_the_list_and_the_store_keeps_its_version(
    setup: Setup, store: Store
) -> None:
    setup.snapshot(1, range(10))
    assert http_sync(setup, store) == ([("deny", 1)], {})
    delta = setup.publisher.delta(
        "deny", 1, 2, upserts=deny([50]), removals=[], after=deny([*range(10), 50]),
        issued_at=ISSUED, valid_until=UNTIL,
    )  # fmt: skip
    setup.office.fail(setup.object_path(delta), wrong_bytes())
    applied, rejected = http_sync(setup, store)
    assert applied == []
    assert "does not match its manifest" in rejected["deny"]
    assert store.version_of("deny") == 1
    assert http_sync(setup, store) == ([("deny", 2)], {})  # the next run gets the right bytes


def test_a_body_shorter_than_the_file_rejects_the_version(setup: Setup, store: Store) -> None:
    manifest = setup.snapshot(1, range(10))
    setup.office.fail(setup.object_path(manifest), short_body(100))
    applied, rejected = http_sync(setup, store)
    assert applied == []
    assert "size or SHA-256" in rejected["deny"]
    assert store.version_of("deny") is None


def test_a_missing_signatures_file_rejects_the_version(setup: Setup, store: Store) -> None:
    setup.snapshot(1, range(10))
    (setup.published.root / "lists" / "deny" / "1.sig").unlink()
    applied, rejected = http_sync(setup, store)
    assert applied == []
    assert "has no signatures file: unsigned" in rejected["deny"]


def test_an_unreachable_repository_stops_the_whole_sync(setup: Setup, store: Store) -> None:
    manifest = setup.snapshot(1, range(10))
    setup.office.fail(setup.object_path(manifest), *[status(503)] * FAST_RETRY.attempts)
    with pytest.raises(BackOfficeUnreachable, match="HTTP 503"):
        http_sync(setup, store)
    assert store.version_of("deny") is None
    assert len(setup.sleeps) == FAST_RETRY.attempts - 1
