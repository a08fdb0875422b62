"""Space-filling, nested experimental design over cell parameters and cycling protocols.

A sample is one cell design under one protocol. Cell designs come from one scrambled
Sobol (or LHS) sequence over the cell parameters; protocols from a second, independent
sequence over the protocol levels. Sample ``i`` uses cell design ``i // protocols_per_cell``
and protocol point ``i``, so the first N samples of a larger design are exactly the N
samples of a smaller one (the design is nested), and every cell design is cycled under
``protocols_per_cell`` protocols - the group that splits must keep together.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import warnings

import numpy as np
import pandas as pd
from scipy.stats import qmc

from .params import CYCLING_FIELDS, PROTOCOL_FIELDS, DesignConfig

ID_LENGTH = 12


def _unit_points(method: str, dimensions: int, count: int, seed: int) -> np.ndarray:
    if method == "sobol":
        sampler = qmc.Sobol(d=dimensions, scramble=True, seed=seed)
        with warnings.catch_warnings():
            # Sobol balance needs powers of two; nesting matters more here than balance.
            warnings.simplefilter("ignore", UserWarning)
            return sampler.random(count)
    # LHS is not nested by construction; points are drawn for `count` at once.
    return qmc.LatinHypercube(d=dimensions, seed=seed).random(count)


def stable_id(values: dict) -> str:
    """Hash of a design point, independent of its position in the design."""
    canonical = json.dumps({key: float(values[key]) for key in sorted(values)}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:ID_LENGTH]


def build_design(config: DesignConfig, samples: int, seed: int) -> pd.DataFrame:
    """One row per sample: ids, protocol levels and cell parameter values."""
    cell_names = list(config.cell_parameters)
    cell_count = -(-samples // config.protocols_per_cell)
    cell_units = _unit_points(config.method, len(cell_names), cell_count, seed)
    # Calendar storage and the temperature switch are dimensions of the same sequence as the cycling levels
    # (separately seeded Sobol sequences stratify alike: their levels would follow the ambient's). A factor
    # with one level takes no dimension, so a design without them is the one drawn before they existed.
    varies = [len(levels) > 1 for levels in (config.storage, config.temperature_switch)]
    protocol_units = _unit_points(config.method, len(CYCLING_FIELDS) + sum(varies), samples, seed + 1)
    extra_columns = iter(protocol_units[:, len(CYCLING_FIELDS) :].T)
    factor_units = np.column_stack(
        [protocol_units[:, : len(CYCLING_FIELDS)], *(next(extra_columns) if v else np.zeros(samples) for v in varies)]
    )
    rows = []
    for index in range(samples):
        cell_index = index // config.protocols_per_cell
        cell = {
            name: config.cell_parameters[name].from_unit(u)
            for name, u in zip(cell_names, cell_units[cell_index])
        }
        if index % config.protocols_per_cell == 0:
            protocols_of_cell = set()
        protocol = _protocol(config, factor_units[index], protocols_of_cell)
        rows.append(
            {
                "sample_id": stable_id({**cell, **protocol}),
                "cell_design_id": stable_id(cell),
                "sample_index": index,
                **protocol,
                **cell,
            }
        )
    return pd.DataFrame(rows)


def _protocol(config: DesignConfig, units: np.ndarray, taken: set) -> dict:
    """Protocol levels for one sample; a cell never repeats a protocol it already has."""
    level_lists = [getattr(config, field) for field in CYCLING_FIELDS] + [config.storage, config.temperature_switch]
    combos = list(itertools.product(*(range(len(levels)) for levels in level_lists)))
    chosen = tuple(min(int(u * len(levels)), len(levels) - 1) for u, levels in zip(units, level_lists))
    start = combos.index(chosen)
    for offset in range(len(combos)):
        candidate = combos[(start + offset) % len(combos)]
        if candidate not in taken:
            taken.add(candidate)
            *cycling, storage, switch = candidate
            protocol = {
                field: float(levels[level]) for field, levels, level in zip(CYCLING_FIELDS, level_lists, cycling)
            }
            level = config.temperature_switch[switch]
            ambient = protocol["ambient_temperature_c"]
            switched = level.after_cycles > 0 and level.to_c != ambient
            return {
                **protocol,
                "storage_days": config.storage[storage].days,
                "storage_soc": config.storage[storage].soc,
                "switch_after_cycles": float(level.after_cycles) if switched else 0.0,
                "late_ambient_temperature_c": float(level.to_c) if switched else ambient,
            }
    raise ValueError("protocols_per_cell exceeds the number of distinct protocols")


def cell_parameter_columns(design: pd.DataFrame) -> list[str]:
    fixed = {"sample_id", "cell_design_id", "sample_index", *PROTOCOL_FIELDS}
    return [column for column in design.columns if column not in fixed]
