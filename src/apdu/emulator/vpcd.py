"""Attach an emulated card to vsmartcard's vpcd reader driver, so pcscd sees a real reader.

Wire protocol (``testing-pcsc.md``): each message is a 2-byte big-endian length and a payload.
A 1-byte payload is a control (0 power off, 1 power on, 2 reset, 4 get ATR); anything else is
a command APDU, answered with response data + SW1 SW2.  Connecting is inserting the card;
closing the connection is pulling it out.

vpcd sends the length and the APDU in two writes with Nagle on; with delayed ACK on our side
every APDU would stall ~40 ms.  So the socket sets ``TCP_NODELAY`` and re-arms
``TCP_QUICKACK`` before every ``recv`` (the flag does not stick).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

from apdu.emulator.card import CardPulled
from apdu.scripted import EmulatedCard

log = logging.getLogger(__name__)

VPCD_HOST = "127.0.0.1"
VPCD_PORT = 35963  # reader "Virtual PCD 00 00"; 35964 is "Virtual PCD 00 01"

_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0, 1, 2, 4
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class VpcdLink:
    """One emulated card inserted into one vpcd reader, served from a background thread."""

    def __init__(self, card: EmulatedCard, port: int = VPCD_PORT, host: str = VPCD_HOST) -> None:
        self.card = card
        self.port = port
        self.host = host
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.pulled = threading.Event()

    @property
    def inserted(self) -> bool:
        return self._socket is not None

    def insert(self, timeout: float = 5.0) -> None:
        """Connect to vpcd: pcscd then sees a card in the reader."""
        if self._socket is not None:
            return
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket = sock
        self.pulled.clear()
        self._thread = threading.Thread(
            target=self._serve, args=(sock,), name=f"vpcd-card-{self.port}", daemon=True
        )
        self._thread.start()

    def remove(self) -> None:
        """Close the connection: pcscd then sees the reader empty."""
        sock, self._socket = self._socket, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def __enter__(self) -> VpcdLink:
        self.insert()
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def serve_forever(self) -> None:
        """Insert and serve in the calling thread until the card is pulled or removed."""
        self.insert()
        self.pulled.wait()

    # -- the loop --------------------------------------------------------------------------
    def _recv_exactly(self, sock: socket.socket, count: int) -> bytes | None:
        chunks = b""
        while len(chunks) < count:
            if _QUICKACK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            chunk = sock.recv(count - len(chunks))
            if not chunk:
                return None
            chunks += chunk
        return chunks

    def _serve(self, sock: socket.socket) -> None:
        card = self.card
        try:
            while True:
                header = self._recv_exactly(sock, 2)
                if header is None:
                    break
                payload = self._recv_exactly(sock, int.from_bytes(header, "big"))
                if payload is None:
                    break
                if len(payload) == 1:
                    control = payload[0]
                    if control == _GET_ATR:
                        answer = card.atr
                    else:
                        if control == _POWER_OFF:
                            card.power_off()
                        elif control in (_POWER_ON, _RESET):
                            card.power_on()
                        continue
                else:
                    try:
                        answer = card.process(payload)
                    except CardPulled:
                        log.info("emulated card pulled from the reader on port %d", self.port)
                        break
                sock.sendall(len(answer).to_bytes(2, "big") + answer)
        except OSError as exc:
            if self._socket is sock:
                log.warning("vpcd link on port %d failed: %s", self.port, exc)
        finally:
            self.pulled.set()
            if self._socket is sock:
                self._socket = None
                sock.close()
