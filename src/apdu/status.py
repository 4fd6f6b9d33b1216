"""Status words as data: one table from pattern to category and meaning.

Patterns are four hex digits where ``x`` stands for any digit in that place (``63Cx``,
``61xx``).  The first matching row wins, so specific rows come before general ones.  Every
status word in the card specification has a row, plus the ISO 7816-4 generic ones.  Each row
also names an example status word: the unit tests walk the table and check each example finds
its own row.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache


class Category(StrEnum):
    SUCCESS = "success"
    MORE_DATA = "more data"
    WRONG_LENGTH = "wrong length"
    WARNING = "warning"
    EXECUTION_ERROR = "execution error"
    CHECKING_ERROR = "checking error"
    SECURITY = "security"
    NOT_FOUND = "not found"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StatusRow:
    pattern: str
    category: Category
    meaning: str
    example: int

    def matches(self, sw: int) -> bool:
        text = f"{sw:04X}"
        return all(p in ("x", t) for p, t in zip(self.pattern, text, strict=True))


def _row(pattern: str, category: Category, meaning: str) -> StatusRow:
    example = int(pattern.replace("x", "1"), 16)
    return StatusRow(pattern, category, meaning, example)


C = Category
STATUS_TABLE: tuple[StatusRow, ...] = (
    _row("9000", C.SUCCESS, "success"),
    _row("61xx", C.MORE_DATA, "more response data available (fetch with GET RESPONSE)"),
    _row("6Cxx", C.WRONG_LENGTH, "wrong Le; the card says how many bytes it has"),
    _row("6200", C.WARNING, "warning: non-volatile memory unchanged"),
    _row("6281", C.WARNING, "warning: part of the returned data may be corrupted"),
    _row("6282", C.WARNING, "warning: end of file or record reached before Le bytes"),
    _row("6283", C.WARNING, "warning: selected file invalidated"),
    _row("6284", C.WARNING, "warning: file control information not formatted correctly"),
    _row("62xx", C.WARNING, "warning: non-volatile memory unchanged"),
    _row("63Cx", C.SECURITY, "verification failed; the last digit is the tries left"),
    _row("6300", C.SECURITY, "authentication failed"),
    _row("6381", C.WARNING, "warning: file filled up by the last write"),
    _row("63xx", C.WARNING, "warning: non-volatile memory changed"),
    _row("6400", C.EXECUTION_ERROR, "execution error: non-volatile memory unchanged"),
    _row("64xx", C.EXECUTION_ERROR, "execution error: non-volatile memory unchanged"),
    _row("6581", C.EXECUTION_ERROR, "memory failure"),
    _row("65xx", C.EXECUTION_ERROR, "execution error: non-volatile memory changed"),
    _row("6700", C.CHECKING_ERROR, "wrong length (Lc or Le)"),
    _row("67xx", C.CHECKING_ERROR, "wrong length"),
    _row("6881", C.CHECKING_ERROR, "logical channel not supported"),
    _row("6882", C.CHECKING_ERROR, "secure messaging not supported"),
    _row("68xx", C.CHECKING_ERROR, "function in CLA not supported"),
    _row("6981", C.CHECKING_ERROR, "command incompatible with the file structure"),
    _row("6982", C.SECURITY, "security status not satisfied (authentication needed first)"),
    _row("6983", C.SECURITY, "authentication method blocked"),
    _row("6984", C.SECURITY, "referenced data invalidated (e.g. no challenge requested first)"),
    _row("6985", C.CHECKING_ERROR, "conditions of use not satisfied"),
    _row("6986", C.CHECKING_ERROR, "command not allowed (no current EF)"),
    _row("6987", C.SECURITY, "expected secure messaging data objects missing"),
    _row("6988", C.SECURITY, "secure messaging data objects incorrect"),
    _row("69xx", C.CHECKING_ERROR, "command not allowed"),
    _row("6A80", C.CHECKING_ERROR, "incorrect parameters in the data field"),
    _row("6A81", C.CHECKING_ERROR, "function not supported"),
    _row("6A82", C.NOT_FOUND, "file or application not found"),
    _row("6A83", C.NOT_FOUND, "record not found"),
    _row("6A84", C.EXECUTION_ERROR, "not enough memory space in the file"),
    _row("6A86", C.CHECKING_ERROR, "incorrect parameters P1-P2"),
    _row("6A87", C.CHECKING_ERROR, "Lc inconsistent with P1-P2"),
    _row("6A88", C.NOT_FOUND, "referenced data not found (e.g. key not on the card)"),
    _row("6Axx", C.CHECKING_ERROR, "wrong parameters P1-P2"),
    _row("6B00", C.CHECKING_ERROR, "wrong parameters P1-P2 (offset outside the EF)"),
    _row("6D00", C.CHECKING_ERROR, "instruction not supported"),
    _row("6E00", C.CHECKING_ERROR, "class not supported"),
    _row("6F00", C.CHECKING_ERROR, "no precise diagnosis"),
    _row("9303", C.EXECUTION_ERROR, "application permanently locked"),
)


@dataclass(frozen=True, slots=True)
class StatusWord:
    sw: int
    category: Category
    meaning: str

    def __str__(self) -> str:
        return f"{self.sw:04X} ({self.meaning})"


@lru_cache(maxsize=512)
def describe(sw: int) -> StatusWord:
    """Category and meaning of a status word; unknown ones say so rather than guess."""
    for row in STATUS_TABLE:
        if row.matches(sw):
            return StatusWord(sw, row.category, row.meaning)
    return StatusWord(sw, Category.UNKNOWN, "not an ISO 7816 or card-specification status word")
