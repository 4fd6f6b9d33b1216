"""Files written whole or not at all: a temporary name beside the file, then a rename.

Used for repository files, stick outboxes and acknowledgements, enrolment and key files, the
sync cache and state: a reader (or a stick pulled out, or a terminal killed) sees the old
file or the new one, never half of one.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_whole(path: Path, data: bytes, *, durable: bool = False, private: bool = False) -> None:
    """Replace ``path`` by ``data`` at once.

    ``durable``: the data and the rename are on the medium before this returns (fsync of the
    file and of its folder: a stick is pulled without asking).  ``private``: mode 0600.
    """
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(
        temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666
    )
    with os.fdopen(descriptor, "wb") as sink:
        sink.write(data)
        if durable:
            sink.flush()
            os.fsync(sink.fileno())
    temporary.replace(path)
    if durable:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
