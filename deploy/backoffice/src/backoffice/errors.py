"""Every error the back office raises, under one root.

::

    BackOfficeError              root
    ├── NotInitialised           the data directory is missing or was never initialised
    ├── InputError               an admin input is wrong (card id, reason, window, file...)
    │   └── CsvRejected          a CSV import with bad rows (each named by its line)
    ├── KeyRingError             the signing key ring cannot do what was asked
    ├── PublishError             the repository cannot be published (busy, out of step)
    ├── DatabaseError            SQLite failed (busy, disk full, damaged)
    └── RequestRejected          a terminal's request breaks docs/protocol.md: ``status``, ``code``
        ├── Malformed            400 malformed
        ├── BadSignature         401 bad-signature
        ├── NotEnrolled          403 not-enrolled
        ├── BadToken             403 bad-token
        ├── Conflict             409 conflict
        └── TooLarge             413 too-large

Each error carries ``message``: what happened and what to do; never personal data.
"""

from __future__ import annotations

from typing import ClassVar


class BackOfficeError(Exception):
    title: ClassVar[str] = "back office error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotInitialised(BackOfficeError):
    title = "no back office here"


class InputError(BackOfficeError):
    title = "bad input"


class CsvRejected(InputError):
    title = "CSV import rejected"

    def __init__(self, message: str, problems: list[tuple[int, str]]) -> None:
        super().__init__(message)
        #: (line number, what is wrong on it), never the row's values
        self.problems = problems


class KeyRingError(BackOfficeError):
    title = "signing keys"


class PublishError(BackOfficeError):
    title = "publishing failed"


class DatabaseError(BackOfficeError):
    title = "database error"


class RequestRejected(BackOfficeError):
    """A request the protocol answers with an error status (``{"error", "message"}``)."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "malformed"
    title = "request rejected"


class Malformed(RequestRejected):
    status = 400
    code = "malformed"


class BadSignature(RequestRejected):
    status = 401
    code = "bad-signature"


class NotEnrolled(RequestRejected):
    status = 403
    code = "not-enrolled"


class BadToken(RequestRejected):
    status = 403
    code = "bad-token"


class Conflict(RequestRejected):
    status = 409
    code = "conflict"


class TooLarge(RequestRejected):
    status = 413
    code = "too-large"
