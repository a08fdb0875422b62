"""A cell's electrode balance from its measured OCV: stoichiometry window and electrode capacities.

The rate-test cells (LG M50) come with a measured discharge OCV; their electrodes are matched to it
(a LAM-free electrode match on the parameter set's electrode OCPs), and the charge between the OCV's
0 and 100 % points is found from a slow discharge of the same cell type.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pybamm
from scipy.optimize import least_squares

from .measurements import Measurement

FARADAY = 96485.33212
_FRACTION = "{} electrode active material volume fraction"


def electrode_ocp(values: pybamm.ParameterValues, electrode: str, stoichiometry: np.ndarray) -> np.ndarray:
    """``electrode`` ("Negative"/"Positive") OCP of a parameter set at these stoichiometries (reference temperature)."""
    symbol = pybamm.FunctionParameter(
        f"{electrode} electrode OCP [V]", {f"{electrode} particle stoichiometry": pybamm.Vector(np.asarray(stoichiometry, dtype=float))}
    )
    return np.asarray(values.process_symbol(symbol).evaluate(), dtype=float).ravel()


def capacity_per_fraction_ah(values: pybamm.ParameterValues, electrode: str) -> float:
    """An electrode's full lithiation capacity [A.h] per unit active-material volume fraction."""
    volume = values[f"{electrode} electrode thickness [m]"] * values["Electrode width [m]"] * values["Electrode height [m]"]
    return float(volume * values[f"Maximum concentration in {electrode.lower()} electrode [mol.m-3]"] * FARADAY / 3600)


@dataclass(frozen=True)
class ElectrodeBalance:
    """A cell's electrodes from its measured OCV (a LAM-free electrode match): both
    stoichiometries at 100 % SOC and both electrodes' capacities. SOC is the fraction of
    ``ocv_capacity_ah``, the charge between the measured OCV's 0 and 100 % points; from SOC s
    the negative electrode sits at x_100 - (1 - s) Q_ocv / Q_n, the positive at
    y_100 + (1 - s) Q_ocv / Q_p."""

    negative_stoichiometry_100: float
    positive_stoichiometry_100: float
    negative_capacity_ah: float
    positive_capacity_ah: float
    ocv_capacity_ah: float
    rms_v: float = float("nan")  # the match's residual against the measured OCV

    def stoichiometries(self, soc):
        removed = (1 - np.asarray(soc, dtype=float)) * self.ocv_capacity_ah
        return (
            self.negative_stoichiometry_100 - removed / self.negative_capacity_ah,
            self.positive_stoichiometry_100 + removed / self.positive_capacity_ah,
        )

    def open_circuit_voltage(self, values: pybamm.ParameterValues, soc) -> np.ndarray:
        """The cell's OCV from ``values``' electrode OCPs (stoichiometries clipped to 0..1)."""
        x, y = self.stoichiometries(soc)
        return electrode_ocp(values, "Positive", np.clip(y, 0, 1)) - electrode_ocp(values, "Negative", np.clip(x, 0, 1))

    def active_material_fractions(self, values: pybamm.ParameterValues) -> dict[str, float]:
        return {
            _FRACTION.format(electrode): capacity / capacity_per_fraction_ah(values, electrode)
            for electrode, capacity in (("Negative", self.negative_capacity_ah), ("Positive", self.positive_capacity_ah))
        }

    def parameter_values(self, values: pybamm.ParameterValues, soc) -> dict:
        """Active-material fractions and initial concentrations (``soc``: a number or the
        ``Initial SOC`` input) of this balance, as PyBaMM parameter values."""
        removed = (1 - soc) * self.ocv_capacity_ah
        return {
            **self.active_material_fractions(values),
            "Initial concentration in negative electrode [mol.m-3]": (
                self.negative_stoichiometry_100 - removed / self.negative_capacity_ah
            )
            * values["Maximum concentration in negative electrode [mol.m-3]"],
            "Initial concentration in positive electrode [mol.m-3]": (
                self.positive_stoichiometry_100 + removed / self.positive_capacity_ah
            )
            * values["Maximum concentration in positive electrode [mol.m-3]"],
        }

    def summary(self, values: pybamm.ParameterValues) -> dict:
        x_0, y_0 = self.stoichiometries(0.0)
        return {
            "negative_stoichiometry_0_100": [float(x_0), self.negative_stoichiometry_100],
            "positive_stoichiometry_0_100": [float(y_0), self.positive_stoichiometry_100],
            "negative_capacity_ah": self.negative_capacity_ah,
            "positive_capacity_ah": self.positive_capacity_ah,
            "ocv_capacity_ah": self.ocv_capacity_ah,
            "ocv_rms_mv": 1e3 * self.rms_v,
            "active_material_volume_fractions": self.active_material_fractions(values),
        }


def electrode_balance(values: pybamm.ParameterValues, soc: np.ndarray, ocv_v: np.ndarray, ocv_capacity_ah: float) -> ElectrodeBalance:
    """The electrode balance whose OCV (``values``' electrode OCPs) best matches a measured one
    (least squares over the measured SOC points), started from the set's own balance."""
    x_0, x_100, y_100, y_0 = pybamm.lithium_ion.get_min_max_stoichiometries(values)
    capacity_n = capacity_per_fraction_ah(values, "Negative") * values[_FRACTION.format("Negative")]
    capacity_p = capacity_per_fraction_ah(values, "Positive") * values[_FRACTION.format("Positive")]
    soc, ocv_v = np.asarray(soc, dtype=float), np.asarray(ocv_v, dtype=float)

    def balance(vector):
        return ElectrodeBalance(*(float(v) for v in vector), ocv_capacity_ah)

    def residuals(vector):
        return balance(vector).open_circuit_voltage(values, soc) - ocv_v

    # Each electrode holds at least the measured OCV's charge; a set whose own electrodes are
    # smaller than that (another cell than the measured one) starts from the bound.
    lower = np.array([0.0, 0.0, ocv_capacity_ah, ocv_capacity_ah])
    upper = np.array([1.0, 1.0, 5 * max(capacity_n, ocv_capacity_ah), 5 * max(capacity_p, ocv_capacity_ah)])
    start = np.clip(np.array([x_100, y_100, capacity_n, capacity_p]), lower, upper)
    outcome = least_squares(residuals, start, bounds=(lower, upper), x_scale=np.abs(start))
    return ElectrodeBalance(*(float(v) for v in outcome.x), ocv_capacity_ah, float(np.sqrt(np.mean(outcome.fun**2))))


def ocv_capacity(soc: np.ndarray, ocv_v: np.ndarray, record: Measurement, rest_voltage_v: float) -> float:
    """The charge [A.h] between a measured OCV's 0 and 100 % SOC points, from a slow discharge
    of the same cell type: its voltage against discharged charge q is matched to
    OCV(s_0 - q / Q) minus a constant overpotential (s_0 from the rest voltage) over its
    middle (5-90 % of its charge, away from the knee where the overpotential is not constant)."""
    charge = record.discharged_ah
    start_soc = float(np.interp(rest_voltage_v, ocv_v, soc))
    middle = (charge > 0.05 * charge[-1]) & (charge < 0.9 * charge[-1])

    def residuals(vector):
        capacity, overpotential = vector
        return np.interp(start_soc - charge[middle] / capacity, soc, ocv_v) - overpotential - record.voltage_v[middle]

    return float(least_squares(residuals, [charge[-1], 0.0]).x[0])
