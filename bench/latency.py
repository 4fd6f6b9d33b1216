"""Latency figures shared by the issue-4 benchmarks: interleaved timing, p50/p99/max, ratios.

Every figure is a list of per-call wall times (``time.perf_counter``) in seconds; summaries
are in milliseconds.  Rounds are interleaved and the order of the timed actions rotates from
one round to the next, so that drift (page cache, CPU frequency, WAL checkpoints, the other
core's load) hits ours and the floor alike and no action always runs first.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99) of unsorted samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99, max and mean in milliseconds, and the sample count."""
    return {
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "max_ms": max(samples) * 1000,
        "mean_ms": statistics.fmean(samples) * 1000,
        "n": float(len(samples)),
    }


def interleaved(
    actions: Mapping[str, Callable[[int], object]],
    rounds: int,
    *,
    start: int = 0,
    orders: Sequence[Sequence[str]] | None = None,
) -> dict[str, list[float]]:
    """Time ``action(i)`` for every action in each round ``i``.

    The order rotates from round to round; ``orders`` replaces the rotation when some actions
    must keep their relative order (round ``i`` uses ``orders[i % len(orders)]``).
    """
    names = list(actions)
    if orders is None:
        orders = [names[shift:] + names[:shift] for shift in range(len(names))]
    assert all(sorted(order) == sorted(names) for order in orders), "an order names every action"
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    for i in range(start, start + rounds):
        for name in orders[i % len(orders)]:
            action = actions[name]
            began = clock()
            action(i)
            samples[name].append(clock() - began)
    return samples


def ratios(ours: Mapping[str, float], floor: Mapping[str, float]) -> dict[str, float]:
    """ours / floor at p50 and p99."""
    return {
        "ratio_p50": ours["p50_ms"] / floor["p50_ms"],
        "ratio_p99": ours["p99_ms"] / floor["p99_ms"],
    }


def line(label: str, figures: Mapping[str, float], width: int = 28) -> str:
    """``label  p50 … p99 … max …`` in milliseconds, three decimals."""
    return (
        f"{label:<{width}} p50 {figures['p50_ms']:8.3f}  p99 {figures['p99_ms']:8.3f}  "
        f"max {figures['max_ms']:8.3f} ms"
    )
