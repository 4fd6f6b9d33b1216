"""deploy/install into fresh root folders: the tree, idempotence, upgrade and rollback.

A root folder rather than a container or a booted system: CI has no systemd running and no
way to boot one, but a root folder shows every file the installer writes, with its mode, and
the release's virtual environment running from there; what only a real system can do (apt,
the user, ownership, systemctl) is checked as the installer's ``plan:`` lines.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

from deploy_support import (
    REPO,
    SYSTEM_PYTHON,
    UNITS,
    Installed,
    file_digest,
    install_into,
    next_version,
    project_version,
    provide_base_system,
    run_install,
    tree_state,
    verify_unit,
)

from terminal.config import load_config


def _ykt_version(root: Path) -> str:
    result = subprocess.run(
        [str(root / "opt/ykt/current/bin/ykt"), "--version"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return result.stdout.strip()


def _mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o7777)


def test_fresh_install_runs_from_the_root(installed: Installed) -> None:
    root = installed.root
    version = project_version()
    assert (root / "opt/ykt/current").readlink() == Path(f"releases/{version}")
    assert _ykt_version(root) == f"ykt, version {version}"
    stamp = (root / f"opt/ykt/releases/{version}/.ykt-release").read_text()
    assert stamp.startswith(f"version={version}\nstamp=")
    # Debian's interpreter, nothing under /root or /home (ProtectHome=yes hides them).
    config = (root / f"opt/ykt/releases/{version}/pyvenv.cfg").read_text()
    assert f"home = {SYSTEM_PYTHON.parent}" in config
    assert not (root / "opt/ykt/previous").exists()


def test_a_gpio_relay_needs_nothing_more_on_an_installed_terminal(installed: Installed) -> None:
    """The release carries the gpio extra: `[relay] kind = "gpio"` finds libgpiod's bindings."""
    python = installed.root / f"opt/ykt/releases/{project_version()}/bin/python"
    found = subprocess.run(
        [str(python), "-c", "import gpiod; print(gpiod.__version__)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().startswith("2.")


def test_fresh_install_tree_modes_and_contents(installed: Installed) -> None:
    root = installed.root
    assert _mode(root / "var/lib/ykt") == "0o750"
    assert _mode(root / "etc/ykt") == "0o750"
    config = root / "etc/ykt/terminal.toml"
    assert _mode(config) == "0o640"
    ykt = str(root / "opt/ykt/current/bin/ykt")
    has_config = subprocess.run([ykt, "config", "--help"], capture_output=True, check=False)
    if has_config.returncode == 0:  # the release prints its commented defaults
        default = subprocess.run(
            [ykt, "config", "show-default"], capture_output=True, text=True, check=True
        )
        # ... but for the app's logs, which go to journald: inside fbterm standard output is
        # the screen.  The file stays valid.
        logging_table = default.stdout.index("\n[logging]\n")
        assert config.read_text() == (
            default.stdout[:logging_table]
            + default.stdout[logging_table:].replace('# target = "stdout"', 'target = "journal"')
        )
        assert tomllib.loads(config.read_text())["logging"] == {"target": "journal"}
        assert load_config(config).logging.target == "journal"
        assert "plan: ykt config check --config /etc/ykt/terminal.toml" in installed.first.plan
    else:  # a release without `ykt config`: a file with only a comment saying so
        assert config.read_text().startswith("# /etc/ykt/terminal.toml")
        assert "ykt config show-default" in config.read_text()
    for unit in UNITS:
        installed_unit = root / "etc/systemd/system" / unit
        assert installed_unit.read_bytes() == (REPO / "deploy/systemd" / unit).read_bytes()
        assert _mode(installed_unit) == "0o644"
    assert not (root / "etc/systemd/system/ykt-terminal.service.d").exists()  # fbterm, as is
    console = root / "usr/local/lib/ykt/ykt-console"
    assert console.read_bytes() == (REPO / "deploy/bin/ykt-console").read_bytes()
    assert _mode(console) == "0o755"
    fbtermrc = root / "var/lib/ykt/.fbtermrc"  # fbterm's settings: $HOME of the ykt user
    assert _mode(fbtermrc) == "0o640"
    assert _fbterm_settings(fbtermrc) == {
        "font-names": "DejaVu Sans Mono,WenQuanYi Zen Hei Mono", "font-size": "20",
        "color-foreground": "7", "color-background": "0", "history-lines": "0",
        "text-encodings": "", "input-method": "", "cursor-shape": "0", "cursor-interval": "0",
    }  # fmt: skip
    rules = root / "etc/udev/rules.d/90-ykt.rules"
    assert rules.read_bytes() == (REPO / "deploy/udev/90-ykt.rules").read_bytes()
    assert (root / "etc/modules-load.d/ykt.conf").exists()
    assert _mode(root / "usr/local/bin/ykt") == "0o755"
    assert (root / "usr/local/share/doc/ykt/deploy.md").read_bytes() == (
        REPO / "docs/deploy.md"
    ).read_bytes()
    assert (root / "var/lib/prometheus/node-exporter").is_dir()
    # Debian 12's pcscd has no polkit policy: no rule for it.
    assert not (root / "etc/polkit-1").exists()


def _fbterm_settings(path: Path) -> dict[str, str]:
    """fbterm's reading of its configuration file: ``key=value`` lines, ``#`` lines ignored."""
    lines = path.read_text().splitlines()
    pairs = [line.split("=", 1) for line in lines if line and not line.startswith("#")]
    assert all(len(pair) == 2 for pair in pairs)  # no end-of-line comments: fbterm has none
    return {key: value for key, value in pairs}


def test_fresh_install_plans_the_system_steps(installed: Installed) -> None:
    plan = "\n".join(installed.first.plan)
    assert "apt-get install --no-install-recommends pcscd libccid libpcsclite1" in plan
    assert re.search(r"apt-get install .* fbterm fonts-wqy-zenhei fonts-dejavu-core$", plan, re.M)
    assert "useradd --system --user-group --home-dir /var/lib/ykt" in plan
    assert "usermod --append --groups dialout,audio,video" in plan  # video: /dev/fb0
    assert "chown ykt:ykt /var/lib/ykt" in plan
    assert "chown root:ykt /var/lib/ykt/.fbtermrc" in plan
    assert "chown root:ykt /etc/ykt/terminal.toml" in plan
    assert "setfacl -m u:ykt:rwx,m::rwx /var/lib/prometheus/node-exporter" in plan
    assert "systemctl enable ykt-terminal.service" in plan
    assert "systemctl disable getty@tty1.service" in plan
    # With a wheelhouse nothing is compiled on the terminal: no compiler is installed.
    assert "gcc" not in plan


def test_second_run_changes_nothing(installed: Installed, wheelhouse: Path) -> None:
    before = tree_state(installed.root)
    again = install_into(installed.root, wheelhouse)
    assert again.changes == []
    assert "nothing to change" in again.stdout
    assert tree_state(installed.root) == before


def test_dry_run_changes_nothing(tmp_path: Path, wheelhouse: Path, installed: Installed) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    dry = install_into(empty, wheelhouse, "--dry-run")
    assert list(empty.iterdir()) == []
    assert "would: release /opt/ykt/releases/" in dry.stdout
    before = tree_state(installed.root)
    dry = install_into(installed.root, wheelhouse, "--dry-run")
    assert "nothing to change" in dry.stdout
    assert tree_state(installed.root) == before


def test_rollback_needs_a_previous_release(installed: Installed) -> None:
    result = run_install("--root", installed.root, "--rollback", check=False)
    assert result.returncode == 1
    assert "no previous release to roll back to" in result.stderr


def test_the_documented_command_is_executable() -> None:
    """`sudo ./deploy/install`: the file itself is executable, not only `bash deploy/install`."""
    install = REPO / "deploy/install"
    assert install.stat().st_mode & 0o111 == 0o111
    assert install.read_text().startswith("#!/usr/bin/env bash\n")
    assert (REPO / "deploy/bin/ykt").stat().st_mode & 0o111 == 0o111


def test_bad_usage(tmp_path: Path) -> None:
    result = run_install("--frobnicate", check=False)
    assert result.returncode == 2
    assert "unknown option --frobnicate" in result.stderr
    result = run_install("--root", tmp_path / "missing", check=False)
    assert result.returncode == 2
    result = run_install("--root", tmp_path, "--console-font", "../x", check=False)
    assert result.returncode == 2
    for args in (("--font-size", "200"), ("--font-size", "big"),
                 ("--console-font", "Uni3-TerminusBold32x16"),  # the bare console's, not fbterm's
                 ("--no-cjk-console", "--font-size", "32")):  # fmt: skip
        result = run_install("--root", tmp_path, *args, check=False)
        assert result.returncode == 2, args
    said = run_install("--root", tmp_path, "--console-font", "Uni3-TerminusBold32x16", check=False)
    assert "fbterm's is --font-size" in said.stderr
    helped = run_install("--help")
    assert "--rollback" in helped.stdout
    assert "set -euo" not in helped.stdout


def test_upgrade_keeps_data_and_config_then_rollback(
    tmp_path: Path, wheelhouse: Path, upgrade_wheel: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    old, new = project_version(), next_version(project_version())
    install_into(root, wheelhouse)
    # What a working terminal has by now: its data, a configuration a technician edited,
    # and an older release that an earlier upgrade left behind.
    store = root / "var/lib/ykt/store.db"
    store.write_bytes(b"SQLite format 3\x00 pretend")
    config = root / "etc/ykt/terminal.toml"
    config.write_text(config.read_text() + "# edited on site\n")
    data_digest, config_digest = file_digest(store), file_digest(config)
    stale = root / "opt/ykt/releases/0.0.1"
    stale.mkdir()
    (stale / ".ykt-release").write_text("version=0.0.1\nstamp=0\n")
    # pcscd built with polkit (Debian 13): the installer adds the rule for the ykt user.
    policy = root / "usr/share/polkit-1/actions/org.debian.pcsc-lite.policy"
    policy.parent.mkdir(parents=True)
    policy.write_text("<policyconfig/>\n")

    upgrade = install_into(root, wheelhouse, "--wheel", upgrade_wheel, "--font-size", "32")
    assert f"changed: link /opt/ykt/current -> releases/{new}" in upgrade.stdout
    assert "plan: systemctl try-restart ykt-terminal.service" in upgrade.stdout
    assert (root / "opt/ykt/current").readlink() == Path(f"releases/{new}")
    assert (root / "opt/ykt/previous").readlink() == Path(f"releases/{old}")
    assert _ykt_version(root) == f"ykt, version {new}"
    assert sorted(p.name for p in (root / "opt/ykt/releases").iterdir()) == sorted([old, new])
    assert (file_digest(store), file_digest(config)) == (data_digest, config_digest)
    rule = root / "etc/polkit-1/rules.d/50-ykt-pcscd.rules"
    assert 'subject.user == "ykt"' in rule.read_text()
    fbtermrc = root / "var/lib/ykt/.fbtermrc"
    assert _fbterm_settings(fbtermrc)["font-size"] == "32"  # a kiosk's large text

    back = run_install("--root", root, "--rollback")
    assert f"current release: {old} (previous: {new})" in back.stdout
    assert _ykt_version(root) == f"ykt, version {old}"
    assert (root / "opt/ykt/previous").readlink() == Path(f"releases/{new}")
    assert (file_digest(store), file_digest(config)) == (data_digest, config_digest)

    # Rolling back again goes forward; the same wheel once more then changes nothing, and
    # keeps the kiosk's font size.
    run_install("--root", root, "--rollback")
    assert _ykt_version(root) == f"ykt, version {new}"
    before = tree_state(root)
    same = install_into(root, wheelhouse, "--wheel", upgrade_wheel)
    assert same.changes == []
    assert tree_state(root) == before
    assert _fbterm_settings(fbtermrc)["font-size"] == "32"


def test_the_bare_console_and_back_to_fbterm(tmp_path: Path, wheelhouse: Path) -> None:
    """--no-cjk-console: the app straight on tty1 (a drop-in), its console font; kept by later
    runs until --cjk-console, which brings fbterm back."""
    root = tmp_path / "root"
    root.mkdir()
    units = root / "etc/systemd/system/ykt-terminal.service.d"
    bare = install_into(root, wheelhouse, "--no-cjk-console",
                        "--console-font", "Uni3-TerminusBold32x16")  # fmt: skip
    assert "fbterm" not in "\n".join(bare.plan)  # neither fbterm nor the CJK font
    dropin = (units / "20-bare-console.conf").read_text()
    command = "/opt/ykt/current/bin/ykt run --config /etc/ykt/terminal.toml"
    assert f"ExecStart=\nExecStart={command}\n" in dropin
    assert "StandardError=tty" in dropin  # Textual draws on standard error: the console
    font = units / "10-console-font.conf"
    assert "setfont -C /dev/tty1 Uni3-TerminusBold32x16" in font.read_text()
    assert not (root / "var/lib/ykt/.fbtermrc").exists()
    provide_base_system(root)
    assert verify_unit(root, "ykt-terminal.service") == ""  # with both drop-ins
    again = install_into(root, wheelhouse)
    assert again.changes == []
    assert (units / "20-bare-console.conf").exists()
    # --console-font none takes the font setting away; --cjk-console brings fbterm back, and
    # warns about a configuration (an older one, say) that leaves the app's logs nowhere.
    config = root / "etc/ykt/terminal.toml"
    config.write_text(config.read_text().replace('target = "journal"', '# target = "stdout"'))
    back = install_into(root, wheelhouse, "--console-font", "none", "--cjk-console")
    assert 'has no [logging] target = "journal"' in back.stderr
    assert not font.exists()
    assert not (units / "20-bare-console.conf").exists()
    assert "fbterm fonts-wqy-zenhei" in "\n".join(back.plan)
    assert _fbterm_settings(root / "var/lib/ykt/.fbtermrc")["font-size"] == "20"
    assert "plan: systemctl try-restart ykt-terminal.service" in back.stdout
    assert verify_unit(root, "ykt-terminal.service") == ""


def test_a_rebuilt_tree_of_the_same_version_gets_its_own_release(
    tmp_path: Path, wheelhouse: Path
) -> None:
    """The release in use is never rebuilt in place: another build of 0.1.0 is 0.1.0-<hash>."""
    version = project_version()
    release = tmp_path / "opt/ykt/releases" / version
    release.mkdir(parents=True)
    (release / ".ykt-release").write_text(f"version={version}\nstamp=0\n")
    (tmp_path / "opt/ykt/current").symlink_to(f"releases/{version}")
    dry = install_into(tmp_path, wheelhouse, "--dry-run")
    assert re.search(rf"would: release /opt/ykt/releases/{version}-[0-9a-f]{{8}} ", dry.stdout)
    assert re.search(rf"would: link /opt/ykt/previous -> releases/{version}\n", dry.stdout)
    assert f"would: removed release /opt/ykt/releases/{version}\n" not in dry.stdout
