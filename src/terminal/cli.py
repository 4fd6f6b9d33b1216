"""``ykt``: the terminal's command line.  Exit codes and JSON keys are documented in docs/cli.md."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import signal
import sys
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
from apdu.ssc import Authenticity
from offline_store.errors import StoreError
from offline_store.journal import AUDIT, USAGE
from offline_store.store import Store
from terminal import demo as demo_job
from terminal.card_reading import (
    ReadRequest,
    SecurityModuleChoice,
    read_one,
)
from terminal.card_view import basline, to_json, to_text
from terminal.errors import (
    ConfigError,
    IncompleteRecord,
    NotAuthentic,
    StoreMissing,
    TerminalError,
    exit_code_for,
)
from terminal.terminal_keys import TerminalKeys, default_keys_path, default_store_path

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
    del ctx
    try:
        choice = (
            SecurityModuleChoice.parse(value)
            if value is not None
            else SecurityModuleChoice.default()
        )
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


@click.group()
@click.option("-v", "--verbose", count=True, help="Log more (repeat for debug).")
@click.version_option(package_name="ykt-terminal")
def main(verbose: int) -> None:
    """ykt-terminal: read social security cards (社保卡) on PC/SC readers, offline."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


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
@click.option(
    "--security-module",
    "security_module",
    metavar="none|software[:KEYFILE]|psam[:READER]",
    default=None,
    callback=_security_module,
    help="What proves the card genuine and opens gen-3 data (default: $YKT_SECURITY_MODULE "
    "or none). software without KEYFILE uses the published test keys.",
)
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0, max=86400),
    default=10.0,
    callback=_finite_wait,
    show_default=True,
    help="Seconds to wait for a card; 0 reads only a card already there.",
)
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
@reports_errors
def demo() -> None:
    """Bring up pcscd + vpcd with emulated cards and read them as a venue would."""
    demo_job.run(click.echo)


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


@main.group()
@click.option(
    "--store",
    "store_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The store file (default: $YKT_STORE or ~/.local/share/ykt-terminal/store.db).",
)
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The terminal key file (default: $YKT_TERMINAL_KEYS or terminal-keys.toml beside "
    "the store).",
)
@click.pass_context
def store(ctx: click.Context, store_path: Path | None, keys_path: Path | None) -> None:
    """The offline store: lists, the usage journal, the audit log."""
    path = store_path or default_store_path()
    ctx.obj = (path, keys_path or default_keys_path(path))


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
    """Check integrity, the journal and audit chains, and list versions; exit code per problem."""
    with _open_store(ctx) as opened:  # quick_check and both chains, or it raises
        if full:
            opened.check(full=True)
        click.echo(f"integrity    ok ({'full check' if full else 'quick check'})")
        counts = opened.verify_chains()
        click.echo(f"journal      {counts[USAGE]} usage events, chain ok")
        click.echo(f"audit log    {counts[AUDIT]} staff actions, chain ok")
        for state in opened.list_states():
            if full:
                opened.verify_list(state.name)
            click.echo(
                f"list {state.name:<8}version {state.version}, {state.entry_count} entries, "
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
    """Sizes, entry counts, list versions and their ages, journal upload states."""
    now = dt.datetime.now(dt.UTC)
    path = ctx.obj[0]
    with _open_store(ctx) as opened:
        wal = path.with_name(path.name + "-wal")
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
        figures: dict[str, object] = {
            "store": str(path),
            "bytes": path.stat().st_size,
            "wal_bytes": wal.stat().st_size if wal.exists() else 0,
            "lists": lists,
            "journal": {s.value: n for s, n in opened.journal.counts(USAGE).items()},
            "audit": {s.value: n for s, n in opened.journal.counts(AUDIT).items()},
        }
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False))
        return
    click.echo(f"store        {path} ({figures['bytes']:,} bytes, WAL {figures['wal_bytes']:,})")
    for name, entry in lists.items():
        click.echo(
            f"list {name:<8}version {entry['version']}, {entry['entries']:,} entries, "
            f"{entry['age_hours']} h old" + (", EXPIRED" if entry["expired"] else "")
        )
    click.echo(f"journal      {figures['journal']}")
    click.echo(f"audit log    {figures['audit']}")
