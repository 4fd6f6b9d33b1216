"""Every key of the venue policy file is documented in docs/policy.md, every reason in
docs/verdicts.md."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from terminal.policy import (
    BenefitRule,
    DenyListPolicy,
    Reservations,
    ServicePolicy,
    TimeWindow,
    VenuePolicy,
)
from terminal.reasons import ReasonCode, text_of

DOC = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text("utf-8")
MODELS: list[type[BaseModel]] = [
    VenuePolicy, ServicePolicy, DenyListPolicy, Reservations, BenefitRule, TimeWindow,
]  # fmt: skip
KEYS = [(model.__name__, name) for model in MODELS for name in model.model_fields]


@pytest.mark.parametrize(("model", "key"), KEYS, ids=[f"{m}.{k}" for m, k in KEYS])
def test_policy_key_is_documented(model: str, key: str) -> None:
    assert f"`{key}`" in DOC, f"docs/policy.md does not document {model}.{key}"


def test_every_reason_is_documented_in_both_languages() -> None:
    verdicts = (Path(__file__).resolve().parents[2] / "docs" / "verdicts.md").read_text("utf-8")
    for code in ReasonCode:
        zh, en = text_of(code)
        assert f"| `{code.value}` | {zh} | {en} |" in verdicts, code
