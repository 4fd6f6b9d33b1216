"""terminal.card_reading: the --security-module choice and opening a software module."""

from __future__ import annotations

from pathlib import Path

import pytest

import apdu.emulator as emulator
from apdu.errors import SecurityModuleError
from terminal.card_reading import (
    SECURITY_MODULE_ENV,
    SecurityModuleChoice,
    open_software_module,
)
from terminal.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "kind", "argument", "psam_pattern"),
    [
        ("none", "none", "", None),
        ("NONE", "none", "", None),
        (" none ", "none", "", None),
        ("software", "software", "", None),
        ("software:/etc/ykt/keys.toml", "software", "/etc/ykt/keys.toml", None),
        ("Software:C:\\keys.toml", "software", "C:\\keys.toml", None),
        ("psam", "psam", "", "SAM"),
        ("psam:", "psam", "", "SAM"),
        ("psam:Virtual PCD 00 01", "psam", "Virtual PCD 00 01", "Virtual PCD 00 01"),
        ("psam:*SAM*", "psam", "*SAM*", "*SAM*"),
    ],
)
def test_parse_good_specs(text: str, kind: str, argument: str, psam_pattern: str | None) -> None:
    choice = SecurityModuleChoice.parse(text)
    assert choice == SecurityModuleChoice(kind, argument)
    assert choice.psam_pattern == psam_pattern


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "use none, software"),
        ("hsm", "use none, software"),
        ("soft", "use none, software"),
        ("pasm:SAM", "use none, software"),
        (":software", "use none, software"),
        ("none:anything", "none takes no argument"),
    ],
)
def test_parse_bad_specs(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        SecurityModuleChoice.parse(text)
    assert info.value.message == str(info.value)


def test_default_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECURITY_MODULE_ENV, raising=False)
    assert SecurityModuleChoice.default() == SecurityModuleChoice("none")
    monkeypatch.setenv(SECURITY_MODULE_ENV, "psam:ACR39U")
    assert SecurityModuleChoice.default() == SecurityModuleChoice("psam", "ACR39U")
    monkeypatch.setenv(SECURITY_MODULE_ENV, "bogus")
    with pytest.raises(ConfigError):
        SecurityModuleChoice.default()


def test_open_software_module_defaults_to_the_test_keys() -> None:
    module = open_software_module("")
    assert module.test_keys
    assert str(emulator.testing_keys_path()) in module.description


def test_open_software_module_missing_file_is_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "keys.toml"
    with pytest.raises(ConfigError, match=f"key file {missing} does not exist"):
        open_software_module(str(missing))


def test_open_software_module_bad_file_is_security_module_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('[keys.rkssse]\nsm4 = "XYZ"\n', encoding="utf-8")
    with pytest.raises(SecurityModuleError, match="is not hex"):
        open_software_module(str(path))
