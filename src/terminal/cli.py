"""``ykt``: the terminal's command line.  Exit codes and JSON keys are documented in docs/cli.md."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from apdu.emulator import Fault, FaultPlan, VirtualCard, VirtualPsam, load_holders, testing_masters
from apdu.emulator.stack import CARD_READER, SAM_READER, PcscStack
from apdu.errors import ApduError, StackUnavailable
from apdu.pcsc import InterfacePreference, PcscContext
from apdu.ssc import Authenticity, CardRecord
from offline_store.errors import StoreError
from offline_store.holder_refs import HolderKeyer
from offline_store.journal import AUDIT, USAGE
from offline_store.journal_file import journal_path_for
from offline_store.store import Store
from terminal import demo as demo_job
from terminal.card_reading import (
    ReadRequest,
    SecurityModuleChoice,
    read_one,
    wait_for_card_or_code,
)
from terminal.card_view import basline, to_json, to_text
from terminal.clock import sample_now
from terminal.codes.issuer import IssuerSimulator
from terminal.codes.scanners import SerialScanner, StreamScanner, open_serial_source
from terminal.config import (
    LoggingSection,
    TerminalConfig,
    config_path,
    default_file,
    effective_toml,
    load_config,
)
from terminal.credential import Credential
from terminal.demo_lists import seed_demo_store
from terminal.enrolment import TerminalFiles, parse_root_key
from terminal.enrolment import enrol as enrol_terminal
from terminal.enrolment import unenrol as unenrol_terminal
from terminal.errors import (
    CodeRejected,
    ConfigError,
    ExitCode,
    IncompleteRecord,
    NoCode,
    NotAuthentic,
    StoreMissing,
    TerminalError,
    exit_code_for,
)
from terminal.gate import LaunchOptions
from terminal.logs import configure_logging
from terminal.relay import relay_from
from terminal.station import Station, StationSettings
from terminal.status import UploadLimits, terminal_status
from terminal.sync.backoffice_api import BackOfficeApi
from terminal.sync.run import (
    check_url,
)
from terminal.sync.technician import export_usage, sync_lines, sync_once
from terminal.sync.transport import RetryPolicy, new_client
from terminal.terminal_keys import TerminalKeys, default_keys_path, default_store_path
from terminal.ui.launch import APP_MODES, launch_terminal
from terminal.verdict import Outcome, Verdict, verdict_banner

P = ParamSpec("P")
R = TypeVar("R")

_INTERFACES = {
    "1": InterfacePreference.CONTACT,
    "contact": InterfacePreference.CONTACT,
    "2": InterfacePreference.CONTACTLESS,
    "contactless": InterfacePreference.CONTACTLESS,
    "3": InterfacePreference.AUTO_CONTACT_FIRST,
    "auto": InterfacePreference.AUTO_CONTACT_FIRST,
    "auto-contact": InterfacePreference.AUTO_CONTACT_FIRST,
    "4": InterfacePreference.AUTO_CONTACTLESS_FIRST,
    "auto-contactless": InterfacePreference.AUTO_CONTACTLESS_FIRST,
}


def _plain_field(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Basline fields typed by a person: no separator, no line break, no control character."""
    del ctx
    if "|" in value or any(not ch.isprintable() for ch in value):
        raise click.BadParameter("must not contain '|' or control characters", param=param)
    return value


def _finite_wait(ctx: click.Context, param: click.Parameter, value: float) -> float:
    del ctx
    if math.isnan(value):
        raise click.BadParameter("must be a number of seconds", param=param)
    return value


def _reader_pattern(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    del ctx
    if value is not None and not value.strip():
        raise click.BadParameter("name a reader (a glob or part of its name)", param=param)
    return value


def _security_module(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> SecurityModuleChoice:
    """``--security-module``, else ``$YKT_SECURITY_MODULE``, else none; its key file read."""
    chosen = _security_module_given(ctx, param, value, default=SecurityModuleChoice.default)
    assert chosen is not None
    return chosen


def _security_module_given(
    ctx: click.Context,
    param: click.Parameter,
    value: str | None,
    default: Callable[[], SecurityModuleChoice] | None = None,
) -> SecurityModuleChoice | None:
    """The ``--security-module`` given, its key file read; without one, ``default()`` or None
    (the configuration's ``[reader] security_module`` applies)."""
    del ctx
    try:
        if value is not None:
            choice = SecurityModuleChoice.parse(value)
        elif default is not None:
            choice = default()
        else:
            return None
    except ConfigError as error:
        raise click.BadParameter(error.message, param=param) from error
    try:
        return choice.opened()  # a bad key file is named before any reader is touched
    except (ApduError, StoreError, TerminalError) as error:
        fail(error)
        raise AssertionError("unreachable") from error


def fail(error: ApduError | StoreError | TerminalError) -> None:
    """Print the error for a person (title and what to do) and exit with its code."""
    click.echo(f"ykt: {error.message}", err=True)
    sys.exit(exit_code_for(error))


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the card layer's and the terminal's errors into a message and an exit code."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (ApduError, StoreError, TerminalError) as error:
            fail(error)
            raise AssertionError("unreachable") from error

    return run


def _wait_option(default: float, help_text: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--wait", "wait_seconds", type=click.FloatRange(min=0, max=86400), default=default,
        callback=_finite_wait, show_default=True, help=help_text,
    )  # fmt: skip


def _security_module_option(
    help_text: str, *, configured: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """``configured``: None when not given (the configuration's ``[reader] security_module``
    applies); otherwise ``$YKT_SECURITY_MODULE`` or none."""
    return click.option(
        "--security-module", "security_module", metavar="none|software[:KEYFILE]|psam[:READER]",
        default=None, callback=_security_module_given if configured else _security_module,
        help=help_text,
    )  # fmt: skip


def _module_of(config: TerminalConfig) -> SecurityModuleChoice:
    """``[reader] security_module``, its key file read now (a bad one is named at once)."""
    return SecurityModuleChoice.parse(config.reader.security_module).opened()


@click.group()
@click.option("-v", "--verbose", count=True, help="Log more (repeat for debug).")
@click.version_option(package_name="ykt-terminal")
def main(verbose: int) -> None:
    """ykt-terminal: read social security cards (社保卡) on PC/SC readers, offline."""
    configure_logging(LoggingSection(level="warning", format="text"), verbose=verbose)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per reader.")
@reports_errors
def readers(as_json: bool) -> None:
    """List readers, whether a card is in each, and its ATR."""
    with PcscContext() as context:
        statuses = context.status()
    if as_json:
        for status in statuses:
            click.echo(
                json.dumps(
                    {
                        "reader": status.name,
                        "interface": status.interface.value,
                        "card_present": status.card_present,
                        "atr": status.atr.hex().upper() if status.card_present else None,
                    },
                    ensure_ascii=False,
                )
            )
        return
    if not statuses:
        click.echo("no reader connected")
        return
    for status in statuses:
        card = f"card  {status.atr.hex().upper()}" if status.card_present else "empty"
        click.echo(f"{status.name}  [{status.interface.value}]  {card}")


@main.command()
@click.option(
    "--reader",
    "reader_pattern",
    metavar="PATTERN",
    callback=_reader_pattern,
    help="Reader name: glob or text.",
)
@click.option(
    "--interface",
    "interface",
    type=click.Choice(sorted(_INTERFACES), case_sensitive=False),
    default="auto-contact",
    show_default=True,
    help="Which slot to read, like the vendor iType 1-4.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per card.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "basline"]),
    default=None,
    help="text (default), json, or basline: the vendor iReadCardBas line.",
)
@click.option("--reveal", is_flag=True, help="Print holder data unmasked.")
@_security_module_option(
    "What proves the card genuine and opens gen-3 data (default: $YKT_SECURITY_MODULE "
    "or none). software without KEYFILE uses the published test keys."
)
@_wait_option(10.0, "Seconds to wait for a card; 0 reads only a card already there.")
@click.option(
    "--terminal-number",
    default="",
    callback=_plain_field,
    help="Terminal number for the basline line.",
)
@click.option(
    "--device-number",
    default="",
    callback=_plain_field,
    help="Terminal device number for the basline line.",
)
@click.option("--no-feedback", is_flag=True, help="Do not flash or beep the reader.")
@reports_errors
def read(
    reader_pattern: str | None,
    interface: str,
    as_json: bool,
    output_format: str | None,
    reveal: bool,
    security_module: SecurityModuleChoice,
    wait_seconds: float,
    terminal_number: str,
    device_number: str,
    no_feedback: bool,
) -> None:
    """Read one social security card and print its holder, masked unless --reveal."""
    if as_json and output_format not in (None, "json"):
        raise click.UsageError("--json and --format are exclusive")
    output = "json" if as_json else (output_format or "text")
    request = ReadRequest(
        reader_pattern=reader_pattern,
        preference=_INTERFACES[interface.lower()],
        security_module=security_module,
        wait_seconds=wait_seconds,
        feedback=not no_feedback,
    )
    with PcscContext() as context:
        record = read_one(context, request)
    if output == "basline":
        if not record.complete:
            raise IncompleteRecord(
                "the basline line needs every field, and this generation-3 card shows them only "
                "to a terminal with a security module: add --security-module"
            )
        click.echo(
            basline(
                record,
                reveal=reveal,
                terminal_number=terminal_number,
                device_number=device_number,
            )
        )
    elif output == "json":
        click.echo(json.dumps(to_json(record, reveal=reveal), ensure_ascii=False))
    else:
        for line in to_text(record, reveal=reveal):
            click.echo(line)
    if record.authentic is Authenticity.FAILED:
        raise NotAuthentic(f"do not accept this card: {record.authentication_detail}")
    if not record.complete and output != "basline":
        raise IncompleteRecord(
            "not read without a security module: " + ", ".join(sorted(record.unavailable))
        )


@main.command()
@click.option("--script", "--no-tui", "script", is_flag=True,
              help="No screen: press each key once, print each verdict, exit.")  # fmt: skip
@click.option("--in-process", is_flag=True,
              help="Read the emulated cards in this process, not through pcscd.")  # fmt: skip
@click.option("--no-backoffice", is_flag=True,
              help="Lists signed into a folder: do not run ykt-backoffice.")  # fmt: skip
@click.option("--mode", type=click.Choice(list(APP_MODES)), default="gate", show_default=True,
              help="The screen, as for `ykt run` (desk: F5 overrides).")  # fmt: skip
@reports_errors
def demo(script: bool, in_process: bool, no_backoffice: bool, mode: str) -> None:
    """The terminal app on a demo venue: back office, lists, emulated cards on F1-F11."""
    demo_job.run(
        click.echo, script=script, use_pcsc=not in_process, use_backoffice=not no_backoffice,
        mode=mode,
    )  # fmt: skip


@main.group()
def dev() -> None:
    """Developer tools: the card emulator on the real PC/SC stack."""


@dev.command("holders")
def dev_holders() -> None:
    """List the invented holders the emulator can put on a card."""
    for key, holder in load_holders().items():
        click.echo(
            f"{key:<22} generation {holder.generation}  {holder.algorithm.label:<4}  "
            f"region {holder.region}"
        )


def _interrupt(signum: int, frame: object) -> None:
    del signum, frame
    raise KeyboardInterrupt


@dev.command("card")
@click.option("--holder", "holder_key", default="sh-gen3", show_default=True, help="Holder key.")
@click.option(
    "--generation", type=click.IntRange(1, 3), default=None, help="Override the generation."
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    type=click.Choice([fault.value for fault in Fault]),
    help="Make the card misbehave (repeatable).",
)
@click.option("--pull-after", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--wrong-sw", default="6581", show_default=True, help="SW for --fault wrong-sw.")
@click.option("--slow-ms", type=click.IntRange(min=0), default=50, show_default=True)
@click.option("--with-psam", is_flag=True, help=f"Also put a test PSAM in {SAM_READER!r}.")
@reports_errors
def dev_card(
    holder_key: str,
    generation: int | None,
    faults: tuple[str, ...],
    pull_after: int,
    wrong_sw: str,
    slow_ms: int,
    with_psam: bool,
) -> None:
    """Put an emulated card in the virtual reader until Ctrl-C (starts pcscd if needed)."""
    holders = load_holders()
    if holder_key not in holders:
        raise click.BadParameter(
            f"unknown holder; one of: {', '.join(holders)}", param_hint="--holder"
        )
    holder = holders[holder_key]
    if generation is not None:
        holder = replace(holder, generation=generation)
    try:
        sw = int(wrong_sw, 16)
    except ValueError:
        sw = -1
    if not 0 <= sw <= 0xFFFF:
        raise click.BadParameter("four hex digits, e.g. 6581", param_hint="--wrong-sw")
    plan = FaultPlan(
        faults=frozenset(Fault(f) for f in faults),
        wrong_sw=sw,
        slow_seconds=slow_ms / 1000,
        pull_after=pull_after,
    )
    # `kill` (SIGTERM) pulls the card too, so a pcscd started here is stopped, not orphaned.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        card = VirtualCard(holder, testing_masters(), plan)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--generation") from error
    with PcscStack() as stack:
        if with_psam:
            stack.insert(VirtualPsam(testing_masters()), SAM_READER)
        link = stack.insert(card, CARD_READER)
        click.echo(
            f"card {holder_key} (generation {holder.generation}) is in {CARD_READER!r}"
            + (f", test PSAM in {SAM_READER!r}" if with_psam else "")
            + (" [pcscd started here; it stops with this command]" if stack.started_daemon else "")
        )
        click.echo("try: ykt read --security-module software   (Ctrl-C pulls the card)")
        try:
            link.pulled.wait()
            if Fault.PULL_AFTER in plan:
                click.echo("the card left the reader (pull-after fault)")
            else:
                raise StackUnavailable("the link to the virtual reader closed (pcscd stopped?)")
        except KeyboardInterrupt:
            click.echo("card pulled")


_CONFIG_HELP = (
    "The configuration file (default: $YKT_CONFIG, else /etc/ykt/terminal.toml if it exists)."
)


def _config_option(command: Callable[P, R]) -> Callable[P, R]:
    return click.option(
        "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False),
        default=None, help=_CONFIG_HELP,
    )(command)  # fmt: skip


def _load_config(config_file: Path | None, **overrides: object) -> TerminalConfig:
    """The configuration (``--config``, ``$YKT_CONFIG`` or the default file), with the
    command line's options over it."""
    return load_config(config_path(config_file)).overridden(**overrides)


def _store_option(help_text: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--store", "store_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
        help=help_text,
    )  # fmt: skip


def _keys_option(help_text: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    return click.option(
        "--keys", "keys_path", type=click.Path(path_type=Path, dir_okay=False), default=None,
        help=help_text,
    )  # fmt: skip


_STORE_HELP = (
    "The store's list file (default: <data>/store.db of the configuration, else $YKT_STORE, "
    "else ~/.local/share/ykt-terminal/store.db); its journal file is beside it "
    "(store-journal.db)."
)
_KEYS_HELP = (
    "The terminal key file (default: $YKT_TERMINAL_KEYS or terminal-keys.toml beside the store)."
)


@main.group()
@_store_option(_STORE_HELP)
@_keys_option(_KEYS_HELP)
@_config_option
@click.pass_context
def store(
    ctx: click.Context, store_path: Path | None, keys_path: Path | None, config_file: Path | None
) -> None:
    """The offline store: the list file and the journal file beside it."""
    try:
        config = _load_config(config_file, terminal__store=store_path, terminal__keys=keys_path)
    except TerminalError as error:
        fail(error)
    ctx.obj = (config.terminal.store_path, config.terminal.keys_path)


def _open_store(ctx: click.Context) -> Store:
    path, keys_path = ctx.obj
    if not path.is_file():
        raise StoreMissing(
            f"no offline store at {path}: it is created at enrolment (set --store or $YKT_STORE)"
        )
    keys = TerminalKeys.from_file(keys_path)
    return Store.open(path, journal_key=keys.journal_key, create=False)


@store.command("check")
@click.option("--full", is_flag=True, help="Full integrity check and every list re-digested.")
@click.pass_context
@reports_errors
def store_check(ctx: click.Context, full: bool) -> None:
    """Check both files' integrity, the journal and audit chains, and list versions; exit code
    per problem."""
    with _open_store(ctx) as opened:  # quick_check of both files and both chains, or it raises
        if full:
            opened.check(full=True)
        how = "full check" if full else "quick check"
        click.echo(f"list file    {opened.path}: integrity ok ({how})")
        click.echo(f"journal file {opened.journal_path}: integrity ok ({how})")
        counts = opened.verify_chains()
        click.echo(f"journal      {counts[USAGE]} usage events, chain ok")
        click.echo(f"audit log    {counts[AUDIT]} staff actions, chain ok")
        for state in opened.list_states():
            if full:
                opened.verify_list(state.name)
            click.echo(
                f"list {state.name:<7} version {state.version}, {state.entry_count} entries, "
                f"valid until {state.valid_until.isoformat()}"
                + (", content re-digested ok" if full else "")
            )
        if not opened.list_states():
            click.echo("lists        none applied yet")


@store.command("stats")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
@reports_errors
def store_stats(ctx: click.Context, as_json: bool) -> None:
    """Both files' sizes, entry counts, list versions and their ages, journal upload states."""
    now = dt.datetime.now(dt.UTC)
    path = ctx.obj[0]

    def sizes(file: Path) -> tuple[int, int]:
        wal = file.with_name(file.name + "-wal")
        return file.stat().st_size, wal.stat().st_size if wal.exists() else 0

    with _open_store(ctx) as opened:
        journal_path = opened.journal_path
        lists = {
            state.name: {
                "version": state.version,
                "entries": state.entry_count,
                "digest": state.digest.hex(),
                "issued_at": state.issued_at.isoformat(),
                "valid_until": state.valid_until.isoformat(),
                "age_hours": round((now - state.issued_at).total_seconds() / 3600, 1),
                "expired": now > state.valid_until,
            }
            for state in opened.list_states()
        }
        (list_bytes, list_wal), (journal_bytes, journal_wal) = sizes(path), sizes(journal_path)
        figures: dict[str, object] = {
            "store": str(path),
            "bytes": list_bytes,
            "wal_bytes": list_wal,
            "journal_file": str(journal_path),
            "journal_file_bytes": journal_bytes,
            "journal_file_wal_bytes": journal_wal,
            "lists": lists,
            "journal": {s.value: n for s, n in opened.journal.counts(USAGE).items()},
            "audit": {s.value: n for s, n in opened.journal.counts(AUDIT).items()},
        }
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False))
        return
    click.echo(f"list file    {path} ({list_bytes:,} bytes, WAL {list_wal:,})")
    click.echo(f"journal file {journal_path} ({journal_bytes:,} bytes, WAL {journal_wal:,})")
    for name, entry in lists.items():
        click.echo(
            f"list {name:<8}version {entry['version']}, {entry['entries']:,} entries, "
            f"{entry['age_hours']} h old" + (", EXPIRED" if entry["expired"] else "")
        )
    click.echo(f"journal      {figures['journal']}")
    click.echo(f"audit log    {figures['audit']}")


# -- verdicts ------------------------------------------------------------------------------------
_OUTCOME_EXIT = {
    Outcome.ADMIT: ExitCode.OK,
    Outcome.ADMIT_WITH_BENEFIT: ExitCode.OK,
    Outcome.DENY: ExitCode.VERDICT_DENY,
    Outcome.REFER: ExitCode.VERDICT_REFER,
}


def _station_options(command: Callable[P, R]) -> Callable[P, R]:
    """--config, --store, --keys, --policy, --terminal-id and --production/--testing."""
    options: list[Callable[[Callable[P, R]], Callable[P, R]]] = [
        _config_option,
        _store_option(_STORE_HELP),
        _keys_option(_KEYS_HELP),
        click.option("--policy", "policy_path", type=click.Path(path_type=Path, dir_okay=False),
                     help="The venue policy file (default: [terminal] policy, $YKT_POLICY, the "
                     "published one or the embedded demo policy)."),
        click.option("--terminal-id", default=None,
                     help="This terminal's id in the journal (default: $YKT_TERMINAL_ID)."),
        click.option("--production/--testing", "production", default=None,
                     help="A production terminal refuses codes signed with test issuer keys "
                     "(default: production, unless [terminal] testing or $YKT_PRODUCTION=0)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _station_config(
    config_file: Path | None,
    store_path: Path | None,
    keys_path: Path | None,
    policy_path: Path | None,
    production: bool | None,
    **more: object,
) -> TerminalConfig:
    return _load_config(
        config_file, terminal__store=store_path, terminal__keys=keys_path,
        terminal__policy=policy_path,
        terminal__testing=None if production is None else not production, **more,
    )  # fmt: skip


def _echo_verdict(verdict: Verdict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(verdict.to_json(), ensure_ascii=False))
        return
    click.echo(verdict_banner(verdict))
    for why in verdict.reasons:
        click.echo(f"  {why.zh}")
        click.echo(f"  {why.en}")
    holder = ", ".join(f"{k} {v}" for k, v in verdict.holder.items() if k != "kind")
    click.echo(f"holder   {verdict.credential_kind.value}: {holder or '—'}")
    click.echo(f"service  {verdict.service}")
    click.echo(f"clock    {verdict.clock.state.value} ({verdict.clock.detail})")
    recorded = f"journal record {verdict.journal_seq}" if verdict.journal_seq else "NOT RECORDED"
    click.echo(f"recorded {recorded}")
    if verdict.gate_opened is False:
        click.echo("gate     NOT OPENED: the relay failed (staff please help)")


@main.command()
@click.option("--service", default=None, help="The service (default: the policy's default).")
@click.option("--json", "as_json", is_flag=True, help="The verdict as one JSON object.")
@click.option(
    "--from",
    "source",
    default="auto",
    show_default=True,
    metavar="auto|any|card|stdin|serial:PORT[@BAUD][,FRAMING]",
    help="Where the credential comes from: any watches the card reader and a keyboard-wedge "
    "scanner on standard input at once; auto is any on a terminal, and a code from standard "
    "input when it is piped.",
)
@click.option(
    "--reader", "reader_pattern", metavar="PATTERN", callback=_reader_pattern,
    help="Card reader name: glob or text.",
)  # fmt: skip
@_security_module_option("As for ykt read (default: [reader] security_module).",
                         configured=True)  # fmt: skip
@_wait_option(30.0, "Seconds to wait for a card or a code.")
@_station_options
@reports_errors
def check(
    service: str | None,
    as_json: bool,
    source: str,
    reader_pattern: str | None,
    security_module: SecurityModuleChoice,
    wait_seconds: float,
    config_file: Path | None,
    store_path: Path | None,
    keys_path: Path | None,
    policy_path: Path | None,
    terminal_id: str | None,
    production: bool | None,
) -> None:
    """Take one card or code, decide, record the verdict in the journal, and print it.

    Exit 0 admit (with or without a benefit), 41 deny, 42 refer to staff.
    """
    config = _station_config(
        config_file, store_path, keys_path, policy_path, production,
        terminal__service=service, reader__pattern=reader_pattern,
    )  # fmt: skip
    settings = StationSettings.from_config(config, terminal_id=terminal_id)
    service = config.terminal.service or None
    module = security_module or _module_of(config)
    kind = _credential_source(source)
    with Station.open(settings) as station:
        station.policy.service(service)  # an unknown service is refused before any tap
        station.checkpoint.relay = relay_from(config.relay)
        station.checkpoint.relay_seconds = config.relay.pulse_seconds
        request = ReadRequest(
            reader_pattern=config.reader.pattern or None,
            security_module=module,
            wait_seconds=wait_seconds,
        )
        text: str | None = None
        if kind == "any":  # a gate: the card reader and a keyboard-wedge scanner at once
            with PcscContext() as context:
                text = wait_for_card_or_code(
                    context, request, StreamScanner(sys.stdin), wait_seconds=wait_seconds
                )
            kind = "card" if text is None else "code"
            request = replace(request, wait_seconds=0)
        if kind == "card":
            decided: list[Verdict] = []

            def decide(record: CardRecord) -> bool:  # the card is still on the reader
                decided.append(
                    station.checkpoint.present(
                        Credential.from_card(record), sample=sample_now(), service=service
                    )
                )
                return decided[-1].admits  # the reader flashes green only for an admit

            with PcscContext() as context:
                read_one(context, request, accept=decide)
            verdict = decided[-1]
        else:
            if text is None:
                text = _one_code(kind, wait_seconds)
            verdict = station.checkpoint.present_code(text, sample=sample_now(), service=service)
        if station.checkpoint.relay is not None:
            station.checkpoint.relay.close()
    _echo_verdict(verdict, as_json)
    sys.exit(_OUTCOME_EXIT[verdict.outcome])


def _credential_source(source: str) -> str:
    if source == "auto":
        if sys.stdin is None:
            return "card"
        return "any" if sys.stdin.isatty() else "stdin"
    if source in ("card", "stdin", "any") or source.startswith("serial:"):
        return source
    raise ConfigError(
        f"--from {source!r}: use auto, any, card, stdin or serial:PORT[@BAUD][,cr|lf|crlf|any]"
    )


def _one_code(source: str, wait_seconds: float) -> str:
    """The first code from standard input or a serial scanner."""
    if source == "stdin":
        scanner: StreamScanner | SerialScanner = StreamScanner(sys.stdin, cbreak=False)
    else:
        scanner = open_serial_source(source)
    timer = threading.Timer(wait_seconds, scanner.close) if wait_seconds else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        with scanner:
            for text in scanner.codes():
                if text.strip():
                    return text
    finally:
        if timer is not None:
            timer.cancel()
    raise NoCode(f"no code was scanned within {wait_seconds:g} s (or the input ended)")


@main.command("verify-code")
@click.argument("text")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@_station_options
@reports_errors
def verify_code_command(
    text: str,
    as_json: bool,
    config_file: Path | None,
    store_path: Path | None,
    keys_path: Path | None,
    policy_path: Path | None,
    terminal_id: str | None,
    production: bool | None,
) -> None:
    """Check a scanned code with the synced issuer keys; print what it carries, masked.

    Records nothing.  Exit 0 for a valid credential, 30 rejected (with the spec's reason),
    31 not a code this terminal knows, 32 a platform code that needs the network.
    """
    config = _station_config(config_file, store_path, keys_path, policy_path, production)
    settings = StationSettings.from_config(config, terminal_id=terminal_id)
    now = sample_now().wall
    with Station.open(settings) as station:
        try:
            credential = station.dispatcher.credential(text, now=now)
        except CodeRejected as rejected:
            if as_json:
                click.echo(json.dumps({"valid": False, "reason": rejected.reason,
                                       "message": rejected.message}))  # fmt: skip
            else:
                click.echo(f"rejected  {rejected.reason}: {rejected.message}")
            sys.exit(exit_code_for(rejected))
    shown: dict[str, object] = {"valid": True, **credential.masked()}
    if credential.code is not None:
        shown.update(
            issuer=credential.code.issuer,
            issued_at=credential.code.issued_at.isoformat(),
            expires_at=credential.code.expires_at.isoformat(),
            level=credential.code.level,
            replayed=credential.code.replayed,
        )
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=False))
        return
    for key, value in shown.items():
        click.echo(f"{key:<12}{value}")


@dev.command("issue-code")
@click.argument("holder_key", default="sh-gen3")
@click.option("--at", "issued_at", default=None, help="Issue time, ISO 8601 (default: now).")
@click.option("--lifetime", type=click.IntRange(1, 300), default=180, show_default=True,
              help="Seconds until the code expires.")  # fmt: skip
@click.option("--key", "key_name", default=None, help="Test issuer key name (default: the "
              "card's own region's key).")  # fmt: skip
@click.option("--cti", "cti_hex", default=None, help="Token id, 32 hex digits (default: random).")
@reports_errors
def dev_issue_code(
    holder_key: str,
    issued_at: str | None,
    lifetime: int,
    key_name: str | None,
    cti_hex: str | None,
) -> None:
    """Make an ESSC1 code for an emulated holder, signed with a TEST issuer key."""
    holders = load_holders()
    if holder_key not in holders:
        raise ConfigError(f"no holder {holder_key!r}; there are {', '.join(sorted(holders))}")
    holder = holders[holder_key]
    try:
        moment = dt.datetime.fromisoformat(issued_at) if issued_at else dt.datetime.now(dt.UTC)
        cti = bytes.fromhex(cti_hex) if cti_hex else None
    except ValueError as exc:
        raise ConfigError(f"--at or --cti: {exc}") from exc
    if moment.tzinfo is None:
        raise ConfigError("--at must carry its offset, e.g. 2026-11-23T10:00:00+08:00")
    if cti is not None and len(cti) != 16:
        raise ConfigError("--cti is 16 bytes (32 hex digits)")
    simulator = IssuerSimulator()
    try:
        text = simulator.issue(
            card_id=holder.card_id, card_number=holder.card_number, name=holder.name,
            birth_date=holder.birth_date, iat=moment, lifetime=lifetime, cti=cti, key=key_name,
        )  # fmt: skip
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    click.echo(text)


@dev.command("seed-store")
@_store_option("The store to create or refresh (default: $YKT_STORE).")
@_keys_option("The terminal key file (made if missing).")
@click.option("--valid-days", type=click.IntRange(1, 365), default=7, show_default=True)
@reports_errors
def dev_seed_store(store_path: Path | None, keys_path: Path | None, valid_days: int) -> None:
    """Make a demo store: demo back-office root key, test issuer keys, demo lists; synced."""
    path = store_path or default_store_path()
    keys_file = keys_path or default_keys_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not keys_file.exists():
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        keys_file.write_text(TerminalKeys(os.urandom(32), os.urandom(32)).to_toml())
        keys_file.chmod(0o600)
    keys = TerminalKeys.from_file(keys_file)
    with Store.open(path, journal_key=keys.journal_key) as opened:
        seed = seed_demo_store(
            opened, HolderKeyer(keys.list_key), path.with_name("demo-repository"),
            sample=sample_now(), valid_for=dt.timedelta(days=valid_days),
        )  # fmt: skip
    for name, version in seed.report.applied:
        click.echo(f"applied  {name} version {version}")
    for name, why in seed.report.rejected.items():
        click.echo(f"rejected {name}: {why}")
    click.echo(f"store    {path}")
    click.echo(f"journal  {journal_path_for(path)}")
    click.echo(f"keys     {keys_file}")
    if seed.report.rejected:
        sys.exit(ExitCode.BUNDLE_REJECTED)


# -- the back-office link: enrol, sync, usage export, status, unenrol ---------------------------
def _files(
    config_file: Path | None, store_path: Path | None, keys_path: Path | None
) -> TerminalFiles:
    config = _load_config(config_file, terminal__store=store_path, terminal__keys=keys_path)
    return TerminalFiles.beside(config.terminal.store_path, config.terminal.keys_path)


def _emit(as_json: bool, document: dict[str, object], lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False, sort_keys=True))
    else:
        for line in lines:
            click.echo(line)


@main.command()
@click.option("--backoffice", "backoffice_url", required=True, help="The back office's URL.")
@click.option("--terminal-id", required=True, callback=_plain_field, help="This terminal's id.")
@click.option("--token", required=True, help="The one-time enrolment token for this terminal id.")
@click.option(
    "--root-key", required=True,
    help="The back office's root key, <key id>:<algorithm>:<base64> (from `ykt-backoffice keys "
         "root`), or @FILE holding it.",
)  # fmt: skip
@click.option("--force", is_flag=True, help="Replace an existing enrolment (wipes this terminal).")
@click.option(
    "--discard-unsent", is_flag=True, help="With --force: even if usage is not yet uploaded."
)
@_store_option(_STORE_HELP)
@_keys_option(_KEYS_HELP)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def enrol(
    backoffice_url: str, terminal_id: str, token: str, root_key: str, force: bool,
    discard_unsent: bool, store_path: Path | None, keys_path: Path | None,
    config_file: Path | None, as_json: bool,
) -> None:  # fmt: skip
    """Enrol this terminal: key pair, trust root, list key and back-office URL."""
    if root_key.startswith("@"):
        try:
            root_key = Path(root_key[1:]).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"root key file {root_key[1:]} cannot be read: {exc}") from exc
    root = parse_root_key(root_key)
    check_url(backoffice_url)
    files = _files(config_file, store_path, keys_path)
    retry = RetryPolicy()
    with new_client(retry) as client:
        api = BackOfficeApi(backoffice_url, client, retry)
        enrolment = enrol_terminal(
            files, api, terminal_id=terminal_id, token=token, root_key=root,
            now=sample_now().wall, force=force, discard_unsent=discard_unsent,
        )  # fmt: skip
    _emit(
        as_json,
        {**enrolment.to_json(), "store": str(files.store), "keys": str(files.keys)},
        [
            f"enrolled   {enrolment.terminal_id}",
            f"back office {enrolment.backoffice_url}",
            f"root key   {root.key_id}",
            f"store      {files.store}",
            "next: `ykt sync` fetches the lists and the back office's time",
        ],
    )


@main.command()
@click.option(
    "--from", "source", default=None,
    help="A repository URL, or a folder (a USB stick); default: the enrolled back office.",
)  # fmt: skip
@_store_option(_STORE_HELP)
@_keys_option(_KEYS_HELP)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def sync(
    source: str | None,
    store_path: Path | None,
    keys_path: Path | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Upload usage, fetch and apply newer lists, take the back office's time."""
    outcome = sync_once(_files(config_file, store_path, keys_path), source, sample=sample_now)
    _emit(as_json, outcome.to_json(), sync_lines(outcome))
    if any(p.kind == "permanent" for p in outcome.problems):
        sys.exit(ExitCode.SYNC_INCOMPLETE)
    if outcome.problems:
        sys.exit(ExitCode.BACKOFFICE_UNREACHABLE)


@main.group()
def usage() -> None:
    """Usage events waiting for the back office."""


@usage.command("export")
@click.argument("stick", type=click.Path(path_type=Path, file_okay=False))
@_store_option(_STORE_HELP)
@_keys_option(_KEYS_HELP)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def usage_export(
    stick: Path,
    store_path: Path | None,
    keys_path: Path | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Write every unacknowledged usage batch, signed, into STICK/outbox/<terminal id>/."""
    exported = export_usage(_files(config_file, store_path, keys_path), stick)
    _emit(
        as_json,
        {"batches": exported.batches, "records": exported.records,
         "folder": str(exported.folder)},
        exported.lines(),
    )  # fmt: skip


def _reader_states() -> list[dict[str, object]]:
    try:
        with PcscContext() as context:
            return [{"reader": s.name, "card_present": s.card_present} for s in context.status()]
    except ApduError as error:
        return [{"error": error.message}]


@main.command()
@_store_option(_STORE_HELP)
@_keys_option(_KEYS_HELP)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def status(
    store_path: Path | None, keys_path: Path | None, config_file: Path | None, as_json: bool
) -> None:
    """Lists and their ages, the upload queue, clock trust, last sync errors, readers."""
    config = _load_config(config_file, terminal__store=store_path, terminal__keys=keys_path)
    files = TerminalFiles.beside(config.terminal.store_path, config.terminal.keys_path)
    keys = TerminalKeys.from_file(files.keys)
    if not files.store.is_file():
        raise StoreMissing(f"no offline store at {files.store}: enrol first (`ykt enrol`)")
    with Store.open(files.store, journal_key=keys.journal_key, create=False) as opened:
        report = terminal_status(
            files,
            opened,
            sample=sample_now(),
            limits=UploadLimits.from_config(config),
            readers=_reader_states,
        )
    lines = []
    enrolment = report["enrolment"]
    if isinstance(enrolment, dict):
        lines.append(
            f"terminal {enrolment['terminal_id']}  back office {enrolment['backoffice_url']}"
        )
    for item in report["lists"]:  # type: ignore[attr-defined]
        lines.append(
            f"list {item['name']:<24} v{item['version']:<6} {item['entries']} entries, "
            f"{item['age_hours']} h old{', EXPIRED' if item['expired'] else ''}"
        )
    queue = report["queue"]
    assert isinstance(queue, dict)
    lines.append(
        f"queue    {queue['unsent']} unsent"
        + (f", oldest {queue['oldest_unsent_hours']} h" if queue["oldest_unsent_at"] else "")
    )
    clock = report["clock"]
    assert isinstance(clock, dict)
    lines.append(f"clock    {clock['state']}: {clock['detail']}")
    sync_state = report["sync"]
    assert isinstance(sync_state, dict)
    lines.append(f"sync     last run {sync_state['last_run'] or 'never'}")
    for error in sync_state["recent_errors"]:
        lines.append(f"  {error['at']} {error['stage']} ({error['kind']}): {error['message']}")
    for reader in report["readers"]:  # type: ignore[attr-defined]
        lines.append(f"reader   {reader.get('reader', reader.get('error'))}")
    for alert in report["alerts"]:  # type: ignore[attr-defined]
        lines.append(f"ALERT    {alert}")
    _emit(as_json, report, lines)


@main.command()
@click.option(
    "--discard-unsent", is_flag=True,
    help="Wipe even if usage is not yet acknowledged by the back office (it is lost).",
)  # fmt: skip
@_store_option(_STORE_HELP)
@_keys_option(_KEYS_HELP)
@_config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def unenrol(
    discard_unsent: bool,
    store_path: Path | None,
    keys_path: Path | None,
    config_file: Path | None,
    as_json: bool,
) -> None:
    """Wipe this terminal's personal data, keys and enrolment (refused while usage is unsent)."""
    files = _files(config_file, store_path, keys_path)
    removed = unenrol_terminal(files, discard_unsent=discard_unsent)
    _emit(
        as_json,
        {"removed": [str(p) for p in removed]},
        [f"removed  {p}" for p in removed] or ["nothing to remove: not enrolled"],
    )


# -- the terminal app ---------------------------------------------------------------------------
@main.command()
@click.option(
    "--mode", type=click.Choice(list(APP_MODES)), default=None,
    help="The screen: gate (attendant), desk (clerk: look-up, override), kiosk (cardholder), "
    "tech (technician, tech staff sign-in); default: [terminal] mode, else gate.",
)  # fmt: skip
@click.option("--service", default=None, help="The service this gate admits to (policy name).")
@click.option("--clear-after", type=click.FloatRange(0.5, 600), default=None,
              help="Seconds a verdict stays on screen (default: [terminal] clear_after, "
              "else 6).")  # fmt: skip
@click.option("--no-reader", is_flag=True, help="Scanned codes only; do not watch a card reader.")
@click.option(
    "--reader", "reader_pattern", metavar="PATTERN", callback=_reader_pattern,
    help="Card reader name: glob or text.",
)  # fmt: skip
@_security_module_option("Security module for generation-3 cards (default: [reader] "
                         "security_module).", configured=True)  # fmt: skip
@_config_option
@_store_option(_STORE_HELP)
@_keys_option(_KEYS_HELP)
@click.option("--policy", "policy_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Venue policy file (default: the published one).")  # fmt: skip
@click.option("--testing", "testing", is_flag=True, help="A test terminal: accept test keys.")
@reports_errors
def run(
    mode: str | None, service: str | None, clear_after: float | None, no_reader: bool,
    reader_pattern: str | None, security_module: SecurityModuleChoice | None,
    config_file: Path | None, store_path: Path | None, keys_path: Path | None,
    policy_path: Path | None, testing: bool,
) -> None:  # fmt: skip
    """The terminal app: status bar, verdict panel, recent events; see docs/ui.md."""
    config = _load_config(
        config_file, terminal__mode=mode, terminal__service=service,
        terminal__clear_after=clear_after, reader__enabled=False if no_reader else None,
        reader__pattern=reader_pattern, terminal__store=store_path, terminal__keys=keys_path,
        terminal__policy=policy_path, terminal__testing=True if testing else None,
    )  # fmt: skip
    verbose = click.get_current_context().find_root().params.get("verbose", 0)
    configure_logging(config.logging, verbose=verbose, screen=True)
    launch_terminal(
        StationSettings.from_config(config),
        LaunchOptions.from_config(config, security_module=security_module),
    )


# -- configuration and the gate relay ------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """The terminal's configuration file (docs/configuration.md)."""


@config_group.command("check")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="The effective configuration as JSON.")
@reports_errors
def config_check(config_file: Path | None, as_json: bool) -> None:
    """Validate the configuration file; print the configuration in effect (exit 15 if bad)."""
    config = _load_config(config_file)
    if as_json:
        click.echo(json.dumps(
            {"file": None if config.source is None else str(config.source),
             "config": config.model_dump(mode="json"),
             "store": str(config.terminal.store_path), "keys": str(config.terminal.keys_path)},
            ensure_ascii=False, sort_keys=True,
        ))  # fmt: skip
        return
    click.echo(effective_toml(config), nl=False)


@config_group.command("show-default")
def config_show_default() -> None:
    """Print a configuration file with every key at its default, commented out."""
    click.echo(default_file(), nl=False)


@main.group("relay")
def relay_group() -> None:
    """The gate relay ([relay] in the configuration)."""


@relay_group.command("test")
@_config_option
@click.option("--seconds", type=click.FloatRange(0.05, 60), default=None,
              help="How long to hold the gate open (default: [relay] pulse_seconds).")  # fmt: skip
@reports_errors
def relay_test(config_file: Path | None, seconds: float | None) -> None:
    """Open the gate once, as an admission would (exit 19 if the relay fails)."""
    config = _load_config(config_file)
    relay = relay_from(config.relay)
    if relay is None:
        raise ConfigError("[relay] kind is none: there is no gate relay to test")
    pulse = seconds if seconds is not None else config.relay.pulse_seconds
    try:
        relay.open_for(pulse)
        threading.Event().wait(pulse + 0.2)  # the release runs on a timer thread
    finally:
        relay.close()
    click.echo(f"relay    {config.relay.kind}: gate opened for {pulse:g} s")
