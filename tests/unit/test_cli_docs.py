"""Every `ykt` command is documented: a help text and an entry in docs/cli.md; exit codes too."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from terminal.cli import main
from terminal.errors import ExitCode

CLI_DOC = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text("utf-8")


def walk(group: click.Group, prefix: str = "ykt") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(walk(command, path))
    return found


COMMANDS = walk(main)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help_and_a_docs_entry(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    if not isinstance(command, click.Group):
        assert f"`{path}`" in CLI_DOC, f"docs/cli.md has no entry for `{path}`"


def test_every_option_of_read_is_documented() -> None:
    read = main.commands["read"]
    for parameter in read.params:
        if isinstance(parameter, click.Option):
            assert any(f"`{opt}" in CLI_DOC for opt in parameter.opts), parameter.opts


@pytest.mark.parametrize("code", list(ExitCode), ids=[c.name for c in ExitCode])
def test_every_exit_code_is_documented(code: ExitCode) -> None:
    assert f"\n| {code.value} |" in CLI_DOC


def test_exit_codes_are_distinct() -> None:
    # an IntEnum member with a repeated value becomes an alias, so look at every name
    values = [code.value for code in ExitCode.__members__.values()]
    assert len(values) == len(set(values))
