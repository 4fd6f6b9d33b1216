"""ykt-terminal.service's hardening leaves PC/SC, the cryptography and the app working.

There is no systemd running here to start the unit, so the test builds what its options do
around the installed release and runs it against the real pcscd with an emulated card:

* the system-call filters, from the unit file itself, with libseccomp as systemd does
  (``unit_sandbox.py``: MemoryDenyWriteExecute, RestrictAddressFamilies, LockPersonality,
  RestrictNamespaces, RestrictRealtime, RestrictSUIDSGID, ProtectKernelModules/Logs,
  ProtectHostname, SystemCallArchitectures=native, NoNewPrivileges);
* ProtectSystem=strict: a private mount namespace in which ``/`` (with /run and pcscd's socket
  folder) is read-only, only the data folder writable (ReadWritePaths/StateDirectory);
* CapabilityBoundingSet= (empty): every capability dropped (setpriv);
* User=ykt: pcscd's socket reached by an unprivileged user with no extra groups.

Not built here (they need systemd): the device cgroup (DevicePolicy/DeviceAllow; the app
opens the console and serial ports only, pcscd is reached through its socket), ProtectHome
and PrivateTmp (the release lives in /opt, its data in /var/lib).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy_support import REPO, SYSTEM_PYTHON, Installed, need, need_tool

from apdu.emulator import FaultPlan, VirtualCard, load_holders, testing_masters
from apdu.emulator.stack import CARD_READER, PcscStack

UNIT = REPO / "deploy" / "systemd" / "ykt-terminal.service"
SANDBOX = Path(__file__).with_name("unit_sandbox.py")
SOCKET = "/run/pcscd/pcscd.comm"
NOBODY = "65534"

pytestmark = pytest.mark.pcsc


def _needs() -> None:
    need(os.geteuid() == 0, "the hardening test makes mount namespaces: run it as root")
    for tool in ("unshare", "setpriv"):
        need_tool(tool)
    probe = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import seccomp"], capture_output=True, check=False
    )
    need(probe.returncode == 0, "Debian's python3-seccomp is not installed")


def _hardened(
    command: list[str],
    writable: Path | None = None,
    user: str | None = None,
    files: tuple[Path, Path] = (SANDBOX, UNIT),
) -> subprocess.CompletedProcess[str]:
    """Run command as ykt-terminal.service would: read-only system, no capabilities, filters
    (and as ``user``, with no supplementary groups, when given)."""
    as_user = [f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []
    mount = ["mount -o remount,bind,ro /"]
    if writable is not None:
        mount.append(f'mount --bind "{writable}" "{writable}"')
        mount.append(f'mount -o remount,bind,rw "{writable}"')
    script = " && ".join([*mount, 'exec "$@"'])
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh",
         "setpriv", *as_user, "--bounding-set=-all", "--inh-caps=-all", "--",
         str(SYSTEM_PYTHON), str(files[0]), str(files[1]), "--", *command],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def readable_copies() -> Iterator[tuple[Path, Path]]:
    """The sandbox script and the unit where an unprivileged user can read them (the
    checkout or pytest's temporary folder may be private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="ykt-hardening-"))
    try:
        folder.chmod(0o755)
        script, unit = folder / SANDBOX.name, folder / UNIT.name
        shutil.copy(SANDBOX, script)
        shutil.copy(UNIT, unit)
        yield script, unit
    finally:
        shutil.rmtree(folder)


def _release_python(installed: Installed) -> str:
    return str(installed.root / "opt/ykt/current/bin/python")


def test_the_filters_are_in_force(installed: Installed) -> None:
    """The control: what the options forbid does fail, so the passes below mean something."""
    _needs()
    probe = """
import errno, mmap, socket
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except PermissionError:
    print("wx-refused")
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)
except OSError as error:
    print("netlink-refused" if error.errno == errno.EAFNOSUPPORT else error)
try:
    open("/run/ykt-hardening-probe", "w")
except OSError as error:
    print("run-read-only" if error.errno == errno.EROFS else error)
"""
    result = _hardened([_release_python(installed), "-c", probe])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wx-refused", "netlink-refused", "run-read-only"]
    assert "MemoryDenyWriteExecute=yes" in result.stderr


def test_the_app_and_its_cryptography_run_hardened(installed: Installed, tmp_path: Path) -> None:
    _needs()
    probe = """
import ctypes, os, sqlite3, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key = Ed25519PrivateKey.generate()
key.public_key().verify(key.sign(b"bundle"), b"bundle")
Cipher(algorithms.SM4(os.urandom(16)), modes.ECB()).encryptor().update(bytes(16))
callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)
assert callback(1) == 2
import cffi, smartcard.System, terminal.cli, terminal.ui.app  # the whole app imports
db = sqlite3.connect(os.path.join(sys.argv[1], "store.db"))
db.execute("pragma journal_mode=wal"); db.execute("create table t (x)"); db.commit()
print("ok")
"""
    result = _hardened([_release_python(installed), "-c", probe, str(tmp_path)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_card_is_read_through_pcscd_hardened(installed: Installed, pcsc_stack: PcscStack) -> None:
    _needs()
    holder = load_holders()["sh-gen3"]
    pcsc_stack.insert(VirtualCard(holder, testing_masters(), FaultPlan()), CARD_READER)
    try:
        result = _hardened([
            str(installed.root / "opt/ykt/current/bin/ykt"), "read", "--json",
            "--security-module", "software", "--reader", CARD_READER, "--wait", "10",
        ])  # fmt: skip
    finally:
        pcsc_stack.remove(CARD_READER)
    assert result.returncode == 0, result.stderr
    card = json.loads(result.stdout)
    assert card["authentic"] == "verified"
    assert card["complete"] is True


def test_an_unprivileged_user_reaches_pcscd(
    pcsc_stack: PcscStack, readable_copies: tuple[Path, Path]
) -> None:
    """Debian 12's pcscd (no polkit) serves any local user: ykt needs no group for it."""
    _needs()
    connect = f"import socket; socket.socket(socket.AF_UNIX).connect({SOCKET!r}); print('ok')"
    result = _hardened([str(SYSTEM_PYTHON), "-c", connect], user=NOBODY, files=readable_copies)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
