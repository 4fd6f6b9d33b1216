"""The terminal's screens (Textual): a thin front end over :class:`terminal.station.Station`."""
