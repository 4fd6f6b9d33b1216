"""Masking of holder data for screens and logs.

The rule everywhere: show enough for staff to match the card to the person in front of them,
never enough to rebuild an identity.  ``--reveal`` is the only way to print data unmasked.
"""

from __future__ import annotations

import datetime as dt

MASK = "*"


def mask_ssn(ssn: str) -> str:
    """``310101198502141234`` → ``3101**********1234`` (first 4 and last 4 kept)."""
    if len(ssn) <= 8:
        return MASK * len(ssn)
    return ssn[:4] + MASK * (len(ssn) - 8) + ssn[-4:]


def mask_name(name: str) -> str:
    """``张测试`` → ``张*``: the first character and one star, whatever the length."""
    if len(name) <= 1:
        return MASK
    return name[0] + MASK


def mask_card_number(number: str) -> str:
    """``S31000001`` → ``S******01``."""
    if len(number) <= 3:
        return MASK * len(number)
    return number[0] + MASK * (len(number) - 3) + number[-2:]


def mask_card_id(card_id: str) -> str:
    """Card identification code: region and last 4 kept (``310100****…0001``)."""
    if len(card_id) <= 10:
        return MASK * len(card_id)
    return card_id[:6] + MASK * (len(card_id) - 10) + card_id[-4:]


def mask_birth_date(date: dt.date) -> str:
    """Birth year only."""
    return f"{date.year:04d}-**-**"


def mask_atr_hex(atr_hex: str) -> str:
    """An ATR (or its historical bytes) with the last 8 bytes hidden: on social security cards
    they are the card's own diversifier, a stable per-card identifier."""
    return atr_hex[:-16] + MASK * min(16, len(atr_hex))
