"""The ykt command line through CliRunner, with PC/SC replaced: no pcscd is ever contacted."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import ClassVar

import click
import pytest
from click.testing import CliRunner, Result

from apdu.emulator import Fault, FaultPlan, VirtualCard, load_holders
from apdu.errors import CardRemovedError
from apdu.scripted import EmulatedTransport
from apdu.security.software import MasterKeys, SoftwareSecurityModule
from apdu.ssc import CardRecord, read_card
from apdu.transport import CardChannel
from terminal import cli
from terminal.card_reading import SECURITY_MODULE_ENV, ReadRequest
from terminal.errors import ExitCode
from terminal.masking import mask_ssn

HOLDERS = load_holders()


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


class _NoPcsc:
    def __init__(self) -> None:
        raise AssertionError("the unit tests must not open a PC/SC context")


@pytest.fixture(autouse=True)
def no_pcsc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "PcscContext", _NoPcsc)
    monkeypatch.delenv(SECURITY_MODULE_ENV, raising=False)


class _FakeContext:
    def __enter__(self) -> _FakeContext:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


ReadOne = Callable[[object, ReadRequest], CardRecord]


@pytest.fixture
def card_in_reader(
    monkeypatch: pytest.MonkeyPatch, masters: MasterKeys, software_module: SoftwareSecurityModule
) -> Callable[..., list[ReadRequest]]:
    """``card_in_reader(holder_key, faults=..., module=True)``: ``ykt read`` reads this card."""

    def put(key: str, faults: frozenset[Fault] = frozenset(), module: bool = True):  # type: ignore[no-untyped-def]
        requests: list[ReadRequest] = []

        def read_one(context: object, request: ReadRequest) -> CardRecord:
            requests.append(request)
            card = VirtualCard(HOLDERS[key], masters, FaultPlan(faults))
            channel = CardChannel(EmulatedTransport(card))
            return read_card(channel, software_module if module else None)

        monkeypatch.setattr(cli, "PcscContext", _FakeContext)
        monkeypatch.setattr(cli, "read_one", read_one)
        return requests

    return put


# --- help ----------------------------------------------------------------------------------------
def test_top_level_help() -> None:
    result = run("--help")
    assert result.exit_code == 0
    for name in ("read", "readers", "demo", "dev"):
        assert name in result.stdout


def _walk(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*path, name))
        if isinstance(command, click.Group):
            found.extend(_walk(command, (*path, name)))
    return found


COMMAND_PATHS = _walk(cli.main)


def test_the_walk_finds_the_subcommands() -> None:
    assert {
        ("read",),
        ("readers",),
        ("demo",),
        ("dev",),
        ("dev", "holders"),
        ("dev", "card"),
    } <= set(COMMAND_PATHS)


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    command: click.Command = cli.main
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    assert (command.help or "").strip()
    assert command.get_short_help_str().strip()
    result = run(*path, "--help")
    assert result.exit_code == 0, result.output
    assert command.help.split("\n")[0].strip()[:30] in " ".join(result.stdout.split())  # type: ignore[union-attr]


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert "0.1.0" in result.stdout


# --- commands that need no reader ----------------------------------------------------------------
def test_dev_holders_lists_every_holder() -> None:
    result = run("dev", "holders")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(HOLDERS)
    listed = {line.split()[0] for line in lines}
    assert listed == set(HOLDERS)
    for line in lines:
        holder = HOLDERS[line.split()[0]]
        assert f"generation {holder.generation}" in line
        assert holder.region in line
        assert holder.name not in line
        assert holder.ssn not in line


def test_json_and_basline_are_a_usage_error() -> None:
    result = run("read", "--json", "--format", "basline")
    assert result.exit_code == ExitCode.USAGE == 2
    assert "exclusive" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("read", "--interface", "5"),
        ("read", "--wait", "-1"),
        ("read", "--format", "xml"),
        ("bogus",),
    ],
)
def test_bad_options_are_usage_errors(args: tuple[str, ...]) -> None:
    assert run(*args).exit_code == 2


def test_bad_security_module_is_a_config_error_before_any_reader() -> None:
    result = run("read", "--security-module", "hsm")
    assert result.exit_code == ExitCode.USAGE
    assert "--security-module 'hsm': use none, software[:KEYFILE] or psam[:READER]" in (
        result.stderr
    )
    assert "Traceback" not in result.output


# --- ykt read with the reader replaced by an emulated card ---------------------------------------
def test_read_json_masked_and_request(card_in_reader) -> None:  # type: ignore[no-untyped-def]
    requests = card_in_reader("zj-gen2")
    result = run(
        "read", "--json", "--security-module", "software", "--interface", "4", "--no-feedback"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    holder = HOLDERS["zj-gen2"]
    assert document["ssn"] == mask_ssn(holder.ssn)
    assert holder.ssn not in result.stdout
    assert holder.name not in result.stdout
    assert document["authentic"] == "verified"
    (request,) = requests
    assert request.security_module.kind == "software"
    assert request.preference == 4
    assert request.feedback is False


def test_read_basline_reveal(card_in_reader) -> None:  # type: ignore[no-untyped-def]
    card_in_reader("js-gen1")
    holder = HOLDERS["js-gen1"]
    result = run(
        "read",
        "--format",
        "basline",
        "--reveal",
        "--terminal-number",
        "T1",
        "--device-number",
        "D2",
    )
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith(f"{holder.region}|{holder.ssn}|{holder.card_number}|{holder.card_id}|")
    assert line.endswith("|T1|D2|")


def test_gen3_without_module_basline_prints_nothing_and_exits_14(card_in_reader) -> None:  # type: ignore[no-untyped-def]
    card_in_reader("sh-gen3", module=False)
    result = run("read", "--format", "basline")
    assert result.exit_code == ExitCode.INCOMPLETE == 14
    assert result.stdout == ""
    assert "security-module" in result.stderr


def test_gen3_without_module_text_is_printed_and_exits_14(card_in_reader) -> None:  # type: ignore[no-untyped-def]
    card_in_reader("sh-gen3", module=False)
    result = run("read")
    assert result.exit_code == ExitCode.INCOMPLETE
    assert "INCOMPLETE" in result.stdout
    assert "ssn" in result.stderr


def test_clone_exits_9(card_in_reader) -> None:  # type: ignore[no-untyped-def]
    card_in_reader("zj-gen2", faults=frozenset({Fault.CLONE}))
    result = run("read", "--security-module", "software")
    assert result.exit_code == ExitCode.NOT_AUTHENTIC == 9
    assert "NOT AUTHENTIC" in result.stdout
    assert result.stderr.startswith("ykt: do not accept this card")


def test_card_layer_errors_are_one_line_and_their_exit_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def read_one(context: object, request: ReadRequest) -> CardRecord:
        raise CardRemovedError("card removed during read: hold the card on the reader")

    monkeypatch.setattr(cli, "PcscContext", _FakeContext)
    monkeypatch.setattr(cli, "read_one", read_one)
    result = run("read")
    assert result.exit_code == ExitCode.CARD_REMOVED == 6
    assert result.stderr == "ykt: card removed during read: hold the card on the reader\n"
    assert result.stdout == ""


# --- ykt dev card with the PC/SC stack replaced ---------------------------------------------
class _CtrlC:
    """The person presses Ctrl-C as soon as the card is in."""

    def wait(self) -> None:
        raise KeyboardInterrupt


class _FakeLink:
    def __init__(self) -> None:
        self.pulled = _CtrlC()


class _FakeStack:
    inserted: ClassVar[list[tuple[object, str]]] = []
    started_daemon = False

    def __enter__(self) -> _FakeStack:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def insert(self, card: object, reader: str) -> _FakeLink:
        self.inserted.append((card, reader))
        return _FakeLink()


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, str]]:
    inserted: list[tuple[object, str]] = []
    monkeypatch.setattr(_FakeStack, "inserted", inserted)
    monkeypatch.setattr(cli, "PcscStack", _FakeStack)
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)  # keep pytest's SIGTERM
    return inserted


def test_dev_card_builds_the_fault_plan(fake_stack: list[tuple[object, str]]) -> None:
    result = run(
        "dev", "card", "--holder", "zj-gen2", "--fault", "wrong-sw", "--fault", "slow",
        "--wrong-sw", "6A82", "--slow-ms", "7", "--pull-after", "3", "--generation", "3",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ((card, reader),) = fake_stack
    assert isinstance(card, VirtualCard)
    assert reader == "Virtual PCD 00 00"
    assert card.holder.key == "zj-gen2"
    assert card.holder.generation == 3
    assert card.faults == FaultPlan(
        frozenset({Fault.WRONG_SW, Fault.SLOW}), wrong_sw=0x6A82, slow_seconds=0.007, pull_after=3
    )


def test_dev_card_with_psam(fake_stack: list[tuple[object, str]]) -> None:
    result = run("dev", "card", "--with-psam")
    assert result.exit_code == 0, result.output
    assert [reader for _, reader in fake_stack] == ["Virtual PCD 00 01", "Virtual PCD 00 00"]


@pytest.mark.parametrize(
    "args",
    [("--holder", "nobody"), ("--wrong-sw", "zz"), ("--fault", "melt"), ("--generation", "4")],
    ids=["holder", "sw-not-hex", "fault", "generation"],
)
def test_dev_card_bad_options_are_usage_errors(
    fake_stack: list[tuple[object, str]], args: tuple[str, ...]
) -> None:
    result = run("dev", "card", *args)
    assert result.exit_code == 2
    assert fake_stack == []


@pytest.mark.parametrize("value", ["12345", "-1"])
def test_dev_card_wrong_sw_must_be_two_bytes(
    fake_stack: list[tuple[object, str]], value: str
) -> None:
    result = run("dev", "card", "--fault", "wrong-sw", "--wrong-sw", value)
    assert result.exit_code == 2
    assert fake_stack == []


def test_dev_card_says_when_the_link_drops(
    fake_stack: list[tuple[object, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = threading.Event()
    dropped.set()  # the virtual reader closed the link without a pull-after fault
    monkeypatch.setattr(_FakeLink, "__init__", lambda self: setattr(self, "pulled", dropped))
    result = run("dev", "card")
    assert result.exit_code == ExitCode.STACK_UNAVAILABLE
    assert "link to the virtual reader closed" in result.stderr
    assert fake_stack
