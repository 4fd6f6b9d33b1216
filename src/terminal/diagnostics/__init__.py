"""What the technician's screen shows: the library under it, no UI here.

* :class:`ApduTrace` — the last exchanges with the card, masked (``ReadRequest(trace=...)``).
"""

from __future__ import annotations

from terminal.diagnostics.trace import ApduTrace, TraceEntry

__all__ = ["ApduTrace", "TraceEntry"]
