"""`ykt run` in a real terminal (tmux): an emulated card through pcscd, the verdict read off
the captured screen, as a person at the gate would see it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apdu.emulator import load_holders
from apdu.emulator.stack import CARD_READER, PcscStack
from apdu.emulator.vpcd import VpcdLink

pytestmark = pytest.mark.pcsc

YKT = str(Path(sys.executable).with_name("ykt"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def tmux() -> Iterator[str]:
    if subprocess.run(["tmux", "-V"], capture_output=True, check=False).returncode != 0:
        if IN_CI:
            pytest.fail("tmux is missing: ./dev setup-system installs it")
        pytest.skip("tmux is missing (./dev setup-system installs it)")
    session = f"ykt-run-{os.getpid()}"
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)


def _screen(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
    ).stdout


def _wait_for(session: str, text: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared on the screen:\n{screen}")


def start_gate(tmp_path: Path, session: str, *, mode: str = "gate") -> None:
    """A demo store, and `ykt run` for a library desk on the emulated reader in ``session``."""
    env = {
        "YKT_STORE": str(tmp_path / "store.db"),
        "YKT_PRODUCTION": "0",
        "PATH": os.environ["PATH"],
    }
    seeded = subprocess.run(
        [YKT, "dev", "seed-store"], capture_output=True, text=True, env={**os.environ, **env},
        timeout=60, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    command = shlex.join([
        "env", *(f"{k}={v}" for k, v in env.items()), YKT, "run", "--mode", mode,
        "--service", "library.borrow",
        "--testing", "--reader", CARD_READER, "--security-module", "software",
        "--clear-after", "60",
    ])  # fmt: skip
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "110", "-y", "30", command], check=True
    )


def test_a_card_on_the_reader_shows_its_verdict_on_the_gate_screen(
    insert_card: Callable[..., VpcdLink], tmp_path: Path, tmux: str
) -> None:
    start_gate(tmp_path, tmux)
    _wait_for(tmux, "reader: ready")
    insert_card("sh-gen3")
    screen = _wait_for(tmux, "ADMIT")
    assert "✔ 通行 ADMIT" in screen  # icon and words, not colour alone
    assert "核验通过，请通行" in screen
    holder = load_holders()["sh-gen3"]
    assert holder.name not in screen  # masked on screen
    assert holder.card_number not in screen
    assert "S******01" in screen
    time.sleep(2)  # the card stays on the reader: still one tap
    assert "queue 1" in _screen(tmux)


def test_pcscd_restarted_under_the_running_app_recovers_without_a_restart(
    stack: PcscStack, insert_card: Callable[..., VpcdLink], tmp_path: Path, tmux: str
) -> None:
    if not stack.started_daemon:  # a pcscd of the system's: not ours to stop
        if IN_CI:
            pytest.fail("CI must run its own pcscd, which this test restarts")
        pytest.skip("pcscd was not started by the tests; it is not ours to restart")
    start_gate(tmp_path, tmux)
    _wait_for(tmux, "reader: ready")
    stack.stop()
    _wait_for(tmux, "card service down")  # the status bar says what is happening meanwhile
    stack.start()
    _wait_for(tmux, "reader: ready")
    insert_card("sh-gen3")
    _wait_for(tmux, "✔ 通行 ADMIT")


def test_a_kiosk_cannot_be_closed_without_a_signed_in_technician(
    insert_card: Callable[..., VpcdLink], tmp_path: Path, tmux: str
) -> None:
    start_gate(tmp_path, tmux, mode="kiosk")
    _wait_for(tmux, "reader: ready")
    insert_card("sh-gen3")  # a registered reader: library.borrow admits
    _wait_for(tmux, "✔ 通行 ADMIT")
    subprocess.run(["tmux", "send-keys", "-t", tmux, "C-q"], check=True)
    _wait_for(tmux, "Staff sign-in (tech)")
    insert_card("sh-staff-gen3")  # a desk clerk's card: not enough to close a kiosk
    _wait_for(tmux, "tech staff only")
    insert_card("zj-tech-gen2")
    _wait_for(tmux, "type your PIN")
    subprocess.run(["tmux", "send-keys", "-t", tmux, "654321", "Enter"], check=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = subprocess.run(["tmux", "has-session", "-t", tmux], capture_output=True,
                               check=False)  # fmt: skip
        if alive.returncode != 0:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"the kiosk did not close after the technician:\n{_screen(tmux)}")
