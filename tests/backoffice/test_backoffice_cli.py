"""The admin command in process (click's runner): CSV import, privacy, the stick both ways,
usage stats, and every command documented."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
from pathlib import Path

import click
import pytest
from backoffice_support import FakeTerminal, plaintext_forms, run, scan_data_dir
from click.testing import CliRunner

from backoffice.cli import main
from backoffice.service import BackOffice
from offline_store.bundles import Repository, sync_from
from offline_store.exchange import (
    Acknowledgement,
    parse_signatures_file,
    signatures_file,
    verify_from_backoffice,
)
from offline_store.store import Store

CARD = "310100D1560000050000000000A10001"
OTHER_CARD = "320500D1560000050000000000C10003"
SSN = "310101195001011234"
RESERVATION = "M-2026-1123-0042"
YEAR = "2030-01-01"
README = Path(__file__).resolve().parents[2] / "deploy" / "backoffice" / "README.md"


def test_init_twice_is_refused(data: Path) -> None:
    assert "already holds a back office" in run(data, "init", code=1).output
    assert (data / "keys" / "list-key.hex").stat().st_mode & 0o777 == 0o600
    assert (data / "keys" / "backoffice-1.pem").stat().st_mode & 0o777 == 0o600
    assert (data / "keys").stat().st_mode & 0o777 == 0o700


def test_commands_on_a_missing_directory_say_what_to_do(tmp_path: Path) -> None:
    result = run(tmp_path / "nowhere", "lists", code=1)
    assert "ykt-backoffice init" in result.output


def test_csv_import_reports_bad_rows_by_line_and_imports_nothing(
    data: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "card_id,reason,region\n"
        f"{CARD},lost,\n"
        "31010XD15600000500000000000000ZZ,lost,\n"
        f"{OTHER_CARD},misplaced,320500\n"
        "\n"
        f"{CARD},fraud,310100\n"
        f"{OTHER_CARD},lost\n",
        encoding="utf-8",
    )
    result = run(data, "deny", "import-csv", str(bad), code=1)
    assert "line 3: a card identification code" in result.output
    assert "line 4: the reason must be one of" in result.output
    assert "line 6: the same card as line 2" in result.output
    assert "line 7: 2 columns, expected 3" in result.output
    assert "nothing was imported" in result.output
    assert CARD not in result.output
    assert json.loads(run(data, "lists", "--json").output)["sources"]["deny"] == 0

    good = tmp_path / "good.csv"
    good.write_text(f"card_id,reason\n{CARD},lost\n{OTHER_CARD},stolen\n", encoding="utf-8")
    assert json.loads(run(data, "deny", "import-csv", str(good), "--json").output) == {
        "imported": 2
    }
    header = tmp_path / "header.csv"
    header.write_text(f"card,reason\n{CARD},lost\n", encoding="utf-8")
    assert (
        "line 1: the first line must be the header"
        in run(data, "deny", "import-csv", str(header), code=1).output
    )


def test_no_plaintext_identity_in_the_database_or_the_repository(data: Path) -> None:
    outputs = [
        run(data, "deny", "add", CARD, "--reason", "lost").output,
        run(data, "deny", "add", "-", "--reason", "fraud", stdin=OTHER_CARD + "\n").output,
        run(data, "benefit", "add", "library-readers", "--ssn", SSN, "--until", YEAR).output,
        run(data, "benefit", "add", "library-readers", "--card-id", CARD, "--until", YEAR).output,
        run(
            data, "benefit", "add", "reservations", "--reservation-id", RESERVATION,
            "--from", "2026-11-23T09:00", "--until", "2026-11-23T10:00", "--attr", "party=2",
        ).output,
        run(data, "publish").output,
        run(data, "lists").output,
        run(data, "deny", "remove", OTHER_CARD).output,
        run(data, "publish", "--json").output,
    ]  # fmt: skip
    third = "340100D1560000050000000000D20004"
    office = BackOffice.open(data)  # held open while scanning: its WAL is there to be scanned
    office.sources.deny_add(third, "other", None, now=dt.datetime.now(dt.UTC))
    secrets = plaintext_forms(
        CARD, OTHER_CARD, SSN, RESERVATION, third,
        raw=(bytes.fromhex(CARD), bytes.fromhex(OTHER_CARD), bytes.fromhex(third)),
    )  # fmt: skip
    try:
        files = scan_data_dir(data, secrets)
        wal = data / "backoffice.db-wal"
        assert wal in files  # the WAL is scanned too
        assert wal.stat().st_size > 0
    finally:
        office.close()
    assert len([p for p in files if "objects" in p.parts]) >= 4
    for output in outputs:
        for text in (CARD, OTHER_CARD, SSN, RESERVATION):
            assert text not in output


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    }


def test_export_then_a_cut_copy_is_completed(data: Path, tmp_path: Path) -> None:
    run(data, "deny", "add", CARD, "--reason", "lost")
    run(data, "benefit", "add", "library-readers", "--ssn", SSN, "--until", "2030-01-01")
    run(data, "publish")
    stick = tmp_path / "stick"
    first = json.loads(run(data, "export", str(stick), "--json").output)
    assert first["copied"][-1] == "index.json"
    first_manifest = next(i for i, p in enumerate(first["copied"]) if p.startswith("lists/"))
    assert all(p.startswith("objects/") for p in first["copied"][:first_manifest])
    assert _tree(stick) == _tree(data / "repo")
    again = json.loads(run(data, "export", str(stick), "--json").output)
    assert again["copied"] == ["index.json"]
    # a version an interrupted publish left behind (not in the index) stays at home
    deny = data / "repo" / "lists" / "deny"
    (deny / "2.json").write_bytes((deny / "1.json").read_bytes())
    (deny / "2.sig").write_bytes((deny / "1.sig").read_bytes())
    run(data, "export", str(stick))
    assert not (stick / "lists" / "deny" / "2.json").exists()
    (deny / "2.json").unlink()
    (deny / "2.sig").unlink()

    # the stick pulled mid-copy: a content file cut, a manifest missing, no index
    objects = sorted((stick / "objects").iterdir())
    objects[0].write_bytes(objects[0].read_bytes()[:5])
    (stick / "lists" / "deny" / "1.json").unlink()
    (stick / "index.json").unlink()
    repaired = json.loads(run(data, "export", str(stick), "--json").output)
    assert set(repaired["copied"]) == {
        f"objects/{objects[0].name}",
        "lists/deny/1.json",
        "index.json",
    }
    assert _tree(stick) == _tree(data / "repo")


def test_a_terminal_keeps_complete_lists_from_a_cut_stick(data: Path, tmp_path: Path) -> None:
    run(data, "deny", "add", CARD, "--reason", "lost")
    run(data, "benefit", "add", "library-readers", "--ssn", SSN, "--until", "2030-01-01")
    run(data, "publish")
    stick = tmp_path / "stick"
    run(data, "export", str(stick))
    with BackOffice.open(data) as office:
        deny = office.repository.manifest("deny", 1)
        keyer = office.data.keyer()
        root = office.root_key()
    cut = stick / "objects" / deny.content["records"].sha256
    cut.write_bytes(cut.read_bytes()[:7])
    store = Store.open(tmp_path / "terminal.db", journal_key=b"test journal key 0123456789abcdef")
    store.trust.provision_root(root)
    now = dt.datetime.now(dt.UTC)
    report = sync_from(store, Repository(stick), now=now)
    assert "deny" in report.rejected
    assert ("benefit:library-readers", 1) in report.applied
    assert store.version_of("deny") is None
    assert store.reader().entitlements(card_ref=None, ssn_ref=keyer.ssn_ref(SSN), at=now)


def _enrolled_terminal(data: Path, terminal_id: str) -> FakeTerminal:
    terminal = FakeTerminal(terminal_id)
    token = json.loads(run(data, "terminal", "add", terminal_id, "--json").output)["token"]
    with BackOffice.open(data) as office:
        office.terminals.enrol(
            {
                "terminal_id": terminal_id,
                "token": token,
                "public_key": base64.b64encode(terminal.public_key).decode(),
            },
            now=dt.datetime.now(dt.UTC),
        )
    return terminal


def _write_batch(stick: Path, terminal: FakeTerminal, number: int, seqs: range) -> Path:
    raw, signature = terminal.batch(number, seqs)
    folder = stick / "outbox" / terminal.terminal_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"usage-{number}.sig").write_bytes(signatures_file([signature]))
    path = folder / f"usage-{number}.json"
    path.write_bytes(raw)
    return path


def test_ingest_a_stick(data: Path, tmp_path: Path) -> None:
    terminal = _enrolled_terminal(data, "T-010")
    stick = tmp_path / "stick"
    _write_batch(stick, terminal, 1, range(1, 101))
    _write_batch(stick, terminal, 2, range(101, 201))
    no_sig = _write_batch(stick, terminal, 3, range(201, 211))
    no_sig.with_suffix(".sig").unlink()
    cut = _write_batch(stick, terminal, 4, range(211, 221))
    cut.write_bytes(cut.read_bytes()[:-40])
    misnamed = _write_batch(stick, terminal, 5, range(221, 231))
    misnamed.rename(misnamed.with_name("usage-6.json"))
    misnamed.with_suffix(".sig").rename(misnamed.with_name("usage-6.sig"))
    (stick / "outbox" / "T-010" / ".usage-7.json.tmp").write_bytes(b"{")

    result = run(data, "ingest", str(stick), "--json", code=3)
    by_path = {r["path"]: r for r in json.loads(result.output)}
    assert {p: r["status"] for p, r in by_path.items()} == {
        "outbox/T-010/usage-1.json": "ingested",
        "outbox/T-010/usage-2.json": "ingested",
        "outbox/T-010/usage-3.json": "skipped",
        "outbox/T-010/usage-4.json": "rejected",
        "outbox/T-010/usage-6.json": "rejected",
    }
    assert by_path["outbox/T-010/usage-4.json"]["error"] == "malformed"
    with BackOffice.open(data) as office:
        trusted = [key.trusted for key in office.keys.active()]
    acks = stick / "acks" / "T-010"
    assert sorted(p.name for p in acks.iterdir()) == [
        "usage-1.json", "usage-1.sig", "usage-2.json", "usage-2.sig",
    ]  # fmt: skip
    raw_ack = (acks / "usage-2.json").read_bytes()
    signatures = parse_signatures_file((acks / "usage-2.sig").read_bytes(), "ack")
    verify_from_backoffice(raw_ack, signatures, trusted, now=dt.datetime.now(dt.UTC), what="ack")
    ack = Acknowledgement.from_bytes(raw_ack)
    assert (ack.batch_id, ack.records, ack.new) == ("T-010/usage/2", 100, 100)

    # the same stick again (a second trip): the same acknowledgements, nothing counted twice
    again = {
        r["path"]: r for r in json.loads(run(data, "ingest", str(stick), "--json", code=3).output)
    }
    assert again["outbox/T-010/usage-2.json"]["status"] == "repeated"
    assert (acks / "usage-2.json").read_bytes() == raw_ack
    [stats] = json.loads(run(data, "usage", "stats", "--json").output)
    assert (stats["events"], stats["last_seq"], stats["missing"], stats["repeated_batches"]) == (
        200,
        200,
        0,
        2,
    )
    assert "T-010 usage: 200 events" in run(data, "usage", "stats").output


def test_ingest_of_a_clean_stick_exits_0(data: Path, tmp_path: Path) -> None:
    terminal = _enrolled_terminal(data, "T-011")
    stick = tmp_path / "stick"
    _write_batch(stick, terminal, 1, range(1, 4))
    assert "ingested" in run(data, "ingest", str(stick)).output
    assert "no outbox" in run(data, "ingest", str(tmp_path / "empty"), code=1).output


def test_terminals_and_keys(data: Path) -> None:
    token = run(data, "terminal", "add", "T-020").output
    assert "shown once" in token
    assert json.loads(run(data, "terminals", "--json").output)[0]["state"] == "awaiting enrolment"
    run(data, "terminal", "withdraw", "T-020")
    assert "T-020: withdrawn" in run(data, "terminals").output
    assert "never reused" in run(data, "terminal", "add", "T-020", code=1).output
    assert "not an active signing key" in run(data, "keys", "retire", "nope", code=1).output
    run(data, "keys", "rotate")
    keys = json.loads(run(data, "keys", "list", "--json").output)
    assert [(k["key_id"], k["root"]) for k in keys] == [
        ("backoffice-1", True),
        ("backoffice-2", False),
    ]
    assert "do not know backoffice-2" in run(data, "keys", "retire", "backoffice-1", code=1).output
    run(data, "publish")
    run(data, "keys", "retire", "backoffice-1")
    assert "backoffice-2" in run(data, "keys", "list").output.split("(active, root)")[0]


def test_policy_set_checks_toml(data: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('version = 1\nvenue_zh = "unterminated\n', encoding="utf-8")
    assert "is not valid TOML" in run(data, "policy", "set", str(broken), code=1).output
    venue = tmp_path / "venue.toml"
    venue.write_text('version = 1\nvenue_zh = "图书馆"\n', encoding="utf-8")
    run(data, "publish")
    run(data, "policy", "set", str(venue))
    published = json.loads(run(data, "publish", "--json").output)["published"]
    assert [(p["list"], p["version"], p["reason"]) for p in published] == [("policy", 2, "changed")]


def test_issuer_commands(data: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    pem = tmp_path / "issuer.pem"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    run(
        data, "issuer", "add", "--kid", "0011223344556677", "--alg", "es256",
        "--public-key-file", str(pem), "--regions", "31,3205", "--valid-from", "2026-01-01",
        "--valid-until", "2028-01-01", "--test",
    )  # fmt: skip
    [key] = json.loads(run(data, "issuer", "list", "--json").output)
    assert (key["regions"], key["test"], key["revoked"]) == (["31", "3205"], True, False)
    run(data, "issuer", "revoke", "0011223344556677")
    assert "revoked" in run(data, "issuer", "list").output
    assert "no issuer key" in run(data, "issuer", "revoke", "ffffffffffffffff", code=1).output
    published = json.loads(run(data, "publish", "--json").output)["published"]
    assert ("issuers", 1) in [(p["list"], p["version"]) for p in published]


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found += _commands(command, f"{path} ")
        else:
            found.append((path, command))
    return found


@pytest.mark.parametrize(("path", "command"), _commands(main))
def test_every_command_has_help_and_a_readme_entry(path: str, command: click.Command) -> None:
    assert command.help, f"ykt-backoffice {path} has no help text"
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0
    assert f"ykt-backoffice {path}" in README.read_text("utf-8"), f"README lacks {path}"


def test_a_stick_copy_is_a_valid_repository(data: Path, tmp_path: Path) -> None:
    run(data, "publish")
    stick = tmp_path / "stick"
    run(data, "export", str(stick))
    shutil.rmtree(stick / "objects")
    run(data, "export", str(stick))
    assert Repository(stick).versions("deny") == [1]
