"""terminal.policy: the venue policy file and its line-numbered errors."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import pytest

from offline_store.store import DenyReason
from terminal.errors import PolicyError
from terminal.policy import (
    DEMONSTRATION_ZONE,
    Action,
    TimeWindow,
    load_policy,
    parse_policy,
)

DEFAULT = resources.files("terminal").joinpath("policies", "default.toml").read_text()


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_embedded_default_covers_every_venue_kind() -> None:
    policy = load_policy()
    assert set(policy.services) >= {"library.entry", "library.borrow", "museum.entry",
                                    "scenic.entry"}  # fmt: skip
    assert policy.local_provinces == ("31", "32", "33", "34")
    scenic = policy.services["scenic.entry"]
    assert set(scenic.benefits[0].regions) == set(DEMONSTRATION_ZONE)
    assert policy.services["museum.entry"].reservations is not None
    assert policy.services["library.borrow"].registered_list == "library-readers"
    assert policy.deny_list.action(DenyReason.LOST) is Action.DENY
    assert policy.deny_list.action(DenyReason.FRAUD) is Action.REFER


@pytest.mark.parametrize(
    ("change", "needle", "message"),
    [
        (("anti_passback_minutes = 30", "anti_passback_minutes = -3"),
         "anti_passback_minutes = -3", 'services."museum.entry".anti_passback_minutes: Input '
         "should be greater than or equal to 0"),
        (("min_age = 65", "min_agee = 65"), "min_agee",
         'services."museum.entry".benefits[0].min_agee: unknown key'),
        (('start = "08:00"', 'start = "8am"'), '"8am"',
         "windows[0].start: a time of day is HH:MM"),
        (('timezone = "Asia/Shanghai"', 'timezone = "Mars/Base"'), "Mars/Base",
         "timezone: unknown time zone 'Mars/Base'"),
        (('default_service = "museum.entry"', 'default_service = "zoo.entry"'), "zoo.entry",
         "default_service: 'zoo.entry' is not one of the services"),
        (('non_local = "refer"', 'non_local = "maybe"'), '"maybe"',
         "non_local: Input should be 'deny', 'refer' or 'admit'"),
        (('stale_lists = "refer"', 'stale_lists = "admit"'), 'stale_lists = "admit"',
         "stale_lists: Input should be 'refer' or 'admit-flagged'"),
        (('lost = "deny"', 'lost = "admit"'), 'lost = "admit"', "deny_list.lost: Input should"),
        (('price = "50%"', 'price = "half"'), '"half"', "price: String should match pattern"),
        (('min_age = 60\n', 'min_age = 60\nmax_age = 50\n'), "max_age = 50",
         "max_age is below min_age"),
        (('passback_action = "refer"', 'passback_action = "admit"'), 'passback_action = "admit"',
         "passback_action is deny or refer"),
        (('[services."library.borrow"]', '[services."Library Borrow"]'),
         "Library Borrow", 'service name \'Library Borrow\''),
    ],
)  # fmt: skip
def test_bad_policy_names_line_and_problem(
    change: tuple[str, str], needle: str, message: str
) -> None:
    assert change[0] in DEFAULT
    text = DEFAULT.replace(change[0], change[1], 1)
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "venue.toml")
    first = caught.value.message.splitlines()[0]
    assert first.startswith(f"venue.toml:{line_of(text, needle)}: "), first
    assert message in first


def test_toml_syntax_error_names_the_line() -> None:
    text = DEFAULT.replace("[deny_list]", "[deny_list")
    with pytest.raises(
        PolicyError, match=rf"venue.toml:{line_of(text, '[deny_list')}: not valid TOML"
    ):
        parse_policy(text, "venue.toml")


def test_missing_required_key_is_named() -> None:
    text = DEFAULT.replace('name_en = "Museum entry"\n', "")
    with pytest.raises(
        PolicyError, match=r'services."museum.entry".name_en: required key is missing'
    ):
        parse_policy(text, "venue.toml")


def test_unreadable_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(tmp_path / "missing.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(binary)


def test_unknown_service_lists_the_known_ones() -> None:
    with pytest.raises(PolicyError, match=r"library\.borrow, library\.entry, museum\.entry"):
        load_policy().service("zoo.entry")


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (dt.datetime(2026, 11, 21, 8, 0), True),  # Saturday 08:00
        (dt.datetime(2026, 11, 21, 17, 29), True),
        (dt.datetime(2026, 11, 21, 17, 30), False),  # end is exclusive
        (dt.datetime(2026, 11, 23, 10, 0), False),  # Monday
        (dt.datetime(2026, 11, 22, 7, 59), False),
    ],
)
def test_time_window(moment: dt.datetime, inside: bool) -> None:
    window = TimeWindow(days=("sat", "sun"), start="08:00", end="17:30")
    assert window.contains(moment) is inside


def test_time_window_dates() -> None:
    window = TimeWindow(from_date=dt.date(2026, 12, 1), until_date=dt.date(2026, 12, 31))
    assert not window.contains(dt.datetime(2026, 11, 30, 12, 0))
    assert window.contains(dt.datetime(2026, 12, 31, 23, 59))
    with pytest.raises(ValueError, match="end 08:00 must be after start 09:00"):
        TimeWindow(start="09:00", end="08:00")
