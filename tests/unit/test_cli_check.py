"""`ykt check` and `ykt verify-code` with codes from standard input and a serial scanner (a pty),
on a demo store; no PC/SC needed."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from terminal.cli import main
from terminal.errors import ExitCode


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {
        "YKT_STORE": str(tmp_path / "store.db"),
        "YKT_TERMINAL_ID": "DESK-2",
        "YKT_PRODUCTION": "0",  # a demo store: codes are signed with test issuer keys
    }
    result = CliRunner().invoke(main, ["dev", "seed-store"], env=environment)
    assert result.exit_code == 0, result.output
    assert "applied  issuers version 1" in result.output
    return environment


def issue(env: dict[str, str], holder: str) -> str:
    result = CliRunner().invoke(main, ["dev", "issue-code", holder], env=env)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_code_from_stdin(env: dict[str, str]) -> None:
    code = issue(env, "qingpu-senior-gen3")  # reserved all day; 65+ (no time window)
    result = CliRunner().invoke(
        main, ["check", "--from", "stdin", "--service", "museum.entry", "--json"],
        input=code + "\t", env=env,
    )  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.output
    verdict = json.loads(result.output)
    assert verdict["outcome"] == "admit_with_benefit"
    assert verdict["benefit"]["id"] == "senior-free"
    assert verdict["credential"]["name"] == "赵*"


def test_text_output_names_outcome_reasons_and_record(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["check", "--from", "stdin", "--service", "museum.entry"],
        input="YKTR1:M-DEMO-0001\n", env=env,
    )  # fmt: skip
    assert result.exit_code == ExitCode.OK, result.output
    assert result.output.startswith("✔ 通行 ADMIT\n")
    assert "预约已核验" in result.output
    assert "Reservation confirmed" in result.output
    assert "recorded journal record 1" in result.output
    assert "M-DEMO-0001" not in result.output  # the reservation id is masked too


def test_unrecognised_code_is_denied_and_says_what_it_looks_like(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["check", "--from", "stdin", "--json"], input="https://pay.example/x?id=1\n",
        env=env,
    )  # fmt: skip
    assert result.exit_code == ExitCode.VERDICT_DENY
    reason = json.loads(result.output)["reasons"][0]
    assert reason["code"] == "code_not_recognised"
    assert "URL" in reason["en"]
    assert "pay.example" not in result.output


def test_platform_code_offline_is_referred(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["check", "--from", "stdin", "--json"], input="MOHRSS:abcdef0123\n", env=env
    )
    assert result.exit_code == ExitCode.VERDICT_REFER
    reason = json.loads(result.output)["reasons"][0]
    assert reason["code"] == "code_needs_network"
    assert reason["en"] == "This code needs the network — please show your card"


def test_no_code_before_input_ends(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["check", "--from", "stdin"], input="", env=env)
    assert result.exit_code == ExitCode.NO_CARD
    assert "no code was scanned" in result.output


def test_unknown_service_is_refused_before_any_tap(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["check", "--from", "stdin", "--service", "zoo.entry"], input="x\n", env=env
    )
    assert result.exit_code == ExitCode.POLICY
    assert "zoo.entry" in result.output


def test_code_from_a_serial_scanner(env: dict[str, str]) -> None:
    code = issue(env, "sh-gen3")
    master, slave = os.openpty()
    port = os.ttyname(slave)

    def scan() -> None:
        time.sleep(0.3)
        half = len(code) // 2
        os.write(master, code[:half].encode())  # a scanner's bytes arrive in pieces
        time.sleep(0.05)
        os.write(master, code[half:].encode() + b"\r\n")

    writer = threading.Thread(target=scan)
    writer.start()
    try:
        result = CliRunner().invoke(
            main, ["check", "--from", f"serial:{port}@115200,crlf", "--json", "--wait", "10",
                   "--service", "library.entry"], env=env,
        )  # fmt: skip
    finally:
        writer.join()
        os.close(master)
        os.close(slave)
    assert result.exit_code == ExitCode.OK, result.output
    assert json.loads(result.output)["credential"]["kind"] == "essc-qr"


def test_missing_serial_port_has_its_own_exit_code(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["check", "--from", f"serial:{tmp_path / 'ttyNONE'}"], env=env
    )
    assert result.exit_code == ExitCode.SCANNER
    assert "ttyNONE" in result.output


def test_verify_code_reports_each_kind(env: dict[str, str]) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["verify-code", issue(env, "zj-gen2"), "--json"], env=env)
    assert good.exit_code == ExitCode.OK, good.output
    shown = json.loads(good.output)
    assert shown["valid"] is True
    assert shown["issuer"] == "330000"
    assert shown["replayed"] is False
    forged = issue(env, "zj-gen2")[:-4] + "AAAA"
    bad = runner.invoke(main, ["verify-code", forged, "--json"], env=env)
    assert bad.exit_code == ExitCode.CODE_REJECTED
    assert json.loads(bad.output)["valid"] is False
    other = runner.invoke(main, ["verify-code", "130123456789012345"], env=env)
    assert other.exit_code == ExitCode.CODE_NOT_RECOGNISED
    assert "130123456789012345" not in other.output


def test_verify_code_records_nothing(env: dict[str, str]) -> None:
    code = issue(env, "sh-gen3")
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(main, ["verify-code", code, "--json"], env=env)
        assert json.loads(result.output)["replayed"] is False
    stats = runner.invoke(main, ["store", "stats", "--json"], env=env)
    assert json.loads(stats.output)["journal"] == {"pending": 0, "in_batch": 0, "acknowledged": 0}
