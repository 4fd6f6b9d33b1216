"""The terminal's configuration: one TOML file, ``/etc/ykt/terminal.toml`` unless ``--config``
or ``$YKT_CONFIG`` names another.

Every key is documented, with its default, in ``docs/configuration.md`` (a test checks it), and
``ykt config show-default`` prints a file with every key commented out at its default.  A file
that cannot be used raises :class:`~terminal.errors.ConfigError` whose message names the file,
the line and the problem::

    /etc/ykt/terminal.toml line 12: [relay] kind: must be one of none, log, serial, gpio

Validation is pydantic's (unknown keys are refused); :mod:`terminal.toml_lines` maps its field
paths back to lines, as for the venue policy.

Where each setting comes from, first match wins: a command-line option, the key in the file,
the environment variable that set it before the file existed (documented fallbacks:
``$YKT_STORE``, ``$YKT_POLICY``, ...; :data:`ENVIRONMENT`), the default.  When no file exists
at the default path and none was asked for (a developer's machine), the data folder is
``~/.local/share/ykt-terminal`` as before; with a file it is ``/var/lib/ykt``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from terminal.errors import ConfigError
from terminal.toml_lines import KeyLines, named_in

CONFIG_ENV = "YKT_CONFIG"
DEFAULT_CONFIG_PATH = Path("/etc/ykt/terminal.toml")
DEFAULT_DATA = "/var/lib/ykt"
DEFAULT_METRICS_PATH = "/var/lib/prometheus/node-exporter/ykt.prom"
#: Prefixes of national-platform codes recognised by default.
DEFAULT_PLATFORM_PREFIXES = ("MOHRSS:", "ESSCN:")
DOCS = "docs/configuration.md"


def home_data() -> Path:
    """The data folder when no configuration file exists (a developer's machine)."""
    return Path.home() / ".local" / "share" / "ykt-terminal"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, str_strip_whitespace=True)


class TerminalSection(_Section):
    """``[terminal]``: where the data is, which screen, which service."""

    data: str = Field(
        default=DEFAULT_DATA,
        description="data folder: the store (store.db), its journal and the key file",
    )
    store: str = Field(
        default="",
        description='the store\'s list file; "" is <data>/store.db (fallback $YKT_STORE)',
    )
    keys: str = Field(
        default="",
        description='the terminal key file; "" is terminal-keys.toml beside the store '
        "(fallback $YKT_TERMINAL_KEYS)",
    )
    mode: Literal["gate", "desk", "kiosk", "tech"] = Field(
        default="gate", description="the screen of `ykt run`: gate, desk, kiosk or tech"
    )
    service: str = Field(
        default="", description='the service this terminal admits to; "" is the policy\'s default'
    )
    clear_after: Annotated[float, Field(ge=0.5, le=600)] = Field(
        default=6.0, description="seconds a verdict stays on screen"
    )
    testing: bool = Field(
        default=False,
        description="a test or demo terminal: accept codes signed with test issuer keys "
        "(fallback $YKT_PRODUCTION=0)",
    )
    policy: str = Field(
        default="",
        description='a venue policy file; "" is the one the back office published, else the '
        "embedded default (fallback $YKT_POLICY)",
    )

    @property
    def store_path(self) -> Path:
        return Path(self.store) if self.store else Path(self.data) / "store.db"

    @property
    def keys_path(self) -> Path:
        return Path(self.keys) if self.keys else self.store_path.with_name("terminal-keys.toml")

    @property
    def policy_path(self) -> Path | None:
        return Path(self.policy) if self.policy else None


class ReaderSection(_Section):
    """``[reader]``: the card reader the terminal watches."""

    enabled: bool = Field(
        default=True, description="watch a card reader (false: scanned codes only)"
    )
    pattern: str = Field(
        default="",
        description='the reader\'s name, a glob or part of it; "" is the first card reader',
    )
    security_module: str = Field(
        default="none",
        description="none, software[:KEYFILE] or psam[:READER]: what proves a card genuine "
        "(fallback $YKT_SECURITY_MODULE)",
    )

    @field_validator("security_module")
    @classmethod
    def _module(cls, value: str) -> str:
        kind, _, argument = value.partition(":")
        if kind not in ("none", "software", "psam") or (kind == "none" and argument):
            raise ValueError("must be none, software[:KEYFILE] or psam[:READER]")
        return value


class ScannerSection(_Section):
    """``[scanner]``: where scanned codes come from, besides the screen."""

    kind: Literal["none", "keyboard", "serial"] = Field(
        default="keyboard",
        description="keyboard (a keyboard-wedge scanner types into the screen), serial (a "
        "scanner on a serial port) or none (typed text is not taken as a code)",
    )
    port: str = Field(
        default="",
        description="serial: the port, e.g. /dev/ykt-scanner (a udev name) or /dev/ttyACM0",
    )
    baud: Annotated[int, Field(gt=0)] = Field(default=9600, description="serial: the baud rate")
    framing: Literal["any", "cr", "lf", "crlf"] = Field(
        default="any", description="serial: what ends a code: cr, lf, crlf or any of CR, LF, TAB"
    )

    @model_validator(mode="after")
    def _port_for_serial(self) -> ScannerSection:
        if self.kind == "serial" and not self.port:
            raise ValueError("kind serial needs a port")
        return self


class PlatformSection(_Section):
    """``[platform]``: national-platform codes, checked online."""

    url: str = Field(
        default="", description='the platform\'s endpoint; "" is none (fallback $YKT_PLATFORM_URL)'
    )
    prefixes: tuple[str, ...] = Field(
        default=DEFAULT_PLATFORM_PREFIXES,
        strict=False,
        description="prefixes of platform codes (fallback $YKT_PLATFORM_PREFIXES, comma-separated)",
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if value and not re.match(r"https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL, or empty")
        return value


class SyncSection(_Section):
    """``[sync]``: the sync loop of an enrolled terminal."""

    interval: Annotated[float, Field(ge=10, le=86400)] = Field(
        default=300.0, description="seconds between syncs (each spread by ±20 %)"
    )


class AlertsSection(_Section):
    """``[alerts]``: store-and-forward limits that ``ykt status`` raises alerts for."""

    unsent_hours: Annotated[float, Field(gt=0)] = Field(
        default=24.0,
        description="alert when the oldest unsent usage record is older (fallback "
        "$YKT_ALERT_UNSENT_HOURS)",
    )
    unsent_count: Annotated[int, Field(ge=1)] = Field(
        default=10_000,
        description="alert when more usage records wait for upload (fallback "
        "$YKT_ALERT_UNSENT_COUNT)",
    )


def _hex_bytes(value: str) -> str:
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ValueError("must be bytes in hex, e.g. A00101A2") from None
    if not data:
        raise ValueError("must not be empty")
    return value


class RelaySerial(_Section):
    """``[relay.serial]``: a relay board on a serial port."""

    port: str = Field(
        default="", description="the board's port, e.g. /dev/ykt-relay or /dev/ttyUSB0"
    )
    baud: Annotated[int, Field(gt=0)] = Field(default=9600, description="the baud rate")
    open: str = Field(
        default="A00101A2", description="bytes (hex) that close the contact: gate open"
    )
    close: str = Field(default="A00100A1", description="bytes (hex) that release it again")

    _hex = field_validator("open", "close")(_hex_bytes)


class RelayGpio(_Section):
    """``[relay.gpio]``: a GPIO line driving the gate's relay (libgpiod v2)."""

    chip: str = Field(default="/dev/gpiochip0", description="the GPIO chip's device")
    line: Annotated[int, Field(ge=-1)] = Field(
        default=-1, description="the line offset on the chip (-1: not set)"
    )
    active_low: bool = Field(default=False, description="the relay closes when the line is low")


class RelaySection(_Section):
    """``[relay]``: the gate relay, pulsed on every admission that the journal holds."""

    kind: Literal["none", "log", "serial", "gpio"] = Field(
        default="log",
        description='none, log (logs "gate would open"), serial (a relay board) or gpio',
    )
    pulse_seconds: Annotated[float, Field(ge=0.05, le=60)] = Field(
        default=1.0, description="how long the gate's contact stays closed"
    )
    serial: RelaySerial = Field(default=RelaySerial(), description="the serial board")
    gpio: RelayGpio = Field(default=RelayGpio(), description="the GPIO line")

    @model_validator(mode="after")
    def _complete(self) -> RelaySection:
        if self.kind == "serial" and not self.serial.port:
            raise ValueError("kind serial needs [relay.serial] port")
        if self.kind == "gpio" and self.gpio.line < 0:
            raise ValueError("kind gpio needs [relay.gpio] line")
        return self


class MetricsSection(_Section):
    """``[metrics]``: the Prometheus textfile-collector file."""

    path: str = Field(
        default=DEFAULT_METRICS_PATH,
        description='the .prom file node_exporter reads; "" writes none',
    )
    interval: Annotated[float, Field(ge=1, le=3600)] = Field(
        default=30.0, description="seconds between rewrites of the file"
    )

    @field_validator("path")
    @classmethod
    def _prom(cls, value: str) -> str:
        if value and not value.endswith(".prom"):
            raise ValueError("must end in .prom (node_exporter reads only those), or be empty")
        return value


class LoggingSection(_Section):
    """``[logging]``: what the terminal logs, and where (standard output, or the journal)."""

    level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="debug, info, warning or error (-v on the command line: more)"
    )
    format: Literal["keyvalue", "text"] = Field(
        default="keyvalue",
        description="keyvalue (one line of key=value pairs per record) or text",
    )
    target: Literal["stdout", "journal"] = Field(
        default="stdout",
        description="stdout (ykt run: standard output, nothing when that is the screen's own "
        "terminal) or journal (journald's syslog socket /dev/log, as ykt-terminal: the "
        "installed terminal, whose screen is fbterm's and owns both standard streams)",
    )


class TerminalConfig(_Section):
    """The whole file: one table per section; each section and key optional."""

    terminal: TerminalSection = TerminalSection()
    reader: ReaderSection = ReaderSection()
    scanner: ScannerSection = ScannerSection()
    platform: PlatformSection = PlatformSection()
    sync: SyncSection = SyncSection()
    alerts: AlertsSection = AlertsSection()
    relay: RelaySection = RelaySection()
    metrics: MetricsSection = MetricsSection()
    logging: LoggingSection = LoggingSection()

    _source: Path | None = PrivateAttr(default=None)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> Path | None:
        """The file this configuration was read from (None: defaults and environment only)."""
        return self._source

    def origin(self, dotted: str) -> str:
        """Where a key's value came from: ``file line N``, ``$VARIABLE``, ``--option`` or
        ``default``."""
        return self._origins.get(dotted, "default")

    def overridden(self, **options: object) -> TerminalConfig:
        """This configuration with command-line options on top: ``terminal__store=Path``,
        ``reader__pattern="ACR"``; ``None`` leaves a key as it is."""
        document = self.model_dump(mode="json")
        origins = dict(self._origins)
        for name, value in options.items():
            if value is None:
                continue
            section, key = name.split("__", 1)
            document[section][key] = str(value) if isinstance(value, Path) else value
            origins[f"{section}.{key}"] = "--" + key.replace("_", "-")
        try:
            changed = TerminalConfig.model_validate(document)
        except ValidationError as exc:
            raise ConfigError("; ".join(_plain(error) for error in exc.errors())) from exc
        changed._source, changed._origins = self._source, origins
        return changed


#: section.key → the environment variable it falls back to when the file does not set it
ENVIRONMENT: dict[str, str] = {
    "terminal.store": "YKT_STORE",
    "terminal.keys": "YKT_TERMINAL_KEYS",
    "terminal.policy": "YKT_POLICY",
    "terminal.testing": "YKT_PRODUCTION",
    "reader.security_module": "YKT_SECURITY_MODULE",
    "platform.url": "YKT_PLATFORM_URL",
    "platform.prefixes": "YKT_PLATFORM_PREFIXES",
    "alerts.unsent_hours": "YKT_ALERT_UNSENT_HOURS",
    "alerts.unsent_count": "YKT_ALERT_UNSENT_COUNT",
}
SECTIONS: dict[str, type[_Section]] = {
    name: info.annotation  # type: ignore[misc]
    for name, info in TerminalConfig.model_fields.items()
}


def config_path(option: Path | None, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The file asked for (``--config``, else ``$YKT_CONFIG``), or None for the default."""
    if option is not None:
        return option
    named = environ.get(CONFIG_ENV, "").strip()
    return Path(named) if named else None


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] = os.environ,
    default_path: Path | None = None,
) -> TerminalConfig:
    """The configuration: the file at ``path`` (it must exist), else the default file if it
    exists, else the defaults; the environment fills in what the file does not set."""
    chosen = path
    if chosen is None:
        fallback = DEFAULT_CONFIG_PATH if default_path is None else default_path
        chosen = fallback if fallback.exists() else None
        asked = False
    else:
        asked = True
    document: dict[str, Any] = {}
    text = ""
    origins: dict[str, str] = {}
    if chosen is not None:
        text = _read(chosen, asked=asked)
        document = _parse_toml(text, chosen)
        lines = KeyLines(text)

        def walk(table: dict[str, Any], path: tuple[str, ...]) -> None:
            for key, value in table.items():
                if isinstance(value, dict):
                    walk(value, (*path, key))
                else:
                    origins[".".join((*path, key))] = f"file line {lines.line_of((*path, key))}"

        walk(document, ())
    else:
        document = {"terminal": {"data": str(home_data())}}
    from_environment = _environment(document, environ)
    for dotted, variable in from_environment.items():
        origins[dotted] = "$" + variable
    try:
        config = TerminalConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(_problems(exc, text, chosen, from_environment)) from exc
    config._source = chosen
    config._origins = origins
    return config


def _read(path: Path, *, asked: bool) -> str:
    how = "" if not asked else " (named by --config or $YKT_CONFIG)"
    if not path.exists():
        raise ConfigError(
            f"configuration file {path} does not exist{how}: `ykt config show-default > {path}` "
            "writes one with every key at its default"
        )
    if not path.is_file():
        raise ConfigError(f"configuration file {path} is not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise ConfigError(f"configuration file {path} cannot be read: {exc.strerror}") from exc


def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"line (\d+)", str(exc))
        at = f"{path} line {found.group(1)}" if found else str(path)
        raise ConfigError(f"{at}: not valid TOML: {exc}") from exc


def _environment(document: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Put the environment's fallbacks into ``document`` where it has no value; returns the
    keys so filled, with their variables."""
    used: dict[str, str] = {}
    for dotted, variable in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        section, key = dotted.split(".")
        table = document.setdefault(section, {})
        if not isinstance(table, dict) or key in table:
            continue
        table[key] = _from_text(dotted, variable, raw)
        used[dotted] = variable
    return used


def _from_text(dotted: str, variable: str, raw: str) -> object:
    if dotted == "terminal.testing":
        return raw.strip().lower() in ("0", "false", "no")
    if dotted == "platform.prefixes":
        return [part for part in raw.split(",") if part]
    try:
        if dotted == "alerts.unsent_hours":
            return float(raw)
        if dotted == "alerts.unsent_count":
            return int(raw)
    except ValueError:
        kind = "a number of hours" if dotted.endswith("hours") else "a whole number"
        raise ConfigError(f"${variable} must be {kind} (it is {raw!r})") from None
    return raw


def _problems(
    exc: ValidationError, text: str, path: Path | None, from_environment: Mapping[str, str]
) -> str:
    lines = KeyLines(text)
    problems = []
    for error in exc.errors()[:5]:
        location = tuple(error["loc"])
        place = _place(location)
        message = _plain(error, with_place=False)
        dotted = ".".join(str(part) for part in location[:2])
        if dotted in from_environment:
            problems.append(f"${from_environment[dotted]} (for {place}): {message}")
            continue
        line = lines.line_of(location, hints=named_in(message))
        where = "the defaults" if path is None else f"{path} line {line}"
        problems.append(f"{where}: {place}: {message}")
    more = len(exc.errors()) - len(problems)
    if more > 0:
        problems.append(f"... and {more} more")
    return "\n".join(problems)


def _place(location: tuple[object, ...]) -> str:
    """``("relay", "serial", "port")`` → ``[relay.serial] port``; a table alone → ``[relay]``."""
    names = [str(part) for part in location]
    tables = []
    node: type[BaseModel] | None = TerminalConfig
    for name in names:
        field = None if node is None else node.model_fields.get(name)
        annotation = None if field is None else field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            tables.append(name)
            node = annotation
        else:
            break
    rest = names[len(tables) :]
    if not tables and len(names) == 1 and names[0] not in TerminalConfig.model_fields:
        return f"[{names[0]}]"  # an unknown section
    if not tables:
        return ".".join(rest) or "(top level)"
    header = f"[{'.'.join(tables)}]"
    return f"{header} {'.'.join(rest)}" if rest else header


def _plain(error: Any, *, with_place: bool = True) -> str:
    """pydantic's message in the words of docs/configuration.md."""
    kind = error["type"]
    value = error.get("input")
    context = error.get("ctx") or {}
    location = tuple(error["loc"])
    if kind == "extra_forbidden":
        what = "section" if len(location) == 1 else "key"
        message = f"unknown {what} (check its spelling against {DOCS})"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "literal_error":
        expected = str(context.get("expected", ""))
        choices = [part.strip(" '") for part in re.split(r",| or ", expected) if part.strip()]
        message = f"must be one of {', '.join(choices)} (it is {value!r})"
    elif kind == "bool_type":
        message = f"must be true or false (it is {value!r})"
    elif kind in ("int_type", "int_from_float"):
        message = f"must be a whole number (it is {value!r})"
    elif kind == "float_type":
        message = f"must be a number (it is {value!r})"
    elif kind == "string_type":
        message = f'must be a text in quotes, e.g. "..." (it is {value!r})'
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = f"must be a table (a [section]), not {value!r}"
    elif kind in ("tuple_type", "list_type"):
        message = f'must be a list, e.g. ["a", "b"] (it is {value!r})'
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        limit = next(iter(context.values()), "")
        message = f"must be {words} {limit} (it is {value!r})"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
        message = message.replace("Input should be", "must be")
    return f"{_place(location)}: {message}" if with_place else message


# -- the commented default file --------------------------------------------------------------
def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def default_file() -> str:
    """A configuration file with every key commented out at its default, explained
    (``ykt config show-default``; the installer writes it to /etc/ykt/terminal.toml)."""
    out = [
        "# ykt-terminal configuration (docs/configuration.md).",
        "# Every key is shown at its default, commented out: uncomment a line to change it.",
        "# A command-line option overrides the file; `ykt config check` shows what is in effect.",
    ]
    _default_tables(out, TerminalConfig, [])
    return "\n".join(out) + "\n"


def _default_tables(out: list[str], model: type[BaseModel], path: list[str]) -> None:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            continue
        out.append(f"# {info.description}")
        out.append(f"# {name} = {_toml_value(info.default)}")
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.append("")
            doc = (annotation.__doc__ or "").strip().split("\n")[0]
            out.append(f"[{'.'.join([*path, name])}]")
            if doc:
                out.append("# " + doc.split(": ", 1)[-1])
            _default_tables(out, annotation, [*path, name])


def effective_toml(config: TerminalConfig) -> str:
    """The configuration in effect, as TOML, each key with where its value came from."""
    out = [f"# configuration file: {config.source or 'none (defaults and environment)'}"]
    document = config.model_dump(mode="json")

    def table(values: dict[str, Any], path: list[str]) -> None:
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        for key, value in values.items():
            if key not in nested:
                dotted = ".".join([*path, key])
                out.append(f"{key} = {_toml_value(value)}  # {config.origin(dotted)}")
        for key, value in nested.items():
            out.append("")
            out.append(f"[{'.'.join([*path, key])}]")
            table(value, [*path, key])

    for section, values in document.items():
        out.append("")
        out.append(f"[{section}]")
        table(values, [section])
    return "\n".join(out) + "\n"
