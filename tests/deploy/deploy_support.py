"""Helpers of the deploy tests: running deploy/install, reading the trees it makes."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "deploy" / "install"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
#: The interpreter of the releases' virtual environments: Debian's, as on a terminal.
SYSTEM_PYTHON = Path("/usr/bin/python3")


def need(condition: bool, message: str) -> None:
    """Skip the test when something it needs is missing; under CI=true, fail it instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed (./dev setup-system installs it)")
    assert path is not None
    return path


def project() -> dict[str, object]:
    with (REPO / "pyproject.toml").open("rb") as handle:
        table: dict[str, object] = tomllib.load(handle)["project"]
    return table


def project_version() -> str:
    return str(project()["version"])


def next_version(version: str) -> str:
    major, minor, patch = version.split(".")[:3]
    return f"{major}.{minor}.{int(patch) + 1}"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def changes(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("changed: ")]

    @property
    def plan(self) -> list[str]:
        return [line for line in self.stdout.splitlines() if line.startswith("plan: ")]


def run_install(*args: str | Path, check: bool = True) -> Run:
    result = subprocess.run(
        ["bash", str(INSTALL), *map(str, args)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    run = Run(result.returncode, result.stdout, result.stderr)
    if check:
        assert run.returncode == 0, f"deploy/install failed:\n{run.stdout}\n{run.stderr}"
    return run


def install_into(root: Path, wheelhouse: Path, *args: str | Path, check: bool = True) -> Run:
    """deploy/install --root ROOT, every Python package from the wheelhouse."""
    return run_install(
        "--root", root, "--wheelhouse", wheelhouse, "--python", SYSTEM_PYTHON, *args, check=check
    )


@dataclass
class Installed:
    root: Path
    first: Run


def tree_state(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under root: type, mode, size, mtime, and content hash or link target."""
    state: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            info = path.lstat()
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                state[rel] = ("dir", oct(info.st_mode), info.st_mtime_ns)
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[rel] = ("file", oct(info.st_mode), info.st_size, info.st_mtime_ns, digest)
    return state


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


UNITS = ("ykt-terminal.service", "ykt-sync.service", "ykt-sync.timer")
SYSTEM_UNITS = Path("/usr/lib/systemd/system")


def provide_base_system(root: Path) -> None:
    """Put into root what Debian's base system has and the units refer to: systemd's own units
    (the targets, getty@.service), pcscd's units, and /bin/sh."""
    need(SYSTEM_UNITS.is_dir(), "systemd's units are not installed (Debian package systemd)")
    need((SYSTEM_UNITS / "pcscd.socket").exists(), "pcscd is not installed")
    base = root / "usr" / "lib" / "systemd" / "system"
    if base.exists():
        return
    shutil.copytree(SYSTEM_UNITS, base, symlinks=True)
    (root / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy(os.path.realpath("/bin/sh"), root / "usr" / "bin" / "sh")
    if not (root / "bin").exists():
        (root / "bin").symlink_to("usr/bin")


def verify_unit(root: Path, unit: str) -> str:
    """``systemd-analyze verify --root=ROOT UNIT``: what it said, empty when the unit is clean.

    It exits 0 on warnings such as an unknown key; any output at all counts as a problem."""
    analyze = need_tool("systemd-analyze")
    result = subprocess.run(
        [analyze, "verify", f"--root={root}", unit],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    said = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        said = f"exit {result.returncode}: {said}"
    return said
