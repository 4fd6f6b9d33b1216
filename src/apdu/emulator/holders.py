"""Invented cardholders for the emulator (``holders.toml`` beside this file)."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from apdu.security import CardAlgorithm

_ALGORITHMS = {"3des": CardAlgorithm.TDES, "sm4": CardAlgorithm.SM4, "ssf33": CardAlgorithm.SSF33}


@dataclass(frozen=True, slots=True)
class Holder:
    key: str
    name: str
    ssn: str
    gender: str
    ethnicity: str
    birthplace: str
    birth_date: dt.date
    card_number: str
    card_id: str
    card_type: str
    issuer_org: str
    issue_date: dt.date
    expiry_date: dt.date
    generation: int
    algorithm: CardAlgorithm
    name_padding: int = 0x20

    @property
    def region(self) -> str:
        return self.card_id[:6]


def _holder(key: str, table: dict[str, object]) -> Holder:
    def text(name: str) -> str:
        value = table.get(name)
        if not isinstance(value, str):
            raise ValueError(f"holder {key}: {name} must be text")
        return value

    def date(name: str) -> dt.date:
        return dt.date.fromisoformat(text(name))

    generation = table.get("generation")
    if not isinstance(generation, int) or generation not in (1, 2, 3):
        raise ValueError(f"holder {key}: generation must be 1, 2 or 3")
    algorithm = _ALGORITHMS.get(text("algorithm"))
    if algorithm is None:
        raise ValueError(f"holder {key}: algorithm must be one of {', '.join(_ALGORITHMS)}")
    return Holder(
        key=key,
        name=text("name"),
        ssn=text("ssn"),
        gender=text("gender"),
        ethnicity=text("ethnicity"),
        birthplace=text("birthplace"),
        birth_date=date("birth_date"),
        card_number=text("card_number"),
        card_id=text("card_id"),
        card_type=text("card_type"),
        issuer_org=text("issuer_org"),
        issue_date=date("issue_date"),
        expiry_date=date("expiry_date"),
        generation=generation,
        algorithm=algorithm,
        name_padding=int(str(table.get("name_padding", "20")), 16),
    )


def load_holders(path: Path | None = None) -> dict[str, Holder]:
    """Holders from ``path``, or the built-in invented holders."""
    if path is None:
        text = resources.files("apdu.emulator").joinpath("holders.toml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    document = tomllib.loads(text)
    return {key: _holder(key, table) for key, table in document.items() if isinstance(table, dict)}


def testing_keys_path() -> Path:
    """The published test master keys (``test-keys.toml`` beside this file)."""
    return Path(str(resources.files("apdu.emulator").joinpath("test-keys.toml")))
