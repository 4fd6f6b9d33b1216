"""``ykt-backoffice``: the admin command.  Parses input, calls the library, reports.

Exit codes: 0 done; 1 a back-office error (the message says what to do); 2 bad usage (click);
3 ``ingest`` left some batches on the stick (each one reported).  Plaintext card ids, SSNs and
reservation ids given here are hashed with the list key at once and never stored or printed;
give ``-`` instead of the value to read it from standard input (not kept in shell history).
A staff PIN is never an argument: it is prompted for (twice, hidden) or read from standard
input with ``--pin-stdin``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from backoffice.errors import BackOfficeError, InputError, KeyRingError
from backoffice.publishing import (
    DEFAULT_SNAPSHOT_EVERY,
    DEFAULT_VALIDITY,
    PublishSettings,
    published_lists,
)
from backoffice.service import BackOffice
from backoffice.sources import REASONS, Holder
from backoffice.stats import usage_stats
from backoffice.stick import export_repository, ingest_stick
from offline_store.issuer_keys import EDDSA, ES256, KID_BYTES, IssuerKey
from offline_store.trust import TrustedKey

F = TypeVar("F", bound=Callable[..., Any])
CHINA = dt.timezone(dt.timedelta(hours=8))
EXIT_ERROR = 1
EXIT_BATCHES_LEFT = 3


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _fail(error: BackOfficeError) -> NoReturn:
    click.echo(f"error: {error.title}: {error.message}", err=True)
    sys.exit(EXIT_ERROR)


def _emit(document: object) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True))


def data_option(function: F) -> F:
    return click.option(
        "--data",
        "data",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="YKT_BACKOFFICE_DATA",
        required=True,
        help="The back office's data directory (or $YKT_BACKOFFICE_DATA).",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(function)


def with_office(function: Callable[..., None]) -> Callable[..., None]:
    """Open the data directory as ``office``; turn back-office errors into exit code 1."""

    @data_option
    @wraps(function)
    def wrapper(data: Path, **kwargs: Any) -> None:
        try:
            with BackOffice.open(data) as office:
                function(office, **kwargs)
        except BackOfficeError as error:
            _fail(error)

    return wrapper


def _secret(value: str) -> str:
    """A plaintext identifier from the command line, or from standard input for ``-``."""
    return sys.stdin.readline().strip() if value == "-" else value


def _moment(text: str, what: str) -> dt.datetime:
    """ISO 8601; without an offset, China time (+08:00); a date alone is its midnight."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise InputError(f"{what}: {text!r} is not an ISO 8601 date or time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CHINA)


@click.group()
@click.version_option(package_name="ykt-backoffice")
def main() -> None:
    """The reference back office of ykt-terminal (docs/protocol.md, ykt-link/1)."""


# -- init ------------------------------------------------------------------------------------
@main.command()
@data_option
@click.option("--key-years", default=5, show_default=True, help="Validity of the first key.")
@json_option
def init(data: Path, key_years: int, as_json: bool) -> None:
    """Create a data directory: list key, first signing key, default policy, database."""
    try:
        with BackOffice.init(data, now=_now(), key_years=key_years) as office:
            root = office.root_key()
    except BackOfficeError as error:
        _fail(error)
    public = base64.b64encode(root.public_key).decode()
    if as_json:
        _emit({"data": str(data), "root_key": _key_json(root)})
        return
    click.echo(f"initialised {data}")
    click.echo(f"root key (for `ykt enrol --root-key`): {root.key_id}:{root.algorithm}:{public}")


def _key_json(key: TrustedKey) -> dict[str, object]:
    return {
        "key_id": key.key_id,
        "algorithm": key.algorithm,
        "public_key": base64.b64encode(key.public_key).decode(),
        "valid_from": key.valid_from.isoformat(),
        "valid_until": key.valid_until.isoformat(),
    }


# -- deny list ---------------------------------------------------------------------------------
@main.group()
def deny() -> None:
    """The deny list's sources (by card reference; card ids are hashed on input)."""


@deny.command("add")
@click.argument("card_id")
@click.option(
    "--reason", required=True, type=click.Choice(list(REASONS)), help="Why (stolen = lost)."
)
@click.option("--region", help="Issuing region, 6 digits (default: the card id's first 6).")
@with_office
def deny_add(office: BackOffice, card_id: str, reason: str, region: str | None) -> None:
    """Put a card on the deny list, or change its reason (CARD_ID: 卡识别码, or - for stdin)."""
    new = office.sources.deny_add(_secret(card_id), reason, region, now=_now())
    click.echo("added to the deny list" if new else "deny entry changed")


@deny.command("remove")
@click.argument("card_id")
@with_office
def deny_remove(office: BackOffice, card_id: str) -> None:
    """Take a card off the deny list (CARD_ID, or - for stdin)."""
    if not office.sources.deny_remove(_secret(card_id)):
        _fail(InputError("that card is not on the deny list"))
    click.echo("removed from the deny list")


@deny.command("import-csv")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@with_office
def deny_import_csv(office: BackOffice, file: Path, as_json: bool) -> None:
    """Add or change many deny entries: header card_id,reason[,region]; all rows or none."""
    count = office.sources.deny_import_csv(file, now=_now())
    if as_json:
        _emit({"imported": count})
    else:
        click.echo(f"imported {count} deny entries")


# -- benefit lists -----------------------------------------------------------------------------
def _holder_options(function: F) -> F:
    for option in (
        click.option("--reservation-id", help="A reservation's id (or - for stdin)."),
        click.option("--ssn", help="社会保障号码 (or - for stdin)."),
        click.option("--card-id", help="卡识别码 (or - for stdin)."),
    ):
        function = option(function)
    return function


def _holder(card_id: str | None, ssn: str | None, reservation_id: str | None) -> Holder:
    return Holder.of(
        card_id=None if card_id is None else _secret(card_id),
        ssn=None if ssn is None else _secret(ssn),
        reservation_id=None if reservation_id is None else _secret(reservation_id),
    )


@main.group()
def benefit() -> None:
    """Benefit, allow and reservation lists (e.g. reservations, library-readers)."""


@benefit.command("add")
@click.argument("list_name")
@_holder_options
@click.option("--from", "valid_from", help="Start (ISO 8601; default now).")
@click.option("--until", "valid_until", required=True, help="End (ISO 8601).")
@click.option("--attr", "attributes", multiple=True, help="key=value (repeatable).")
@with_office
def benefit_add(
    office: BackOffice,
    list_name: str,
    card_id: str | None,
    ssn: str | None,
    reservation_id: str | None,
    valid_from: str | None,
    valid_until: str,
    attributes: tuple[str, ...],
) -> None:
    """Add an entry to LIST_NAME (or replace the one with the same holder and start)."""
    pairs = {}
    for item in attributes:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--attr {item!r}: use key=value")
        pairs[key.strip()] = value.strip()
    start = _now() if valid_from is None else _moment(valid_from, "--from")
    new = office.sources.benefit_add(
        list_name,
        _holder(card_id, ssn, reservation_id),
        valid_from=start,
        valid_until=_moment(valid_until, "--until"),
        attributes=pairs,
        now=_now(),
    )
    click.echo(f"{'added to' if new else 'changed on'} {list_name}")


@benefit.command("remove")
@click.argument("list_name")
@_holder_options
@click.option("--from", "valid_from", help="Only the entry starting then (default: all).")
@with_office
def benefit_remove(
    office: BackOffice,
    list_name: str,
    card_id: str | None,
    ssn: str | None,
    reservation_id: str | None,
    valid_from: str | None,
) -> None:
    """Remove a holder's entries from LIST_NAME."""
    count = office.sources.benefit_remove(
        list_name,
        _holder(card_id, ssn, reservation_id),
        valid_from=None if valid_from is None else _moment(valid_from, "--from"),
    )
    if not count:
        _fail(InputError(f"no such entry on {list_name}"))
    click.echo(f"removed {count} entr{'y' if count == 1 else 'ies'} from {list_name}")


# -- ESSC1 issuer keys -------------------------------------------------------------------------
@main.group()
def issuer() -> None:
    """ESSC1 issuer keys, published as the signed `issuers` list."""


@issuer.command("add")
@click.option("--kid", required=True, help=f"Key id, {KID_BYTES * 2} hex digits.")
@click.option("--alg", required=True, type=click.Choice([ES256, EDDSA]))
@click.option(
    "--public-key-file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM, or raw bytes (ES256: 65-byte X9.62 point; EdDSA: 32 bytes).",
)
@click.option("--regions", required=True, help="Region prefixes, comma-separated (31,320500).")
@click.option("--valid-from", required=True)
@click.option("--valid-until", required=True)
@click.option("--test", is_flag=True, help="A test key (production terminals refuse it).")
@click.option("--cross-region", is_flag=True, help="May sign for cards of other regions.")
@with_office
def issuer_add(
    office: BackOffice,
    kid: str,
    alg: str,
    public_key_file: Path,
    regions: str,
    valid_from: str,
    valid_until: str,
    test: bool,
    cross_region: bool,
) -> None:
    """Add an issuer key."""
    try:
        kid_bytes = bytes.fromhex(kid)
    except ValueError as exc:
        raise InputError("--kid must be hex") from exc
    try:
        key = IssuerKey(
            kid_bytes,
            alg,
            _issuer_public_key(public_key_file),
            tuple(r.strip() for r in regions.split(",") if r.strip()),
            _moment(valid_from, "--valid-from"),
            _moment(valid_until, "--valid-until"),
            test=test,
            cross_region=cross_region,
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    office.sources.issuer_add(key, now=_now())
    click.echo(f"issuer key {kid_bytes.hex()} added")


def _issuer_public_key(path: Path) -> bytes:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: PLC0415

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror}") from exc
    if b"-----BEGIN" not in raw:
        return raw
    try:
        public = serialization.load_pem_public_key(raw)
    except ValueError as exc:
        raise InputError(f"{path} is not a PEM public key") from exc
    if isinstance(public, ed25519.Ed25519PublicKey):
        return public.public_bytes_raw()
    if isinstance(public, ec.EllipticCurvePublicKey):
        return public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    raise InputError(f"{path}: only P-256 and Ed25519 keys")


@issuer.command("revoke")
@click.argument("kid")
@with_office
def issuer_revoke(office: BackOffice, kid: str) -> None:
    """Revoke every issuer key with this kid (they stay listed, marked revoked)."""
    try:
        kid_bytes = bytes.fromhex(kid)
    except ValueError as exc:
        raise InputError("KID must be hex") from exc
    count = office.sources.issuer_revoke(kid_bytes)
    click.echo(f"revoked {count} issuer key(s) {kid_bytes.hex()}")


@issuer.command("list")
@json_option
@with_office
def issuer_list(office: BackOffice, as_json: bool) -> None:
    """The issuer keys, as the next `publish` will list them."""
    keys = office.sources.issuers()
    if as_json:
        _emit([key.to_json() for key in keys])
        return
    for key in keys:
        flags = " ".join(n for n in ("revoked", "test", "cross_region") if getattr(key, n))
        window = f"{key.valid_from.isoformat()} – {key.valid_until.isoformat()}"
        line = f"{key.kid.hex()} {key.algorithm} regions {','.join(key.regions)} {window} {flags}"
        click.echo(line.rstrip())


# -- policy ------------------------------------------------------------------------------------
@main.group()
def policy() -> None:
    """The venue policy, published as list `policy`."""


@policy.command("set")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_office
def policy_set(office: BackOffice, file: Path) -> None:
    """Replace the policy source with FILE (TOML; the terminal validates the rest)."""
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise InputError(f"{file} cannot be read: {exc.strerror}") from exc
    office.data.set_policy(text, str(file))
    click.echo("policy set; `publish` sends it to the terminals")


# -- staff -----------------------------------------------------------------------------------
@main.group()
def staff() -> None:
    """Staff who may sign in at the terminals (card + PIN), published as list `staff`."""


@staff.command("add")
@click.argument("staff_id")
@click.option("--card-id", required=True, help="The member's own card's 卡识别码 (or - for stdin).")
@click.option(
    "--role", required=True, type=click.Choice(["desk", "tech"]),
    help="desk: overrides; tech: also tech mode and leaving a kiosk.",
)  # fmt: skip
@click.option(
    "--pin-stdin", is_flag=True,
    help="Read the PIN (6-12 digits) from one line of stdin (after the card id, if that is -).",
)  # fmt: skip
@with_office
def staff_add(office: BackOffice, staff_id: str, card_id: str, role: str, pin_stdin: bool) -> None:
    """Add a staff member, or change their card, role and PIN (prompted twice unless
    --pin-stdin)."""
    card = _secret(card_id)
    if pin_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = click.prompt("PIN (6-12 digits)", hide_input=True, confirmation_prompt=True)
    new = office.staff.add(staff_id, card, role, pin.strip(), now=_now())
    verb = "added" if new else "changed"
    click.echo(f"staff member {staff_id.strip()} {verb} ({role}); `publish` sends the roster")


@staff.command("remove")
@click.argument("staff_id")
@with_office
def staff_remove(office: BackOffice, staff_id: str) -> None:
    """Take a member off the roster (the next `publish` withdraws them from every terminal)."""
    if not office.staff.remove(staff_id):
        _fail(InputError(f"no staff member {staff_id.strip()} (see `staff list`)"))
    click.echo(f"staff member {staff_id.strip()} removed; `publish` sends the roster")


@staff.command("list")
@json_option
@with_office
def staff_list(office: BackOffice, as_json: bool) -> None:
    """Staff ids and roles (nothing else: cards and PINs are kept only as keyed verifiers)."""
    entries = office.staff.entries()
    if as_json:
        _emit([entry.to_json() for entry in entries])
        return
    for entry in entries:
        click.echo(f"{entry.staff_id} {entry.role.value}")


# -- signing keys ------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """The back office's signing keys."""


@keys.command("list")
@json_option
@with_office
def keys_list(office: BackOffice, as_json: bool) -> None:
    """Every signing key, active or retired; the first active one is the root for enrolment."""
    infos = office.keys.all()
    active = [info for info in infos if info.retired_at is None]
    root = active[0].trusted.key_id if active else None
    rows = [
        {
            **_key_json(info.trusted),
            "added_at": info.added_at.isoformat(),
            "retired_at": None if info.retired_at is None else info.retired_at.isoformat(),
            "root": info.trusted.key_id == root,
        }
        for info in infos
    ]
    if as_json:
        _emit(rows)
        return
    for row in rows:
        state = "retired" if row["retired_at"] else ("active, root" if row["root"] else "active")
        click.echo(f"{row['key_id']} {row['algorithm']} {row['public_key']} ({state})")


@keys.command("root")
@with_office
def keys_root(office: BackOffice) -> None:
    """The root key as `ykt enrol --root-key` takes it: <key id>:<algorithm>:<base64>."""
    active = [info for info in office.keys.all() if info.retired_at is None]
    if not active:
        _fail(KeyRingError("no active signing key: run `keys rotate`"))
    key = active[0].trusted
    click.echo(f"{key.key_id}:{key.algorithm}:{base64.b64encode(key.public_key).decode()}")


@keys.command("rotate")
@click.option("--key-years", default=5, show_default=True)
@with_office
def keys_rotate(office: BackOffice, key_years: int) -> None:
    """Add a new signing key; `publish` announces it, and both sign until one is retired."""
    key = office.keys.create(now=_now(), years=key_years)
    click.echo(f"new signing key {key.key_id}: run `publish` to announce it to the terminals")


@keys.command("retire")
@click.argument("key_id")
@with_office
def keys_retire(office: BackOffice, key_id: str) -> None:
    """Stop signing with KEY_ID and delete its private key; `publish` drops it from trust."""
    office.retire_key(key_id, now=_now())
    click.echo(f"{key_id} retired: run `publish` so the terminals stop trusting it")


# -- publishing ----------------------------------------------------------------------------------
@main.command()
@click.option(
    "--valid-days",
    type=float,
    default=DEFAULT_VALIDITY / dt.timedelta(days=1),
    show_default=True,
    help="How long a list version stays valid.",
)
@click.option("--snapshot-every", type=int, default=DEFAULT_SNAPSHOT_EVERY, show_default=True)
@click.option("--keep-deltas", type=int, help="Prune: keep N versions before each newest snapshot.")
@json_option
@with_office
def publish(
    office: BackOffice,
    valid_days: float,
    snapshot_every: int,
    keep_deltas: int | None,
    as_json: bool,
) -> None:
    """Publish every changed (or half-stale) list, then index.json."""
    settings = PublishSettings(dt.timedelta(days=valid_days), snapshot_every, keep_deltas)
    report = office.publish(now=_now(), settings=settings)
    if as_json:
        _emit(report.to_json())
        return
    for item in report.published:
        click.echo(
            f"{item.list_name} version {item.version}: {item.kind}, {item.entries} entries "
            f"({item.reason})"
        )
    if report.pruned:
        click.echo(f"pruned {len(report.pruned)} files")
    if not report.published:
        click.echo("nothing to publish: every list is current")


@main.command("lists")
@json_option
@with_office
def lists(office: BackOffice, as_json: bool) -> None:
    """Each list's sources and what was last published."""
    counts = office.sources.counts()
    published = published_lists(office.db)
    rows = [
        {
            "list": last.list_name,
            "version": last.version,
            "kind": last.kind,
            "issued_at": last.issued_at.isoformat(),
            "valid_until": last.valid_until.isoformat(),
        }
        for last in published.values()
    ]
    if as_json:
        _emit(
            {
                "sources": {
                    "deny": counts.deny,
                    "benefit": counts.benefit,
                    "issuers": counts.issuers,
                    "staff": counts.staff,
                },
                "published": rows,
            }
        )
        return
    click.echo(f"sources: deny {counts.deny}, issuers {counts.issuers}, staff {counts.staff}")
    for name, count in sorted(counts.benefit.items()):
        click.echo(f"sources: benefit:{name} {count}")
    for row in rows:
        click.echo(
            f"published: {row['list']} version {row['version']} ({row['kind']}), "
            f"valid until {row['valid_until']}"
        )


# -- terminals -------------------------------------------------------------------------------------
@main.group()
def terminal() -> None:
    """Add or withdraw a terminal."""


@terminal.command("add")
@click.argument("terminal_id")
@json_option
@with_office
def terminal_add(office: BackOffice, terminal_id: str, as_json: bool) -> None:
    """A one-time enrolment token for TERMINAL_ID (shown once; only its hash is kept)."""
    token = office.terminals.add(terminal_id, now=_now())
    if as_json:
        _emit({"terminal_id": terminal_id, "token": token})
    else:
        click.echo(f"enrolment token for {terminal_id} (shown once): {token}")


@terminal.command("withdraw")
@click.argument("terminal_id")
@with_office
def terminal_withdraw(office: BackOffice, terminal_id: str) -> None:
    """Refuse TERMINAL_ID's uploads from now on."""
    office.terminals.withdraw(terminal_id, now=_now())
    click.echo(f"{terminal_id} withdrawn")


@main.command("terminals")
@json_option
@with_office
def terminals(office: BackOffice, as_json: bool) -> None:
    """Every terminal and its state."""
    rows = [info.to_json() for info in office.terminals.all()]
    if as_json:
        _emit(rows)
        return
    for row in rows:
        click.echo(f"{row['terminal_id']}: {row['state']}")


# -- the stick -------------------------------------------------------------------------------------
@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@json_option
@with_office
def export(office: BackOffice, path: Path, as_json: bool) -> None:
    """Copy the repository to a stick (content, manifests, index.json last)."""
    try:
        report = export_repository(office.data.repo, path)
    except OSError as exc:
        raise InputError(f"cannot write to {path}: {exc.strerror}") from exc
    if as_json:
        _emit(report.to_json())
    else:
        click.echo(f"copied {len(report.copied)} files, {report.skipped} already there")


@main.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@json_option
@with_office
def ingest(office: BackOffice, path: Path, as_json: bool) -> None:
    """Ingest every usage batch in a stick's outbox/ and write acknowledgements to acks/."""
    results = ingest_stick(office, path, now=_now())
    if as_json:
        _emit([result.to_json() for result in results])
    else:
        for result in results:
            click.echo(f"{result.path}: {result.status} {result.message}".rstrip())
        click.echo(f"{len(results)} batch file(s)")
    if any(result.status in ("rejected", "skipped") for result in results):
        sys.exit(EXIT_BATCHES_LEFT)


@main.group()
def usage() -> None:
    """Usage received from the terminals."""


@usage.command("stats")
@json_option
@with_office
def usage_stats_command(office: BackOffice, as_json: bool) -> None:
    """Events per terminal and chain, and the sequence numbers missing."""
    stats = usage_stats(office.db)
    if as_json:
        _emit([chain.to_json() for chain in stats])
        return
    for chain in stats:
        gaps = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in chain.gaps) or "none"
        click.echo(
            f"{chain.terminal_id} {chain.chain}: {chain.events} events, seq "
            f"{chain.first_seq}-{chain.last_seq}, missing {gaps}, {chain.batches} batches"
        )


# -- serve -----------------------------------------------------------------------------------------
@main.command()
@data_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True, help="0: any free port.")
@click.option("--public-url", help="The URL terminals reach (in enrolment grants).")
@click.option("--repository-url", help="Where terminals fetch bundles, if not <url>/repo/.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="warning",
    show_default=True,
)
def serve(
    data: Path,
    host: str,
    port: int,
    public_url: str | None,
    repository_url: str | None,
    log_level: str,
) -> None:
    """Serve the repository and the API; prints `listening on URL` when ready."""
    from backoffice.server import serve as run  # noqa: PLC0415  (uvicorn only when serving)

    try:
        run(
            data,
            host=host,
            port=port,
            public_url=public_url,
            repository_url=repository_url,
            log_level=log_level,
        )
    except BackOfficeError as error:
        _fail(error)
