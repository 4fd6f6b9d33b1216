"""The code fuzzer (``fuzz/fuzz_codes.py``) on a small fixed sample, in this process.

The full run (a million inputs) is a separate command; this keeps its generators and its
checks honest on every test run: no finding, and a sample that reached every layer (several
reject reasons, accepted codes, each kind of code the dispatcher routes), so that it cannot
pass by feeding the targets nothing but noise.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cbor2
import pytest

from terminal.codes.essc import verify_code
from terminal.codes.issuer import IssuerSimulator, encode_text, test_issuer_keys
from terminal.errors import CodeRejected

FUZZER = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_codes.py"
COUNT = 3_000
SEED = 20261123


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_codes", FUZZER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fuzz_codes", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


fuzz_codes = _load()


@pytest.fixture(scope="module")
def tally() -> Any:  # a fuzz_codes.Tally
    return fuzz_codes.run(COUNT, SEED, workers=1)


def test_no_findings(tally: Any) -> None:
    shown = "\n\n".join(
        f"{finding['signature']} [{finding['generator']}]\ninput: {finding['input'][:500]}\n"
        f"{finding['traceback']}"
        for finding in tally.findings
    )
    assert tally.finding_count == 0, shown
    assert tally.inputs == COUNT


def test_every_generator_ran(tally: Any) -> None:
    assert set(tally.generators) == {name for name, _, _ in fuzz_codes.GENERATORS}


def test_the_verifier_saw_codes_of_every_kind(tally: Any) -> None:
    verify = tally.verify
    assert verify["accepted"] + verify["accepted (replayed)"] >= COUNT // 20
    assert verify["accepted (replayed)"] > 0
    reasons = {outcome.removeprefix("rejected:") for outcome in verify if "rejected:" in outcome}
    # key_not_valid needs a key the terminal refuses: the fixture keys are all usable at NOW
    expected = {"malformed", "unknown_key", "issuer_mismatch", "bad_signature", "expired"}
    assert expected | {"not_yet_valid"} >= reasons >= expected
    # and malformed codes failed at every layer, not just the first
    layers = {detail.split(":")[0].split(" ")[0] for detail in tally.malformed}
    assert {"text", "base45", "zlib", "COSE", "claims", "claim"} <= layers


def test_the_dispatcher_routed_every_kind(tally: Any) -> None:
    outcomes = set(tally.dispatch)
    for expected in (
        "accepted:essc-qr",
        "accepted:reservation-code",
        "accepted:platform-code (online)",
        "CodeNotRecognised:not_recognised",
        "NeedsNetwork:needs_network (offline)",
        "CodeRejected:malformed",
    ):
        assert expected in outcomes, sorted(outcomes)


def test_the_same_seed_gives_the_same_inputs() -> None:
    ctx = fuzz_codes.context(SEED)
    first = list(fuzz_codes.inputs(fuzz_codes.random.Random(1), ctx, 50))
    again = list(fuzz_codes.inputs(fuzz_codes.random.Random(1), ctx, 50))
    assert first == again


def test_a_crash_is_a_finding_with_its_input() -> None:
    """The fuzzer's own harness: a target raising anything but CodeRejected is recorded."""
    tally = fuzz_codes.Tally()
    probe = fuzz_codes._Probe("ESSC1:boom", "test", tally)

    def crashes() -> object:
        raise KeyError("boom")

    assert probe.attempt(crashes, "verify_code") is None
    assert tally.finding_count == 1
    [finding] = tally.findings
    assert finding["input"] == "'ESSC1:boom'"
    assert "KeyError" in finding["signature"]
    assert "KeyError: 'boom'" in finding["traceback"]


def test_the_summary_names_the_figures(tally: Any) -> None:
    out = io.StringIO()
    fuzz_codes.summary(out, tally, 1.5, SEED, 1)
    text = out.getvalue()
    assert f"{COUNT} inputs" in text
    assert "0 finding(s)" in text
    assert "verify_code outcomes" in text


@pytest.mark.parametrize("damage", ["tag", "duplicate key"])
def test_a_malformed_code_never_names_the_holder(damage: str) -> None:
    """The verifier's contract: messages never carry the holder's identity.  (Found by the
    fuzzer: cbor2's error text quotes decoded values, and it used to reach the message.)"""
    now = fuzz_codes.NOW
    sim, keys = IssuerSimulator(), test_issuer_keys()
    card_id, number, name = "310100D15600000500000000000000AB", "S31000001", "张测试"
    if damage == "tag":  # an IP-network tag (261) whose prefix length is the holder's name
        bad = cbor2.CBORTag(261, {b"\xc0\xa8\x00\x00": name})
        text = sim.issue(card_id=card_id, card_number=number, iat=now, card={"nm": bad})
    else:  # the card claims map with the card number twice, as a key
        iat = int(now.timestamp())
        claims = cbor2.dumps({1: "310000", 4: iat + 120, 6: iat, 7: bytes(16)})
        twice = b"\xa2" + cbor2.dumps(number) + b"\x01" + cbor2.dumps(number) + b"\x02"
        payload = bytes([claims[0] + 1]) + claims[1:] + cbor2.dumps(-65537) + twice
        text = encode_text(sim.sign(payload, "shanghai"))
    with pytest.raises(CodeRejected) as rejected:
        verify_code(text, keys_for=lambda kid: [k for k in keys if k.kid == kid], now=now)
    assert rejected.value.reason == "malformed"
    assert name not in rejected.value.message
    assert number not in rejected.value.message
