"""The commands the terminal sends to a social security card, declared once."""

from __future__ import annotations

from functools import lru_cache

from apdu.command import Command


@lru_cache(maxsize=64)  # constant commands: built and encoded once
def select_application(aid: bytes) -> Command:
    """SELECT by DF name (``00 A4 04 00``); T=0 cards answer ``61xx`` and the FCI follows."""
    return Command(0x00, 0xA4, 0x04, 0x00, aid)


@lru_cache(maxsize=64)  # constant commands: built and encoded once
def select_file(file_id: int) -> Command:
    """SELECT an EF by identifier inside the current application (``00 A4 00 00 02 EFxx``)."""
    return Command(0x00, 0xA4, 0x00, 0x00, file_id.to_bytes(2, "big"))


@lru_cache(maxsize=64)  # constant commands: built and encoded once
def read_record_by_tag(tag: int, value_length: int, short_file_id: int = 0) -> Command:
    """READ RECORD of the first record with identifier ``tag`` (P2 low bits 000).

    ``short_file_id`` 0 means the current EF; otherwise P2 = SFI << 3.  Le asks for the whole
    simple-TLV record (tag and length bytes included); a card that disagrees answers ``6Cxx``
    and the channel resends with its length.
    """
    return Command(0x00, 0xB2, tag, short_file_id << 3, le=value_length + 2)


def get_challenge(length: int = 8) -> Command:
    return Command(0x00, 0x84, 0x00, 0x00, le=length)


def internal_authenticate(process: bytes, source: bytes) -> Command:
    """``00 88 00 00 10 <process 8><source 8>``: the card answers its 8-byte cryptogram."""
    return Command(0x00, 0x88, 0x00, 0x00, process + source)


def external_authenticate(key_id: int, cryptogram: bytes, challenge: bytes) -> Command:
    """``00 82 00 <key> 10 <cryptogram 8><challenge 8>``: proves the terminal to the card."""
    return Command(0x00, 0x82, 0x00, key_id, cryptogram + challenge)
