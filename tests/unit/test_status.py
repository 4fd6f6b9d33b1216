"""apdu.status: the status-word table as data."""

from __future__ import annotations

import pytest

from apdu.status import STATUS_TABLE, Category, StatusWord, describe


def test_every_row_example_is_described_by_its_own_row() -> None:
    assert len(STATUS_TABLE) > 20
    wrong = []
    for row in STATUS_TABLE:
        assert row.matches(row.example), row.pattern
        described = describe(row.example)
        if (described.sw, described.category, described.meaning) != (
            row.example,
            row.category,
            row.meaning,
        ):
            wrong.append(f"{row.pattern}: example {row.example:04X} described as {described}")
    assert wrong == []


#: Every status word named in the card specification (ssc-card.md, "Status words seen").
SPEC_STATUS_WORDS = {
    0x9000: Category.SUCCESS,
    0x6110: Category.MORE_DATA,
    0x6C12: Category.WRONG_LENGTH,
    0x63C2: Category.SECURITY,
    0x6581: Category.EXECUTION_ERROR,
    0x6700: Category.CHECKING_ERROR,
    0x6981: Category.CHECKING_ERROR,
    0x6982: Category.SECURITY,
    0x6983: Category.SECURITY,
    0x6984: Category.SECURITY,
    0x6985: Category.CHECKING_ERROR,
    0x6986: Category.CHECKING_ERROR,
    0x6988: Category.SECURITY,
    0x6A80: Category.CHECKING_ERROR,
    0x6A81: Category.CHECKING_ERROR,
    0x6A82: Category.NOT_FOUND,
    0x6A83: Category.NOT_FOUND,
    0x6A86: Category.CHECKING_ERROR,
    0x6A88: Category.NOT_FOUND,
    0x6E00: Category.CHECKING_ERROR,
    0x9303: Category.EXECUTION_ERROR,
}


@pytest.mark.parametrize(("sw", "category"), SPEC_STATUS_WORDS.items(), ids=lambda v: f"{v}")
def test_every_spec_status_word_has_a_row(sw: int, category: Category) -> None:
    described = describe(sw)
    assert described.category is category
    assert "not an ISO 7816" not in described.meaning


def test_wildcards_match_every_digit() -> None:
    assert describe(0x63C0).meaning == describe(0x63CF).meaning
    assert "tries left" in describe(0x63C3).meaning
    assert describe(0x61FF).category is Category.MORE_DATA
    assert describe(0x6100).category is Category.MORE_DATA
    assert describe(0x6C00).category is Category.WRONG_LENGTH


@pytest.mark.parametrize("sw", [0x0000, 0x1234, 0x9001, 0x6B01, 0x6D01, 0x9F10, 0xFFFF])
def test_unknown_status_words_get_a_generic_description(sw: int) -> None:
    described = describe(sw)
    assert described == StatusWord(
        sw, Category.UNKNOWN, "not an ISO 7816 or card-specification status word"
    )
    assert str(described) == f"{sw:04X} (not an ISO 7816 or card-specification status word)"


def test_str_names_the_status_word_and_its_meaning() -> None:
    assert str(describe(0x6A82)) == "6A82 (file or application not found)"
