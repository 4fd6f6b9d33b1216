"""Start the terminal app on an open gate (``terminal.gate``): ``ykt run`` and ``ykt demo``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from terminal.clock import ClockSample, sample_now
from terminal.errors import ConfigError
from terminal.gate import Gate, LaunchOptions, open_gate
from terminal.station import StationSettings
from terminal.ui.app import GateApp
from terminal.ui.desk import DeskApp
from terminal.ui.kiosk import KioskApp
from terminal.ui.widgets import PresenterKey

#: ``ykt run --mode``: the app of each screen (docs/ui.md)
APP_MODES: dict[str, type[GateApp]] = {"gate": GateApp, "desk": DeskApp, "kiosk": KioskApp}


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
    with open_gate(settings, options, sample=sample) as gate:
        app = app_class(
            gate.station, service=options.service, sample=sample,
            clear_after=options.clear_after, online=gate.online, reader_state=gate.reader_state,
            on_ready=gate.start_watch if gate.watch is not None else None,
            presenter_keys=presenter_keys,
        )  # fmt: skip
        gate.on_card = app.card_from_reader  # a staff sign-in takes the card, else decided
        gate.on_verdict = lambda verdict: app.call_from_thread(app.show_verdict, verdict)
        gate.on_problem = lambda zh, en: app.call_from_thread(app.show_problem, zh, en)
        gate.on_state = lambda state: app.call_from_thread(app.refresh_status)
        if on_app is not None:
            on_app(app, gate)
        app.run()
