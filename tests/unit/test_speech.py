"""terminal.speech: Chinese then English through espeak-ng when it is installed, nothing
(and no error) when it is not, and a new prompt cuts the previous one short."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from terminal.speech import ELDERLY_RATE, Voice


class FakeProcess:
    """A speaking engine that ends when told to (or when terminated)."""

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)
        self.done = threading.Event()
        self.terminated = False

    def wait(self, timeout: float | None = None) -> int:
        assert self.done.wait(10), f"{self.args} never ended"
        return -15 if self.terminated else 0

    def poll(self) -> int | None:
        return (-15 if self.terminated else 0) if self.done.is_set() else None

    def terminate(self) -> None:
        self.terminated = True
        self.done.set()


class FakeLauncher:
    def __init__(self) -> None:
        self.started: list[FakeProcess] = []
        self.changed = threading.Condition()

    def __call__(self, args: Sequence[str], *, stdin: int, stdout: int, stderr: int) -> FakeProcess:
        assert stdin == stdout == stderr == subprocess.DEVNULL
        with self.changed:
            self.started.append(FakeProcess(args))
            self.changed.notify_all()
            return self.started[-1]

    def wait_for(self, count: int) -> list[FakeProcess]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.started) >= count, timeout=10)
            return list(self.started)


def test_no_engine_no_process_no_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="terminal.speech")

    def popen(*args: object, **kwargs: object) -> FakeProcess:
        raise AssertionError("nothing may be started without an engine")

    voice = Voice(which=lambda name: None, popen=popen)  # type: ignore[arg-type]
    voice.say("请刷卡", "Please tap your card")
    voice.say("请刷卡", "Please tap your card")
    voice.stop()
    assert not voice.available
    said = [r.getMessage() for r in caplog.records if r.name == "terminal.speech"]
    assert said == ["espeak-ng not found on the PATH: spoken prompts are off"]


def _fake_engine(folder: Path, body: str) -> Path:
    script = folder / "espeak-ng"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return script


def _wait_for_lines(path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError(f"{path} has {lines} after 10 s")


def test_engine_on_the_path_speaks_chinese_then_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "argv.txt"
    script = _fake_engine(
        tmp_path, f'for a in "$@"; do printf "%s|" "$a" >> {record}; done; echo >> {record}\n'
    )
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    voice = Voice()
    assert voice.available
    voice.say("请刷卡", "Please tap your card")
    rate = str(ELDERLY_RATE)
    assert _wait_for_lines(record, 2) == [
        f"-v|cmn|-s|{rate}|-g|2|--|请刷卡|",
        f"-v|en|-s|{rate}|-g|2|--|Please tap your card|",
    ]
    assert voice.command("en", "x")[0] == str(script)


def test_a_new_prompt_terminates_the_one_speaking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real processes: the first prompt's engine is still speaking (sleeping) when the second
    prompt comes; it is terminated and its English never starts."""
    record = tmp_path / "argv.txt"
    _fake_engine(tmp_path, f'echo "$2 $8" >> {record}\nexec sleep 30\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    started: list[subprocess.Popen[bytes]] = []

    def popen(
        args: Sequence[str], *, stdin: int, stdout: int, stderr: int
    ) -> subprocess.Popen[bytes]:
        started.append(subprocess.Popen(list(args), stdin=stdin, stdout=stdout, stderr=stderr))
        return started[-1]

    voice = Voice(which=shutil.which, popen=popen)
    try:
        voice.say("第一", "first")
        _wait_for_lines(record, 1)
        voice.say("第二", "second")
        assert started[0].wait(timeout=5) == -signal.SIGTERM
        assert _wait_for_lines(record, 2) == ["cmn 第一", "cmn 第二"]
        assert started[1].poll() is None  # the second prompt is speaking
    finally:
        voice.stop()
    assert started[1].wait(timeout=5) == -signal.SIGTERM
    time.sleep(0.2)  # the first prompt's worker must not start its English after all
    assert len(started) == 2


def test_overlapping_prompts_in_order() -> None:
    launcher = FakeLauncher()
    voice = Voice(which=lambda name: "/usr/bin/espeak-ng", popen=launcher)
    voice.say("甲", "A")
    (first,) = launcher.wait_for(1)
    voice.say("乙", "B")
    second = launcher.wait_for(2)[1]
    assert first.terminated
    assert not second.terminated
    second.done.set()  # the Chinese sentence ends: the English one follows
    english = launcher.wait_for(3)[2]
    english.done.set()
    assert [p.args[2::6] for p in launcher.started] == [["cmn", "甲"], ["cmn", "乙"], ["en", "B"]]


def test_english_only_and_empty_prompts() -> None:
    launcher = FakeLauncher()
    voice = Voice(which=lambda name: "espeak-ng", popen=launcher)
    voice.say("", "")
    voice.say("  ", "Card accepted")
    (only,) = launcher.wait_for(1)
    only.done.set()
    assert only.args[2::6] == ["en", "Card accepted"]


def test_an_engine_that_cannot_start_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def popen(args: Sequence[str], **kwargs: int) -> FakeProcess:
        raise PermissionError(13, "Permission denied", args[0])

    voice = Voice(which=lambda name: "/opt/espeak-ng", popen=popen)  # type: ignore[arg-type]
    voice.say("请刷卡", "Please tap your card")
    assert "espeak-ng could not be started" in caplog.text
