"""Cycle jumping against full simulation, to end of life, side by side on the same designs.

The first samples of the default design (they span the cell-parameter ranges and the
protocol levels) are each solved twice by one simulator: with ``aging.cycle_jumping`` as in
params.yaml, and with it disabled (every cycle simulated). The simulator is warmed first
(one jumped block), so neither timing includes the model builds. Printed per sample: the
protocol, cycles to SOH 0.8 (linear between the RPTs that bracket it), the largest SOH
difference over the RPTs, the largest relative LLI / LAM differences (RPTs where the full
value is at least 0.5 %), CPU seconds of each and the speed-up.

    python -m benchmarks.cycle_jumping [samples] [first]
"""

import json
import sys
import time

import numpy as np

from agingset.design import build_design, cell_parameter_columns
from agingset.params import load_params
from agingset.physics.aging import AgingSimulator, Protocol

EOL_SOH = 0.8
RELATIVE_FLOOR_PCT = 0.5


def eol_cycle(snapshots) -> float:
    soh = (snapshots["rpt_capacity_ah"] / snapshots["rpt_capacity_ah"].iloc[0]).to_numpy()
    cycles = snapshots["cycle"].to_numpy(dtype=float)
    below = np.flatnonzero(soh <= EOL_SOH)
    if not len(below) or below[0] == 0:
        return float("nan")
    k = below[0]
    return float(cycles[k - 1] + (soh[k - 1] - EOL_SOH) / (soh[k - 1] - soh[k]) * (cycles[k] - cycles[k - 1]))


def compare(jumped, full) -> dict:
    a, b = jumped["snapshots"], full["snapshots"]
    rows = min(len(a), len(b))
    a, b = a.iloc[:rows], b.iloc[:rows]
    soh_a = a["rpt_capacity_ah"] / a["rpt_capacity_ah"].iloc[0]
    soh_b = b["rpt_capacity_ah"] / b["rpt_capacity_ah"].iloc[0]
    record = {"soh_err_abs": float(np.abs(soh_a - soh_b).max()), "rpts": rows}
    for column in ("lli_pct", "lam_ne_pct", "lam_pe_pct"):
        mask = b[column].abs() >= RELATIVE_FLOOR_PCT
        record[f"{column}_rel"] = (
            float((np.abs(a[column] - b[column])[mask] / b[column].abs()[mask]).max()) if mask.any() else 0.0
        )
    record["eol_jumped"], record["eol_full"] = eol_cycle(a), eol_cycle(b)
    record["eol_rel"] = abs(record["eol_jumped"] - record["eol_full"]) / record["eol_full"]
    return record


def main(samples: int, first: int) -> None:
    params = load_params("params.yaml")
    aging = params.aging
    full_aging = aging.model_copy(
        update={"cycle_jumping": aging.cycle_jumping.model_copy(update={"enabled": False})}
    )
    warm_aging = aging.model_copy(update={"cycles": aging.rpt_every})
    solver = params.solver.model_copy(update={"timeout_s": 1e5})
    design = build_design(params.design, first + samples, params.seed).iloc[first:]
    names = cell_parameter_columns(design)
    print(
        f"jumping {aging.cycle_jumping.model_dump()}, cycles <= {aging.cycles}, rpt_every {aging.rpt_every}, stop_at_soh {aging.stop_at_soh}"
    )
    header = "sample  T_C ch_C dis_C  V_up V_low | EOL full  EOL jump  dEOL% | max dSOH% dLLI% dLAMne% dLAMpe% | CPU full  CPU jump  speed-up | sim/jumped"
    print(header)
    records = []
    for index, row in design.iterrows():
        protocol = Protocol.of(row)
        inputs = {name: float(row[name]) for name in names}
        simulator = AgingSimulator(params.model, solver, warm_aging, protocol.ambient_temperature_c, names, [])
        simulator.run("warm", protocol, inputs)
        runs = {}
        for label, config in (("jumped", aging), ("full", full_aging)):
            simulator.aging = config
            tick = time.process_time()
            runs[label] = simulator.run(str(index), protocol, inputs)
            runs[label + "_cpu"] = time.process_time() - tick
        status = {label: runs[label]["status"]["status"].iloc[0] for label in ("jumped", "full")}
        cycles = json.loads(runs["jumped"]["metadata"]["metadata_json"].iloc[0])["outcome"]["cycles"]
        record = {
            "sample": int(index),
            **protocol.__dict__,
            **status,
            "cpu_full": runs["full_cpu"],
            "cpu_jumped": runs["jumped_cpu"],
        }
        if set(status.values()) == {"ok"}:
            record.update(compare(runs["jumped"], runs["full"]))
        record["speedup"] = record["cpu_full"] / record["cpu_jumped"]
        records.append(record)
        print(
            f"{index:6d} {protocol.ambient_temperature_c:4.0f} {protocol.charge_c_rate:4.1f} {protocol.discharge_c_rate:5.1f} "
            f"{protocol.upper_voltage_v:5.1f} {protocol.lower_voltage_v:5.1f} | "
            f"{record.get('eol_full', float('nan')):8.0f} {record.get('eol_jumped', float('nan')):9.0f} "
            f"{100 * record.get('eol_rel', float('nan')):6.2f} | "
            f"{100 * record.get('soh_err_abs', float('nan')):9.3f} {100 * record.get('lli_pct_rel', float('nan')):5.2f} "
            f"{100 * record.get('lam_ne_pct_rel', float('nan')):7.2f} {100 * record.get('lam_pe_pct_rel', float('nan')):7.2f} | "
            f"{record['cpu_full']:8.1f} {record['cpu_jumped']:9.1f} {record['speedup']:9.1f} | "
            f"{cycles['cycles_simulated']}/{cycles['cycles_jumped']}  {status}",
            flush=True,
        )
    ok = [r for r in records if "soh_err_abs" in r]
    if ok:
        print(
            f"worst over {len(ok)} samples: dSOH {100 * max(r['soh_err_abs'] for r in ok):.3f} % abs, "
            f"dLLI {100 * max(r['lli_pct_rel'] for r in ok):.2f} %, dLAMne {100 * max(r['lam_ne_pct_rel'] for r in ok):.2f} %, "
            f"dLAMpe {100 * max(r['lam_pe_pct_rel'] for r in ok):.2f} %, dEOL {100 * np.nanmax([r['eol_rel'] for r in ok]):.2f} %; "
            f"speed-up min {min(r['speedup'] for r in records):.1f}x, "
            f"total {sum(r['cpu_full'] for r in records) / sum(r['cpu_jumped'] for r in records):.1f}x"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6, int(sys.argv[2]) if len(sys.argv) > 2 else 0)
