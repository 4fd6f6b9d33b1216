"""The back office uses offline_store's formats and nothing else of the terminal."""

from __future__ import annotations

import json
import subprocess
import sys

from backoffice_fixture import backoffice_env


def test_backoffice_imports_neither_the_terminal_nor_card_io_nor_a_ui() -> None:
    code = (
        "import json, sys\n"
        "import backoffice.cli, backoffice.server, backoffice.service\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True, text=True, env=backoffice_env(), timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert {"backoffice", "offline_store", "starlette", "uvicorn"} <= loaded
    assert not loaded & {"terminal", "apdu", "smartcard", "textual"}
