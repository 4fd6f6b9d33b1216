"""deploy/bin/ykt-console: the app inside fbterm, with the app's exit status (fbterm's is
always 0) and ``TERM=fbterm``.

No framebuffer here: a stand-in ``fbterm`` on ``PATH`` does what fbterm 1.7 does with its
command line (``fbterm [options] -- command args``: the command runs with ``TERM=linux``, and
fbterm exits 0 whatever became of it), or fails as fbterm does without ``/dev/fb0`` (a message
on standard error, exit 0, the command never run).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from deploy_support import REPO

CONSOLE = REPO / "deploy" / "bin" / "ykt-console"

FBTERM = """#!/bin/sh
while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
shift
TERM=linux "$@"
exit 0
"""
NO_FRAMEBUFFER = """#!/bin/sh
echo "can't open frame buffer device!" >&2
exit 0
"""


def _console(tmp_path: Path, fbterm: str, *command: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "fbterm").write_text(fbterm)
    (bin_dir / "fbterm").chmod(0o755)
    runtime = tmp_path / "run"
    runtime.mkdir(exist_ok=True)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "RUNTIME_DIRECTORY": str(runtime)}
    return subprocess.run(
        [str(CONSOLE), *command], capture_output=True, text=True, env=env, check=False, timeout=30
    )


@pytest.mark.parametrize("status", [0, 3, 15])
def test_the_apps_exit_status_is_the_units(tmp_path: Path, status: int) -> None:
    """The unit's status is the app's: a technician's exit (0) is a success, a crash a
    failure (systemd's start limit and `systemctl status` see it)."""
    done = _console(tmp_path, FBTERM, "/bin/sh", "-c", f'echo "TERM=$TERM"; exit {status}')
    assert done.returncode == status, done.stderr
    assert done.stdout == "TERM=fbterm\n"  # fbterm's own name, not the linux it sets
    # The app's own last words were on fbterm's screen: the journal gets the status at least.
    said = f"ykt-console: the app exited with status {status} "
    assert (said in done.stderr) == (status != 0)


def test_an_app_killed_by_a_signal_fails_the_unit(tmp_path: Path) -> None:
    done = _console(tmp_path, FBTERM, "/bin/sh", "-c", "kill -9 $$")
    assert done.returncode == 128 + 9


def test_an_fbterm_that_never_ran_the_app_fails_the_unit(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "app-status").write_text("0\n")  # from an earlier start: not this one's
    done = _console(tmp_path, NO_FRAMEBUFFER, "/bin/true")
    assert done.returncode == 1
    assert "can't open frame buffer device!" in done.stderr
    assert "ykt-console: fbterm ended without running the app" in done.stderr


def test_no_command_is_bad_usage(tmp_path: Path) -> None:
    done = _console(tmp_path, FBTERM)
    assert done.returncode == 2
    assert "usage: ykt-console COMMAND" in done.stderr
