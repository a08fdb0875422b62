"""Lifetimes of the default dataset: the aging stage alone on the first samples of the default design.

Prints per sample its protocol, status, cycles to SOH 0.8 (linear between the RPTs that bracket
it), last-RPT degradation modes, simulated and jumped cycles and CPU seconds; then the share
reaching 0.8, the median and the median per protocol level (docs/physics.md, lifetime table).

    python -m benchmarks.lifetimes [samples] [workers] [csv]
"""

import json
import resource
import sys
import time

import numpy as np
import pandas as pd

from agingset.design import build_design
from agingset.executor import Settings, run_tasks
from agingset.params import PROTOCOL_FIELDS, load_params
from agingset.physics.model import handoff_state_names
from agingset.tasks.aging import aging_tasks, solve_sample
from stages._io import dataset_model
from stages.design import dataset_design


def timed(task):
    t = time.process_time()
    r = solve_sample(task)
    r["status"]["cpu_s"] = time.process_time() - t
    return r


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    P = load_params("params.yaml")
    # The dataset's own cells: calibrated base values and design ranges (data/calibrate/, as dvc repro)
    design = build_design(dataset_design(P), n, P.seed)
    model = dataset_model(P)
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
    for column in (
        "ambient_temperature_c",
        "charge_c_rate",
        "discharge_c_rate",
        "upper_voltage_v",
        "lower_voltage_v",
    ):
        levels = {
            level: f"{group.notna().sum()}/{len(group)} reach, median {group.median():.0f}"
            for level, group in df.groupby(column)["eol"]
        }
        print(column, levels)
    if len(sys.argv) > 3:
        df.to_csv(sys.argv[3], index=False)
