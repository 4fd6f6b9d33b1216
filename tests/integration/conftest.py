"""The real PC/SC stack for integration tests: pcscd + vpcd + the project's card emulator.

Missing Debian packages are installed (``./dev setup-system``); pcscd is started only when none
runs and stopped only if started here.  When the stack cannot come up the tests skip on a
developer machine, and the whole run FAILS when ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apdu.emulator import Fault, FaultPlan, VirtualCard, VirtualPsam, load_holders, testing_masters
from apdu.emulator.stack import CARD_READER, SAM_READER, PcscStack
from apdu.emulator.vpcd import VpcdLink
from apdu.errors import ApduError

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _install_packages() -> None:
    result = subprocess.run(
        [str(ROOT / "dev"), "setup-system"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"./dev setup-system failed: {result.stderr.strip()[-500:]}")


@pytest.fixture(scope="session")
def stack() -> Iterator[PcscStack]:
    pcsc_stack = PcscStack()
    try:
        _install_packages()
        pcsc_stack.start()
    except (ApduError, RuntimeError, OSError) as exc:
        message = f"the PC/SC stack (pcscd + vpcd) cannot come up: {exc}"
        if IN_CI:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    try:
        yield pcsc_stack
    finally:
        pcsc_stack.stop()


InsertCard = Callable[..., VpcdLink]


@pytest.fixture
def insert_card(stack: PcscStack) -> Iterator[InsertCard]:
    """Insert an emulated card: ``insert_card("sh-gen3", Fault.CLONE, pull_after=3)``."""
    holders = load_holders()

    def insert(holder: str, *faults: Fault, **plan: object) -> VpcdLink:
        fault_plan = FaultPlan(faults=frozenset(faults), **plan)  # type: ignore[arg-type]
        return stack.insert(
            VirtualCard(holders[holder], testing_masters(), fault_plan), CARD_READER
        )

    yield insert
    stack.remove(CARD_READER)


@pytest.fixture
def psam(stack: PcscStack) -> Iterator[str]:
    """A test PSAM in the second slot; yields its reader name."""
    stack.insert(VirtualPsam(testing_masters()), SAM_READER)
    yield SAM_READER
    stack.remove(SAM_READER)
