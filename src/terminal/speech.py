"""Spoken prompts for the kiosk: Chinese, then English, through espeak-ng when it is there.

:class:`Voice` never blocks the caller and never fails it: with no espeak-ng on the PATH it is
silently a no-op (said once in the debug log), and an engine that cannot be started is logged,
not raised.  A new prompt stops the one still speaking, so a quick second tap is not answered
by the end of the first verdict.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

ENGINE = "espeak-ng"
CHINESE_VOICE = "cmn"
ENGLISH_VOICE = "en"
#: Words per minute: espeak-ng's default is 175; slower is easier for elderly listeners.
ELDERLY_RATE = 130
#: Pause between words, in units of 10 ms.
WORD_GAP = 2


class SpeechProcess(Protocol):
    """What the voice needs of a started engine (a :class:`subprocess.Popen`)."""

    def wait(self, timeout: float | None = None) -> int: ...

    def terminate(self) -> None: ...

    def poll(self) -> int | None: ...


class Launch(Protocol):
    def __call__(
        self, args: Sequence[str], *, stdin: int, stdout: int, stderr: int
    ) -> SpeechProcess: ...


def _popen(args: Sequence[str], *, stdin: int, stdout: int, stderr: int) -> SpeechProcess:
    process: subprocess.Popen[Any] = subprocess.Popen(  # noqa: S603 - a fixed engine, no shell
        list(args), stdin=stdin, stdout=stdout, stderr=stderr
    )
    return process


class Voice:
    """Speaks a prompt in Chinese, then in English; a new prompt cuts the previous one short.

    ``which`` finds the engine (``shutil.which``) and ``popen`` starts it (``subprocess.Popen``);
    both are injectable for tests.
    """

    def __init__(
        self,
        *,
        which: Callable[[str], str | None] = shutil.which,
        popen: Launch = _popen,
        rate: int = ELDERLY_RATE,
    ) -> None:
        self._engine = which(ENGINE)
        self._popen = popen
        self._rate = rate
        self._lock = threading.Lock()
        self._current: SpeechProcess | None = None
        self._prompt = 0  # bumped by every prompt and stop: a later one cancels the rest
        if self._engine is None:
            log.debug("%s not found on the PATH: spoken prompts are off", ENGINE)

    @property
    def available(self) -> bool:
        return self._engine is not None

    def command(self, voice: str, text: str) -> list[str]:
        """The engine's argv for one sentence (``--`` so a prompt starting with '-' is text)."""
        engine = self._engine or ENGINE
        return [engine, "-v", voice, "-s", str(self._rate), "-g", str(WORD_GAP), "--", text]

    def say(self, zh: str, en: str = "") -> None:
        """Speak ``zh`` in Chinese, then ``en`` in English; returns at once."""
        if self._engine is None:
            return
        sentences = [(CHINESE_VOICE, zh), (ENGLISH_VOICE, en)]
        sentences = [(voice, text) for voice, text in sentences if text.strip()]
        with self._lock:
            self._prompt += 1
            prompt = self._prompt
            self._stop_current()
            if not sentences:
                return
            first = self._start(*sentences[0])
        if first is None:
            return
        threading.Thread(
            target=self._speak_rest, args=(prompt, first, sentences[1:]), name="voice",
            daemon=True,
        ).start()  # fmt: skip

    def stop(self) -> None:
        """Stop speaking now (e.g. the kiosk screen is left)."""
        with self._lock:
            self._prompt += 1
            self._stop_current()

    def _stop_current(self) -> None:
        current, self._current = self._current, None
        if current is not None and current.poll() is None:
            try:
                current.terminate()
            except OSError as error:  # it ended between poll and terminate
                log.debug("could not stop %s: %s", ENGINE, error)

    def _start(self, voice: str, text: str) -> SpeechProcess | None:
        """Start one sentence (under the lock); ``None`` when the engine will not start."""
        devnull = subprocess.DEVNULL
        try:
            process = self._popen(
                self.command(voice, text), stdin=devnull, stdout=devnull, stderr=devnull
            )
        except OSError as error:
            log.warning("%s could not be started: %s", ENGINE, error)
            return None
        self._current = process
        return process

    def _speak_rest(self, prompt: int, process: SpeechProcess, rest: list[tuple[str, str]]) -> None:
        """The prompt's worker: waits for each sentence (reaping it), starts the next one."""
        for voice, text in rest:
            process.wait()
            with self._lock:
                if self._prompt != prompt:  # a newer prompt or a stop took over
                    return
                started = self._start(voice, text)
            if started is None:
                return
            process = started
        process.wait()
