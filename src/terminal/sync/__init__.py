"""The back-office link: bundle sync from a URL or a folder, usage upload, clock trust.

``docs/protocol.md`` is the protocol; this package is the terminal's side of it.
"""
