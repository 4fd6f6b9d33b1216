"""Canonical JSON: the one serialisation the store hashes and MACs (journal bodies, benefit
attributes, trust key files): keys sorted, no spaces, UTF-8 (non-ASCII kept as is)."""

from __future__ import annotations

import json


def canonical_json(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
