"""Start the terminal app on an open gate (``terminal.gate``): ``ykt run`` and ``ykt demo``."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from terminal.clock import ClockSample, monotonic_seconds, sample_now
from terminal.diagnostics import ApduTrace, RecentLog
from terminal.enrolment import TerminalFiles
from terminal.errors import ConfigError
from terminal.gate import Gate, LaunchOptions, open_gate
from terminal.speech import Voice
from terminal.station import StationSettings
from terminal.ui.app import GateApp
from terminal.ui.desk import DeskApp
from terminal.ui.fbterm import driver_for
from terminal.ui.kiosk import KioskApp
from terminal.ui.tech import TechApp
from terminal.ui.widgets import PresenterKey

#: ``ykt run --mode``: the app of each screen (docs/ui.md)
APP_MODES: dict[str, type[GateApp]] = {
    "gate": GateApp, "desk": DeskApp, "kiosk": KioskApp, "tech": TechApp,
}  # fmt: skip


def launch_terminal(
    settings: StationSettings,
    options: LaunchOptions,
    *,
    sample: Callable[[], ClockSample] = sample_now,
    presenter_keys: Sequence[PresenterKey] = (),
    on_app: Callable[[GateApp, Gate], None] | None = None,
) -> None:
    """Run the terminal app until it is quit.  ``on_app`` sees the app and the gate before it
    runs (the demo points its card deck at them)."""
    app_class = APP_MODES.get(options.mode)
    if app_class is None:
        raise ConfigError(f"no screen {options.mode!r}; there are {', '.join(APP_MODES)}")
    extra: dict[str, Any] = {}
    recent_log: RecentLog | None = None
    voice: Voice | None = None
    if app_class is TechApp:  # the technician sees the reader's exchanges and the log
        trace = ApduTrace(monotonic_seconds)
        if options.reader is not None:
            options = replace(options, reader=replace(options.reader, trace=trace.record))
        recent_log = RecentLog().install()
        extra = {"files": TerminalFiles.beside(settings.store_path, settings.keys_path),
                 "trace": trace, "recent_log": recent_log}  # fmt: skip
    elif app_class is KioskApp:
        voice = Voice()  # silently nothing without a speech engine
        extra = {"speak": voice.say}
    try:
        _run(settings, options, app_class, sample, presenter_keys, on_app, extra)
    finally:
        if recent_log is not None:
            recent_log.remove()
        if voice is not None:
            voice.stop()


def _run(  # noqa: PLR0917  (launch_terminal's parts, passed through)
    settings: StationSettings,
    options: LaunchOptions,
    app_class: type[GateApp],
    sample: Callable[[], ClockSample],
    presenter_keys: Sequence[PresenterKey],
    on_app: Callable[[GateApp, Gate], None] | None,
    extra: dict[str, Any],
) -> None:
    with open_gate(settings, options, sample=sample) as gate:
        app = app_class(
            gate.station, service=options.service, sample=sample,
            clear_after=options.clear_after, online=gate.online, reader_state=gate.reader_state,
            on_ready=gate.start_inputs,
            presenter_keys=presenter_keys, **extra,
        )  # fmt: skip
        gate.on_card = app.card_from_reader  # a staff sign-in takes the card, else decided
        gate.on_verdict = lambda verdict: app.post(app.show_verdict, verdict)
        gate.on_problem = lambda zh, en: app.post(app.show_problem, zh, en)
        gate.on_state = lambda state: app.post(app.refresh_status)
        gate.on_code = lambda text: app.post(app.present_code, text)
        app.typed_codes = options.scanner.kind != "none"
        driver = driver_for(os.environ)  # TERM=fbterm: the installed console (docs/deploy.md)
        if driver is not None:
            app.driver_class = driver
        if on_app is not None:
            on_app(app, gate)
        try:
            app.run()
        finally:
            session = app.staff_session
            if session is not None:  # quitting signs staff out, in the audit log too
                gate.station.staff.sign_out(session, sample().wall, "exit")
