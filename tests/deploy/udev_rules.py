"""A checker for udev rules files, after udev(7) and systemd 252's rule parser.

Debian 12's udev (systemd 252) has no ``udevadm verify`` (it came in systemd 254), and
``udevadm test`` needs a device and writes udev's database, so the tests read the rules
themselves: every rule is comma-separated ``KEY{attribute} OPERATOR "value"`` pairs, each key
one udev knows, with an operator that key takes (udev ignores a pair with another operator, or
a whole line it cannot parse, with only a log line: the rule then silently does less); the
values of ``MODE``, ``GOTO``/``LABEL``, ``ATTRS{idVendor}``/``{idProduct}`` well formed, and
every ``GOTO`` aimed at a ``LABEL`` that follows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MATCH = frozenset({"==", "!="})
ASSIGN = frozenset({"=", "+=", "-=", ":="})
#: key -> (operators it takes, whether it carries {attribute}); udev(7), systemd 252.
KEYS: dict[str, tuple[frozenset[str], bool]] = {
    "ACTION": (MATCH, False),
    "DEVPATH": (MATCH, False),
    "KERNEL": (MATCH, False),
    "KERNELS": (MATCH, False),
    "SUBSYSTEM": (MATCH, False),
    "SUBSYSTEMS": (MATCH, False),
    "DRIVER": (MATCH, False),
    "DRIVERS": (MATCH, False),
    "ATTRS": (MATCH, True),
    "TAGS": (MATCH, False),
    "TEST": (MATCH, False),
    "PROGRAM": (MATCH, False),
    "RESULT": (MATCH, False),
    "CONST": (MATCH, True),
    "IMPORT": (MATCH, True),
    "NAME": (MATCH | {"=", ":="}, False),
    "SYMLINK": (MATCH | ASSIGN, False),
    "TAG": (MATCH | ASSIGN, False),
    "ENV": (MATCH | {"=", "+=", ":="}, True),
    "ATTR": (MATCH | {"="}, True),
    "SYSCTL": (MATCH | {"="}, True),
    "OWNER": (frozenset({"=", ":="}), False),
    "GROUP": (frozenset({"=", ":="}), False),
    "MODE": (frozenset({"=", ":="}), False),
    "SECLABEL": (frozenset({"=", "+=", ":="}), True),
    "RUN": (frozenset({"=", "+=", ":="}), True),
    "OPTIONS": (frozenset({"=", "+=", ":="}), False),
    "LABEL": (frozenset({"="}), False),
    "GOTO": (frozenset({"="}), False),
}
_PAIR = re.compile(
    r'\s*(?P<key>[A-Z_]+)(?:\{(?P<attr>[^{}"]*)\})?\s*(?P<op>==|!=|\+=|-=|:=|=)\s*'
    r'"(?P<value>(?:[^"\\]|\\.)*)"\s*(?P<end>,|$)'
)
_HEX4 = re.compile(r"[0-9a-f]{4}")


@dataclass(frozen=True)
class Pair:
    key: str
    attribute: str | None
    operator: str
    value: str


@dataclass(frozen=True)
class Rule:
    line: int
    pairs: tuple[Pair, ...]

    def values(self, key: str, attribute: str | None = None) -> list[str]:
        return [p.value for p in self.pairs if p.key == key and p.attribute == attribute]


class RulesError(ValueError):
    """The problems found, one per line: ``LINE: what``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, comments and blank lines dropped."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.endswith("\\"):
            pending += raw[:-1]
            continue
        line, pending = (pending + raw).strip(), ""
        if line and not line.startswith("#"):
            lines.append((start, line))
    if pending.strip():
        lines.append((start, pending.strip()))
    return lines


def _parse_line(number: int, line: str, problems: list[str]) -> Rule | None:
    pairs: list[Pair] = []
    position = 0
    while position < len(line):
        match = _PAIR.match(line, position)
        if match is None:
            problems.append(f"{number}: cannot parse {line[position:]!r}")
            return None
        key, attribute, operator = match["key"], match["attr"], match["op"]
        pairs.append(Pair(key, attribute, operator, match["value"]))
        position = match.end()
        if match["end"] == "," and position >= len(line):
            problems.append(f"{number}: a comma ends the rule")
    return Rule(number, tuple(pairs))


def _check_pair(number: int, pair: Pair, problems: list[str]) -> None:
    known = KEYS.get(pair.key)
    if known is None:
        problems.append(f"{number}: unknown key {pair.key}")
        return
    operators, takes_attribute = known
    if takes_attribute != (pair.attribute is not None) and pair.key not in ("IMPORT", "RUN"):
        want = "needs" if takes_attribute else "takes no"
        problems.append(f"{number}: {pair.key} {want} {{attribute}}")
    if pair.operator not in operators:
        problems.append(f"{number}: invalid operator {pair.operator} for {pair.key}")
    if pair.key == "MODE" and not re.fullmatch(r"0?[0-7]{3,4}", pair.value):
        problems.append(f"{number}: MODE {pair.value!r} is not an octal mode")
    if pair.key in ("GOTO", "LABEL") and not re.fullmatch(r"[A-Za-z0-9_]+", pair.value):
        problems.append(f"{number}: {pair.key} {pair.value!r} is not a label name")
    usb_id = pair.key == "ATTRS" and pair.attribute in ("idVendor", "idProduct")
    if usb_id and not _HEX4.fullmatch(pair.value):
        problems.append(f"{number}: {pair.attribute} {pair.value!r} is not 4 lowercase hex digits")
    if pair.key == "SYMLINK" and ("/" in pair.value.strip("/") or " " in pair.value):
        problems.append(f"{number}: SYMLINK {pair.value!r}: one name under /dev, no spaces")


def parse_rules(text: str) -> list[Rule]:
    """The rules of a rules file; :class:`RulesError` lists every problem found."""
    problems: list[str] = []
    rules: list[Rule] = []
    for number, line in _logical_lines(text):
        rule = _parse_line(number, line, problems)
        if rule is None:
            continue
        for pair in rule.pairs:
            _check_pair(number, pair, problems)
        rules.append(rule)
    labels_after: dict[str, int] = {}
    for rule in rules:
        for label in rule.values("LABEL"):
            labels_after.setdefault(label, rule.line)
    for rule in rules:
        for target in rule.values("GOTO"):
            if labels_after.get(target, 0) <= rule.line:
                problems.append(f"{rule.line}: GOTO {target!r} has no LABEL after it")
    if problems:
        raise RulesError(problems)
    return rules
