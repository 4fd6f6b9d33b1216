"""Every error the card layer raises, under one root.

::

    ApduError                         root: anything the card layer could not do
    ├── CardServiceError              the PC/SC service or a reader
    │   ├── CardServiceUnavailable    pcscd is not running / not reachable
    │   ├── NoReaderError             no reader connected (or none matches the pattern)
    │   ├── ReaderUnplugged           the reader went away while in use
    │   ├── NoCardError               no card arrived in the time allowed
    │   │   └── WaitCancelled         another thread cancelled the wait for a card
    │   ├── CardRemovedError          the card left the reader during a read
    │   ├── ReaderCommunicationError  any other failure talking to the reader
    │   └── StackUnavailable          the test/demo PC/SC stack (pcscd + vpcd) cannot come up
    ├── ResponseError                 a response that is not an ISO 7816 response at all
    ├── StatusError                   the card answered a status word the step cannot accept
    │   └── NotSocialSecurityCard     the SSSE application is not on this card
    ├── CardDataError                 the card's data is malformed (TLV, BCD, GBK, length)
    └── SecurityModuleError           the PSAM or software security module cannot help
        ├── SecurityModuleMissing     no PSAM answers / the key file is missing
        ├── AlgorithmUnsupported      the module lacks the card's algorithm (SSF33, SM4, 3DES)
        └── KeyMissing                the module lacks a key the card needs (e.g. RKSSSE)

Every error carries ``message`` (a sentence a venue technician can act on) and ``title``
(a few words for a status line or an exit summary).  Foreign errors (pyscard, OS errors) are
converted at the transport seam and chained with ``from``.
"""

from __future__ import annotations

from typing import ClassVar


class ApduError(Exception):
    """Root of every card-layer error."""

    title: ClassVar[str] = "card error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CardServiceError(ApduError):
    title = "card service error"


class CardServiceUnavailable(CardServiceError):
    title = "card service (pcscd) is not running"


class NoReaderError(CardServiceError):
    title = "no reader connected"


class ReaderUnplugged(CardServiceError):
    title = "reader unplugged"


class NoCardError(CardServiceError):
    title = "no card"


class WaitCancelled(NoCardError):
    """The wait for a card (or for its removal) was cancelled from another thread."""

    title = "wait cancelled"


class CardRemovedError(CardServiceError):
    title = "card removed during read"


class ReaderCommunicationError(CardServiceError):
    title = "reader communication error"


class StackUnavailable(CardServiceError):
    """pcscd or the vpcd driver is missing, or the virtual reader never appeared."""

    title = "PC/SC test stack unavailable"


class ResponseError(ApduError):
    title = "garbled card response"


class StatusError(ApduError):
    """The card answered with a status word the current step cannot accept."""

    title = "card refused a command"

    def __init__(self, message: str, sw: int) -> None:
        super().__init__(message)
        self.sw = sw


class NotSocialSecurityCard(StatusError):
    title = "not a social security card"


class CardDataError(ApduError):
    title = "card data unreadable"


class SecurityModuleError(ApduError):
    title = "security module error"


class SecurityModuleMissing(SecurityModuleError):
    title = "no security module"


class AlgorithmUnsupported(SecurityModuleError):
    title = "security module lacks the card's algorithm"


class KeyMissing(SecurityModuleError):
    title = "security module lacks a key"
