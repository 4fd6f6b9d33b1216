"""What ``ykt demo --script`` prints for each key, and how to read it: shared by the unit
tests (in-process reader) and the integration tests (real pcscd)."""

from __future__ import annotations

from terminal.demo_venue import DEMO_KEYS

#: what each key shows at the demo gate when pressed F1 to F11 (README and docs/cli.md)
EXPECTED = {
    "F1": ("admit", "reservation_ok"),
    "F2": ("deny", "deny_lost"),
    "F3": ("deny", "card_expired"),
    "F4": ("deny", "not_authentic"),
    "F5": ("admit_with_benefit", "benefit: Benefit applies: Half price for demonstration-zone"),
    "F6": ("admit_with_benefit", "benefit: Benefit applies: Free for visitors aged 65"),
    "F7": ("admit", "reservation_ok"),
    "F8": ("refer", "anti_passback"),
    "F9": ("deny", "code_replayed"),
    "F10": ("deny", "no_reservation"),
    "F11": ("deny", "no_reservation"),
}


def script_results(lines: list[str]) -> dict[str, tuple[str, str]]:
    """``F1  label  outcome  reason...`` lines of ``ykt demo --script``, by key."""
    found = {}
    for line in lines:
        key = line.split(maxsplit=1)[0] if line.strip() else ""
        if key in EXPECTED and not line.startswith(" "):
            label = next(k.label for k in DEMO_KEYS if k.key.upper() == key)
            rest = line[len(key) :].strip().removeprefix(label).split(maxsplit=1)
            found[key] = (rest[0], rest[1] if len(rest) > 1 else "")
    return found


def assert_every_key_as_expected(lines: list[str]) -> None:
    results = script_results(lines)
    assert set(results) == set(EXPECTED), lines
    for key, (outcome, reason) in EXPECTED.items():
        assert results[key][0] == outcome, (key, results[key])
        assert results[key][1].startswith(reason), (key, results[key])
    assert any("every kind: admit, admit_with_benefit, deny, refer" in line for line in lines)
