"""The libraries import neither the application nor the UI (checked in a fresh interpreter)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest


def _modules_after_importing(*names: str) -> set[str]:
    code = (
        "import json, sys\n"
        + "".join(f"import {name}\n" for name in names)
        + "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def _top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


LIBRARIES = ("apdu", "apdu.ssc", "apdu.security", "apdu.emulator", "offline_store")


def test_libraries_import_neither_textual_nor_terminal() -> None:
    loaded = _modules_after_importing(*LIBRARIES)
    assert set(LIBRARIES) <= loaded  # the imports really happened
    assert "textual" not in _top_level(loaded)
    assert "terminal" not in _top_level(loaded)


@pytest.mark.parametrize("library", LIBRARIES)
def test_each_library_alone(library: str) -> None:
    top = _top_level(_modules_after_importing(library))
    assert "textual" not in top
    assert "terminal" not in top


def test_offline_store_imports_no_card_io() -> None:
    top = _top_level(_modules_after_importing("offline_store"))
    assert not top & {"apdu", "smartcard", "terminal", "textual"}


def test_only_apdu_pcsc_imports_pyscard() -> None:
    """Catches new modules too, which the import-linter contract lists one by one."""
    src = Path(__file__).resolve().parents[2] / "src"
    offenders = []
    for path in src.rglob("*.py"):
        if path == src / "apdu" / "pcsc.py":
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(name == "smartcard" or name.startswith("smartcard.") for name in names):
                offenders.append(str(path.relative_to(src)))
    assert offenders == []


CLOCK_READERS = {"terminal/clock.py", "terminal/cli.py"}  # sample_now, and the front end


def test_only_the_front_end_reads_the_clock() -> None:
    """Time is passed in: nothing in the libraries or the verdict reads the system clock."""
    src = Path(__file__).resolve().parents[2] / "src"
    offenders = []
    for path in sorted(src.rglob("*.py")):
        relative = path.relative_to(src).as_posix()
        if relative in CLOCK_READERS or relative.startswith("apdu/"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("now", "utcnow", "today", "time", "monotonic", "perf_counter")
                and isinstance(node.value, ast.Name | ast.Attribute)
            ):
                name = ast.unparse(node)
                if name.split(".")[-2] in ("datetime", "dt", "date", "time"):
                    offenders.append(f"{relative}:{node.lineno}: {name}")
    assert offenders == []
