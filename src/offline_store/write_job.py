"""One write job: ``BEGIN IMMEDIATE`` … ``COMMIT`` on the store's one write connection."""

from __future__ import annotations

import sqlite3

from offline_store.errors import StoreError, StoreFull


def _is_disk_full(error: sqlite3.Error) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or (
        "full" in str(error).lower()
    )


class WriteJob:
    """One ``BEGIN IMMEDIATE`` … ``COMMIT`` on the write connection; rollback on any error."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
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
    return StoreError(f"the offline store could not write: {error}")
