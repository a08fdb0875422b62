"""The rate-test measurements checked against each other, without a model.

At one ambient temperature a faster discharge of the same cell, from the same state, delivers no more
charge than the C/10 beyond what its extra self-heating can add (the C/10's capacity gain per kelvin
between neighbouring ambients); where it delivers more, no model of one cell in one starting state can
fit both curves. After each discharge the record rests, charges CC-CV and rests again
(:func:`measured_sequence` summarises that sequence).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SLOWEST_C_RATE = 0.1
CHARGE_STEP_AH = 0.01
CONSTANT_CURRENT_SHARE = 0.95  # a charge sample at >= this share of the charge's peak current is constant-current


def slowest_capacity_slope_ah_per_k(rate_tests, ambient_c: float) -> float:
    """The largest gain in C/10 capacity (to the cut-off) per kelvin between this ambient and a neighbouring one."""
    slow = sorted(
        (t.ambient_temperature_c, t.record.discharged_ah[-1]) for t in rate_tests if math.isclose(t.c_rate, SLOWEST_C_RATE)
    )
    slopes = [(q2 - q1) / (t2 - t1) for (t1, q1), (t2, q2) in zip(slow, slow[1:]) if ambient_c in (t1, t2)]
    return max(slopes)


def faster_against_slowest(rate_tests) -> list[dict]:
    """Per faster test, against the C/10 at its ambient: its highest voltage above the C/10's at the same discharged
    charge, the extra charge it delivers to the cut-off, what its extra self-heating could add at most, and whether
    that covers it (else no model of one cell in one starting state fits both)."""
    rows = []
    for test in rate_tests:
        ambient = test.ambient_temperature_c
        slowest = [
            t for t in rate_tests if t.ambient_temperature_c == ambient and math.isclose(t.c_rate, SLOWEST_C_RATE)
        ]
        if math.isclose(test.c_rate, SLOWEST_C_RATE) or not slowest:
            continue
        fast, slow = test.record, slowest[0].record
        charge = np.arange(CHARGE_STEP_AH, min(fast.discharged_ah[-1], slow.discharged_ah[-1]), CHARGE_STEP_AH)
        gap = np.interp(charge, fast.discharged_ah, fast.voltage_v) - np.interp(charge, slow.discharged_ah, slow.voltage_v)
        warmer_k = float(fast.temperature_c[-1] - slow.temperature_c[-1])
        extra_ah = float(fast.discharged_ah[-1] - slow.discharged_ah[-1])
        heating_ah = max(warmer_k, 0.0) * slowest_capacity_slope_ah_per_k(rate_tests, ambient)
        rows.append(
            {
                "name": test.name,
                "above_mv": 1000 * float(gap.max()),
                "at_ah": float(charge[gap.argmax()]),
                "extra_ah": extra_ah,
                "warmer_k": warmer_k,
                "heating_ah": heating_ah,
                "consistent": extra_ah <= heating_ah,
            }
        )
    return rows


def measured_sequence(cycles: pd.DataFrame, record) -> dict:
    """One rate test's discharge (``record``) and what its record holds after it (``cycles``: phases
    rest_after_discharge, charge, rest_after_charge), as the numbers a replay is compared on."""
    rest, charge, final_rest = (cycles[cycles["phase"] == phase] for phase in ("rest_after_discharge", "charge", "rest_after_charge"))
    time, current = charge["time_s"].to_numpy(), charge["current_a"].to_numpy()
    charged = np.concatenate([[0.0], np.diff(time) * current[1:] / 3600])
    constant = current >= CONSTANT_CURRENT_SHARE * current.max()
    return {
        "discharge_ah": float(record.discharged_ah[-1]),
        "relaxed_v": float(rest["voltage_v"].iloc[-1]),
        "rest_s": float(rest["time_s"].iloc[-1] - rest["time_s"].iloc[0]),
        "charge_current_a": float(np.median(current[constant])),
        "final_current_a": float(current[-1]),
        "cc_ah": float(charged[constant].sum()),
        "cv_ah": float(charged[~constant].sum()),
        "final_rest_s": float(final_rest["time_s"].iloc[-1] - final_rest["time_s"].iloc[0]),
        "charged_rest_v": float(final_rest["voltage_v"].iloc[-1]),
    }
