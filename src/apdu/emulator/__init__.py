"""The card emulator: virtual social security cards and a virtual PSAM.

They attach to vsmartcard's vpcd driver (:mod:`apdu.emulator.vpcd`) so that pcscd sees a real
reader holding a real-looking card, or plug into :class:`apdu.scripted.EmulatedTransport` for
unit tests.  Holders are invented (``holders.toml``); keys are the published test keys
(``test-keys.toml``).
"""

from __future__ import annotations

from apdu.emulator.card import CardPulled, Fault, FaultPlan, VirtualCard
from apdu.emulator.holders import Holder, load_holders, testing_keys_path
from apdu.emulator.psam import VirtualPsam
from apdu.security.software import MasterKeys, read_master_key_file


def testing_masters() -> MasterKeys:
    """The published test master keys the emulated cards and PSAM are made with."""
    masters, _ = read_master_key_file(testing_keys_path())
    return masters


__all__ = [
    "CardPulled",
    "Fault",
    "FaultPlan",
    "Holder",
    "VirtualCard",
    "VirtualPsam",
    "load_holders",
    "testing_keys_path",
    "testing_masters",
]
