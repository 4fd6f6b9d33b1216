"""`ykt` as a person runs it, against emulated cards on the real stack: output and exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from apdu.emulator import Fault, load_holders
from apdu.emulator.stack import CARD_READER, SAM_READER, PcscStack
from apdu.emulator.vpcd import VpcdLink
from apdu.pcsc import PcscContext
from terminal.errors import ExitCode

InsertCard = Callable[..., VpcdLink]

pytestmark = pytest.mark.pcsc

YKT = str(Path(sys.executable).with_name("ykt"))
HOLDER = load_holders()["sh-gen3"]


def ykt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [YKT, *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: ExitCode) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ykt: ")


def test_readers_lists_the_card(insert_card: InsertCard) -> None:
    insert_card("sh-gen3")
    result = ykt("readers", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    card_row = next(r for r in rows if r["reader"] == CARD_READER)
    assert card_row["card_present"] is True
    assert card_row["atr"].startswith("3B6D")


def test_read_masks_by_default(insert_card: InsertCard) -> None:
    insert_card("sh-gen3")
    result = ykt("read", "--security-module", "software", "--reader", CARD_READER)
    assert result.returncode == 0, result.stderr
    assert "3101**********1234" in result.stdout
    assert "张*\n" in result.stdout  # family name and one star: not even the length shows
    assert HOLDER.card_id[-16:] not in result.stdout  # the ATR's card serial is masked too
    assert HOLDER.ssn not in result.stdout
    assert HOLDER.name not in result.stdout
    assert HOLDER.card_number not in result.stdout


def test_read_json_reveal(insert_card: InsertCard) -> None:
    insert_card("sh-gen3")
    result = ykt("read", "--json", "--reveal", "--security-module", "software")
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert card["ssn"] == HOLDER.ssn
    assert card["name"] == HOLDER.name
    assert card["authentic"] == "verified"
    assert card["complete"] is True
    assert card["masked"] is False


def test_read_basline_is_the_vendor_line(insert_card: InsertCard, psam: str) -> None:
    insert_card("sh-gen3")
    result = ykt(
        "read",
        "--format",
        "basline",
        "--reveal",
        "--security-module",
        f"psam:{psam}",
        "--terminal-number",
        "T01",
        "--device-number",
        "D99",
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.rstrip("\n")
    assert line.endswith("|")
    fields = line.split("|")[:-1]
    assert fields == [
        "310100",
        HOLDER.ssn,
        HOLDER.card_number,
        HOLDER.card_id,
        HOLDER.name,
        "00535343030000000000A10001",
        "3.00",
        "20230510",
        "20330510",
        "T01",
        "D99",
    ]


def test_gen3_without_module_is_flagged_incomplete(insert_card: InsertCard) -> None:
    insert_card("sh-gen3")
    result = ykt("read", "--json", "--security-module", "none")
    assert_clean_failure(result, ExitCode.INCOMPLETE)
    card = json.loads(result.stdout)
    assert card["complete"] is False
    assert card["ssn"] is None
    assert "ssn" in card["unavailable"]
    basline = ykt("read", "--format", "basline", "--security-module", "none")
    assert_clean_failure(basline, ExitCode.INCOMPLETE)
    assert basline.stdout == ""


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.NOT_SSC, ExitCode.NOT_SSC),
        (Fault.GARBAGE, ExitCode.CARD_UNREADABLE),
        (Fault.SHORT_RESPONSE, ExitCode.CARD_UNREADABLE),
        (Fault.TRUNCATED_TLV, ExitCode.CARD_UNREADABLE),
        (Fault.WRONG_SW, ExitCode.CARD_UNREADABLE),
        (Fault.BAD_NAME, ExitCode.CARD_UNREADABLE),
        (Fault.PULL_AFTER, ExitCode.CARD_REMOVED),
        (Fault.CLONE, ExitCode.NOT_AUTHENTIC),
    ],
    ids=lambda value: getattr(value, "value", None) or getattr(value, "name", ""),
)
def test_faults_have_distinct_exit_codes(
    fault: Fault, code: ExitCode, insert_card: InsertCard
) -> None:
    insert_card("zj-gen2", fault, pull_after=4)
    result = ykt("read", "--security-module", "software")
    assert_clean_failure(result, code)


def test_empty_reader_times_out(stack: PcscStack) -> None:
    del stack
    result = ykt("read", "--reader", CARD_READER, "--wait", "0.3")
    assert_clean_failure(result, ExitCode.NO_CARD)
    assert "no card was presented" in result.stderr


def test_unknown_reader_pattern(stack: PcscStack) -> None:
    del stack
    result = ykt("read", "--reader", "no such reader")
    assert_clean_failure(result, ExitCode.NO_READER)
    assert CARD_READER in result.stderr  # it says which readers there are


def test_missing_psam_is_a_security_module_error(insert_card: InsertCard) -> None:
    insert_card("sh-gen3")
    result = ykt("read", "--security-module", f"psam:{SAM_READER}")
    assert_clean_failure(result, ExitCode.SECURITY_MODULE)
    assert "PSAM" in result.stderr


def test_pcscd_not_running_is_named(stack: PcscStack) -> None:
    del stack
    env = dict(os.environ, PCSCLITE_CSOCK_NAME="/nonexistent/pcscd.comm")
    for command in (["readers"], ["read"]):
        result = ykt(*command, env=env)
        assert_clean_failure(result, ExitCode.SERVICE_DOWN)
        assert "card service (pcscd) is not running" in result.stderr


def test_dev_card_process_serves_a_card_until_stopped(stack: PcscStack) -> None:
    process = subprocess.Popen(
        [YKT, "dev", "card", "--holder", "js-gen1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with PcscContext() as context:
            context.wait_for_card(CARD_READER, timeout=15)
        result = ykt("read", "--json", "--reveal", "--wait", "0")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["name"] == load_holders()["js-gen1"].name
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "js-gen1" in out
    with PcscContext() as context:
        context.wait_for_removal(CARD_READER, timeout=10)


def test_missing_key_file_is_a_configuration_error(insert_card: InsertCard) -> None:
    insert_card("zj-gen2")
    result = ykt("read", "--security-module", "software:/nonexistent/keys.toml")
    assert_clean_failure(result, ExitCode.CONFIG)
    assert "/nonexistent/keys.toml" in result.stderr


def test_slow_card_reads_through_the_cli(insert_card: InsertCard) -> None:
    insert_card("js-gen1", Fault.SLOW, slow_seconds=0.02)
    result = ykt("read", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["complete"] is True
