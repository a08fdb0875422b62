"""Global (Sobol) sensitivity of cell observables to the sampled cell parameters, via SALib.

Samples come from SALib's Saltelli-scheme Sobol sampler in the unit hypercube and are
mapped onto each parameter's range on its own scale (linear or log), so an index answers
"how much of this observable's variance over the dataset's ranges is due to this
parameter". S1 is the first-order index, ST the total-order index (including all
interactions); a parameter whose ST stays below a threshold for an observable cannot be
identified from that observable over these ranges.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from . import ica
from .catalog import CYCLING_FIELDS, STORAGE_FIELDS
from .design import stable_id
from .params import AgingConfig, DesignConfig, Range, SensitivityConfig

INDEX_COLUMNS = ["observable", "parameter", "S1", "S1_conf", "ST", "ST_conf", "identifiable"]


def _problem(names: list[str]) -> dict:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def sample(ranges: dict[str, Range], base_samples: int, seed: int) -> pd.DataFrame:
    """``base_samples * (D + 2)`` parameter sets, one column per parameter, in SALib order."""
    names = list(ranges)
    unit = sobol_sample.sample(_problem(names), base_samples, calc_second_order=False, scramble=True, seed=seed)
    return pd.DataFrame(
        {name: [ranges[name].from_unit(u) for u in unit[:, k]] for k, name in enumerate(names)}
    )


def runs(ranges: dict[str, Range], config: SensitivityConfig, design: DesignConfig, seed: int) -> pd.DataFrame:
    """The Sobol sample as aging runs: ``sample_id``, the protocol, then the parameter values, one row per run.

    Protocol fields the sensitivity section leaves out take the design's first level; the ambient never switches.
    """
    samples = sample(ranges, config.base_samples, seed)
    protocol = {field: getattr(design, field)[0] for field in (*CYCLING_FIELDS, *STORAGE_FIELDS)} | config.protocol.model_dump()
    protocol |= {"switch_after_cycles": 0.0, "late_ambient_temperature_c": protocol["ambient_temperature_c"]}
    return pd.DataFrame(
        [
            {"sample_id": stable_id({**row, "run": index}), **protocol, **row}
            for index, row in enumerate(samples.to_dict("records"))
        ]
    )


def short_aging(aging: AgingConfig, config: SensitivityConfig) -> AgingConfig:
    """A short aging run per sample: one RPT before and one after ``config.cycles`` cycles."""
    return aging.model_copy(update={"cycles": config.cycles, "rpt_every": config.cycles})


def observed_runs(runs: pd.DataFrame, results: list[dict], ica_settings) -> pd.DataFrame:
    """Per run (``results`` in run order, the aging simulator's tables): status, message and observables."""
    observed = []
    for run, result in zip(runs.to_dict("records"), results):
        values = observables(result["snapshots"], result["curves"], ica_settings)
        status = result["status"].iloc[0]
        observed.append(
            {"sample_id": run["sample_id"], "status": status["status"], "message": status["message"], **values}
        )
    return pd.DataFrame(observed)


def indices(
    names: list[str],
    outputs: dict[str, np.ndarray],
    threshold: float,
    confidence_level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """S1, ST and their confidence half-widths per (observable, parameter).

    ``outputs`` holds one array per observable, aligned with :func:`sample`'s rows. An
    observable with a failed (non-finite) run gets NaN indices; one that does not vary at
    all gets zero indices (no parameter moves it).
    """
    rows = []
    for observable, values in outputs.items():
        values = np.asarray(values, dtype=float)
        if not np.all(np.isfinite(values)):
            table = {key: np.full(len(names), np.nan) for key in ("S1", "S1_conf", "ST", "ST_conf")}
        elif np.ptp(values) <= 1e-12 * max(1.0, float(np.max(np.abs(values)))):
            table = {key: np.zeros(len(names)) for key in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            table = sobol_analyze.analyze(
                _problem(names),
                values,
                calc_second_order=False,
                conf_level=confidence_level,
                seed=seed,
            )
        for k, name in enumerate(names):
            total = float(table["ST"][k])
            rows.append(
                {
                    "observable": observable,
                    "parameter": name,
                    "S1": float(table["S1"][k]),
                    "S1_conf": float(table["S1_conf"][k]),
                    "ST": total,
                    "ST_conf": float(table["ST_conf"][k]),
                    "identifiable": bool(total >= threshold) if np.isfinite(total) else False,
                }
            )
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def observables(snapshots: pd.DataFrame, curves: pd.DataFrame, ica_settings) -> dict[str, float]:
    """Capacity, pulse resistance and main dQ/dV peak of the first RPT; SOH at the last.

    ``snapshots``/``curves`` are one sample's RPT tables from the aging simulator; a run
    without RPTs gives NaN everywhere.
    """
    if snapshots.empty:
        return {"capacity_ah": np.nan, "pulse_resistance_ohm": np.nan, "ica_peak_v": np.nan, "eol_soh": np.nan}
    ordered = snapshots.sort_values("snapshot")
    first, last = ordered.iloc[0], ordered.iloc[-1]
    curve = curves[curves["snapshot"] == first["snapshot"]]
    grid, dqdv = ica.incremental_capacity(
        curve["discharged_ah"].to_numpy(),
        curve["voltage_v"].to_numpy(),
        step_v=ica_settings.step_v,
        smoothing_v=ica_settings.smoothing_v,
    )
    main_peak = ica.peaks(grid, dqdv, count=1)
    return {
        "capacity_ah": float(first["rpt_capacity_ah"]),
        "pulse_resistance_ohm": float(first["pulse_resistance_ohm"]),
        "ica_peak_v": float(main_peak["position"][0]) if len(main_peak) else np.nan,
        "eol_soh": float(last["rpt_capacity_ah"] / first["rpt_capacity_ah"]),
    }


def unidentifiable(table: pd.DataFrame) -> dict[str, list[str]]:
    """Per observable, the parameters it cannot see (ST below the threshold)."""
    return {
        observable: sorted(group.loc[~group["identifiable"], "parameter"])
        for observable, group in table.groupby("observable", sort=True)
    }


def metrics(table: pd.DataFrame, observed: pd.DataFrame, config: SensitivityConfig, ranges: str) -> dict:
    """metrics/sensitivity.json: the run counts, settings, every index and the unidentifiable parameters;
    ``ranges`` is the design's range source (``prior`` or ``calibrated``)."""
    return {
        "base_samples": config.base_samples,
        "runs": len(observed),
        "failed_runs": int((observed["status"] != "ok").sum()),
        "threshold": config.threshold,
        "confidence_level": config.confidence_level,
        "ranges": ranges,
        "indices": {
            observable: {
                row["parameter"]: {key: row[key] for key in ("S1", "S1_conf", "ST", "ST_conf")}
                for row in group.to_dict("records")
            }
            for observable, group in table.groupby("observable", sort=True)
        },
        "unidentifiable": unidentifiable(table),
    }


def bar_plot(table: pd.DataFrame):
    """One panel per observable: S1 and ST bars with confidence intervals per parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    observables_ = list(dict.fromkeys(table["observable"]))
    parameters = list(dict.fromkeys(table["parameter"]))
    figure, axes = plt.subplots(
        len(observables_), 1, figsize=(8, 2.2 * len(observables_) + 1), sharex=True, squeeze=False
    )
    x = np.arange(len(parameters))
    for axis, observable in zip(axes[:, 0], observables_):
        rows = table[table["observable"] == observable].set_index("parameter").loc[parameters]
        axis.bar(x - 0.2, rows["S1"], 0.4, yerr=rows["S1_conf"], label="S1", capsize=2)
        axis.bar(x + 0.2, rows["ST"], 0.4, yerr=rows["ST_conf"], label="ST", capsize=2)
        axis.set_ylabel(observable, fontsize=8)
        axis.set_ylim(-0.1, 1.1)
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xticks(x, [name.replace(" [", "\n[") for name in parameters], rotation=30, ha="right", fontsize=6)
    figure.suptitle("Sobol indices (bars: first order S1, total ST; whiskers: confidence)")
    figure.tight_layout()
    return figure
