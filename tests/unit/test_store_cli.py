"""`ykt store check` and `ykt store stats` on stores made here: output and exit codes."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from offline_store.holder_refs import HolderKeyer
from offline_store.issuer_keys import EDDSA, IssuerKey
from offline_store.journal import UsageEvent
from offline_store.journal_file import journal_path_for
from offline_store.store import DenyEntry, DenyReason, ListVersion, Store, deny_records, digest_of
from offline_store.trust import ED25519, TrustedKey
from terminal.cli import main
from terminal.errors import ExitCode
from terminal.terminal_keys import TerminalKeys

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
KEYS = TerminalKeys(b"L" * 32, b"J" * 32)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    (tmp_path / "terminal-keys.toml").write_text(KEYS.to_toml())
    keyer = HolderKeyer(KEYS.list_key)
    entries = [
        DenyEntry(keyer.card_ref(f"310100D1560000050000{n:012X}"), DenyReason.LOST, "310100")
        for n in range(50)
    ]
    records = deny_records(entries)
    digest, count = digest_of(records)
    with Store.open(path, journal_key=KEYS.journal_key) as store:
        store.apply_deny_snapshot(ListVersion(4, NOW, NOW, count, digest), records, now=NOW)
        for _ in range(3):
            store.journal.append_event(
                UsageEvent("T-1", NOW, True, "admit", (), {"deny": 4}, bytes(16), "card")
            )
    return path


def run(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def test_check_reports_chains_and_versions(store_path: Path) -> None:
    result = run("store", "--store", str(store_path), "check", "--full")
    assert result.exit_code == 0, result.output
    assert "3 usage events, chain ok" in result.output
    assert "list deny    version 4, 50 entries" in result.output
    assert "re-digested ok" in result.output


def test_stats_json(store_path: Path) -> None:
    result = run("store", "--store", str(store_path), "stats", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["lists"]["deny"]["entries"] == 50
    assert figures["lists"]["deny"]["expired"] is True  # valid until NOW, which has passed
    assert figures["journal"]["pending"] == 3


def test_missing_store_and_missing_keys(tmp_path: Path, store_path: Path) -> None:
    missing = run("store", "--store", str(tmp_path / "nope.db"), "check")
    assert missing.exit_code == ExitCode.STORE_MISSING
    no_keys = run("store", "--store", str(store_path), "--keys", str(tmp_path / "k"), "check")
    assert no_keys.exit_code == ExitCode.CONFIG


def test_a_tampered_journal_has_its_exit_code(store_path: Path) -> None:
    raw = sqlite3.connect(journal_path_for(store_path), isolation_level=None)
    raw.execute("UPDATE chain_records SET body = body || ' ' WHERE seq = 2")
    raw.close()
    result = run("store", "--store", str(store_path), "check")
    assert result.exit_code == ExitCode.JOURNAL_TAMPERED
    assert "broken at record 2" in result.output


def test_a_damaged_list_has_its_exit_code(store_path: Path) -> None:
    raw = sqlite3.connect(store_path, isolation_level=None)
    raw.execute(
        "UPDATE deny_entries SET reason = 4 "
        "WHERE card_ref = (SELECT min(card_ref) FROM deny_entries)"
    )
    raw.close()
    quick = run("store", "--store", str(store_path), "check")
    assert quick.exit_code == 0  # the quick check does not re-digest lists
    full = run("store", "--store", str(store_path), "check", "--full")
    assert full.exit_code == ExitCode.LIST_DAMAGED
    assert "re-sync the list" in full.output


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not sqlite" * 100)
    (tmp_path / "terminal-keys.toml").write_text(KEYS.to_toml())
    result = run("store", "--store", str(path), "check")
    assert result.exit_code == ExitCode.STORE_CORRUPT
    assert "re-sync the lists" in result.output


def test_an_empty_or_foreign_file_is_not_taken_for_a_store(tmp_path: Path) -> None:
    (tmp_path / "terminal-keys.toml").write_text(KEYS.to_toml())
    empty = tmp_path / "store.db"
    empty.touch()
    result = run("store", "--store", str(empty), "check")
    assert result.exit_code == ExitCode.STORE_CORRUPT
    assert empty.stat().st_size == 0  # not turned into a new, empty store
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)")
    result = run("store", "--store", str(foreign), "--keys", str(tmp_path / "terminal-keys.toml"),
                 "check")  # fmt: skip
    assert result.exit_code == ExitCode.STORE_CORRUPT
    assert "not an offline store" in result.output


def test_full_check_of_a_store_with_trust_keys(store_path: Path) -> None:
    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )
    with Store.open(store_path, journal_key=KEYS.journal_key) as store:
        store.trust.provision_root(
            TrustedKey("root", ED25519, public, NOW, NOW + dt.timedelta(days=3650))
        )
    result = run("store", "--store", str(store_path), "check", "--full")
    assert result.exit_code == 0, result.output


def test_a_damaged_upload_state_is_an_exit_code_not_a_traceback(store_path: Path) -> None:
    raw = sqlite3.connect(journal_path_for(store_path), isolation_level=None)
    raw.execute("UPDATE chain_records SET upload_state = 'sent' WHERE seq = 1")
    raw.close()
    result = run("store", "--store", str(store_path), "stats")
    assert result.exit_code == ExitCode.JOURNAL_TAMPERED
    assert "unknown upload state" in result.output


def test_full_check_of_a_store_with_issuer_keys(store_path: Path) -> None:
    """The issuers list is re-checked like the trust keys (its count), not refused as unknown."""
    key = IssuerKey(bytes(8), EDDSA, bytes(32), ("31",), NOW, NOW + dt.timedelta(days=1))
    with Store.open(store_path, journal_key=KEYS.journal_key) as store:
        stated = ListVersion(1, NOW, NOW, 1, b"i" * 32)
        assert store.apply_issuer_keys(stated, [key], content_digest=b"i" * 32, now=NOW)
    result = run("store", "--store", str(store_path), "check", "--full")
    assert result.exit_code == 0, result.output
    assert "list issuers version 1, 1 entries" in result.output
    raw = sqlite3.connect(store_path, isolation_level=None)
    raw.execute("DELETE FROM issuer_keys")
    raw.close()
    damaged = run("store", "--store", str(store_path), "check", "--full")
    assert damaged.exit_code == ExitCode.LIST_DAMAGED
    assert "re-sync the issuers list" in damaged.output


def test_check_and_stats_cover_both_files(store_path: Path) -> None:
    journal = journal_path_for(store_path)
    checked = run("store", "--store", str(store_path), "check")
    assert checked.exit_code == 0, checked.output
    assert f"list file    {store_path}: integrity ok (quick check)" in checked.output
    assert f"journal file {journal}: integrity ok (quick check)" in checked.output
    figures = json.loads(run("store", "--store", str(store_path), "stats", "--json").output)
    assert figures["store"] == str(store_path)
    assert figures["journal_file"] == str(journal)
    assert figures["journal_file_bytes"] == journal.stat().st_size > 0
    assert figures["bytes"] == store_path.stat().st_size
    text = run("store", "--store", str(store_path), "stats").output
    assert f"journal file {journal} (" in text


def test_a_missing_journal_file_is_an_exit_code_and_not_recreated(store_path: Path) -> None:
    journal = journal_path_for(store_path)
    journal.unlink()
    for command in ("check", "stats"):
        result = run("store", "--store", str(store_path), command)
        assert result.exit_code == ExitCode.JOURNAL_TAMPERED, result.output
        assert "journal file" in result.output
        assert "missing" in result.output
        assert not journal.exists()


def test_a_damaged_journal_file_is_named(store_path: Path) -> None:
    journal = journal_path_for(store_path)
    journal.write_bytes(b"this is not sqlite" * 100)
    result = run("store", "--store", str(store_path), "check")
    assert result.exit_code == ExitCode.STORE_CORRUPT
    assert str(journal) in result.output
    assert "evidence" in result.output
