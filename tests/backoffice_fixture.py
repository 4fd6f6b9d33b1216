"""A real reference back office (``ykt-backoffice serve``) on a free loopback port, for tests.

Use it from any test folder::

    # conftest.py
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/
    from backoffice_fixture import backoffice_server  # noqa: E402, F401  (the fixture)

``backoffice_server`` initialises a data directory in ``tmp_path``, starts the server as a
subprocess (``python -m backoffice serve --port 0``), waits for its ``listening on URL`` line
and yields a :class:`RunningBackOffice`: its ``url``, ``repo_url``, ``data`` directory and
``cli(...)`` to run admin commands on the same data (``terminal add``, ``publish``...).  The
server is stopped with SIGTERM afterwards (and must exit 0).  When it cannot start, the test
is skipped, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 30.0


def backoffice_env() -> dict[str, str]:
    """The environment for ``python -m backoffice``: this checkout's sources first."""
    env = dict(os.environ)
    paths = [str(ROOT / "src"), str(ROOT / "deploy" / "backoffice" / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("YKT_BACKOFFICE_DATA", None)
    return env


def run_cli(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ykt-backoffice ARGS --data DATA`` in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "backoffice", *args, "--data", str(data)],
        capture_output=True,
        text=True,
        env=backoffice_env(),
        timeout=60,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"ykt-backoffice {' '.join(args)} exited {result.returncode}: {result.stderr}"
        )
    return result


@dataclass(frozen=True)
class RunningBackOffice:
    url: str
    data: Path
    process: subprocess.Popen[bytes]
    #: the server's standard error (its log) and standard output
    log: Path
    out: Path

    @property
    def repo_url(self) -> str:
        return f"{self.url}/repo"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli(self.data, *args, check=check)

    def cli_json(self, *args: str) -> object:
        return json.loads(self.cli(*args, "--json").stdout)

    def root_key(self) -> dict[str, object]:
        """The signing key a terminal is enrolled with (``ykt enrol --root-key``)."""
        keys = self.cli_json("keys", "list")
        assert isinstance(keys, list)
        return next(key for key in keys if key["root"])

    def add_terminal(self, terminal_id: str) -> str:
        """A one-time enrolment token for ``terminal_id``."""
        answer = self.cli_json("terminal", "add", terminal_id)
        assert isinstance(answer, dict)
        return str(answer["token"])


def _give_up(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def start_backoffice(data: Path, *, initialise: bool = True) -> Iterator[RunningBackOffice]:
    """Start ``ykt-backoffice serve`` on ``data`` (initialised first unless told otherwise)."""
    if initialise:
        result = run_cli(data, "init", check=False)
        if result.returncode != 0:
            _give_up(f"ykt-backoffice init failed: {result.stderr}")
    log = data.parent / f"{data.name}-server.log"
    out = data.parent / f"{data.name}-server.out"
    with log.open("wb") as stderr, out.open("wb") as stdout:
        process = subprocess.Popen(
            [sys.executable, "-m", "backoffice", "serve", "--data", str(data),
             "--host", "127.0.0.1", "--port", "0"],
            stdout=stdout, stderr=stderr, env=backoffice_env(),
        )  # fmt: skip
    try:
        url = _wait_for_url(process, out, log)
        yield RunningBackOffice(url, data, process, log, out)
    finally:
        stop(process)


def _wait_for_url(process: subprocess.Popen[bytes], out: Path, log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        first = out.read_text("utf-8", "replace").partition("\n")
        if first[1]:
            if not first[0].startswith("listening on http://"):
                _give_up(f"unexpected first line from the back office: {first[0]!r}")
            return first[0].removeprefix("listening on ")
        if process.poll() is not None:
            _give_up(
                f"the back office exited {process.returncode} before listening: "
                f"{log.read_text('utf-8', 'replace')[-2000:]}"
            )
        time.sleep(0.02)
    _give_up(f"the back office did not listen within {START_TIMEOUT_S} s")
    raise AssertionError("unreachable")


def stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    """SIGTERM, then wait (SIGKILL if it does not stop); the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@pytest.fixture
def backoffice_server(tmp_path: Path) -> Iterator[RunningBackOffice]:
    with start_backoffice(tmp_path / "backoffice") as server:
        yield server
