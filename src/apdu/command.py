"""ISO 7816-4 command and response APDUs.

A :class:`Command` knows its case (1-4) from whether it has data and an expected length, and
encodes itself in short form when it fits and in extended form when it must (or when asked).
A :class:`Response` is the data and the status word, split from the raw bytes a reader returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import IntEnum

from apdu.errors import ResponseError

SHORT_MAX_LC = 255
SHORT_MAX_LE = 256
EXTENDED_MAX_LC = 65535
EXTENDED_MAX_LE = 65536


class Case(IntEnum):
    """The four ISO 7816-3 command cases."""

    NO_DATA_NO_RESPONSE = 1
    NO_DATA_RESPONSE = 2
    DATA_NO_RESPONSE = 3
    DATA_RESPONSE = 4


@dataclass(frozen=True, slots=True)
class Command:
    """One command APDU.

    ``le`` is the number of response bytes expected: ``None`` for none (cases 1 and 3),
    1-256 in short form, up to 65536 in extended form (256 and 65536 encode as zero).
    """

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None
    extended: bool = False
    _encoded: bytes = dataclass_field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (
            not (0 <= self.cla <= 0xFF and 0 <= self.ins <= 0xFF and 0 <= self.p1 <= 0xFF)
            or not 0 <= self.p2 <= 0xFF
        ):
            for name in ("cla", "ins", "p1", "p2"):
                value = getattr(self, name)
                if not 0 <= value <= 0xFF:
                    raise ValueError(f"{name} must be one byte, got {value:#x}")
        if len(self.data) > EXTENDED_MAX_LC:
            raise ValueError(f"command data too long: {len(self.data)} bytes")
        if self.le is not None and not 1 <= self.le <= EXTENDED_MAX_LE:
            raise ValueError(f"Le out of range: {self.le}")
        object.__setattr__(self, "_encoded", self._encode())

    @property
    def case(self) -> Case:
        if self.data:
            return Case.DATA_RESPONSE if self.le is not None else Case.DATA_NO_RESPONSE
        return Case.NO_DATA_RESPONSE if self.le is not None else Case.NO_DATA_NO_RESPONSE

    @property
    def needs_extended(self) -> bool:
        return self.extended or len(self.data) > SHORT_MAX_LC or (self.le or 0) > SHORT_MAX_LE

    def with_le(self, le: int) -> Command:
        """The same command asking for ``le`` bytes (used to answer ``6Cxx``)."""
        return Command(self.cla, self.ins, self.p1, self.p2, self.data, le, self.extended)

    def to_bytes(self) -> bytes:
        """The APDU on the wire (encoded once, when the command is made)."""
        return self._encoded

    def _encode(self) -> bytes:
        header = bytes((self.cla, self.ins, self.p1, self.p2))
        if not self.needs_extended:
            body = b""
            if self.data:
                body += bytes((len(self.data),)) + self.data
            if self.le is not None:
                body += bytes((self.le % 256,))
            return header + body
        body = b""
        if self.data:
            body += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
        if self.le is not None:
            le = (self.le % EXTENDED_MAX_LE).to_bytes(2, "big")
            body += le if self.data else b"\x00" + le
        return header + body

    @classmethod
    def from_bytes(cls, raw: bytes) -> Command:
        """Parse a command APDU (used by the card emulator)."""
        if len(raw) < 4:
            raise ValueError(f"command APDU too short: {len(raw)} bytes")
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or SHORT_MAX_LE)
        if body[0] != 0:
            lc = body[0]
            data = body[1 : 1 + lc]
            if len(data) != lc:
                raise ValueError(f"Lc says {lc} bytes, {len(data)} present")
            rest = body[1 + lc :]
            if not rest:
                return cls(cla, ins, p1, p2, data)
            if len(rest) == 1:
                return cls(cla, ins, p1, p2, data, rest[0] or SHORT_MAX_LE)
            raise ValueError("trailing bytes after Le")
        # extended form: 00 followed by two length bytes
        if len(body) == 3:
            le = int.from_bytes(body[1:3], "big") or EXTENDED_MAX_LE
            return cls(cla, ins, p1, p2, le=le, extended=True)
        lc = int.from_bytes(body[1:3], "big")
        data = body[3 : 3 + lc]
        if lc == 0 or len(data) != lc:
            raise ValueError(f"extended Lc says {lc} bytes, {len(data)} present")
        rest = body[3 + lc :]
        if not rest:
            return cls(cla, ins, p1, p2, data, extended=True)
        if len(rest) == 2:
            le = int.from_bytes(rest, "big") or EXTENDED_MAX_LE
            return cls(cla, ins, p1, p2, data, le, extended=True)
        raise ValueError("extended command has a malformed Le")


@dataclass(frozen=True, slots=True)
class Response:
    """A response APDU: data followed by the two status bytes."""

    data: bytes
    sw: int

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    def to_bytes(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Response:
        if len(raw) < 2:
            raise ResponseError(
                f"the card answered {len(raw)} byte(s) ({raw.hex().upper() or 'nothing'}); "
                "every answer must end in a two-byte status word. Present the card again; "
                "if it keeps happening the card or reader is faulty."
            )
        return cls(bytes(raw[:-2]), int.from_bytes(raw[-2:], "big"))
