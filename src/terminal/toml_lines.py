"""Where each key of a TOML text is written, so a validation error can name its line.

Shared by the venue policy (:mod:`terminal.policy`) and the terminal configuration
(:mod:`terminal.config`): pydantic reports a field path (``("relay", "kind")``), and
:class:`KeyLines` maps it back to the line of the TOML text where that key (or its table) is.
"""

from __future__ import annotations

import re
import tomllib


def named_in(message: str) -> list[str]:
    """Keys a table-level message is about: its first word and anything it quotes."""
    first = message.split(" ", 1)[0]
    return [first, *re.findall(r"'([^']+)'", message)]


def dotted(location: tuple[object, ...]) -> str:
    parts = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            parts.append(("." if parts else "") + str(part))
        else:
            parts.append(("." if parts else "") + f'"{part}"')
    return "".join(parts) or "(top level)"


class KeyLines:
    """Where each key path of a TOML text is written (table headers and ``key =`` lines)."""

    _PART = r'(?:"(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)'
    #: a key line: a bare, quoted or dotted key (``serial.open = ...``), then ``=``
    _KEY = re.compile(rf"\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")
    _PARTS = re.compile(_PART)

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[object, ...], int] = {}
        table: tuple[object, ...] = ()
        counts: dict[tuple[object, ...], int] = {}
        in_string: str | None = None  # inside a multi-line string: its delimiter
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            if stripped.startswith("[["):
                path = self._header(stripped[1:-1])
                index = counts.get(path, 0)
                counts[path] = index + 1
                table = (*path, index)
                self.lines.setdefault(path, number)
                self.lines[table] = number
            elif stripped.startswith("["):
                table = self._header(stripped)
                for end in range(1, len(table) + 1):  # [a.b] also says where a is
                    self.lines.setdefault(table[:end], number)
            else:
                match = self._KEY.match(line)
                if match:
                    parts = [
                        part[1:-1] if part[:1] in "\"'" else part
                        for part in self._PARTS.findall(match.group(1))
                    ]
                    for end in range(1, len(parts) + 1):  # a.b.c = also says where a.b is
                        self.lines.setdefault((*table, *parts[:end]), number)
                    rest = line[match.end() :]
                    for quote in ('"""', "'''"):
                        if rest.count(quote) % 2 == 1:  # a multi-line string opens here
                            in_string = quote

    @staticmethod
    def _header(header: str) -> tuple[object, ...]:
        try:
            document: object = tomllib.loads(header.split("#", maxsplit=1)[0].strip() + "\n")
        except tomllib.TOMLDecodeError:
            return ()
        path: list[object] = []
        while isinstance(document, dict) and len(document) == 1:
            key, document = next(iter(document.items()))
            path.append(key)
        return tuple(path)

    def line_of(self, location: tuple[object, ...], hints: list[str] | None = None) -> int:
        for hint in hints or []:
            found = self.lines.get((*location, hint))
            if found is not None:
                return found
        for end in range(len(location), 0, -1):
            found = self.lines.get(tuple(location[:end]))
            if found is not None:
                return found
        return 1
