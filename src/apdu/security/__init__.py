"""Security modules: the keys that prove a card genuine and unlock gen-3 protected data.

A :class:`SecurityModule` computes cryptograms from master keys it never reveals.  Two exist:
:class:`~apdu.security.psam.PsamSecurityModule` (a PSAM card in a second PC/SC slot) and
:class:`~apdu.security.software.SoftwareSecurityModule` (master keys from a file, for
development, tests and the demo).
"""

from apdu.security._crypto import CardAlgorithm
from apdu.security.module import CardKey, Diversification, SecurityModule

__all__ = ["CardAlgorithm", "CardKey", "Diversification", "SecurityModule"]
