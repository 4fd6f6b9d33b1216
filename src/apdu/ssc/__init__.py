"""The social security card (社会保障卡) application: declared elements, session, record."""

from apdu.ssc.elements import ELEMENTS, DataElement, Gender
from apdu.ssc.reader import CardSession, read_card
from apdu.ssc.record import Authenticity, CardRecord

__all__ = [
    "ELEMENTS",
    "Authenticity",
    "CardRecord",
    "CardSession",
    "DataElement",
    "Gender",
    "read_card",
]
