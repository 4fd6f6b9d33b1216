"""A store made before the journal file (one file, m001-m006) upgrades on open, losing nothing;
an upgrade cut short (a kill between the copy and the drop) is finished by the next open."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from single_file_store import (
    LIST_TABLES,
    NOW,
    TAP_TABLES,
    dump,
    fill,
    open_single_file,
    table_names,
)
from sqlite_utils import Database

from offline_store.errors import JournalTampered, StoreCorrupt, StoreError
from offline_store.journal import AUDIT, USAGE, UsageEvent
from offline_store.journal_file import (
    LEGACY,
    copy_tap_side_tables,
    journal_migrations,
    journal_path_for,
    read_only_uri,
)
from offline_store.store import DENY_LIST, SPLIT, Store, migrations
from offline_store.write_job import Writer

KEY = b"upgrade test journal key 0123456"


@pytest.fixture
def single_file(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    store = open_single_file(path, KEY)
    fill(store, taps=120)
    store.close()
    assert not journal_path_for(path).exists()
    assert set(TAP_TABLES) <= table_names(path)
    return path


def test_a_single_file_store_upgrades_keeping_every_record_head_and_list(
    single_file: Path,
) -> None:
    before = dump(single_file)
    assert len(before["chain_records"]) == 120 - 5 + 3  # 5 purged; 3 audit entries
    with Store.open(single_file, journal_key=KEY) as store:
        counts = store.verify_chains()
        states = {state.name: state for state in store.list_states()}
    journal_path = journal_path_for(single_file)
    # each table is in exactly one file, every row unchanged
    assert dump(journal_path, TAP_TABLES) == {table: before[table] for table in TAP_TABLES}
    assert dump(single_file, LIST_TABLES) == {table: before[table] for table in LIST_TABLES}
    assert not set(TAP_TABLES) & table_names(single_file)
    assert not set(LIST_TABLES) & table_names(journal_path)
    assert counts == {USAGE: 115, AUDIT: 3}
    assert {name: state.version for name, state in states.items()} == {
        DENY_LIST: 2, "benefit:museum": 1, "trust": 1, "issuers": 1,
    }  # fmt: skip
    with Store.open(single_file, journal_key=KEY) as store:  # the second open: no upgrade left
        for name in states:
            assert store.verify_list(name)
        assert store.manifest_digest_of(DENY_LIST) == bytes([2]) * 32
        assert [key.key_id for key in store.trust.all()] == ["next", "root"]
        assert store.issuer_keys(bytes(8))
        reader = store.reader()
        (deny_ref,) = [row[0] for row in before["deny_entries"][:1]]
        assert reader.lookup(deny_ref) is not None
        assert reader.trusted_time() == store.trusted_time() is not None
        assert reader.last_tap() is not None
        admitted = [row for row in before["admissions"]]
        assert reader.admissions_since([admitted[0][0]], "museum.entry", NOW)
        assert reader.code_seen(before["seen_codes"][0][0], NOW)
        reader.close()
        # the chain goes on where it stopped, anchor and upload states kept
        assert store.journal.append_event(
            UsageEvent("T-0001", NOW, True, "admit", (), {}, bytes(16), "card")
        ) == 121  # fmt: skip
        assert store.verify_chains() == {USAGE: 116, AUDIT: 3}
        states_now = [record.upload_state.value for record in store.journal.records(USAGE)][:4]
        assert states_now == ["in_batch"] * 3 + ["pending"]


def test_the_drop_refuses_to_run_outside_the_move(single_file: Path) -> None:
    """m007 drops the journal tables only after Store.open has copied and checked them."""
    connection = sqlite3.connect(single_file, isolation_level=None)
    with pytest.raises(StoreError, match=r"only through Store\.open"):
        migrations.apply(Database(connection))
    connection.close()
    assert set(TAP_TABLES) <= table_names(single_file)
    assert SPLIT not in {m.name for m in migrations.applied(Database(sqlite3.connect(single_file)))}


def copy_only(path: Path) -> sqlite3.Connection:
    """Step 1 of the move alone: what a kill after the copy's commit leaves behind."""
    journal = sqlite3.connect(journal_path_for(path), isolation_level=None)
    journal.execute("PRAGMA journal_mode=WAL")
    journal_migrations.apply(Database(journal))
    journal.execute(f"ATTACH DATABASE ? AS {LEGACY}", (read_only_uri(path),))
    copy_tap_side_tables(Writer(journal), journal_path_for(path))
    journal.execute(f"DETACH DATABASE {LEGACY}")
    return journal


def test_a_copy_left_by_a_killed_upgrade_is_checked_and_the_move_finished(
    single_file: Path,
) -> None:
    before = dump(single_file)
    copy_only(single_file).close()
    assert set(TAP_TABLES) <= table_names(single_file)  # both files hold the rows now
    with Store.open(single_file, journal_key=KEY) as store:
        assert store.verify_chains() == {USAGE: 115, AUDIT: 3}
    assert dump(journal_path_for(single_file), TAP_TABLES) == {t: before[t] for t in TAP_TABLES}
    assert not set(TAP_TABLES) & table_names(single_file)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("UPDATE chain_records SET body = body || ' ' WHERE seq = 50", "broken at record 50"),
        ("DELETE FROM admissions WHERE seq = (SELECT max(seq) FROM admissions)",
         "lacks 2 admissions rows"),
        ("DELETE FROM seen_codes WHERE cti = (SELECT min(cti) FROM seen_codes)",
         "lacks 1 seen_codes rows"),
    ],
)  # fmt: skip
def test_a_copy_that_does_not_hold_the_old_rows_is_refused_and_nothing_dropped(
    single_file: Path, change: str, problem: str
) -> None:
    journal = copy_only(single_file)
    journal.execute(change)
    journal.close()
    with pytest.raises(JournalTampered, match=problem):
        Store.open(single_file, journal_key=KEY)
    assert set(TAP_TABLES) <= table_names(single_file)  # the list file's rows are kept


def test_a_journal_file_with_records_of_its_own_is_not_merged(single_file: Path) -> None:
    """A journal file beside a single-file store that was not copied from it: both kept."""
    other = single_file.with_name("other.db")
    with Store.open(other, journal_key=KEY) as store:
        store.journal.append_event(UsageEvent("T-9", NOW, True, "admit", (), {}, bytes(16), "card"))
    journal = sqlite3.connect(journal_path_for(other), isolation_level=None)
    journal.execute("DELETE FROM journal_file")  # as if it had never been paired
    journal.close()
    journal_path_for(other).rename(journal_path_for(single_file))
    with pytest.raises(JournalTampered, match="already holds journal records"):
        Store.open(single_file, journal_key=KEY)
    assert set(TAP_TABLES) <= table_names(single_file)


def test_a_journal_file_cut_short_before_its_first_migration_is_taken_up(
    single_file: Path,
) -> None:
    """sqlite-utils commits its migrations table on its own: a kill right after leaves a
    journal file holding just that, which is not mistaken for a foreign file."""
    journal = sqlite3.connect(journal_path_for(single_file), isolation_level=None)
    journal.execute("PRAGMA journal_mode=WAL")
    journal_migrations.ensure_migrations_table(Database(journal))
    journal.close()
    with Store.open(single_file, journal_key=KEY) as store:
        assert store.verify_chains() == {USAGE: 115, AUDIT: 3}


def test_another_sqlite_file_where_the_journal_file_goes_is_refused(single_file: Path) -> None:
    foreign = sqlite3.connect(journal_path_for(single_file), isolation_level=None)
    foreign.execute("CREATE TABLE photos (x)")
    foreign.close()
    with pytest.raises(StoreCorrupt, match="is another SQLite file: move it aside"):
        Store.open(single_file, journal_key=KEY)
    assert set(TAP_TABLES) <= table_names(single_file)
