"""What the technician's screen shows: the library under it, no UI here.

* :func:`reader_report` — every reader, card present or not, its ATR (masked) and meaning, or
  a sentence saying why there is nothing to show (pcscd down, no reader).
* :class:`ApduTrace` — the last exchanges with the card, masked (``ReadRequest(trace=...)``).
* :func:`self_test` / :func:`self_test_pcsc` — emulated cards read through the real read path.
* :func:`versions`, :func:`list_versions` — what software runs and which lists it holds.
* :class:`RecentLog` — the last log records.
"""

from __future__ import annotations

from terminal.diagnostics.inventory import ListFacts, list_versions, versions
from terminal.diagnostics.readers import (
    ReaderFacts,
    ReaderReport,
    describe_atr,
    reader_report,
)
from terminal.diagnostics.recent_log import RecentLog
from terminal.diagnostics.selftest import (
    SelfTestReport,
    SelfTestStep,
    self_test,
    self_test_pcsc,
)
from terminal.diagnostics.trace import ApduTrace, TraceEntry

__all__ = [
    "ApduTrace",
    "ListFacts",
    "ReaderFacts",
    "ReaderReport",
    "RecentLog",
    "SelfTestReport",
    "SelfTestStep",
    "TraceEntry",
    "describe_atr",
    "list_versions",
    "reader_report",
    "self_test",
    "self_test_pcsc",
    "versions",
]
