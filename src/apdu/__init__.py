"""ISO 7816-4 and the social security card application, behind one transport seam.

No SQLite, no UI.  Start with :func:`apdu.ssc.read_card` on a :class:`CardChannel` over a
transport (:mod:`apdu.pcsc` for real readers, :mod:`apdu.scripted` for tests).
"""

from apdu.command import Case, Command, Response
from apdu.errors import ApduError
from apdu.status import Category, StatusWord, describe
from apdu.transport import CardChannel, Transport

__all__ = [
    "ApduError",
    "CardChannel",
    "Case",
    "Category",
    "Command",
    "Response",
    "StatusWord",
    "Transport",
    "describe",
]
