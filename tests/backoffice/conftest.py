"""Fixtures of the back-office tests: an initialised back office at a fixed time, an enrolled
fake terminal; and the real server (``backoffice_fixture.backoffice_server``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from backoffice_support import NOW, FakeTerminal, enrol, run

from backoffice.service import BackOffice

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared fixture
from backoffice_fixture import backoffice_server  # noqa: F401


@pytest.fixture
def office(tmp_path: Path) -> Iterator[BackOffice]:
    with BackOffice.init(tmp_path / "backoffice", now=NOW) as office:
        yield office


@pytest.fixture
def terminal(office: BackOffice) -> FakeTerminal:
    fake = FakeTerminal("T-001")
    enrol(office, fake)
    return fake


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """An initialised data directory for the admin command (``run(data, ...)``)."""
    root = tmp_path / "bo"
    run(root, "init")
    return root
