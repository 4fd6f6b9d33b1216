"""The reference back office of ykt-terminal (``docs/protocol.md``, ``ykt-link/1``).

It keeps the list *sources* (deny entries, benefit lists, ESSC1 issuer keys, the venue policy)
as keyed references only, publishes them as signed bundles into a static repository, enrols
terminals, and ingests their usage batches exactly once.  ``backoffice.cli`` is the admin
command ``ykt-backoffice``; ``backoffice.server`` is the HTTP front end.
"""

from __future__ import annotations

__version__ = "0.1.0"
