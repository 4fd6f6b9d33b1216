"""The main job on embedded defaults: emulated cards in a real PC/SC stack, read as ``ykt read``.

No hardware: pcscd runs with vsmartcard's vpcd driver, the project's card emulator plays the
cards and a test PSAM sits in the second slot.  Each card goes through the same
:func:`terminal.card_reading.read_one` path as ``ykt read`` on a USB reader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apdu.emulator import Fault, FaultPlan, VirtualCard, VirtualPsam, load_holders, testing_masters
from apdu.emulator.stack import CARD_READER, SAM_READER, PcscStack
from apdu.errors import ApduError
from apdu.pcsc import PcscContext
from terminal.card_reading import ReadRequest, SecurityModuleChoice, read_one
from terminal.card_view import to_text

Echo = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class DemoCard:
    title: str
    holder: str
    security_module: str
    faults: frozenset[Fault] = frozenset()


DEMO_CARDS = (
    DemoCard("generation-3 card, PSAM in the second slot", "sh-gen3", f"psam:{SAM_READER}"),
    DemoCard("generation-2 card, software test keys", "zj-gen2", "software"),
    DemoCard("generation-1 card, no security module", "js-gen1", "none"),
    DemoCard("generation-3 card, no security module", "qingpu-senior-gen3", "none"),
    DemoCard(
        "a cloned card (right data, wrong keys)",
        "sh-gen3",
        f"psam:{SAM_READER}",
        frozenset({Fault.CLONE}),
    ),
    DemoCard(
        "a card pulled out mid-read",
        "zj-gen2",
        "software",
        frozenset({Fault.PULL_AFTER}),
    ),
)


def run(echo: Echo) -> None:
    holders = load_holders()
    masters = testing_masters()
    with PcscStack() as stack:
        echo(
            "PC/SC stack up: pcscd "
            + ("started for this demo" if stack.started_daemon else "already running")
            + f", card in {CARD_READER!r}, test PSAM in {SAM_READER!r}"
        )
        stack.insert(VirtualPsam(masters), SAM_READER)
        with PcscContext() as context:
            for number, card in enumerate(DEMO_CARDS, start=1):
                echo("")
                echo(
                    f"[{number}/{len(DEMO_CARDS)}] {card.title}: ykt read --security-module "
                    f"'{card.security_module}'"
                )
                plan = FaultPlan(faults=card.faults, pull_after=4)
                stack.insert(VirtualCard(holders[card.holder], masters, plan), CARD_READER)
                request = ReadRequest(
                    reader_pattern=CARD_READER,
                    security_module=SecurityModuleChoice.parse(card.security_module),
                    wait_seconds=5,
                )
                try:
                    record = read_one(context, request)
                except ApduError as error:
                    echo(f"  -> {error.message}")
                else:
                    for line in to_text(record, reveal=False):
                        echo("  " + line)
                stack.remove(CARD_READER)
        echo("")
        echo(
            "Done. Try it yourself: `ykt dev card --holder sh-gen3` in one shell, "
            "`ykt read --security-module software` in another."
        )
