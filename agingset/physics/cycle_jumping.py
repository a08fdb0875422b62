"""Cycle jumping (envelope following) between reference performance tests.

The state at the end of every aging cycle (after its last rest) changes slowly with the cycle
number. Between two RPTs the aging stage simulates a few cycles in full, takes the per-cycle
change of that boundary state from the last two simulated cycles (its slope) and, once a jump
has been checked, how that change itself changes per cycle (its curvature: the slopes before
and after the jump apart by the cycles between them). It extrapolates the whole differential
state (SEI, plated and dead lithium, active-material fractions, crack length, the lithium those
losses strand and the particle concentrations they drag along) over a jump of ΔN cycles along
that quadratic envelope (``aging.cycle_jumping.order`` 2; order 1: the slope alone) and
continues from the extrapolated state. The next two simulated cycles check the jump: their
slope is compared with the slope the envelope predicted there, and the estimated error
``ΔN/2 · |d_observed − d_predicted|`` of the monitored capacities (cyclable lithium and
electrode capacities, as fractions of their initial values) must stay below
``aging.cycle_jumping.tolerance``; a jump that fails is undone and retried with at most half the
cycles (less when its error asks for less). ΔN then grows or shrinks with
(tolerance / error)^(1/(order+1)), up to ``max_jump``; the cycles left before an RPT are shared by
equal jumps, and a jump shortened that way keeps the size the envelope had reached.
An extrapolation that would cross a physical limit (a concentration outside [0, c_max], a
negative amount or fraction) is halved until it does not. An extrapolated state also keeps the
cell's lithium: the lithium in the particles plus the lithium bound by side reactions and stranded
in lost active material is what it was at the last simulated cycle. Each part is extrapolated on
its own, so the solver's cycle-to-cycle noise in the boundary concentrations, times ΔN, creates or
destroys lithium; the negative particle concentrations are shifted uniformly to take it back (a
projection onto the invariant, as integrators that conserve a first integral do; at the end of a
charge the negative electrode holds the cyclable lithium, its loss comes out of it). A jump whose
lithium defect exceeds ``tolerance`` (of the cell's lithium) is halved instead: its concentrations
moved along a cycle's path, not along the envelope.
A checking cycle whose step ends at its start (its cut-off already holds: PyBaMM returns an empty
step) fails the jump when that step was a real part of the cycle before it — a discharge that
cannot start is a state off the cycle's path — but not when the step was already vanishing
(under ``VANISHING_STEP_SHARE`` of the cycle): an aging cell's CC charge at a cold, fast rate
shrinks cycle after cycle until its polarisation meets the upper voltage at once, and a jump
lands past that point.

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
# Simulated cycles after a jump: their change checks the jump and sets the next slope.
CHECK_CYCLES = 2
MIN_JUMP = 2
# A life's first jump: the early √t SEI phase rejected a larger start (25 cycles) twice in most lives.
FIRST_JUMP = 4
_GROWTH_MAX, _SHRINK_MIN, _SAFETY = 2.0, 0.25, 0.9
# A step shorter than this share of its cycle may end at its start in the cycle after a jump.
VANISHING_STEP_SHARE = 0.02


def lost_steps(before: tuple[float, ...], after: tuple[float, ...], share: float = VANISHING_STEP_SHARE) -> list[int]:
    """Steps (indices) that took at least ``share`` of the cycle before a jump (``before``:
    its step durations) and lasted nothing in the checking cycle after it (``after``)."""
    total = sum(before)
    return [index for index, (then, now) in enumerate(zip(before, after)) if now <= 0.0 < then and then >= share * total]


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


def displacement(slope: np.ndarray, curvature: np.ndarray | None, cycles: int) -> np.ndarray:
    """Change of a boundary state over ``cycles`` cycles whose k-th changes it by
    ``slope + k · curvature`` (``slope``: the change over the last simulated cycle)."""
    moved = cycles * slope
    if curvature is not None:
        moved = moved + 0.5 * cycles * (cycles + 1) * curvature
    return moved


def extrapolate(last: np.ndarray, change: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray | None:
    """``last`` moved by ``change``, or None when that crosses a limit. Components strictly
    inside their limits stay strictly inside (a fraction that reaches zero would end the cell,
    not a jump)."""
    moved = last + change
    inside_before = (last > lower) & (last < upper)
    crossed = inside_before & ((moved <= lower) | (moved >= upper))
    crossed |= ~inside_before & (moved != last) & ((moved < lower) | (moved > upper))
    if crossed.any() or not np.isfinite(moved).all():
        return None
    return moved


def conserve_lithium(
    moved: np.ndarray,
    negative: np.ndarray,
    defect: float,
    per_unit_shift: float,
    lithium: float,
    tolerance: float,
    lower: np.ndarray,
    upper: np.ndarray,
) -> np.ndarray | None:
    """``moved`` with the negative particle concentrations (indices ``negative``) shifted alike, so
    that the cell's lithium changes by none of ``defect`` (what the extrapolation created, in the
    units of ``lithium``, the cell's lithium before the jump; ``per_unit_shift``: the change of
    lithium per unit shift, the lithium in particles being linear in the concentrations). None when
    the defect exceeds ``tolerance`` of the cell's lithium or the shift crosses a limit."""
    if not abs(defect) <= tolerance * abs(lithium) or per_unit_shift == 0.0:
        return None
    conserved = moved.copy()
    conserved[negative] -= defect / per_unit_shift
    if ((conserved[negative] <= lower[negative]) | (conserved[negative] >= upper[negative])).any():
        return None
    return conserved


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
    limited: int = 0  # jumps halved because they would cross a physical limit or create lithium

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


def curvature(slope_before: np.ndarray, slope_after: np.ndarray, jumped: int) -> np.ndarray:
    """Change of the per-cycle slope per cycle, from the slopes before a jump and after its
    checking cycles (``jumped + CHECK_CYCLES`` cycles apart)."""
    return (slope_after - slope_before) / (jumped + CHECK_CYCLES)


def predicted_slope(slope_before: np.ndarray, curvature_used: np.ndarray | None, jumped: int) -> np.ndarray:
    """The slope a jump's envelope predicts at its checking cycles."""
    if curvature_used is None:
        return slope_before
    return slope_before + (jumped + CHECK_CYCLES) * curvature_used


def jump_error(predicted: np.ndarray, observed: np.ndarray, cycles: int) -> float:
    """Estimated extrapolation error of a jump: ``cycles/2`` times the worst mismatch between the
    slope its envelope predicted at the checking cycles and the slope they show (for the
    first-order envelope, the trapezoid rule's correction to the forward step)."""
    return float(0.5 * cycles * np.max(np.abs(observed - predicted)))


def next_jump(current: int, error: float, tolerance: float, max_jump: int, order: int = 1) -> int:
    """Step-size control for an error of order ``order + 1`` in ΔN:
    ΔN ∝ (tolerance / error)^(1/(order+1)), bounded growth."""
    if error <= 0.0:
        factor = _GROWTH_MAX
    else:
        factor = min(_GROWTH_MAX, max(_SHRINK_MIN, _SAFETY * (tolerance / error) ** (1.0 / (order + 1))))
    return int(max(MIN_JUMP, min(max_jump, math.floor(current * factor))))


def share_of_room(size: int, room: int) -> int:
    """The next jump's cycles when ``room`` cycles are left before the next RPT's checking cycles:
    the fewest jumps of at most ``size`` that fill the room, of equal length (not full jumps and a
    short remainder, whose check costs as much as a full jump's)."""
    if room <= 0:
        return 0
    jumps = math.ceil(room / max(size, 1))
    return math.ceil(room / jumps)


def size_after_check(
    cycles: int, planned: int, error: float, tolerance: float, max_jump: int, order: int
) -> int:
    """The next jump's size after a jump of ``cycles`` passed its check with ``error``. A jump made
    shorter than the envelope's ``planned`` size by sharing the room before the next RPT (``planned``
    0: it was not) keeps that size, as an ODE integrator resumes its step size after stopping at an
    output time: a shortened jump is no evidence against the size."""
    return max(planned, next_jump(cycles, error, tolerance, max_jump, order))


def size_after_rejection(cycles: int, error: float, tolerance: float, max_jump: int, order: int) -> int:
    """The retry's size after a jump of ``cycles`` failed its check: at most half of it, less when its
    error asks for less; half when the error is unknown (a checking cycle could not be solved)."""
    if not math.isfinite(error):
        return cycles // 2
    return min(cycles // 2, next_jump(cycles, error, tolerance, max_jump, order))
