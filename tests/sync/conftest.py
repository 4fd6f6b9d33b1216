"""The terminal's back-office link against the real reference back office process."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared fixture
from backoffice_fixture import backoffice_server  # noqa: F401
