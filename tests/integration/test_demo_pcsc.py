"""``ykt demo`` through the real PC/SC stack: the script run shows every kind of verdict from
emulated cards in pcscd's reader (read by the app's reader watch with the test PSAM), and the
terminal app itself, in a real terminal (tmux), shows F1's admit and F2's deny."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_run_tmux import _screen, _wait_for, tmux  # noqa: F401  (the fixture, shared)

from apdu.emulator import load_holders
from apdu.emulator.stack import PcscStack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared expectations
from demo_script import assert_every_key_as_expected

pytestmark = pytest.mark.pcsc

YKT = str(Path(sys.executable).with_name("ykt"))
BACKOFFICE = Path(sys.executable).with_name("ykt-backoffice")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
THROUGH_PCSCD = "reader: emulated cards in 'Virtual PCD 00 00', test PSAM in 'Virtual PCD 00 01'"


@pytest.fixture
def backoffice_installed() -> None:
    if not BACKOFFICE.is_file():
        if IN_CI:
            pytest.fail(f"{BACKOFFICE} is missing: ./dev setup installs the back office")
        pytest.skip(f"{BACKOFFICE} is missing (./dev setup installs it)")


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("backoffice_installed")
def test_the_script_shows_every_kind_of_verdict_through_pcscd(stack: PcscStack) -> None:
    del stack  # pcscd is up (or this fails under CI); the demo uses it, and leaves it running
    started = time.monotonic()
    result = subprocess.run(
        [YKT, "demo", "--script"], capture_output=True, text=True, timeout=150, check=False
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert THROUGH_PCSCD + " (pcscd already running)" in lines, result.stdout
    assert any(line.startswith("lists:  reference back office at http://127.0.0.1:")
               for line in lines)  # fmt: skip
    assert not [line for line in lines if line.startswith("note:")]  # nothing fell back
    assert_every_key_as_expected(lines)
    assert took < 60, f"the whole demo took {took:.1f} s"  # every kind of verdict in a minute
    holders = load_holders()
    for holder in holders.values():  # verdict lines never show who
        assert holder.name not in result.stdout
        assert holder.card_number not in result.stdout


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("backoffice_installed")
def test_the_demo_app_shows_f1_admit_and_f2_deny(stack: PcscStack, tmux: str) -> None:  # noqa: F811
    del stack
    started = time.monotonic()
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", tmux, "-x", "120", "-y", "32",
         shlex.join([YKT, "demo"]) + "; sleep 60"],  # the console stays readable after
        check=True,
    )  # fmt: skip
    _wait_for(tmux, "reader: ready", 60)
    ready = time.monotonic() - started
    print(f"ykt demo: start to ready {ready:.1f} s")
    screen = _wait_for(tmux, "online", 30)  # the sync loop reached the demo back office
    assert "clock trusted" in screen
    assert "F10 staff D-001 PIN 123456" in screen  # the demo PINs are on screen
    assert "F11 staff T-001 PIN 654321" in screen

    subprocess.run(["tmux", "send-keys", "-t", tmux, "F1"], check=True)
    screen = _wait_for(tmux, "ADMIT")
    assert "✔ 通行 ADMIT" in screen
    assert "S******01" in screen  # masked
    assert load_holders()["sh-gen3"].name not in screen
    subprocess.run(["tmux", "send-keys", "-t", tmux, "F2"], check=True)
    screen = _wait_for(tmux, "DENY")
    assert "✘ 禁止通行 DENY" in screen
    assert "挂失" in screen or "reported lost" in screen

    subprocess.run(["tmux", "send-keys", "-t", tmux, "C-q"], check=True)
    screen = _wait_for(tmux, "back office: http://127.0.0.1:")  # the console again, after the app
    folder = re.search(r"\(data (/\S+)/backoffice\)", screen)
    assert folder is not None, screen
    deadline = time.monotonic() + 30
    while Path(folder.group(1)).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(folder.group(1)).exists()  # the venue's folder is gone at exit
    assert "ready in" in _screen(tmux)
