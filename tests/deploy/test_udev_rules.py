"""deploy/udev/90-ykt.rules: well formed, and naming what the docs say it names.

The checker (``udev_rules.py``) follows udev(7) and systemd 252's parser; the lines it refuses
below are ones Debian 12's ``udevadm test`` also reports (checked by hand: it cannot run in a
test, as it writes udev's database and /dev/char).  It is stricter than udev in two places
udev lets pass: a missing comma between pairs, and a comma at the end of a rule.
"""

from __future__ import annotations

import pytest
from deploy_support import REPO
from udev_rules import RulesError, parse_rules

RULES = REPO / "deploy" / "udev" / "90-ykt.rules"


def test_rules_file_parses() -> None:
    rules = parse_rules(RULES.read_text(encoding="utf-8"))
    assert len(rules) >= 8


def test_every_stable_name_is_group_dialout_0660_by_usb_id() -> None:
    named = [r for r in parse_rules(RULES.read_text(encoding="utf-8")) if r.values("SYMLINK")]
    names = {name for rule in named for name in rule.values("SYMLINK")}
    assert names == {"ykt-scanner", "ykt-relay"}
    for rule in named:
        assert rule.values("GROUP") == ["dialout"], rule
        assert rule.values("MODE") == ["0660"], rule
        assert rule.values("ATTRS", "idVendor"), rule
        assert rule.values("ATTRS", "idProduct"), rule
    relay_ids = {
        (r.values("ATTRS", "idVendor")[0], r.values("ATTRS", "idProduct")[0])
        for r in named
        if r.values("SYMLINK") == ["ykt-relay"]
    }
    assert ("1a86", "7523") in relay_ids  # CH340
    assert ("1a86", "5523") in relay_ids  # CH341 in serial mode


def test_gpio_chips_go_to_the_ykt_group() -> None:
    gpio = [r for r in parse_rules(RULES.read_text(encoding="utf-8")) if r.values("KERNEL")]
    assert [(r.values("GROUP"), r.values("MODE")) for r in gpio] == [(["ykt"], ["0660"])]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('SUBSYSTEM="tty", SYMLINK+="x"', "invalid operator = for SUBSYSTEM"),
        ('ACTION=="add", FOO=="x", SYMLINK+="x"', "unknown key FOO"),
        ('SUBSYSTEM=="tty", GROUP=="dialout"', "invalid operator == for GROUP"),
        ('SUBSYSTEM=="tty", GOTO="nowhere"', "GOTO 'nowhere' has no LABEL after it"),
        ('SUBSYSTEM=="tty", ATTRS{idVendor}=="1A86"', "is not 4 lowercase hex digits"),
        ('SUBSYSTEM=="tty", MODE="rw-rw----"', "is not an octal mode"),
        ('SUBSYSTEM=="tty", ATTRS{idVendor}=="1a86" SYMLINK+="x"', "cannot parse"),
        ('SUBSYSTEM=="tty", SYMLINK+="x",', "a comma ends the rule"),
        ("SUBSYSTEM=='tty'", "cannot parse"),
        ('ATTRS=="x"', "ATTRS needs {attribute}"),
    ],
)
def test_checker_refuses(line: str, problem: str) -> None:
    with pytest.raises(RulesError) as refused:
        parse_rules(f"# a comment\n\n{line}\n")
    assert any(problem in said for said in refused.value.problems), refused.value.problems
    assert refused.value.problems[0].startswith("3: ")


def test_checker_joins_continued_lines() -> None:
    (rule,) = parse_rules('SUBSYSTEM=="tty", \\\n  SYMLINK+="x"\n')
    assert rule.values("SYMLINK") == ["x"]
