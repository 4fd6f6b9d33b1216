"""Scanned codes: the ESSC1 offline code, venue reservation codes, platform codes, and the
dispatcher that tells them apart ("多码融合，一码通用": one scanner, many code kinds)."""
