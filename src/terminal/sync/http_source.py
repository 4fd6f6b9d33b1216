"""A bundle repository behind a URL: the same files as on a stick, fetched over HTTP.

* ``index.json`` is fetched conditionally (``If-None-Match``); on ``304`` the cached copy is
  used and :attr:`HttpRepositorySource.index_unchanged` says so.
* A content file is streamed into ``<cache>/objects/<sha256>.part``; a download cut off (by
  the network, a timeout, or the terminal being killed) resumes from where it stopped with
  ``Range`` + ``If-Range``, in the same run or the next.  Whether the bytes are right is
  decided by :class:`offline_store.bundles.Repository`, which checks size and SHA-256.
* Everything goes through :func:`terminal.sync.transport.with_retries`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from offline_store.bundles import INDEX
from offline_store.errors import BundleRejected
from offline_store.whole_files import write_whole
from terminal.sync.transport import RetryPolicy, Transient, check_status, with_retries

_RELATIVE = re.compile(r"(index\.json|lists/[a-z0-9:-]+/\d+\.(json|sig)|objects/[0-9a-f]{64})")


class HttpRepositorySource:
    def __init__(
        self,
        base_url: str,
        client: httpx.Client,
        cache: Path,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._client = client
        self._cache = cache
        self._policy = policy
        self._sleep = sleep
        self.index_unchanged = False
        #: bytes received over the network in this source's life (for status and benchmarks)
        self.bytes_received = 0

    def read(self, relative: str) -> bytes:
        if not _RELATIVE.fullmatch(relative):
            raise BundleRejected(f"refusing to fetch {relative!r}: not a repository path")
        if relative == INDEX:
            return self._index()
        if relative.startswith("objects/"):
            return self._object(relative)
        return self._retrying(relative, lambda: self._get(relative))

    # -- index.json (conditional) ------------------------------------------------------------
    def _index(self) -> bytes:
        body_path = self._cache / "index.json"
        etag_path = self._cache / "index.etag"
        etag = _read_text(etag_path) if body_path.is_file() else None

        def attempt() -> bytes:
            headers = {"If-None-Match": etag} if etag else {}
            response = self._client.get(self.base_url + INDEX, headers=headers)
            self.bytes_received += len(response.content)
            if response.status_code == 304 and etag:
                self.index_unchanged = True
                return body_path.read_bytes()
            self._check(response, INDEX)
            self.index_unchanged = False
            self._cache.mkdir(parents=True, exist_ok=True)
            write_whole(body_path, response.content)
            new_etag = response.headers.get("ETag")
            if new_etag:
                write_whole(etag_path, new_etag.encode())
            else:
                etag_path.unlink(missing_ok=True)
            return response.content

        return self._retrying(INDEX, attempt)

    # -- manifests and signatures --------------------------------------------------------------
    def _get(self, relative: str) -> bytes:
        response = self._client.get(self.base_url + relative)
        self.bytes_received += len(response.content)
        self._check(response, relative)
        return response.content

    # -- content files (resumable) -------------------------------------------------------------
    def _object(self, relative: str) -> bytes:
        folder = self._cache / "objects"
        folder.mkdir(parents=True, exist_ok=True)
        name = relative.removeprefix("objects/")
        part = folder / f"{name}.part"
        etag_path = folder / f"{name}.etag"

        def attempt() -> bytes:
            have = part.stat().st_size if part.is_file() else 0
            etag = _read_text(etag_path) if have else None
            headers = {"Range": f"bytes={have}-", "If-Range": etag} if have and etag else {}
            with self._client.stream("GET", self.base_url + relative, headers=headers) as response:
                if response.status_code == 416:  # what we hold is not a prefix: start again
                    part.unlink(missing_ok=True)
                    raise Transient(f"{relative}: range not satisfiable")
                self._check(response, relative)
                resumed = response.status_code == 206
                new_etag = response.headers.get("ETag")
                if new_etag:
                    etag_path.write_text(new_etag)
                with part.open("ab" if resumed else "wb") as sink:
                    # each piece as it arrives: a chunk size would hold bytes back in a buffer,
                    # and a cut would lose them (the resume would start from the last chunk)
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                        self.bytes_received += len(chunk)
            data = part.read_bytes()
            part.unlink(missing_ok=True)
            etag_path.unlink(missing_ok=True)
            return data

        return self._retrying(relative, attempt)

    # -- common ------------------------------------------------------------------------------
    def _check(self, response: httpx.Response, relative: str) -> None:
        if response.status_code == 404:
            raise BundleRejected(
                f"{relative} is not on the back office's repository (404): its index names a "
                "file it does not serve; the list stays at its current version"
            )
        check_status(response, f"fetching {relative}")

    def _retrying(self, relative: str, attempt: Callable[[], bytes]) -> bytes:
        return with_retries(self._policy, f"fetching {relative}", attempt, sleep=self._sleep)


def _read_text(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text().strip() or None
    return None
