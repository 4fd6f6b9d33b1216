"""``usage stats``: events per terminal and chain, and the sequence numbers still missing.

A terminal numbers each chain's records from 1 without gaps and never deletes one before it is
acknowledged, so every number from 1 to the highest received should be here: a gap is an
event not (yet) received.  Events are stored once by event id, so a count equal to the highest
number with no gap means no event lost and none counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from backoffice.db import BackOfficeDb


@dataclass(frozen=True, slots=True)
class ChainStats:
    terminal_id: str
    chain: str
    events: int
    first_seq: int
    last_seq: int
    #: inclusive ranges of sequence numbers missing between 1 and ``last_seq``
    gaps: list[tuple[int, int]]
    batches: int
    #: events received again in another batch (stored once)
    duplicates: int
    #: batches received again with the same bytes (answered with the same acknowledgement)
    repeated_batches: int

    @property
    def missing(self) -> int:
        return sum(end - start + 1 for start, end in self.gaps)

    def to_json(self) -> dict[str, object]:
        return {
            "terminal_id": self.terminal_id,
            "chain": self.chain,
            "events": self.events,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "missing": self.missing,
            "gaps": [list(gap) for gap in self.gaps],
            "batches": self.batches,
            "duplicates": self.duplicates,
            "repeated_batches": self.repeated_batches,
        }


def usage_stats(db: BackOfficeDb) -> list[ChainStats]:
    with db.reading() as connection:
        chains = connection.execute(
            "SELECT terminal_id, chain, count(*), min(seq), max(seq) FROM events "
            "GROUP BY terminal_id, chain ORDER BY terminal_id, chain"
        ).fetchall()
        batch_rows = {
            (terminal, chain): (count, duplicates, repeats)
            for terminal, chain, count, duplicates, repeats in connection.execute(
                "SELECT terminal_id, chain, count(*), sum(duplicates), sum(repeats) FROM batches "
                "GROUP BY terminal_id, chain"
            )
        }
        result = []
        for terminal, chain, count, first, last in chains:
            gaps: list[tuple[int, int]] = []
            expected = 1
            for (seq,) in connection.execute(
                "SELECT seq FROM events WHERE terminal_id = ? AND chain = ? ORDER BY seq",
                (terminal, chain),
            ):
                if seq > expected:
                    gaps.append((expected, seq - 1))
                expected = seq + 1
            batches, duplicates, repeats = batch_rows.get((terminal, chain), (0, 0, 0))
            result.append(
                ChainStats(terminal, chain, count, first, last, gaps, batches, duplicates, repeats)
            )
    return result
