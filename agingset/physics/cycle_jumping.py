"""Cycle jumping (envelope following) between reference performance tests.

The state at the end of every aging cycle (after its last rest) changes slowly with the cycle
number. Between two RPTs the aging stage simulates a few cycles in full, takes the per-cycle
change of that boundary state from the last two simulated cycles, extrapolates the whole
differential state (SEI, plated and dead lithium, active-material fractions, crack length, the
lithium those losses strand and the particle concentrations they drag along) over a jump of
ΔN cycles, and continues from the extrapolated state. The next two simulated cycles check the
jump: the estimated extrapolation error ``ΔN/2 · |d_after − d_before|`` of the monitored
capacities (cyclable lithium and electrode capacities, as fractions of their initial values)
must stay below ``aging.cycle_jumping.tolerance``; a jump that fails is undone and retried
with half the cycles. ΔN then grows or shrinks with √(tolerance / error), up to ``max_jump``.
An extrapolation that would cross a physical limit (a concentration outside [0, c_max], a
negative amount or fraction) is halved until it does not.

Everything here is pure: states are numpy vectors and the caller simulates the cycles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Experiment counters: they may be negative and are not degradation states.
SIGNED_STATES = ("Discharge capacity [A.h]", "Discharge energy [W.h]")
# Capacities the error is measured on (fractions of their value at the first RPT).
MONITORED = (
    "Total lithium capacity in particles [A.h]",
    "Negative electrode capacity [A.h]",
    "Positive electrode capacity [A.h]",
)
# Simulated cycles after an RPT before the first jump: the first starts from the RPT's rested
# full charge, not from the cycle's own boundary state, so its change is not the per-cycle one.
WARMUP_CYCLES = 2
# Simulated cycles after a jump: their change checks the jump and sets the next slope.
CHECK_CYCLES = 2
MIN_JUMP = 2
_GROWTH_MAX, _SHRINK_MIN, _SAFETY = 2.0, 0.25, 0.9


def limits(
    names: list[str], slices: list[slice], lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bounds an extrapolated state must respect: the model's own bounds, and no state of a
    degradation quantity (amounts, fractions, lengths) below zero."""
    lower = np.array(lower, dtype=float)
    upper = np.array(upper, dtype=float)
    for name, where in zip(names, slices):
        if name not in SIGNED_STATES:
            lower[where] = np.maximum(lower[where], 0.0)
    return lower, upper


def extrapolate(
    before: np.ndarray, last: np.ndarray, cycles: int, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray | None:
    """``last`` moved on by ``cycles`` times the change from ``before`` to ``last``, or None
    when that crosses a limit. Components strictly inside their limits stay strictly inside
    (a fraction that reaches zero would end the cell, not a jump)."""
    moved = last + cycles * (last - before)
    inside_before = (last > lower) & (last < upper)
    crossed = inside_before & ((moved <= lower) | (moved >= upper))
    crossed |= ~inside_before & (moved != last) & ((moved < lower) | (moved > upper))
    if crossed.any() or not np.isfinite(moved).all():
        return None
    return moved


@dataclass
class JumpLog:
    """Which cycles of a trajectory were simulated and which jumped; every jump tried."""

    simulated: list[int] = field(default_factory=list)
    jumped: list[tuple[int, int]] = field(
        default_factory=list
    )  # (first cycle, last cycle) of each accepted jump
    rejected: list[tuple[int, int, float]] = field(
        default_factory=list
    )  # (from cycle, cycles, estimated error)
    limited: int = 0  # jumps halved because they would cross a physical limit

    def summary(self) -> dict:
        return {
            "cycles_simulated": len(self.simulated),
            "cycles_jumped": sum(last - first + 1 for first, last in self.jumped),
            "jumps": len(self.jumped),
            "jumps_rejected": len(self.rejected),
            "jumps_limited": self.limited,
            "simulated_cycles": ranges(self.simulated),
            "jumped_cycles": [[first, last] for first, last in self.jumped],
        }


def ranges(cycles: list[int]) -> list[list[int]]:
    """Sorted cycle numbers as [first, last] runs: [1, 2, 3, 7] -> [[1, 3], [7, 7]]."""
    runs: list[list[int]] = []
    for cycle in sorted(cycles):
        if runs and cycle == runs[-1][1] + 1:
            runs[-1][1] = cycle
        else:
            runs.append([cycle, cycle])
    return runs


def jump_error(change_before: np.ndarray, change_after: np.ndarray, cycles: int) -> float:
    """Estimated extrapolation error of a jump: the trapezoid rule's correction to the
    forward step, ``cycles/2 · |d_after − d_before|``, worst monitored quantity."""
    return float(0.5 * cycles * np.max(np.abs(change_after - change_before)))


def next_jump(current: int, error: float, tolerance: float, max_jump: int) -> int:
    """Step-size control for a second-order error: ΔN ∝ √(tolerance / error), bounded growth."""
    if error <= 0.0:
        factor = _GROWTH_MAX
    else:
        factor = min(_GROWTH_MAX, max(_SHRINK_MIN, _SAFETY * math.sqrt(tolerance / error)))
    return int(max(MIN_JUMP, min(max_jump, math.floor(current * factor))))
