"""`ykt check` at a gate: emulated cards on the real pcscd, verdicts, and the journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from apdu.emulator import Fault, load_holders
from apdu.emulator.stack import CARD_READER
from apdu.emulator.vpcd import VpcdLink
from offline_store.journal import USAGE
from offline_store.store import Store
from terminal.errors import ExitCode
from terminal.terminal_keys import TerminalKeys

InsertCard = Callable[..., VpcdLink]

pytestmark = pytest.mark.pcsc

YKT = str(Path(sys.executable).with_name("ykt"))
HOLDERS = load_holders()


@pytest.fixture
def seeded(tmp_path: Path) -> dict[str, str]:
    """A demo store (signed demo lists, test issuer keys, trusted clock) and its environment."""
    env = {
        **os.environ,
        "YKT_STORE": str(tmp_path / "store.db"),
        "YKT_TERMINAL_ID": "GATE-1",
        "YKT_PRODUCTION": "0",  # a demo store: codes are signed with test issuer keys
    }
    result = subprocess.run(
        [YKT, "dev", "seed-store"], capture_output=True, text=True, env=env, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return env


def check(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [YKT, "check", "--json", "--reader", CARD_READER, "--security-module", "software",
         "--wait", "5", *args],
        capture_output=True, text=True, env=env, timeout=60, check=False, input=stdin,
    )  # fmt: skip


def journal(env: dict[str, str]) -> list[dict[str, object]]:
    path = Path(env["YKT_STORE"])
    keys = TerminalKeys.from_file(path.with_name("terminal-keys.toml"))
    with Store.open(path, journal_key=keys.journal_key, create=False) as store:
        assert store.journal.verify(USAGE) >= 0
        return [record.body for record in store.journal.records()]


@pytest.mark.parametrize(
    ("holder", "service", "exit_code", "outcome", "first_reason"),
    [
        ("sh-gen3", "museum.entry", ExitCode.OK, "admit", "reservation_ok"),
        ("qingpu-senior-gen3", "museum.entry", ExitCode.OK, "admit_with_benefit", "benefit"),
        ("zj-gen2", "library.borrow", ExitCode.OK, "admit", "admitted"),
        ("js-gen1", "library.borrow", ExitCode.VERDICT_DENY, "deny", "not_registered_reader"),
        ("sh-lost-gen3", "library.entry", ExitCode.VERDICT_DENY, "deny", "deny_lost"),
        ("expired-gen2", "library.entry", ExitCode.VERDICT_DENY, "deny", "card_expired"),
    ],
)
def test_card_tap_is_decided_and_journalled(
    insert_card: InsertCard, seeded: dict[str, str], holder: str, service: str,
    exit_code: ExitCode, outcome: str, first_reason: str,
) -> None:  # fmt: skip
    insert_card(holder)
    result = check(seeded, "--from", "card", "--service", service)
    assert result.returncode == exit_code, result.stdout + result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["outcome"] == outcome
    assert verdict["reasons"][0]["code"] == first_reason
    assert verdict["recorded"] is True
    assert verdict["clock"]["state"] == "trusted"
    (event,) = journal(seeded)
    assert event["verdict"] == outcome
    assert event["terminal_id"] == "GATE-1"
    assert event["service"] == service
    assert event["credential_kind"] == "card"
    text = result.stdout + json.dumps(event, ensure_ascii=False)
    for secret in (HOLDERS[holder].ssn, HOLDERS[holder].card_number, HOLDERS[holder].name):
        assert secret not in text  # masked on screen, keyed hashes in the journal


def test_a_clone_is_denied(insert_card: InsertCard, seeded: dict[str, str]) -> None:
    insert_card("sh-gen3", Fault.CLONE)
    result = check(seeded, "--from", "card", "--service", "library.entry")
    assert result.returncode == ExitCode.VERDICT_DENY, result.stderr
    assert json.loads(result.stdout)["reasons"][0]["code"] == "not_authentic"


def test_anti_passback_on_a_second_tap(insert_card: InsertCard, seeded: dict[str, str]) -> None:
    insert_card("sh-gen3")
    first = check(seeded, "--from", "card", "--service", "library.entry")
    assert first.returncode == ExitCode.OK, first.stderr
    second = check(seeded, "--from", "card", "--service", "library.entry")
    assert second.returncode == ExitCode.VERDICT_REFER
    assert json.loads(second.stdout)["reasons"][0]["code"] == "anti_passback"
    assert [e["verdict"] for e in journal(seeded)] == ["admit", "refer"]


def test_a_card_pulled_mid_read_is_no_tap(insert_card: InsertCard, seeded: dict[str, str]) -> None:
    insert_card("zj-gen2", Fault.PULL_AFTER, pull_after=3)
    result = check(seeded, "--from", "card", "--service", "library.entry")
    assert result.returncode == ExitCode.CARD_REMOVED, result.stdout + result.stderr
    assert result.stderr.startswith("ykt: ")
    assert journal(seeded) == []  # nothing half-recorded


def test_code_then_its_replay(seeded: dict[str, str]) -> None:
    code = subprocess.run(
        [YKT, "dev", "issue-code", "wujiang-resident-gen3"], capture_output=True, text=True,
        env=seeded, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    first = check(seeded, "--service", "museum.entry", stdin=code + "\r\n")
    assert first.returncode == ExitCode.OK, first.stdout + first.stderr
    assert json.loads(first.stdout)["credential"]["kind"] == "essc-qr"
    again = check(seeded, "--service", "museum.entry", stdin=code + "\n")
    assert again.returncode == ExitCode.VERDICT_DENY
    codes = [r["code"] for r in json.loads(again.stdout)["reasons"]]
    assert "code_replayed" in codes
    events = journal(seeded)
    assert events[0]["code_id"] == events[1]["code_id"]  # the journal has both presentations
    assert events[0]["code_id"]


def test_production_terminal_refuses_test_issuer_keys(seeded: dict[str, str]) -> None:
    code = subprocess.run(
        [YKT, "dev", "issue-code", "sh-gen3"], capture_output=True, text=True, env=seeded,
        timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    result = subprocess.run(
        [YKT, "verify-code", code, "--production", "--json"], capture_output=True, text=True,
        env=seeded, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.CODE_REJECTED
    assert json.loads(result.stdout)["reason"] == "key_not_valid"
    assert "test key" in json.loads(result.stdout)["message"]
    testing = subprocess.run(
        [YKT, "verify-code", code, "--json"], capture_output=True, text=True, env=seeded,
        timeout=60, check=False,
    )  # fmt: skip
    assert testing.returncode == ExitCode.OK, testing.stdout + testing.stderr


def test_bad_policy_is_refused_before_any_tap(seeded: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "venue.toml"
    bad.write_text(
        'version = 1\nvenue_zh = "馆"\nvenue_en = "V"\ndefault_service = "x.y"\n'
        '[services."x.y"]\nname_zh = "入"\nname_en = "In"\ndaily_quota = "two"\n'
    )
    result = check(seeded, "--from", "card", "--policy", str(bad))
    assert result.returncode == ExitCode.POLICY
    assert (
        'venue.toml:8: services."x.y".daily_quota: Input should be a valid integer' in result.stderr
    )
    assert journal(seeded) == []


def test_any_takes_the_card_while_the_scanner_waits(
    insert_card: InsertCard, seeded: dict[str, str]
) -> None:
    insert_card("zj-gen2")
    process = subprocess.Popen(
        [YKT, "check", "--json", "--from", "any", "--security-module", "software", "--wait",
         "10", "--service", "library.borrow"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=seeded,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=30)  # stdin stays open: no code ever comes
    finally:
        process.kill()
    assert process.returncode == ExitCode.OK, out + err
    assert json.loads(out)["credential"]["kind"] == "card"


def test_any_takes_a_code_while_the_reader_is_empty(stack: object, seeded: dict[str, str]) -> None:
    code = subprocess.run(
        [YKT, "dev", "issue-code", "zj-gen2"], capture_output=True, text=True, env=seeded,
        timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    result = subprocess.run(
        [YKT, "check", "--json", "--from", "any", "--wait", "10", "--service",
         "library.borrow"], input=code + "\r", capture_output=True, text=True, env=seeded,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.OK, result.stdout + result.stderr
    assert json.loads(result.stdout)["credential"]["kind"] == "essc-qr"


def test_any_with_neither_times_out(stack: object, seeded: dict[str, str]) -> None:
    result = subprocess.run(
        [YKT, "check", "--from", "any", "--wait", "1"], input="", capture_output=True,
        text=True, env=seeded, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == ExitCode.NO_CARD
    assert "no card and no code within 1 s" in result.stderr
    assert journal(seeded) == []
