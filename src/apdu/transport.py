"""The one transport seam.

A :class:`Transport` moves raw APDU bytes to a card and back; the PC/SC implementation
(:mod:`apdu.pcsc`) is the only module that imports pyscard, and the scripted and in-process
transports (:mod:`apdu.scripted`) stand in for it in unit tests.

A :class:`CardChannel` sits on a transport and speaks ISO 7816-4: it answers ``61xx`` with
GET RESPONSE and ``6Cxx`` by resending with the right Le, so the card application above it
never sees either.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Protocol, runtime_checkable

from apdu.command import Command, Response
from apdu.errors import ResponseError

#: Called with each raw command and raw response, for the technician's APDU trace.
TraceHook = Callable[[bytes, bytes], None]

MAX_CHAINED_RESPONSES = 32


@runtime_checkable
class Transport(Protocol):
    """Raw bytes to and from one card in one reader."""

    @property
    def reader(self) -> str:
        """The reader's name as PC/SC (or the stand-in) reports it."""
        ...

    @property
    def atr(self) -> bytes:
        """The card's answer to reset."""
        ...

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the response data followed by SW1 SW2."""
        ...

    def control(self, code: int, data: bytes) -> bytes:
        """A reader control (escape) command; used for LEDs and buzzers."""
        ...

    def close(self) -> None:
        """Release the card (leave it in the reader)."""
        ...


@lru_cache(maxsize=512)
def get_response(channel_cla: int, le: int) -> bytes:
    """GET RESPONSE for ``le`` bytes, encoded (a handful of distinct ones per card)."""
    return Command(channel_cla, 0xC0, 0x00, 0x00, le=le).to_bytes()


class CardChannel:
    """ISO 7816-4 exchanges over a transport, with ``61xx`` and ``6Cxx`` handled here."""

    def __init__(self, transport: Transport, trace: TraceHook | None = None) -> None:
        self.transport = transport
        self._trace = trace

    def _exchange(self, raw_command: bytes) -> Response:
        raw = self.transport.transmit(raw_command)
        if self._trace is not None:
            self._trace(raw_command, raw)
        return Response.from_bytes(raw)

    def send(self, command: Command) -> Response:
        """Send ``command``; return the complete response the card meant to give."""
        response = self._exchange(command.to_bytes())
        if response.sw1 == 0x6C:
            # wrong Le: resend once with the length the card asked for
            response = self._exchange(command.with_le(response.sw2 or 256).to_bytes())
        data = response.data
        rounds = 0
        while response.sw1 == 0x61:
            rounds += 1
            if rounds > MAX_CHAINED_RESPONSES:
                raise ResponseError(
                    "the card kept answering 61xx (more data) past "
                    f"{MAX_CHAINED_RESPONSES} GET RESPONSE rounds; the card is faulty"
                )
            response = self._exchange(get_response(command.cla & 0x03, response.sw2 or 256))
            data += response.data
        if data is response.data:
            return response
        return Response(data, response.sw)
