"""Run a command under the system-call filters a systemd unit's hardening options install.

Usage (as root, with Debian's python3 and python3-seccomp: this script is not run by the
project's virtual environment)::

    /usr/bin/python3 unit_sandbox.py UNIT-FILE -- COMMAND [ARG...]

systemd 252 builds these options with libseccomp; this script builds the same rules with the
same library from the unit's ``[Service]`` section, then executes COMMAND, which inherits them:

* ``MemoryDenyWriteExecute=yes``: ``mmap`` with PROT_WRITE and PROT_EXEC together, ``mprotect``
  and ``pkey_mprotect`` adding PROT_EXEC, and ``shmat`` with SHM_EXEC fail with EPERM
  (systemd's ``seccomp_memory_deny_write_execute``);
* ``RestrictAddressFamilies=``: ``socket()`` of any other family fails with EAFNOSUPPORT;
* ``LockPersonality=yes``: ``personality()`` other than a query or the current one: EPERM;
* ``RestrictNamespaces=yes``: ``unshare``, ``setns`` and ``clone`` with namespace flags: EPERM;
  ``clone3`` ENOSYS (glibc falls back to ``clone``);
* ``RestrictRealtime=yes``: ``sched_setscheduler`` to FIFO, RR or DEADLINE: EPERM;
* ``RestrictSUIDSGID=yes``: ``chmod``/``fchmod``/``fchmodat`` setting S_ISUID or S_ISGID: EPERM;
* ``ProtectKernelModules``/``ProtectKernelLogs``/``ProtectHostname``/``ProtectClock``: the
  module, ``syslog``, host name and clock system calls fail with EPERM;
* ``SystemCallArchitectures=native`` and ``NoNewPrivileges=yes``: libseccomp's defaults (only the
  native architecture; ``no_new_privs`` set before the filter loads).

What a filter cannot show (mount namespaces, the device cgroup, the user) the test sets up
around this script: ``tests/deploy/test_hardening.py``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys

import seccomp  # Debian's python3-seccomp

PROT_WRITE = 0x2
PROT_EXEC = 0x4
SHM_EXEC = 0o100000
S_ISUID = 0o4000
S_ISGID = 0o2000
SCHED_FIFO, SCHED_RR, SCHED_DEADLINE = 1, 2, 6
PERSONALITY_QUERY = 0xFFFFFFFF
NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
AF_MAX = 46


def service_options(unit_file: str) -> dict[str, str]:
    """The [Service] section's last value of each key (enough for these boolean/list keys)."""
    options: dict[str, str] = {}
    section = ""
    with open(unit_file, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                options[key.strip()] = value.strip()
    return options


def _yes(options: dict[str, str], key: str) -> bool:
    return options.get(key, "no").lower() in ("yes", "true", "on", "1")


def _deny(flt: seccomp.SyscallFilter, action: int, name: str, *args: seccomp.Arg) -> None:
    # A call this architecture does not have (mmap2 on x86-64, ...) is left out.
    with contextlib.suppress(RuntimeError, ValueError):
        flt.add_rule(action, name, *args)


def build_filter(options: dict[str, str]) -> tuple[seccomp.SyscallFilter, list[str]]:
    flt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)  # native arch only; sets NNP
    applied = ["SystemCallArchitectures=native", "NoNewPrivileges=yes"]
    eperm = seccomp.ERRNO(errno.EPERM)
    if _yes(options, "MemoryDenyWriteExecute"):
        both = PROT_WRITE | PROT_EXEC
        for name in ("mmap", "mmap2"):
            _deny(flt, eperm, name, seccomp.Arg(2, seccomp.MASKED_EQ, both, both))
        for name in ("mprotect", "pkey_mprotect"):
            _deny(flt, eperm, name, seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
        _deny(flt, eperm, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
        applied.append("MemoryDenyWriteExecute=yes")
    families = options.get("RestrictAddressFamilies", "")
    if families:
        allowed = {int(getattr(socket, name)) for name in families.split()}
        refuse = seccomp.ERRNO(errno.EAFNOSUPPORT)
        for family in range(AF_MAX + 1):
            if family not in allowed:
                _deny(flt, refuse, "socket", seccomp.Arg(0, seccomp.EQ, family))
        applied.append(f"RestrictAddressFamilies={families}")
    if _yes(options, "LockPersonality"):
        current = _personality()
        _deny(
            flt, eperm, "personality",
            seccomp.Arg(0, seccomp.NE, PERSONALITY_QUERY), seccomp.Arg(0, seccomp.NE, current),
        )  # fmt: skip
        applied.append("LockPersonality=yes")
    if _yes(options, "RestrictNamespaces"):
        for flag in NAMESPACE_FLAGS:
            _deny(flt, eperm, "unshare", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
            _deny(flt, eperm, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
            _deny(flt, eperm, "setns", seccomp.Arg(1, seccomp.MASKED_EQ, flag, flag))
        _deny(flt, eperm, "setns", seccomp.Arg(1, seccomp.EQ, 0))
        _deny(flt, seccomp.ERRNO(errno.ENOSYS), "clone3")
        applied.append("RestrictNamespaces=yes")
    if _yes(options, "RestrictRealtime"):
        for policy in (SCHED_FIFO, SCHED_RR, SCHED_DEADLINE):
            _deny(flt, eperm, "sched_setscheduler", seccomp.Arg(1, seccomp.EQ, policy))
        applied.append("RestrictRealtime=yes")
    if _yes(options, "RestrictSUIDSGID"):
        for bit in (S_ISUID, S_ISGID):
            _deny(flt, eperm, "chmod", seccomp.Arg(1, seccomp.MASKED_EQ, bit, bit))
            _deny(flt, eperm, "fchmod", seccomp.Arg(1, seccomp.MASKED_EQ, bit, bit))
            _deny(flt, eperm, "fchmodat", seccomp.Arg(2, seccomp.MASKED_EQ, bit, bit))
        applied.append("RestrictSUIDSGID=yes")
    groups = {
        "ProtectKernelModules": ("init_module", "finit_module", "delete_module"),
        "ProtectKernelLogs": ("syslog",),
        "ProtectHostname": ("sethostname", "setdomainname"),
        "ProtectClock": ("settimeofday", "clock_settime", "adjtimex", "clock_adjtime"),
    }
    for key, names in groups.items():
        if _yes(options, key):
            for name in names:
                _deny(flt, eperm, name)
            applied.append(f"{key}=yes")
    return flt, applied


def _personality() -> int:
    import ctypes  # noqa: PLC0415 - only here, before the filter is loaded

    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.personality(PERSONALITY_QUERY)) & 0xFFFFFFFF


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    flt, applied = build_filter(service_options(argv[1]))
    print("sandbox: " + " ".join(applied), file=sys.stderr)
    flt.load()
    os.execvp(argv[3], argv[3:])
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv))
