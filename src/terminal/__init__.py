"""The ykt terminal application: command line, (later) verdicts, sync and the venue UI.

Thin front ends over the :mod:`apdu` and :mod:`offline_store` libraries.
"""
