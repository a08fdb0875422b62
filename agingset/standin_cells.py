"""Stand-in "real" aged cells for `agingset transfer`: made by a different model than the dataset's.

The dataset simulates its cells with its own model (``model.family``, the calibrated parameter set,
degradation mechanisms run cycle by cycle). A stand-in cell comes from another PyBaMM model family and
parameter set (SPMe or DFN, ``Chen2020`` by default) whose aging is not simulated but imposed on the
state, check-up by check-up:

- loss of lithium inventory (LLI): a lower initial lithium concentration in the negative electrode;
- loss of active material (LAM): lower active-material volume fractions in either electrode;
- slower kinetics: exchange-current densities scaled down (a resistive SEI, a blocked surface);
- added series resistance: a larger contact resistance (film, tab and contact growth).

Each cell draws how far it goes in each mode by its last check-up (a seeded generator), and its fresh
values spread a little from cell to cell (another fixture, another production lot). LLI grows as the
square root of the check-up index (SEI-like, fast first), the others linearly. Per check-up: the
capacity of a C/5 discharge from 100 % to the lower cut-off, and the spectrum of
``pybamm.EISSimulation`` at the check-up temperature and SOC, with a series inductance (a fixture
unlike the dataset's) and a complex Gaussian analyser noise relative to |Z|. The frequencies are the
stand-in instrument's own (not the dataset's grid), so the user side's interpolation is exercised.

The result is the long table of docs/transfer.md (plus the imposed aging as extra columns, which
`agingset transfer` ignores). No file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pybamm

from .physics.eis import Linearisation, rested_initial_state

KELVIN = 273.15
MODEL_FAMILIES = ("SPMe", "DFN")


@dataclass(frozen=True)
class StandinConfig:
    cells: int = 6
    checkups: int = 5
    parameter_set: str = "Chen2020"
    model_family: str = "SPMe"
    temperature_c: float = 25.0
    soc: float = 0.5
    f_min_hz: float = 1.0e-3
    f_max_hz: float = 1.0e4
    points_per_decade: int = 7
    series_inductance_h: float = 1.0e-7
    impedance_noise_relative: float = 0.002
    fresh_contact_resistance_ohm: float = 0.006
    fresh_spread: float = 0.03  # relative cell-to-cell spread of the fresh values (uniform +-)
    # Reached at the last check-up, drawn uniformly per cell from (low, high):
    lli: tuple[float, float] = (0.03, 0.15)  # share of the negative electrode's lithium lost
    lam_negative: tuple[float, float] = (0.0, 0.10)  # share of the active-material fraction lost
    lam_positive: tuple[float, float] = (0.0, 0.08)
    kinetics_factor: tuple[float, float] = (0.4, 0.9)  # exchange-current densities x this
    contact_resistance_growth_ohm: tuple[float, float] = (0.0, 0.004)
    seed: int = 0

    def __post_init__(self):
        if self.model_family not in MODEL_FAMILIES:
            raise ValueError(f"model_family must be one of {', '.join(MODEL_FAMILIES)}, got {self.model_family!r}")
        if self.cells < 1 or self.checkups < 2:
            raise ValueError("a stand-in needs at least 1 cell and 2 check-ups")

    def frequencies_hz(self) -> np.ndarray:
        decades = np.log10(self.f_max_hz / self.f_min_hz)
        return np.logspace(np.log10(self.f_min_hz), np.log10(self.f_max_hz), round(decades * self.points_per_decade) + 1)


@dataclass(frozen=True)
class ImposedAging:
    lli: float
    lam_negative: float
    lam_positive: float
    kinetics_factor: float
    contact_resistance_ohm: float


def _scaled_function(function, factor: float):
    return lambda *args: factor * function(*args)


def aged_parameter_values(base: pybamm.ParameterValues, aging: ImposedAging, temperature_c: float) -> pybamm.ParameterValues:
    values = base.copy()
    values["Initial concentration in negative electrode [mol.m-3]"] *= 1.0 - aging.lli
    values["Negative electrode active material volume fraction"] *= 1.0 - aging.lam_negative
    values["Positive electrode active material volume fraction"] *= 1.0 - aging.lam_positive
    for electrode in ("Negative", "Positive"):
        name = f"{electrode} electrode exchange-current density [A.m-2]"
        values[name] = _scaled_function(values[name], aging.kinetics_factor)
    values.update(
        {
            "Contact resistance [Ohm]": aging.contact_resistance_ohm,
            "Ambient temperature [K]": temperature_c + KELVIN,
            "Initial temperature [K]": temperature_c + KELVIN,
        },
        check_already_exists=False,
    )
    return values


def _model(family: str, surface_form: bool) -> pybamm.BaseModel:
    options = {"contact resistance": "true", **({"surface form": "differential"} if surface_form else {})}
    return getattr(pybamm.lithium_ion, family)(options=options)


def c5_capacity_ah(values: pybamm.ParameterValues, family: str) -> float:
    """Capacity of a C/5 (of the nominal capacity) discharge from 100 % SOC to the lower voltage cut-off."""
    discharge = values.copy()
    discharge["Current function [A]"] = float(values["Nominal cell capacity [A.h]"]) / 5.0
    simulation = pybamm.Simulation(_model(family, False), parameter_values=discharge, solver=pybamm.IDAKLUSolver())
    solution = simulation.solve([0.0, 8.0 * 3600.0], initial_soc=1.0)
    if "Minimum voltage" not in str(solution.termination):
        raise RuntimeError(f"the C/5 discharge ended by {solution.termination}, not at the lower cut-off")
    return float(solution["Discharge capacity [A.h]"].entries[-1])


def impedance_ohm(values: pybamm.ParameterValues, family: str, soc: float, frequencies_hz: np.ndarray) -> np.ndarray:
    """The spectrum of the cell rested at ``soc`` (linearised at rest, as the dataset's: :mod:`.physics.eis`)."""
    simulation = pybamm.EISSimulation(_model(family, True), parameter_values=values)
    simulation.build(initial_soc=soc)
    rested = rested_initial_state(simulation, {}, pybamm.IDAKLUSolver())
    linearisation = Linearisation(simulation, simulation.built_model, {})
    return linearisation.impedance(rested, {}, np.asarray(frequencies_hz, dtype=float))


def _drawn(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return float(rng.uniform(*bounds))


def standin_cells(config: StandinConfig = StandinConfig()) -> pd.DataFrame:
    """The stand-in cells in the user format of `agingset transfer` (docs/transfer.md), plus the imposed
    aging (``lli``, ``lam_negative``, ``lam_positive``, ``kinetics_factor``, ``contact_resistance_ohm``)."""
    rng = np.random.default_rng([config.seed, 41])
    frequencies = config.frequencies_hz()
    base = pybamm.ParameterValues(config.parameter_set)
    rows = []
    for cell in range(config.cells):
        fresh = base.copy()
        for name in ("Negative electrode active material volume fraction", "Positive electrode active material volume fraction"):
            fresh[name] *= 1.0 + rng.uniform(-config.fresh_spread, config.fresh_spread)
        contact = config.fresh_contact_resistance_ohm * (1.0 + rng.uniform(-5, 5) * config.fresh_spread)
        final = ImposedAging(
            lli=_drawn(rng, config.lli),
            lam_negative=_drawn(rng, config.lam_negative),
            lam_positive=_drawn(rng, config.lam_positive),
            kinetics_factor=_drawn(rng, config.kinetics_factor),
            contact_resistance_ohm=contact + _drawn(rng, config.contact_resistance_growth_ohm),
        )
        for checkup in range(config.checkups):
            share = checkup / (config.checkups - 1)
            aging = ImposedAging(
                lli=final.lli * np.sqrt(share),
                lam_negative=final.lam_negative * share,
                lam_positive=final.lam_positive * share,
                kinetics_factor=1.0 + (final.kinetics_factor - 1.0) * share,
                contact_resistance_ohm=contact + (final.contact_resistance_ohm - contact) * share,
            )
            values = aged_parameter_values(fresh, aging, config.temperature_c)
            capacity = c5_capacity_ah(values, config.model_family)
            z = impedance_ohm(values, config.model_family, config.soc, frequencies)
            z = z + 2j * np.pi * frequencies * config.series_inductance_h
            noise = rng.standard_normal(len(z)) + 1j * rng.standard_normal(len(z))
            z = z + config.impedance_noise_relative * np.abs(z) * noise
            rows.append(
                pd.DataFrame(
                    {
                        "cell_id": f"standin-{cell:02d}",
                        "measurement": 100 * checkup,  # equivalent cycles: sortable, not 0..n
                        "capacity_ah": capacity,
                        "temperature_c": config.temperature_c,
                        "soc": config.soc,
                        "frequency_hz": frequencies,
                        "z_re_ohm": z.real,
                        "z_im_ohm": z.imag,
                        "lli": aging.lli,
                        "lam_negative": aging.lam_negative,
                        "lam_positive": aging.lam_positive,
                        "kinetics_factor": aging.kinetics_factor,
                        "contact_resistance_ohm": aging.contact_resistance_ohm,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)
