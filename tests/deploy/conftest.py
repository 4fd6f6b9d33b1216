"""deploy/install run into fresh root folders, and what the tests need around it.

The Python packages come from a wheelhouse built once (kept beside this virtual environment,
keyed by the project's dependencies, so later sessions reuse it) and handed to the installer
with ``--wheelhouse``: an offline install, as on a site without network.  A tool the tests
need (systemd-analyze, unshare, ...) that is missing skips a test on a developer's machine and
FAILS it when ``CI=true``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import (
    REPO,
    SYSTEM_PYTHON,
    Installed,
    install_into,
    need,
    next_version,
    project,
    project_version,
    provide_base_system,
)

from apdu.emulator.stack import PcscStack
from apdu.errors import ApduError


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """Wheels of every dependency of ykt-terminal, and of its build backend."""
    need(SYSTEM_PYTHON.exists(), f"{SYSTEM_PYTHON} is missing (Debian's python3)")
    metadata = project()
    dependencies = [str(dep) for dep in metadata["dependencies"]]  # type: ignore[index]
    # the installer installs the gpio extra too (a GPIO gate relay on any terminal)
    dependencies += [str(dep) for dep in metadata["optional-dependencies"]["gpio"]]  # type: ignore[index]
    build = ["setuptools>=77", "wheel"]
    key = hashlib.sha256("\n".join([*dependencies, *build, sys.version]).encode()).hexdigest()
    folder = Path(sys.prefix) / "ykt-deploy-wheelhouse" / key[:16]
    done = folder / ".complete"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder),
             *dependencies, *build],
            capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
        need(result.returncode == 0, f"cannot build the wheelhouse: {result.stderr[-800:]}")
        done.touch()
    return folder


@pytest.fixture(scope="session")
def upgrade_wheel(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A ykt-terminal wheel of this source with a higher version: the next release."""
    stage = tmp_path_factory.mktemp("next-source")
    shutil.copy(REPO / "README.md", stage)
    shutil.copytree(
        REPO / "src", stage / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    version = project_version()
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (stage / "pyproject.toml").write_text(
        text.replace(f'version = "{version}"', f'version = "{next_version(version)}"', 1),
        encoding="utf-8",
    )
    out = tmp_path_factory.mktemp("next-wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
         "--find-links", str(wheelhouse), "--wheel-dir", str(out), str(stage)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("ykt_terminal-*.whl")
    return wheel


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Installed:
    """One fresh install from this source tree; tests only read it (or add what a base
    Debian system would have, as ``systemd_root`` does)."""
    root = tmp_path_factory.mktemp("fresh-root")
    return Installed(root, install_into(root, wheelhouse))


@pytest.fixture(scope="session")
def systemd_root(installed: Installed) -> Path:
    """The installed root, with what Debian's base system adds for the units to verify."""
    provide_base_system(installed.root)
    return installed.root


@pytest.fixture(scope="module")
def pcsc_stack() -> Iterator[PcscStack]:
    """pcscd + vpcd (tests/integration's way): started only if none runs, stopped only if
    started here; a stack that cannot come up skips, and fails under CI=true.  Module-scoped:
    the pcscd started here is gone before tests/integration starts its own (which it must
    own, to restart it)."""
    stack = PcscStack()
    try:
        result = subprocess.run(
            [str(REPO / "dev"), "setup-system"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"./dev setup-system failed: {result.stderr.strip()[-500:]}")
        stack.start()
    except (ApduError, RuntimeError, OSError) as exc:
        need(False, f"the PC/SC stack (pcscd + vpcd) cannot come up: {exc}")
    try:
        yield stack
    finally:
        stack.stop()
