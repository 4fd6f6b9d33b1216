"""terminal.config: the configuration file — documented keys, the commented default file, the
messages a broken file gives (file, line, key, problem), and where each setting comes from."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from terminal.cli import main
from terminal.config import (
    SECTIONS,
    TerminalConfig,
    _toml_value,
    default_file,
    effective_toml,
    home_data,
    load_config,
)
from terminal.errors import ConfigError, ExitCode
from terminal.gate import LaunchOptions
from terminal.station import StationSettings
from terminal.status import UploadLimits

DOC = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text("utf-8")
NO_FILE = Path("/nonexistent/ykt/terminal.toml")


def _tables(model: type[BaseModel], path: list[str]) -> list[tuple[str, type[BaseModel]]]:
    found = [(".".join(path), model)]
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _tables(annotation, [*path, name])
    return found


TABLES = [t for name, model in SECTIONS.items() for t in _tables(model, [name])]
KEYS = [
    (table, name, info.default)
    for table, model in TABLES
    for name, info in model.model_fields.items()
    if not (isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel))
]


def _doc_section(table: str) -> str:
    start = DOC.index(f"### `[{table}]`")
    end = DOC.find("\n### ", start + 1)
    return DOC[start : end if end > 0 else None]


@pytest.mark.parametrize(("table", "key", "default"), KEYS, ids=[f"{t}.{k}" for t, k, _ in KEYS])
def test_every_key_is_documented_with_its_default(table: str, key: str, default: object) -> None:
    row = f"| `{key}` | `{_toml_value(default)}` |"
    assert row in _doc_section(table), f"docs/configuration.md [{table}] lacks {row}"


def test_every_key_has_a_description() -> None:
    for table, model in TABLES:
        for name, info in model.model_fields.items():
            assert info.description, f"[{table}] {name}"


def test_the_default_file_names_every_key_and_uncommented_gives_the_defaults(
    tmp_path: Path,
) -> None:
    text = default_file()
    for table, key, _ in KEYS:
        assert f"[{table}]" in text
        assert f"# {key} = " in text
    uncommented = re.sub(r"(?m)^# ([a-z_]+ = )", r"\1", text)
    path = tmp_path / "terminal.toml"
    path.write_text(uncommented)
    assert load_config(path, environ={}).model_dump() == TerminalConfig().model_dump()
    path.write_text(text)  # as written: nothing set, everything default
    assert load_config(path, environ={}).model_dump() == TerminalConfig().model_dump()


# -- broken files: the documented messages ----------------------------------------------------
BROKEN = [
    pytest.param(
        '[terminal]\nmode = "gate"\n\n[relay]\npulse_seconds = 1.5\n\nkind = "serila"\n',
        "line 7: [relay] kind: must be one of none, log, serial, gpio (it is 'serila')",
        id="bad enum",
    ),
    pytest.param(
        "[terminal]\nmode = \n",
        "line 2: not valid TOML: Invalid value (at line 2, column 8)",
        id="bad TOML syntax",
    ),
    pytest.param(
        '[terminal]\nservice = "museum.entry"\n\n[relay]\nkidn = "log"\n',
        "line 5: [relay] kidn: unknown key (check its spelling against docs/configuration.md)",
        id="unknown key",
    ),
    pytest.param(
        "[terminal]\n\n[relya]\nkind = 1\n",
        "line 3: [relya]: unknown section (check its spelling against docs/configuration.md)",
        id="unknown section",
    ),
    pytest.param(
        '[terminal]\ntesting = false\nclear_after = "six"\n',
        "line 3: [terminal] clear_after: must be a number (it is 'six')",
        id="wrong type",
    ),
    pytest.param(
        '[terminal]\ntesting = "yes"\n',
        "line 2: [terminal] testing: must be true or false (it is 'yes')",
        id="wrong type bool",
    ),
    pytest.param(
        "[metrics]\ninterval = 0.5\n",
        "line 2: [metrics] interval: must be at least 1.0 (it is 0.5)",
        id="out of range",
    ),
    pytest.param(
        '[relay]\npulse_seconds = 1.0\nkind = "serial"\n\n[relay.serial]\nbaud = 9600\n',
        "line 3: [relay]: kind serial needs [relay.serial] port",
        id="keys that do not fit",
    ),
    pytest.param(
        '[relay.serial]\nport = "/dev/ykt-relay"\nopen = "A0 01 01 XX"\n',
        "line 3: [relay.serial] open: must be bytes in hex, e.g. A00101A2",
        id="bad hex",
    ),
    pytest.param(
        '[scanner]\nkind = "serial"\n',
        "line 2: [scanner]: kind serial needs a port",
        id="serial scanner without port",
    ),
    pytest.param(
        '# a site\n[relay]\nkind = "serial"\n\nserial.port = "/dev/ykt-relay"\n'
        'serial.open = "zz"\n',
        "line 6: [relay.serial] open: must be bytes in hex, e.g. A00101A2",
        id="a dotted key",
    ),
    pytest.param(
        '[terminal]\npolicy = """\nmode = 1\n"""\nmode = "lobby"\n',
        "line 5: [terminal] mode: must be one of gate, desk, kiosk, tech (it is 'lobby')",
        id="after a multi-line string",
    ),
    pytest.param(
        'terminal = "gate"\n',
        "line 1: [terminal]: must be a table (a [section]), not 'gate'",
        id="a key where a section belongs",
    ),
]


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_a_broken_file_names_the_file_the_line_and_the_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "terminal.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert f"{path} {message}" in raised.value.message.splitlines()


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"configuration file .*missing.toml does not exist"):
        load_config(tmp_path / "missing.toml", environ={})
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(tmp_path, environ={})


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "terminal.toml"
    path.write_bytes(b'[terminal]\nservice = "\xff"\n')
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(path, environ={})


def test_a_bad_environment_fallback_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"\$YKT_ALERT_UNSENT_HOURS must be a number of hours"):
        load_config(default_path=NO_FILE, environ={"YKT_ALERT_UNSENT_HOURS": "soon"})
    with pytest.raises(ConfigError, match=r"^\$YKT_SECURITY_MODULE \(for \[reader\] securi"):
        load_config(default_path=NO_FILE, environ={"YKT_SECURITY_MODULE": "bogus"})


def test_several_problems_are_all_named(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[terminal]\nmode = "lobby"\nclear_after = 0\n[sync]\ninterval = 1\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    lines = raised.value.message.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"{path} line {n}" for n in (2, 3, 5)]


# -- where a setting comes from -------------------------------------------------------------------
def test_without_a_file_the_data_folder_is_the_home_one_and_the_environment_applies() -> None:
    config = load_config(default_path=NO_FILE, environ={"YKT_STORE": "/srv/x/store.db",
                                                        "YKT_PRODUCTION": "0"})  # fmt: skip
    assert config.source is None
    assert config.terminal.data == str(home_data())
    assert config.terminal.store_path == Path("/srv/x/store.db")
    assert config.terminal.keys_path == Path("/srv/x/terminal-keys.toml")
    assert config.terminal.testing is True
    assert config.origin("terminal.store") == "$YKT_STORE"
    assert config.origin("terminal.mode") == "default"
    bare = load_config(default_path=NO_FILE, environ={})
    assert bare.terminal.store_path == home_data() / "store.db"


def test_the_default_file_is_read_when_it_exists(tmp_path: Path) -> None:
    default = tmp_path / "terminal.toml"
    default.write_text('[terminal]\ndata = "/srv/ykt"\n')
    config = load_config(default_path=default, environ={})
    assert config.source == default
    assert config.terminal.store_path == Path("/srv/ykt/store.db")
    assert config.origin("terminal.data") == "file line 2"


def test_file_over_environment_and_options_over_file(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        '[terminal]\ndata = "/srv/ykt"\npolicy = "/etc/ykt/museum.toml"\n'
        '[alerts]\nunsent_hours = 6\n'
    )  # fmt: skip
    environ = {
        "YKT_POLICY": "/tmp/other.toml",
        "YKT_ALERT_UNSENT_COUNT": "500",
        "YKT_ALERT_UNSENT_HOURS": "99",
        "YKT_PLATFORM_PREFIXES": "A:,B:",
    }
    config = load_config(path, environ=environ)
    assert config.terminal.policy == "/etc/ykt/museum.toml"  # the file wins
    assert config.alerts.unsent_hours == 6
    assert config.alerts.unsent_count == 500  # the file does not set it: the fallback
    assert config.platform.prefixes == ("A:", "B:")
    assert config.terminal.store_path == Path("/srv/ykt/store.db")  # $YKT_STORE unset
    overridden = config.overridden(terminal__policy=Path("/cli.toml"), terminal__mode="desk",
                                   terminal__service=None)  # fmt: skip
    assert overridden.terminal.policy == "/cli.toml"
    assert overridden.terminal.mode == "desk"
    assert overridden.origin("terminal.mode") == "--mode"
    assert overridden.source == path
    assert UploadLimits.from_config(config) == UploadLimits(
        oldest_unsent=UploadLimits().oldest_unsent / 4, unsent_count=500
    )


def test_an_option_that_makes_a_bad_combination_is_refused(tmp_path: Path) -> None:
    config = load_config(default_path=NO_FILE, environ={})
    with pytest.raises(ConfigError, match=r"\[terminal\] mode: must be one of"):
        config.overridden(terminal__mode="lobby")


def test_settings_and_launch_options_follow_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        '[terminal]\ndata = "/srv/ykt"\nmode = "kiosk"\nservice = "museum.entry"\n'
        'clear_after = 9\ntesting = true\n'
        '[reader]\npattern = "ACR"\n'
        '[platform]\nurl = "https://platform.example/verify"\n'
        '[sync]\ninterval = 60\n'
        '[relay]\nkind = "none"\n'
        '[metrics]\npath = ""\n'
    )  # fmt: skip
    config = load_config(path, environ={})
    settings = StationSettings.from_config(config, terminal_id="T-9")
    assert settings.store_path == Path("/srv/ykt/store.db")
    assert settings.keys_path == Path("/srv/ykt/terminal-keys.toml")
    assert settings.production is False
    assert settings.platform_url == "https://platform.example/verify"
    assert settings.terminal_id == "T-9"
    options = LaunchOptions.from_config(config)
    assert (options.mode, options.service, options.clear_after) == ("kiosk", "museum.entry", 9)
    assert options.reader is not None
    assert options.reader.reader_pattern == "ACR"
    assert options.sync_interval == 60
    assert options.relay.kind == "none"
    assert options.metrics.path == ""
    off = LaunchOptions.from_config(config.overridden(reader__enabled=False))
    assert off.reader is None


def test_effective_toml_parses_back_to_the_same_configuration(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[relay]\nkind = "gpio"\n[relay.gpio]\nline = 17\nactive_low = true\n')
    config = load_config(path, environ={})
    text = effective_toml(config)
    assert "line = 17  # file line 4" in text
    again = tmp_path / "again.toml"
    again.write_text(text)
    assert load_config(again, environ={}).model_dump() == config.model_dump()


# -- the command line ---------------------------------------------------------------------------
def test_ykt_config_check_prints_the_effective_configuration(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[terminal]\ndata = "/srv/ykt"\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path), "--json"],
                                env={"YKT_STORE": None})  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["file"] == str(path)
    assert shown["store"] == "/srv/ykt/store.db"
    assert shown["config"]["relay"]["kind"] == "log"
    text = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert 'data = "/srv/ykt"  # file line 2' in text.output


def test_ykt_config_check_exits_15_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[relay]\nkind = "serila"\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code == ExitCode.CONFIG == 15
    assert (
        f"ykt: {path} line 2: [relay] kind: must be one of none, log, serial, gpio (it is "
        "'serila')" in result.output
    )
    missing = CliRunner().invoke(main, ["config", "check"], env={"YKT_CONFIG": str(tmp_path / "x")})
    assert missing.exit_code == 15
    assert "does not exist (named by --config or $YKT_CONFIG)" in missing.output


def test_ykt_config_show_default_is_a_valid_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "show-default"])
    assert result.exit_code == 0
    path = tmp_path / "terminal.toml"
    path.write_text(result.output)
    assert load_config(path, environ={}).model_dump() == TerminalConfig().model_dump()


def test_commands_refuse_a_broken_file_before_doing_anything(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("[terminal]\nclear_after = -1\n")
    given = ["--config", str(path)]
    for command in (["status", *given], ["sync", *given], ["run", *given],
                    ["check", "--from", "stdin", *given], ["store", *given, "check"],
                    ["relay", "test", *given], ["unenrol", *given],
                    ["usage", "export", "x", *given], ["verify-code", "x", *given],
                    ["config", "check", *given]):  # fmt: skip
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 15, (command, result.output)
        assert "line 2: [terminal] clear_after: must be at least 0.5" in result.output


def test_status_finds_the_store_in_the_configured_data_folder(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(f'[terminal]\ndata = "{tmp_path / "data"}"\n')
    result = CliRunner().invoke(main, ["status", "--config", str(path)],
                                env={"YKT_STORE": None, "YKT_TERMINAL_KEYS": None})  # fmt: skip
    assert result.exit_code != 0
    assert str(tmp_path / "data" / "terminal-keys.toml") in result.output


def test_the_configuration_relay_logs_and_metrics_import_no_ui() -> None:
    code = (
        "import sys, terminal.config, terminal.relay, terminal.logs, terminal.metrics\n"
        "print('textual' in {m.split('.')[0] for m in sys.modules})\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)  # fmt: skip
    assert result.stdout.strip() == "False"
