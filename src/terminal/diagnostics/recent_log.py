"""The last log records, for the technician's screen.

It masks nothing: the terminal's logs never hold personal data in the first place (masked
references only; a test reads every record written while deciding demo cards to hold that).
"""

from __future__ import annotations

import logging
import threading
from collections import deque

DEFAULT_CAPACITY = 200
DEFAULT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class RecentLog(logging.Handler):
    """A handler that keeps the last ``capacity`` formatted records; safe across threads.

    ``install()`` adds it to a logger (the root logger by default) and ``remove()`` takes it
    off again; it also works as a context manager doing both.
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        level: int = logging.INFO,
        fmt: str = DEFAULT_FORMAT,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"a recent log keeps at least one line, not {capacity}")
        super().__init__(level)
        self.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
        self._lines: deque[str] = deque(maxlen=capacity)
        self._lines_lock = threading.Lock()
        self._logger: logging.Logger | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - logging's rule: a bad record must not crash the caller
            self.handleError(record)
            return
        with self._lines_lock:
            self._lines.append(line)

    def lines(self) -> list[str]:
        """The kept records, oldest first."""
        with self._lines_lock:
            return list(self._lines)

    def clear(self) -> None:
        with self._lines_lock:
            self._lines.clear()

    def install(self, logger: logging.Logger | None = None) -> RecentLog:
        """Attach to ``logger`` (the root logger by default).  The logger's own level is left
        alone (other handlers would show more): records it drops never reach this handler."""
        self.remove()
        target = logger if logger is not None else logging.getLogger()
        target.addHandler(self)
        self._logger = target
        return self

    def remove(self) -> None:
        """Detach from the logger it was installed on (nothing if it was not)."""
        logger, self._logger = self._logger, None
        if logger is not None:
            logger.removeHandler(self)

    def __enter__(self) -> RecentLog:
        if self._logger is None:
            self.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
