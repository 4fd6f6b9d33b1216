"""Serial scanner sources (``serial:PORT[@BAUD][,framing]``) as ``ykt check --from`` takes
them: a malformed one is a configuration error, said before anything opens."""

from __future__ import annotations

import pytest

from terminal.codes.scanners import parse_serial_source
from terminal.errors import ConfigError


@pytest.mark.parametrize(
    ("source", "fragment"),
    [("serial:", "needs a port"), ("serial:/dev/x@fast", "baud rate"),
     ("serial:/dev/x,zz", "framing")],
)  # fmt: skip
def test_a_malformed_scanner_source_is_a_configuration_error(source: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_serial_source(source)
