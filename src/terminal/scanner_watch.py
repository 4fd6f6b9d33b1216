"""A serial code scanner, watched in a worker thread for the screen (``ykt run --scanner``).

Each scanned text goes to ``on_code`` (the app decides it in a worker).  A scanner unplugged,
or a port that cannot be opened, is reported as the scanner's state and retried every
``retry_after`` seconds: plugging it back in recovers without restarting the app.  A
keyboard-wedge scanner needs none of this: it types into the screen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from terminal.codes.scanners import Scanner
from terminal.errors import ScannerError


class ScannerWatch:
    def __init__(
        self,
        open_scanner: Callable[[threading.Event], Scanner],
        on_code: Callable[[str], None],
        *,
        on_state: Callable[[str], None],
        retry_after: float = 2.0,
    ) -> None:
        self._open = open_scanner
        self._on_code = on_code
        self._on_state = on_state
        self._retry_after = retry_after
        self._stop = threading.Event()
        self.state = "scanner: starting"

    def _say(self, state: str) -> None:
        self.state = state
        self._on_state(state)

    def stop(self) -> None:
        self._stop.set()  # the scanner's read notices within its timeout

    def run(self) -> None:
        """The worker's body: until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                scanner = self._open(self._stop)
                try:
                    self._say("scanner: ready")
                    for text in scanner.codes():
                        if text.strip():
                            self._on_code(text)
                finally:
                    scanner.close()
            except ScannerError as error:
                self._say(f"scanner: {error.title}, retrying")
            self._stop.wait(self._retry_after)
