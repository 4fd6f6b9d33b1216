"""The demo and test PC/SC stack: pcscd with vsmartcard's vpcd driver, and emulated cards in it.

Rules from ``testing-pcsc.md``: start pcscd only when none runs (one per machine), in the
foreground, never with ``--auto-exit``; stop only the one started here and wait for it; know
the stack is ready when the vpcd reader shows up in the reader list (never probe vpcd's port,
which takes any connection as a card insertion); after inserting or pulling a card, wait for
PC/SC to report the change rather than sleeping.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from apdu.emulator.vpcd import VPCD_PORT, VpcdLink
from apdu.errors import CardServiceUnavailable, StackUnavailable
from apdu.pcsc import PcscContext
from apdu.scripted import EmulatedCard

log = logging.getLogger(__name__)

#: vpcd registers two readers: slot 0 holds the card, slot 1 the PSAM.
CARD_READER = "Virtual PCD 00 00"
SAM_READER = "Virtual PCD 00 01"
SLOT_PORTS = {CARD_READER: VPCD_PORT, SAM_READER: VPCD_PORT + 1}

_VPCD_CONFIG = (Path("/etc/reader.conf.d/vpcd"), Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so"))
_INSTALL_HINT = "run `./dev setup` (installs pcscd, libpcsclite-dev and vsmartcard-vpcd)"


def _pcscd_binary() -> str:
    found = shutil.which("pcscd") or next(
        (str(p) for p in (Path("/usr/sbin/pcscd"), Path("/sbin/pcscd")) if p.exists()), None
    )
    if found is None:
        raise StackUnavailable(f"pcscd is not installed: {_INSTALL_HINT}")
    return found


class PcscStack:
    """pcscd + vpcd, ready to take emulated cards.  Use as a context manager."""

    def __init__(self, *, startup_timeout: float = 15.0, change_timeout: float = 5.0) -> None:
        self.startup_timeout = startup_timeout
        self.change_timeout = change_timeout
        self._daemon: subprocess.Popen[bytes] | None = None
        self._links: dict[str, VpcdLink] = {}

    @property
    def started_daemon(self) -> bool:
        """Whether this stack started pcscd (and so will stop it)."""
        return self._daemon is not None

    def __enter__(self) -> PcscStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- daemon ----------------------------------------------------------------------------
    def start(self) -> None:
        if not any(path.exists() for path in _VPCD_CONFIG):
            raise StackUnavailable(f"the vsmartcard vpcd reader driver is missing: {_INSTALL_HINT}")
        try:
            with PcscContext() as context:
                readers = context.readers()
        except CardServiceUnavailable:
            self._start_daemon()
            readers = self._await_reader()
        if CARD_READER not in readers:
            raise StackUnavailable(
                f"a pcscd is running but shows no {CARD_READER!r} reader (readers: "
                f"{', '.join(readers) or 'none'}); it was probably started before vsmartcard-vpcd "
                "was installed: restart pcscd"
            )

    def _start_daemon(self) -> None:
        binary = _pcscd_binary()
        log.info("starting %s --foreground", binary)
        self._daemon = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [binary, "--foreground"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _await_reader(self) -> list[str]:
        deadline = time.monotonic() + self.startup_timeout
        readers: list[str] = []
        while time.monotonic() < deadline:
            daemon = self._daemon
            if daemon is not None and daemon.poll() is not None:
                self._daemon = None
                stderr = ""
                if daemon.stderr is not None:
                    stderr = daemon.stderr.read().decode(errors="replace").strip()
                    daemon.stderr.close()
                raise StackUnavailable(
                    f"pcscd exited at start with status {daemon.returncode} (another pcscd "
                    f"running elsewhere, or not root?) {stderr[-400:]}".rstrip()
                )
            try:
                with PcscContext() as context:
                    readers = context.readers()
            except CardServiceUnavailable:
                readers = []
            if CARD_READER in readers:
                return readers
            time.sleep(0.05)  # readiness poll of a starting daemon (trap 3), not a card wait
        self.stop()
        raise StackUnavailable(
            f"the {CARD_READER!r} reader did not appear within {self.startup_timeout:g} s"
        )

    def stop(self) -> None:
        for reader in list(self._links):
            self.remove(reader, wait=False)
        daemon, self._daemon = self._daemon, None
        if daemon is not None:
            daemon.terminate()
            try:
                daemon.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
            if daemon.stderr is not None:
                daemon.stderr.close()

    # -- cards -----------------------------------------------------------------------------
    def insert(self, card: EmulatedCard, reader: str = CARD_READER) -> VpcdLink:
        """Put ``card`` into ``reader`` and return once PC/SC reports it present."""
        if reader in self._links:
            self.remove(reader)
        with PcscContext() as context:
            occupied = any(s.card_present for s in context.status() if s.name == reader)
        if occupied:
            raise StackUnavailable(
                f"{reader!r} already holds a card (another `ykt dev card` or test run?): "
                "stop that first"
            )
        link = VpcdLink(card, port=SLOT_PORTS[reader])
        link.insert()
        self._links[reader] = link
        with PcscContext() as context:
            context.wait_for_card(reader, timeout=self.change_timeout)
        return link

    def remove(self, reader: str = CARD_READER, *, wait: bool = True) -> None:
        """Pull the card out of ``reader`` and return once PC/SC reports it empty."""
        link = self._links.pop(reader, None)
        if link is not None:
            link.remove()
        if wait:
            with PcscContext() as context:
                context.wait_for_removal(reader, timeout=self.change_timeout)
