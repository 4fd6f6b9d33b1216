"""Shared fixtures of the unit tests: emulated cards and security modules, never PC/SC."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

import apdu.emulator as emulator
import terminal.config
from apdu.emulator import FaultPlan, Holder, VirtualCard, VirtualPsam
from apdu.scripted import EmulatedTransport
from apdu.security.psam import PsamSecurityModule
from apdu.security.software import MasterKeys, SoftwareSecurityModule
from apdu.transport import CardChannel

# No example database under the project root: unit tests leave no files behind.
settings.register_profile("unit", database=None, deadline=None)
settings.load_profile("unit")


@pytest.fixture(autouse=True)
def _no_machine_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal configuration installed on this machine (/etc/ykt/terminal.toml, or
    $YKT_CONFIG) is not the tests' business: they see none unless they write one."""
    monkeypatch.setattr(terminal.config, "DEFAULT_CONFIG_PATH", Path("/nonexistent/terminal.toml"))
    monkeypatch.delenv(terminal.config.CONFIG_ENV, raising=False)


@pytest.fixture(scope="session")
def masters() -> MasterKeys:
    return emulator.testing_masters()


@pytest.fixture(scope="session")
def software_module() -> SoftwareSecurityModule:
    return SoftwareSecurityModule.from_file(emulator.testing_keys_path())


@pytest.fixture
def psam_module(masters: MasterKeys) -> PsamSecurityModule:
    return PsamSecurityModule(CardChannel(EmulatedTransport(VirtualPsam(masters))))


CardFactory = Callable[..., CardChannel]


@pytest.fixture
def card_channel(masters: MasterKeys) -> CardFactory:
    """``card_channel(holder, plan=FaultPlan(), trace=None)``: a channel to an emulated card."""

    def make(holder: Holder, plan: FaultPlan | None = None, trace=None) -> CardChannel:
        card = VirtualCard(holder, masters, plan or FaultPlan())
        return CardChannel(EmulatedTransport(card), trace)

    return make
