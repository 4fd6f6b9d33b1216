"""``python -m backoffice``: the admin command (as ``ykt-backoffice``)."""

from backoffice.cli import main

main()
