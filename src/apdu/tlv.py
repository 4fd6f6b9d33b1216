"""Simple-TLV (ISO 7816-4 5.2.1) and the BER-TLV subset found in an FCI."""

from __future__ import annotations

from apdu.errors import CardDataError


def decode_simple_tlv(raw: bytes, where: str) -> tuple[int, bytes]:
    """Decode one simple-TLV record ``tag | len | value`` (len 0xFF means 3-byte length).

    The record must be exactly one TLV: a length that runs past the end (truncated) or bytes
    left over after it are both errors, named with ``where`` so a technician knows which file.
    """
    if len(raw) < 2:
        raise CardDataError(f"{where}: record of {len(raw)} byte(s) is too short for a TLV")
    tag = raw[0]
    if tag in (0x00, 0xFF):
        raise CardDataError(f"{where}: tag {tag:02X} is not a valid simple-TLV tag")
    length = raw[1]
    offset = 2
    if length == 0xFF:
        if len(raw) < 4:
            raise CardDataError(f"{where}: three-byte TLV length is cut short")
        length = int.from_bytes(raw[2:4], "big")
        offset = 4
    value = raw[offset : offset + length]
    if len(value) != length:
        raise CardDataError(
            f"{where}: TLV says {length} bytes of value but only {len(value)} arrived "
            "(record truncated)"
        )
    if offset + length != len(raw):
        raise CardDataError(f"{where}: {len(raw) - offset - length} unexpected bytes after the TLV")
    return tag, value


def iter_ber_tlv(raw: bytes, where: str) -> list[tuple[int, bytes]]:
    """Decode a run of BER-TLV objects (tags up to two bytes, definite lengths)."""
    out: list[tuple[int, bytes]] = []
    i = 0
    while i < len(raw):
        tag = raw[i]
        i += 1
        if tag & 0x1F == 0x1F:
            if i >= len(raw):
                raise CardDataError(f"{where}: two-byte tag cut short")
            tag = (tag << 8) | raw[i]
            i += 1
        if i >= len(raw):
            raise CardDataError(f"{where}: tag {tag:X} has no length")
        length = raw[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            if n == 0 or n > 2 or i + n > len(raw):
                raise CardDataError(f"{where}: unsupported BER length form {length:02X}")
            length = int.from_bytes(raw[i : i + n], "big")
            i += n
        value = raw[i : i + length]
        if len(value) != length:
            raise CardDataError(f"{where}: tag {tag:X} says {length} bytes, {len(value)} present")
        out.append((tag, value))
        i += length
    return out


def encode_simple_tlv(tag: int, value: bytes) -> bytes:
    """Encode one simple-TLV record (used by the card emulator)."""
    if len(value) < 0xFF:
        return bytes((tag, len(value))) + value
    return bytes((tag, 0xFF)) + len(value).to_bytes(2, "big") + value


def encode_ber_tlv(tag: int, value: bytes) -> bytes:
    """Encode one BER-TLV object with a one- or two-byte tag (used by the card emulator)."""
    tag_bytes = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    if len(value) < 0x80:
        length = bytes((len(value),))
    elif len(value) <= 0xFF:
        length = bytes((0x81, len(value)))
    else:
        length = b"\x82" + len(value).to_bytes(2, "big")
    return tag_bytes + length + value
