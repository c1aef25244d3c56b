"""Figures of one fault scenario, from the workload's samples and the fault timeline.

Pure functions over plain data, so the report can be regenerated from a saved run and
the arithmetic is unit-tested.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterable, Sequence

from ops.workload import Sample


@dataclass(frozen=True)
class ProbeFigures:
    probe: str
    ok: int
    failed: int
    # First failure's start to last failure's end, seconds; 0 when nothing failed.
    downtime_s: float
    p50_before_ms: float | None
    p99_before_ms: float | None
    p50_during_ms: float | None
    p99_during_ms: float | None
    p50_after_ms: float | None
    p99_after_ms: float | None
    first_error: str


@dataclass(frozen=True)
class VipMove:
    at: float
    source: str | None
    target: str | None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    ordered = sorted(values)
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(q) - 1]


def _latency_ms(samples: Iterable[Sample]) -> list[float]:
    return [(s.end - s.start) * 1000 for s in samples if s.ok]


def probe_figures(probe: str, samples: Sequence[Sample], fault_at: float, recovered_at: float) -> ProbeFigures:
    """`recovered_at`: when the faulted member was back (or the heal, if it never was)."""
    mine = [s for s in samples if s.probe == probe]
    failures = [s for s in mine if not s.ok]
    before = [s for s in mine if s.end <= fault_at]
    during = [s for s in mine if fault_at < s.end <= recovered_at]
    after = [s for s in mine if s.end > recovered_at]
    downtime = (max(s.end for s in failures) - min(s.start for s in failures)) if failures else 0.0
    lat_b, lat_d, lat_a = _latency_ms(before), _latency_ms(during), _latency_ms(after)
    return ProbeFigures(
        probe=probe,
        ok=sum(1 for s in mine if s.ok),
        failed=len(failures),
        downtime_s=round(downtime, 2),
        p50_before_ms=_round(_percentile(lat_b, 50)), p99_before_ms=_round(_percentile(lat_b, 99)),
        p50_during_ms=_round(_percentile(lat_d, 50)), p99_during_ms=_round(_percentile(lat_d, 99)),
        p50_after_ms=_round(_percentile(lat_a, 50)), p99_after_ms=_round(_percentile(lat_a, 99)),
        first_error=failures[0].error if failures else "",
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def vip_moves(observations: Sequence[tuple[float, str | None]]) -> list[VipMove]:
    """Changes of the VIP holder in a series of (time, holder or None) observations."""
    moves: list[VipMove] = []
    previous: str | None = observations[0][1] if observations else None
    for at, holder in observations[1:]:
        if holder != previous:
            moves.append(VipMove(at, previous, holder))
            previous = holder
    return moves


def vip_move_seconds(observations: Sequence[tuple[float, str | None]], fault_at: float) -> float | None:
    """Seconds from the fault until another host than the one holding the VIP at the
    fault was seen holding it; None if it never moved."""
    holder_at_fault = None
    for at, holder in observations:
        if at <= fault_at:
            holder_at_fault = holder
    for at, holder in observations:
        if at > fault_at and holder is not None and holder != holder_at_fault:
            return round(at - fault_at, 2)
    return None
