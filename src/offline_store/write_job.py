"""A store file's one writer: its write connection, the lock that makes it one, and write jobs.

The store has one writer per file (the list file's, the journal file's): a job holds its own
file only, so a list being applied and a tap being recorded do not wait for each other.
Every write is one job: take the lock, ``BEGIN IMMEDIATE``, work, ``COMMIT`` (or ``ROLLBACK``
on any error), release.  The lock keeps two threads from interleaving statements on the
shared connection (one thread's rollback would otherwise undo the other's job); the
``IMMEDIATE`` lock keeps other processes' writers out for the job's duration.
"""

from __future__ import annotations

import sqlite3
import threading

from offline_store.errors import StoreError, StoreFull


def _is_disk_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
        "full" in str(error).lower()
    )


class Writer:
    """The write connection and its lock; :meth:`job` is the only way to write."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.lock = threading.RLock()

    def job(self) -> WriteJob:
        return WriteJob(self)


class WriteJob:
    """One ``BEGIN IMMEDIATE`` … ``COMMIT`` under the writer's lock; rollback on any error."""

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._connection = writer.connection

    def __enter__(self) -> None:
        self._writer.lock.acquire()
        try:
            self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            self._writer.lock.release()
            raise _translate(error) from error

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        try:
            if exc is None:
                try:
                    self._connection.execute("COMMIT")
                except sqlite3.Error as error:
                    self._rollback()
                    raise _translate(error) from error
                return
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                raise _translate(exc) from exc
        finally:
            self._writer.lock.release()

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (e.g. on SQLITE_FULL)
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")


def _translate(error: sqlite3.Error) -> StoreError:
    if _is_disk_full(error):
        return StoreFull(
            "the disk is full: the change was not made and the previous version is kept; "
            "free space on the terminal and sync again"
        )
    if "locked" in str(error).lower() or "busy" in str(error).lower():
        return StoreError(
            f"the offline store is busy ({error}): another program holds it for writing; "
            "try again, and stop any second terminal process on the same store"
        )
    return StoreError(f"the offline store could not write: {error}")
