"""Structured logs: one line per record, ``key=value`` pairs, and never personal data.

Where they go (decided in docs/configuration.md, "Logging"), by ``[logging] target``:

* ``stdout`` (the default): a standard stream, which systemd can connect to the journal.
  Commands log to standard error.  ``ykt run`` logs to **standard output**, because Textual
  draws the screen on standard error (its driver writes to ``sys.__stderr__``).  When the
  stream *is* the journal (systemd sets ``$JOURNAL_STREAM`` to its device and inode) each line
  starts with its syslog priority (``<6>``), which journald turns into the record's
  ``PRIORITY``, and carries no timestamp of its own (journald stamps it).  A screen on an
  interactive terminal whose standard output is that same terminal gets no log lines (they
  would tear the screen).
* ``journal``: journald's syslog socket ``/dev/log`` (the standard library's
  :class:`logging.handlers.SysLogHandler`), as ``ykt-terminal[PID]``: for the installed
  terminal, whose app runs inside fbterm, where standard output *and* standard error are
  fbterm's pseudo-terminal, the screen itself.  A line that cannot be sent is dropped, never
  printed (standard error may be the screen).

The ``systemd`` package's ``JournalHandler`` is not used because it has no wheels on PyPI (it
is compiled against ``libsystemd-dev``), so it cannot be installed cleanly in the terminal's
own virtual environment; the syslog socket needs nothing beyond the standard library.

Events are logged through :func:`log_event` with an event name and fields::

    level=info logger=terminal.checkpoint event=verdict outcome=admit reasons=reservation_ok
    service=museum.entry credential=card clock=trusted seq=12 gate=opened

Fields are codes, counts and sequence numbers; holder data is never passed (the masked form
neither: a log is not a screen).  Other records (from libraries) come out as ``msg="..."``.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from terminal.config import LoggingSection

_EVENT = "ykt_event"
_FIELDS = "ykt_fields"
#: syslog priorities of the logging levels (journald reads them from the line's start)
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def log_event(logger: logging.Logger, level: int, event: str, **fields: object) -> None:
    """Log ``event`` with ``fields`` (codes and numbers only: nothing personal)."""
    if logger.isEnabledFor(level):
        text = " ".join([event, *(f"{k}={_value(v)}" for k, v in fields.items())])
        logger.log(level, "%s", text, extra={_EVENT: event, _FIELDS: fields}, stacklevel=2)


def _value(value: object) -> str:
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple | set | frozenset):
        text = ",".join(str(item) for item in value) or "-"
    else:
        text = str(value)
    if not text or any(ch in text for ch in ' "=\\') or not text.isprintable():
        escaped = text.replace("\\", "\\\\").replace('"', '\\"')
        escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        return f'"{escaped}"'
    return text


#: journald's syslog socket (systemd-journald-dev-log.socket owns /dev/log on Debian)
SYSLOG_ADDRESS = "/dev/log"
#: the syslog identifier of the records (the unit's ``SyslogIdentifier=`` too)
SYSLOG_IDENTIFIER = "ykt-terminal"


class KeyValueFormatter(logging.Formatter):
    """``[<priority>]ts=... level=... logger=... event=... k=v`` or ``msg="..."``.

    ``journal``: the line goes to a stream journald reads (no time stamp, the priority as a
    ``<N>`` prefix); ``syslog``: it goes to the syslog socket (no time stamp, and no prefix:
    the handler sends the priority in the syslog header).
    """

    def __init__(self, *, journal: bool = False, syslog: bool = False) -> None:
        super().__init__()
        self.journal = journal and not syslog
        self.stamped = not (journal or syslog)

    def format(self, record: logging.LogRecord) -> str:
        parts: list[str] = []
        if self.stamped:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            parts.append(f"ts={stamp}.{int(record.msecs):03d}Z")
        parts += [f"level={record.levelname.lower()}", f"logger={record.name}"]
        event = getattr(record, _EVENT, None)
        fields: Mapping[str, object] = getattr(record, _FIELDS, {})
        if event is not None:
            parts.append(f"event={_value(event)}")
            parts += [f"{key}={_value(value)}" for key, value in fields.items()]
        else:
            parts.append(f"msg={_value(record.getMessage())}")
        if record.exc_info:
            parts.append(f"exc={_value(self.formatException(record.exc_info))}")
        line = " ".join(parts)
        if self.journal:
            return f"<{_PRIORITY.get(record.levelno, 6)}>{line}"
        return line


class TextFormatter(logging.Formatter):
    """``WARNING terminal.relay: gate_release_failed error=...`` (for a person at a shell)."""

    def __init__(self, *, journal: bool = False, syslog: bool = False) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.journal = journal and not syslog

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        return f"<{_PRIORITY.get(record.levelno, 6)}>{line}" if self.journal else line


class StreamTargetHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the stream of the moment (``target``), looked up at every record."""

    def __init__(self, target: Callable[[], IO[str] | None]) -> None:
        super().__init__()
        self._target = target

    def emit(self, record: logging.LogRecord) -> None:
        stream = self._target()
        if stream is None:
            return
        self.setStream(stream)
        super().emit(record)


class JournalSocketHandler(logging.handlers.SysLogHandler):
    """Records to journald through its syslog socket, as ``ykt-terminal[PID]: <line>``.

    journald takes ``SYSLOG_IDENTIFIER`` and ``PRIORITY`` from the syslog header and the unit
    from the sender's cgroup, so ``journalctl -u ykt-terminal`` and ``journalctl -t
    ykt-terminal -p warning`` find the lines.  The socket is connected lazily and again after
    an error (journald restarted); a line that still cannot be sent is counted in ``dropped``,
    never reported on standard error, which may be the screen.
    """

    append_nul = False  # journald needs no NUL terminator (old syslog daemons did)

    def __init__(self, address: str = SYSLOG_ADDRESS, identifier: str = SYSLOG_IDENTIFIER) -> None:
        super().__init__(address=address, facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        self.ident = f"{identifier}[{os.getpid()}]: "
        self.dropped = 0

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        self.dropped += 1


def is_journal(fd: int, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether file descriptor ``fd`` (1 or 2) is connected to the journal (systemd sets
    ``$JOURNAL_STREAM`` to ``<device>:<inode>`` of that stream)."""
    stream = environ.get("JOURNAL_STREAM", "")
    device, _, inode = stream.partition(":")
    try:
        status = os.fstat(fd)
        return (status.st_dev, status.st_ino) == (int(device), int(inode))
    except (OSError, ValueError):
        return False


def configure_logging(
    section: LoggingSection,
    *,
    verbose: int = 0,
    screen: bool = False,
    environ: Mapping[str, str] = os.environ,
    syslog_address: str = SYSLOG_ADDRESS,
) -> logging.Handler | None:
    """Send the root logger's records where ``section`` says (``-v``: info, ``-vv``: debug,
    whatever the file says).  Replaces the handler an earlier call installed.

    ``target = "stdout"``: standard error; ``screen`` (the terminal app draws on standard
    error): standard output instead — unless that is an interactive terminal (the screen's
    own): then nowhere but the tech screen's recent log.  ``target = "journal"``: journald's
    syslog socket at ``syslog_address``, whatever the streams are.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, StreamTargetHandler | JournalSocketHandler):
            root.removeHandler(handler)
            if isinstance(handler, JournalSocketHandler):
                handler.close()
    level = _LEVELS[section.level]
    if verbose:
        level = min(level, logging.INFO if verbose == 1 else logging.DEBUG)
    root.setLevel(level)
    if section.target == "journal":
        journal_handler = JournalSocketHandler(syslog_address)
        journal_handler.setFormatter(
            KeyValueFormatter(syslog=True)
            if section.format == "keyvalue"
            else TextFormatter(syslog=True)
        )
        root.addHandler(journal_handler)
        return journal_handler
    journal = is_journal(1 if screen else 2, environ)
    target: Callable[[], IO[str] | None]
    if screen:
        original = sys.__stdout__
        if original is None or (not journal and original.isatty()):
            return None
        target = lambda: original  # noqa: E731 - Textual swaps sys.stdout while it runs
    else:
        target = lambda: sys.stderr  # noqa: E731 - whatever it is now (tests capture it)
    handler = StreamTargetHandler(target)
    formatter: logging.Formatter = (
        KeyValueFormatter(journal=journal)
        if section.format == "keyvalue"
        else TextFormatter(journal=journal)
    )
    handler.setFormatter(formatter)
    root.addHandler(handler)
    return handler


def fields_of(record: logging.LogRecord) -> dict[str, Any] | None:
    """The event name and fields of a record logged by :func:`log_event` (tests)."""
    event = getattr(record, _EVENT, None)
    if event is None:
        return None
    return {"event": event, **getattr(record, _FIELDS, {})}
