"""How far and how fast is cycle jumping from full simulation, to end of life, on the same designs?

The first samples of the default design (the dataset's calibrated model and ranges; they span the cell-parameter ranges and the
protocol levels) are each solved by one simulator with ``aging.cycle_jumping`` as in
params.yaml, with it disabled (every cycle simulated) and, with ``--other``, with other jumping
settings (e.g. the previous default), one after the other. The simulator is warmed first (one
jumped block), so no timing includes the model builds. Printed per sample and setting: the
protocol, cycles to SOH 0.8 (linear between the RPTs that bracket it), the largest SOH
difference over the RPTs, the largest relative LLI / LAM differences (RPTs where the full
value is at least 0.5 %), CPU seconds and the speed-up over the full simulation. Garbage is
collected, and what survives frozen out of the collector, before every timed run.

    python -m benchmarks run cycle_jumping [samples] [first] [--other order=1,max_jump=50,tolerance=2e-4]
"""

import argparse
import json

import numpy as np

from agingset.config import load_params
from agingset.physics.aging import AgingSimulator, Protocol
from benchmarks._common import compare, dataset_samples, timed_run, write_result


def jumping_settings(text: str) -> dict:
    """``order=1,max_jump=50,tolerance=2e-4`` as a settings update."""
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {key: float(value) if key == "tolerance" else int(value) for key, value in pairs}


def _line(label, index, protocol, record, cycles) -> str:
    return (
        f"{index:6d} {label:>7} {protocol.ambient_temperature_c:4.0f} {protocol.charge_c_rate:4.1f} "
        f"{protocol.discharge_c_rate:5.1f} {protocol.upper_voltage_v:5.1f} {protocol.lower_voltage_v:5.1f} | "
        f"{record.get('eol_full', float('nan')):8.0f} {record.get('eol_jumped', float('nan')):9.0f} "
        f"{100 * record.get('eol_rel', float('nan')):6.2f} | "
        f"{100 * record.get('soh_err_abs', float('nan')):9.3f} {100 * record.get('lli_pct_rel', float('nan')):5.2f} "
        f"{100 * record.get('lam_ne_pct_rel', float('nan')):7.2f} {100 * record.get('lam_pe_pct_rel', float('nan')):7.2f} | "
        f"{record['cpu_full']:8.1f} {record['cpu_jumped']:9.1f} {record['speedup']:9.1f} | "
        f"{cycles['cycles_simulated']}/{cycles['cycles_jumped']}  {record['status']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=int, nargs="?", default=6)
    parser.add_argument("first", type=int, nargs="?", default=0)
    parser.add_argument("--other", type=jumping_settings, help="other jumping settings, e.g. order=1,max_jump=50,tolerance=2e-4")
    arguments = parser.parse_args(argv)
    samples, first, other = arguments.samples, arguments.first, arguments.other
    params = load_params("params.yaml")
    aging = params.aging
    settings = {"default": aging}
    if other:
        settings["other"] = aging.model_copy(update={"cycle_jumping": aging.cycle_jumping.model_copy(update=other)})
    full_aging = aging.model_copy(
        update={"cycle_jumping": aging.cycle_jumping.model_copy(update={"enabled": False})}
    )
    warm_aging = aging.model_copy(update={"cycles": aging.rpt_every})
    solver = params.solver.model_copy(update={"timeout_s": 1e5})
    model, design, names = dataset_samples(params, first + samples)
    design = design.iloc[first:]
    for label, config in settings.items():
        print(f"{label}: jumping {config.cycle_jumping.model_dump()}")
    print(f"cycles <= {aging.cycles}, rpt_every {aging.rpt_every}, stop_at_soh {aging.stop_at_soh}")
    print(
        "sample setting  T_C ch_C dis_C  V_up V_low | EOL full  EOL jump  dEOL% | max dSOH% dLLI% dLAMne% dLAMpe% "
        "| CPU full  CPU jump  speed-up | sim/jumped"
    )
    records = {label: [] for label in settings}
    for index, row in design.iterrows():
        protocol = Protocol.of(row)
        inputs = {name: float(row[name]) for name in names}
        simulator = AgingSimulator(model, solver, warm_aging, names, [])
        simulator.run("warm", protocol, inputs)
        runs = {}
        for label, config in {**settings, "full": full_aging}.items():
            simulator.aging = config
            runs[label], runs[label + "_cpu"] = timed_run(simulator, str(index), protocol, inputs)
        for label in settings:
            status = {name: runs[name]["status"]["status"].iloc[0] for name in (label, "full")}
            cycles = json.loads(runs[label]["metadata"]["metadata_json"].iloc[0])["outcome"]["cycles"]
            record = {"sample": int(index), "status": status, "cpu_full": runs["full_cpu"], "cpu_jumped": runs[label + "_cpu"]}
            if set(status.values()) == {"ok"}:
                record.update(compare(runs[label], runs["full"]))
            record["speedup"] = record["cpu_full"] / record["cpu_jumped"]
            records[label].append(record)
            print(_line(label, int(index), protocol, record, cycles), flush=True)
    summary = {}
    for label, entries in records.items():
        ok = [r for r in entries if "soh_err_abs" in r]
        summary[label] = {
            "settings": settings[label].cycle_jumping.model_dump(),
            "samples": len(entries),
            "samples_ok": len(ok),
            "speedup_min": min(r["speedup"] for r in entries) if entries else None,
            "speedup_total": sum(r["cpu_full"] for r in entries) / sum(r["cpu_jumped"] for r in entries) if entries else None,
            "cpu_jumped_s": sum(r["cpu_jumped"] for r in entries),
            "cpu_full_s": sum(r["cpu_full"] for r in entries),
        }
        if ok:
            summary[label].update(
                {
                    "max_dsoh_abs_pct": 100 * max(r["soh_err_abs"] for r in ok),
                    "max_dlli_rel_pct": 100 * max(r["lli_pct_rel"] for r in ok),
                    "max_dlam_ne_rel_pct": 100 * max(r["lam_ne_pct_rel"] for r in ok),
                    "max_dlam_pe_rel_pct": 100 * max(r["lam_pe_pct_rel"] for r in ok),
                    "max_deol_rel_pct": 100 * float(np.nanmax([r["eol_rel"] for r in ok])),
                }
            )
            print(
                f"{label}: worst over {len(ok)} samples: dSOH {100 * max(r['soh_err_abs'] for r in ok):.3f} % abs, "
                f"dLLI {100 * max(r['lli_pct_rel'] for r in ok):.2f} %, dLAMne {100 * max(r['lam_ne_pct_rel'] for r in ok):.2f} %, "
                f"dLAMpe {100 * max(r['lam_pe_pct_rel'] for r in ok):.2f} %, dEOL {100 * np.nanmax([r['eol_rel'] for r in ok]):.2f} %; "
                f"speed-up min {min(r['speedup'] for r in entries):.1f}x, "
                f"total {sum(r['cpu_full'] for r in entries) / sum(r['cpu_jumped'] for r in entries):.1f}x, "
                f"CPU jumped {sum(r['cpu_jumped'] for r in entries):.1f} s"
            )
    write_result("cycle_jumping", {"first": first, "samples": samples, "settings": summary, "per_sample": records})


if __name__ == "__main__":
    main()
