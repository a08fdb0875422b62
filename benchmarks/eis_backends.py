"""How many seconds does a spectrum take with each impedance backend and model fidelity, and how well do the backends agree?

For SPM, SPMe and DFN (params.yaml's options and mesh) one sample of the default design is
aged for one RPT block; its aged snapshot is moved to every ``eis.socs`` at 25 degC and its
spectrum computed on the full ``eis`` grid by both backends, side by side in one process.

    python -m benchmarks run eis_backends [family ...]

Prints, per fidelity: seconds to reach the operating point (charge/discharge + rest),
seconds per spectrum for each backend and their ratio (time/freq: how many times
slower the time-domain backend is), and the largest |Z| and phase
deviation of the time-domain backend from the frequency-domain one, over the whole grid
and with the lowest decade excluded.
"""

import argparse
import time

import numpy as np

from agingset.config import load_params, parse_params
from agingset.design import build_design
from agingset.physics import eis
from agingset.physics.model import handoff_state_names
from agingset.tasks import eis as eis_tasks
from agingset.tasks.aging import aging_tasks, solve_sample
from benchmarks._common import write_result


def aged_task(family: str):
    raw = load_params("params.yaml").model_dump(by_alias=True)
    raw["model"]["family"] = family
    raw["aging"]["cycles"] = raw["aging"]["rpt_every"]
    params = parse_params(raw)
    design = build_design(params.design, 1, params.seed)
    handoff = handoff_state_names(params.model, params.eis.surface_form)
    result = solve_sample(aging_tasks(params.model, params.solver, params.aging, handoff, design)[0])
    if result["status"]["status"].iloc[0] != "ok":
        raise RuntimeError(result["status"].to_dict("records"))
    return params, eis_tasks.spectrum_tasks(params.model, params.eis, design, result["snapshots"], result["states"], params.seed)[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("families", nargs="*", default=["SPM", "SPMe", "DFN"], choices=["SPM", "SPMe", "DFN"])
    families = parser.parse_args(argv).families
    figures = {}
    print(f"{'model':6} {'reach s':>8} {'freq s':>8} {'time s':>8} {'time/freq':>9} "
          f"{'max d|Z| %':>10} {'max dphase':>10} {'>=10 mHz: d|Z| %':>16} {'dphase':>7}")
    for family in families:
        params, task = aged_task(family)
        simulator = eis.ImpedanceSimulator(params.model, params.eis, list(task.input_names))
        snapshot = task.snapshots[-1]
        frequencies = params.eis.frequencies_hz
        simulator.frequency_domain_impedance(
            simulator.rested(snapshot.state, task.inputs, snapshot.soc, snapshot.capacity_ah, eis.Operating(0.5, 25.0)),
            frequencies,
        )  # first solve compiles the Jacobian: not part of the per-spectrum cost
        reach, frequency_domain, time_domain, errors = [], [], [], []
        for soc in params.eis.socs:
            start = time.perf_counter()
            rested = simulator.rested(
                snapshot.state, task.inputs, snapshot.soc, snapshot.capacity_ah, eis.Operating(soc, 25.0)
            )
            reach.append(time.perf_counter() - start)
            start = time.perf_counter()
            z_frequency = simulator.frequency_domain_impedance(rested, frequencies)
            frequency_domain.append(time.perf_counter() - start)
            start = time.perf_counter()
            z_time = simulator.time_domain_impedance(rested, frequencies)
            time_domain.append(time.perf_counter() - start)
            errors.append(
                (
                    100 * np.abs(np.abs(z_time) / np.abs(z_frequency) - 1),
                    np.degrees(np.abs(np.angle(z_time / z_frequency))),
                )
            )
        magnitude = np.max([e[0] for e in errors], axis=0)
        phase = np.max([e[1] for e in errors], axis=0)
        above = frequencies >= 10 * frequencies.min()
        figures[family] = {
            "reach_s": float(np.mean(reach)),
            "frequency_domain_s": float(np.mean(frequency_domain)),
            "time_domain_s": float(np.mean(time_domain)),
            "time_over_frequency": float(np.mean(time_domain) / np.mean(frequency_domain)),
            "max_dz_abs_pct": float(magnitude.max()),
            "max_dphase_deg": float(phase.max()),
            "above_lowest_decade_max_dz_abs_pct": float(magnitude[above].max()),
            "above_lowest_decade_max_dphase_deg": float(phase[above].max()),
        }
        print(
            f"{family:6} {np.mean(reach):8.3f} {np.mean(frequency_domain):8.3f} {np.mean(time_domain):8.3f} "
            f"{np.mean(time_domain) / np.mean(frequency_domain):9.0f} {magnitude.max():10.3f} {phase.max():10.3f} "
            f"{magnitude[above].max():16.3f} {phase[above].max():7.3f}"
        )
    print(f"({len(params.eis.frequencies_hz)} frequencies {params.eis.f_min_hz:g}-{params.eis.f_max_hz:g} Hz, "
          f"SOCs {params.eis.socs}, 25 degC; seconds are means per spectrum)")
    write_result(
        "eis_backends",
        {"frequencies": len(params.eis.frequencies_hz), "socs": list(params.eis.socs), "families": figures},
    )


if __name__ == "__main__":
    main()
