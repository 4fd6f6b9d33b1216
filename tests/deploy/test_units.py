"""The systemd units: ``systemd-analyze verify`` on each, as installed into a fresh root.

``--root`` makes systemd-analyze load the units, their drop-ins and the units they refer to
from the root and check that each command exists there: the release's ``ykt`` that
deploy/install put in ``/opt/ykt/current/bin``, and ``/usr/local/lib/ykt/ykt-console``, which
runs it inside fbterm.  Any output is a failure, warnings included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_support import REPO, UNITS, provide_base_system, verify_unit


@pytest.mark.parametrize("unit", UNITS)
def test_unit_verifies_in_the_installed_root(systemd_root: Path, unit: str) -> None:
    assert (systemd_root / "opt/ykt/current/bin/ykt").exists()
    assert (systemd_root / "usr/local/lib/ykt/ykt-console").exists()
    assert verify_unit(systemd_root, unit) == ""


def test_a_broken_unit_fails_verification(tmp_path: Path) -> None:
    """The check itself: an unknown key (a warning, exit 0) and a missing command both fail."""
    provide_base_system(tmp_path)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    text = (REPO / "deploy/systemd/ykt-terminal.service").read_text()
    (units / "ykt-terminal.service").write_text(text.replace("TTYReset=", "TTYRest="))
    said = verify_unit(tmp_path, "ykt-terminal.service")
    assert "Unknown key 'TTYRest'" in said
    assert "/usr/local/lib/ykt/ykt-console is not executable" in said


def _service_settings(unit: str) -> list[str]:
    lines = (REPO / "deploy/systemd" / unit).read_text().splitlines()
    return [line for line in lines if line and not line.startswith(("#", "["))]


def test_terminal_unit_owns_the_console_after_pcscd() -> None:
    settings = _service_settings("ykt-terminal.service")
    for wanted in (
        "ExecStart=/usr/local/lib/ykt/ykt-console "
        "/opt/ykt/current/bin/ykt run --config /etc/ykt/terminal.toml",
        "User=ykt", "TTYPath=/dev/tty1", "StandardInput=tty", "StandardError=journal",
        "StandardOutput=journal", "TTYReset=yes", "TTYVHangup=yes",
        "RuntimeDirectory=ykt-terminal", "DeviceAllow=char-fb rw", "CapabilityBoundingSet=",
        "Conflicts=getty@tty1.service", "After=pcscd.service pcscd.socket",
        "Wants=pcscd.socket", "Restart=always", "Environment=YKT_CONFIG=/etc/ykt/terminal.toml",
        "NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes",
        "MemoryDenyWriteExecute=yes", "DevicePolicy=closed", "DeviceAllow=/dev/tty1 rw",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "StateDirectory=ykt",
        "ReadWritePaths=-/var/lib/prometheus/node-exporter",
    ):  # fmt: skip
        assert wanted in settings, wanted
    assert any(s.startswith("Environment=TERM=linux") for s in settings)
    # PrivateDevices would hide the console and the serial ports: never on this unit.
    assert not any(s.startswith("PrivateDevices=") for s in settings)


def test_sync_unit_stands_aside_while_the_app_runs() -> None:
    settings = _service_settings("ykt-sync.service")
    assert "ExecStart=/opt/ykt/current/bin/ykt sync --config /etc/ykt/terminal.toml" in settings
    assert "ExecCondition=/bin/sh -c '! systemctl is-active --quiet ykt-terminal.service'" in (
        settings
    )
    assert "SuccessExitStatus=50" in settings
