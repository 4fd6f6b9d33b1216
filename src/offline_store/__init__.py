"""The terminal's offline store: deny and benefit lists, the usage journal (issue 3).

A library: it imports neither the application (:mod:`terminal`), card I/O (:mod:`apdu`) nor
the UI.
"""
