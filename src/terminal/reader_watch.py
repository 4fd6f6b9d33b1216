"""The card reader, watched in a worker thread for the screen.

Each card is read and decided while it is on the reader (the reader flashes green only for
an admit), then the watch waits for it to be taken away, so a card left lying on the reader
is one tap, not a tap per second.  A reader unplugged or pcscd stopped is reported as the
reader's state and retried every ``retry_after`` seconds: plugging it back in, or restarting
pcscd, recovers without restarting the app.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from apdu.errors import (
    ApduError,
    CardRemovedError,
    CardServiceUnavailable,
    NoCardError,
    NoReaderError,
    ReaderUnplugged,
    StackUnavailable,
)
from apdu.pcsc import PcscContext
from apdu.ssc import CardRecord
from terminal.card_reading import ReadRequest, read_one

log = logging.getLogger(__name__)

#: how long one wait for a card lasts before the watch looks at its stop flag again
POLL_SECONDS = 1.0


class ReaderWatch:
    def __init__(
        self,
        request: ReadRequest,
        decide: Callable[[CardRecord], bool],
        *,
        on_state: Callable[[str], None],
        on_problem: Callable[[str, str], None],
        retry_after: float = 2.0,
        open_context: Callable[[], PcscContext] = PcscContext,
        read: Callable[..., CardRecord] = read_one,
    ) -> None:
        self._request = replace(request, wait_seconds=POLL_SECONDS)
        self._decide = decide
        self._on_state = on_state
        self._on_problem = on_problem
        self._retry_after = retry_after
        self._open_context = open_context
        self._read = read
        self._stop = threading.Event()
        self._context: PcscContext | None = None
        self.state = "reader: starting"

    def _say(self, state: str) -> None:
        self.state = state
        self._on_state(state)

    def stop(self) -> None:
        self._stop.set()
        context = self._context
        if context is not None:
            with contextlib.suppress(ApduError):
                context.cancel()  # ends a wait in progress at once

    def run(self) -> None:
        """The worker's body: until :meth:`stop`."""
        while not self._stop.is_set():
            try:
                with self._open_context() as context:
                    self._context = context
                    self._watch(context)
            except (CardServiceUnavailable, StackUnavailable) as error:
                self._say(f"reader: card service down ({error.title}), retrying")
            except (NoReaderError, ReaderUnplugged) as error:
                self._say(f"reader: {error.title}, retrying")
            except ApduError as error:
                self._say(f"reader: {error.title}, retrying")
            except Exception as error:  # a bug or a store failure must not end the watch
                log.exception("reader watch: unexpected error")
                self._say(f"reader: error ({type(error).__name__}), retrying")
            finally:
                self._context = None
            self._stop.wait(self._retry_after)

    def _watch(self, context: PcscContext) -> None:
        self._say("reader: ready")
        while not self._stop.is_set():
            try:
                self._read(context, self._request, accept=self._decide)
            except NoCardError:
                continue
            except CardRemovedError as error:
                self._on_problem("卡片移开过早，请重新刷卡", f"{error.title}: tap again")
                continue
            except (CardServiceUnavailable, StackUnavailable, NoReaderError, ReaderUnplugged):
                raise
            except ApduError as error:
                if self._stop.is_set():
                    return
                self._on_problem("卡片无法读取，请工作人员处理", f"{error.title}: {error.message}")
            reader = context.pick_reader(self._request.reader_pattern, self._request.preference)
            while not self._stop.is_set():  # one tap per card on the reader
                try:
                    context.wait_for_removal(reader, timeout=POLL_SECONDS)
                    break
                except NoCardError:
                    continue
                except ApduError:
                    break
