"""terminal.ui.fbterm: the app's output as fbterm 1.7 parses it — bright and extended colours
in fbterm's own sequences, nothing it would print as stray text — and ``ykt run`` under
``TERM=fbterm`` (a pseudo-terminal, as fbterm gives it) writing only such output."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from terminal.ui.fbterm import FbtermDriver, driver_for, for_fbterm, xterm_index

YKT = str(Path(sys.executable).with_name("ykt"))

#: what fbterm 1.7's SGR reads (vterm_action.cpp, set_display_attr), besides its ``}`` colours
FBTERM_SGR = {0, 1, 2, 3, 4, 5, 7, 10, 11, 12, 21, 22, 23, 24, 25, 27, 39, 49,
              *range(30, 38), *range(40, 48)}  # fmt: skip
CSI = re.compile(r"\x1b\[([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])")


def fbterm_problems(output: str) -> list[str]:
    """The sequences of ``output`` that fbterm would not parse, or would misread."""
    problems = []
    for match in CSI.finditer(output):
        parameters, intermediates, final = match.groups()
        unknown = bool(intermediates) or not re.fullmatch(r"\??[0-9;]*", parameters)
        if final == "m" and not unknown:
            unknown = bool({int(p or 0) for p in parameters.split(";")} - FBTERM_SGR)
        if final == "}" and not unknown:
            unknown = not re.fullmatch(r"[12];\d{1,3}", parameters)
        if unknown:
            problems.append(match.group(0))
    rest = CSI.sub("", output)
    problems += re.findall(r"\x1b[^78c=>DEHMZ]", rest)  # OSC, DCS, ...: fbterm prints them
    return problems


def test_bright_colours_become_fbterms_own_sequences_in_order() -> None:
    assert for_fbterm("\x1b[0;97;100mhi") == "\x1b[0m\x1b[1;15}\x1b[2;8}hi"
    assert for_fbterm("\x1b[1;91;42m") == "\x1b[1m\x1b[1;9}\x1b[42m"
    assert for_fbterm("\x1b[90;4m") == "\x1b[1;8}\x1b[4m"  # 4 comes after the colour


def test_extended_colours_become_fbterms_256_colours() -> None:
    assert for_fbterm("\x1b[38;5;196;48;5;22m") == "\x1b[1;196}\x1b[2;22}"
    assert for_fbterm("\x1b[1;38;2;0;95;135m") == "\x1b[1m\x1b[1;24}"
    assert for_fbterm("\x1b[38;5m") == ""  # no colour number: not underline-and-blink
    assert xterm_index(0, 0, 0) == 16
    assert xterm_index(255, 255, 255) == 231
    assert xterm_index(128, 128, 128) == 244  # the grey ramp
    assert xterm_index(250, 10, 5) == 196


def test_what_fbterm_cannot_parse_is_left_out_and_the_rest_kept() -> None:
    kept = "\x1b[?1049h\x1b[?25l\x1b[3;1H\x1b[2J\x1b[0m长三角 ✔ ADMIT\x1b[?1000h\x1b[K"
    assert for_fbterm(kept) == kept
    dropped = "\x1b[>25u\x1b[<u\x1b[?2026$p\x1b]22;default\x07\x1b]0;title\x1b\\\x1b[ q"
    assert for_fbterm("a" + dropped + "b") == "ab"
    assert not fbterm_problems(for_fbterm(kept + dropped + "\x1b[97;100m"))
    assert fbterm_problems("\x1b[97m\x1b[>25u\x1b]22;default\x07") == [
        "\x1b[97m", "\x1b[>25u", "\x1b]",
    ]  # fmt: skip


def test_term_fbterm_chooses_the_fbterm_driver() -> None:
    assert driver_for({"TERM": "fbterm"}) is FbtermDriver
    assert driver_for({"TERM": "linux"}) is None
    assert driver_for({}) is None


def _run_in_a_pty(tmp_path: Path, term: str, until: str) -> str:
    """``ykt run --mode kiosk`` in a 64x24 pseudo-terminal with ``TERM=term`` (as fbterm runs
    it), read until ``until`` is on the screen; everything it wrote."""
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(tmp_path),
           "YKT_STORE": str(tmp_path / "store.db"), "YKT_PRODUCTION": "0"}  # fmt: skip
    seeded = subprocess.run([YKT, "dev", "seed-store"], env=env, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    command = [YKT, "run", "--mode", "kiosk", "--no-reader", "--testing"]
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execve(YKT, command, {**env, "TERM": term})
    output = bytearray()
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 64, 0, 0))
        deadline = time.monotonic() + 60
        while until.encode() not in output and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    output += os.read(fd, 65536)
                except OSError:
                    break
        time.sleep(1)  # a few more frames (the status bar, the clock)
        while select.select([fd], [], [], 0.2)[0]:
            try:
                output += os.read(fd, 65536)
            except OSError:
                break
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    text = output.decode("utf-8", "replace")
    assert until in text, text[-2000:]
    return text


def test_ykt_run_under_term_fbterm_writes_only_what_fbterm_parses(tmp_path: Path) -> None:
    output = _run_in_a_pty(tmp_path, "fbterm", until="请刷社保卡")
    assert not fbterm_problems(output)
    assert "\x1b[1;15}" in output  # the bright white Rich writes as 97
    assert "Tap your social security card" in output


def test_on_the_linux_console_the_output_is_textuals_own(tmp_path: Path) -> None:
    """The bare console (``--no-cjk-console``) understands 90–97 itself: nothing is changed."""
    output = _run_in_a_pty(tmp_path, "linux", until="Tap your social security card")
    assert "\x1b[1;15}" not in output
    assert fbterm_problems(output)  # what fbterm would have misread
