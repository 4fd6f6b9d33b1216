"""The app's output made fit for fbterm, the framebuffer terminal of the installed terminal.

The Linux console draws at most 512 glyphs, so no Chinese; the installed terminal runs the app
inside fbterm (Debian's ``fbterm`` 1.7), which draws any glyph of its fontconfig fonts
(docs/deploy.md).  Its unit starts the app with ``TERM=fbterm``, the terminfo entry fbterm
ships, and :func:`driver_for` then gives Textual :class:`FbtermDriver`.

fbterm emulates the Linux console of its time (``src/lib/vterm_*.cpp`` in its source):

* Its SGR knows 30–37 and 40–47, with bold and blink as the bright halves; 90–97 and 100–107
  (the bright colours Rich writes for colours 8–15) are ignored, and 38/48 mean "underline,
  default colour", so ``38;5;n`` would underline and blink.  Its own private sequences set
  any of its 256 colours: ``ESC [ 1 ; n }`` the foreground, ``ESC [ 2 ; n }`` the background.
  :func:`for_fbterm` rewrites the bright and extended colours into those, so the screen shows
  the 16 colours the kernel's console would.
* A control sequence with a byte it does not know ends there and the rest is printed as text:
  Textual's ``ESC [ > 25 u`` (kitty keyboard) would print ``25u``, ``ESC [ ? 2026 $ p`` (a
  mode query) ``p``, ``ESC ] 22 ; default BEL`` (the pointer's shape) ``default``.
  :func:`for_fbterm` leaves out every sequence fbterm cannot parse; none of them changes what
  fbterm shows (it never answers a query, and has no pointer).

Input needs nothing: fbterm sends the Linux console's keys (``ESC [ [ A`` for F1), which
Textual reads as it does on the console.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from textual.drivers.linux_driver import LinuxDriver

#: ``ESC [`` parameters, intermediates, final byte (ECMA-48)
_CSI = re.compile(r"\x1b\[([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])")
#: an operating-system command, ended by BEL or ST
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
#: the parameters fbterm's CSI state reads: digits and ``;``, after an optional ``?``
_PARAMETERS = re.compile(r"\??[0-9;]*")
#: the final bytes of fbterm 1.7's CSI table (``src/lib/vterm_states.cpp``, ESsquare)
_FINALS = frozenset("@ABCDEFGHJKLMPXacdefghlmnqrsu`]}")
#: xterm's 6x6x6 colour cube levels, which fbterm's palette 16–231 follows
_LEVELS = (0, 95, 135, 175, 215, 255)


def for_fbterm(data: str) -> str:
    """``data`` (Textual's output) with colours fbterm draws and no sequence it would print."""
    return _CSI.sub(_control, _OSC.sub("", data))


def _control(match: re.Match[str]) -> str:
    parameters, intermediates, final = match.groups()
    if intermediates or final not in _FINALS or not _PARAMETERS.fullmatch(parameters):
        return ""  # fbterm would stop at the unknown byte and print the rest
    if final == "m" and not parameters.startswith("?"):
        return _sgr(parameters)
    return match.group(0)


def _sgr(parameters: str) -> str:
    """One SGR as fbterm understands it: the plain attributes in order, each bright or
    extended colour as fbterm's own ``ESC [ 1|2 ; n }``."""
    values = [int(p) if p else 0 for p in parameters.split(";")]
    out: list[str] = []
    plain: list[str] = []

    def colour(layer: int, number: int) -> None:
        if plain:
            out.append(f"\x1b[{';'.join(plain)}m")
            plain.clear()
        out.append(f"\x1b[{layer};{number}}}")

    index = 0
    while index < len(values):
        value = values[index]
        if 90 <= value <= 97:
            colour(1, value - 90 + 8)
        elif 100 <= value <= 107:
            colour(2, value - 100 + 8)
        elif value in {38, 48}:
            layer = 1 if value == 38 else 2
            kind = values[index + 1] if index + 1 < len(values) else None
            if kind == 5 and index + 2 < len(values):
                colour(layer, min(values[index + 2], 255))
                index += 2
            elif kind == 2 and index + 4 < len(values):
                red, green, blue = values[index + 2 : index + 5]
                colour(layer, xterm_index(red, green, blue))
                index += 4
            else:
                break  # a colour without its numbers: the rest is not to be trusted
        else:
            plain.append(str(value))
        index += 1
    if plain:
        out.append(f"\x1b[{';'.join(plain)}m")
    return "".join(out)


def xterm_index(red: int, green: int, blue: int) -> int:
    """The nearest of xterm's 256 colours (the cube 16–231 or the grey ramp 232–255)."""

    def level(component: int) -> int:
        return min(range(6), key=lambda i: abs(_LEVELS[i] - component))

    r, g, b = level(red), level(green), level(blue)
    cube = (_LEVELS[r], _LEVELS[g], _LEVELS[b])
    grey_step = min(23, max(0, round((red + green + blue) / 3 - 8) // 10))
    grey = 8 + 10 * grey_step

    def distance(rgb: tuple[int, int, int]) -> int:
        return (rgb[0] - red) ** 2 + (rgb[1] - green) ** 2 + (rgb[2] - blue) ** 2

    if distance((grey, grey, grey)) < distance(cube):
        return 232 + grey_step
    return 16 + 36 * r + 6 * g + b


class FbtermDriver(LinuxDriver):
    """Textual's Linux driver, its output passed through :func:`for_fbterm`."""

    def write(self, data: str) -> None:
        super().write(for_fbterm(data))


def driver_for(environ: Mapping[str, str]) -> type[LinuxDriver] | None:
    """The driver for the terminal ``$TERM`` names: fbterm's, or ``None`` (Textual's own)."""
    return FbtermDriver if environ.get("TERM") == "fbterm" else None
