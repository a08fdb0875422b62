"""How long do the default dataset's cells live, per protocol level (the aging stage alone on the first design rows)?

Prints per sample its protocol, status, cycles to SOH 0.8 (linear between the RPTs that bracket
it), last-RPT degradation modes, simulated and jumped cycles and CPU seconds; then the share
reaching 0.8, the median and the median per protocol level (docs/physics.md, lifetime table).

    python -m benchmarks run lifetimes [samples] [workers] [csv]
"""

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd

from agingset.calibration.dataset import dataset_design, dataset_model
from agingset.config import load_params
from agingset.design import build_design
from agingset.executor import Settings, run_tasks
from agingset.inputs import read_calibrated
from agingset.params import PROTOCOL_FIELDS
from agingset.physics.model import handoff_state_names
from agingset.tasks.aging import aging_tasks, solve_sample
from benchmarks._common import write_result

LEVELS = ("ambient_temperature_c", "charge_c_rate", "discharge_c_rate", "upper_voltage_v", "lower_voltage_v")


def timed(task):
    t = time.process_time()
    r = solve_sample(task)
    r["status"]["cpu_s"] = time.process_time() - t
    return r


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=int, nargs="?", default=24)
    parser.add_argument("workers", type=int, nargs="?", default=2)
    parser.add_argument("csv", nargs="?", help="write the per-sample table here too")
    arguments = parser.parse_args(argv)
    n, workers = arguments.samples, arguments.workers
    P = load_params("params.yaml")
    # The dataset's own cells: calibrated base values and design ranges (data/calibrate/, as dvc repro)
    calibrated = read_calibrated(P)
    design = build_design(dataset_design(P.design, calibrated), n, P.seed)
    model = dataset_model(P.model, calibrated)
    tasks = aging_tasks(model, P.solver, P.aging, handoff_state_names(model, P.eis.surface_form), design)
    t = time.perf_counter()
    results, report = run_tasks(
        timed,
        tasks,
        "aging",
        settings=Settings(workers=workers, quiet=True),
        hard_timeout_s=2 * P.solver.timeout_s + 30,
    )
    wall = time.perf_counter() - t
    rows = []
    for task, r in zip(tasks, results):
        st = r["status"].iloc[0]
        s = r["snapshots"]
        row = {k: task.sample[k] for k in PROTOCOL_FIELDS}
        row.update(
            status=st.status,
            msg=str(st.message)[:80],
            cpu_s=float(st.get("cpu_s", np.nan)),
            snapshots=int(st.snapshots),
        )
        if len(s):
            soh = (s.rpt_capacity_ah / s.rpt_capacity_ah.iloc[0]).to_numpy()
            cyc = s.cycle.to_numpy(float)
            below = np.flatnonzero(soh <= 0.8)
            row["eol"] = (
                float(
                    cyc[below[0] - 1]
                    + (soh[below[0] - 1] - 0.8)
                    / (soh[below[0] - 1] - soh[below[0]])
                    * (cyc[below[0]] - cyc[below[0] - 1])
                )
                if len(below) and below[0] > 0
                else np.nan
            )
            row["soh_last"] = float(soh[-1])
            row["lli_last"] = float(s.lli_pct.iloc[-1])
            row["lam_ne_last"] = float(s.lam_ne_pct.iloc[-1])
            row["lam_pe_last"] = float(s.lam_pe_pct.iloc[-1])
            row["plating_ah"] = float(s.capacity_lost_plating_ah.iloc[-1])
            m = json.loads(r["metadata"]["metadata_json"].iloc[0])["outcome"]["cycles"]
            row["sim"] = m["cycles_simulated"]
            row["jumped"] = m["cycles_jumped"]
        rows.append(row)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    print(df.to_string())
    eol = df["eol"]
    print(
        f"wall {wall:.0f} s, workers {workers}, CPU sum {df.cpu_s.sum():.0f} s, peak RSS parent {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB children {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
    )
    print(
        f"reached 0.8: {eol.notna().sum()}/{len(df)}; median EOL {eol.median():.0f}; quartiles {eol.quantile(0.25):.0f}-{eol.quantile(0.75):.0f}; statuses {df.status.value_counts().to_dict()}"
    )
    per_level = {}
    for column in LEVELS:
        levels = {
            level: f"{group.notna().sum()}/{len(group)} reach, median {group.median():.0f}"
            for level, group in df.groupby(column)["eol"]
        }
        print(column, levels)
        per_level[column] = {
            str(level): {"reach": int(group.notna().sum()), "samples": len(group), "median_eol": float(group.median())}
            for level, group in df.groupby(column)["eol"]
        }
    if arguments.csv:
        df.to_csv(arguments.csv, index=False)
    write_result(
        "lifetimes",
        {
            "samples": n,
            "workers": workers,
            "wall_s": wall,
            "cpu_sum_s": float(df.cpu_s.sum()),
            "reached_0.8": int(eol.notna().sum()),
            "median_eol": float(eol.median()),
            "eol_quartiles": [float(eol.quantile(0.25)), float(eol.quantile(0.75))],
            "statuses": {str(k): int(v) for k, v in df.status.value_counts().items()},
            "per_level": per_level,
        },
    )


if __name__ == "__main__":
    main()
