"""docs/nyquist_aged_vs_fresh.png: Nyquist plots of one default-design sample, fresh vs aged.

The first sample of the default design (params.yaml) is aged through all its RPTs; the
first and last snapshots are moved to each ``eis.socs`` at 25 degC and solved with the
default backend, exactly as solve_eis does.

    python docs/make_nyquist_figure.py [output.png]
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from agingset.design import build_design  # noqa: E402
from agingset.config import load_params  # noqa: E402
from agingset.physics import eis  # noqa: E402
from agingset.physics.model import handoff_state_names  # noqa: E402
from agingset.tasks import eis as eis_tasks  # noqa: E402
from agingset.tasks.aging import aging_tasks, solve_sample  # noqa: E402

TEMPERATURE_C = 25.0


def main(output: str) -> None:
    params = load_params("params.yaml")
    design = build_design(params.design, 1, params.seed)
    handoff = handoff_state_names(params.model, params.eis.surface_form)
    aged = solve_sample(aging_tasks(params.model, params.solver, params.aging, handoff, design)[0])
    task = eis_tasks.spectrum_tasks(params.model, params.eis, design, aged["snapshots"], aged["states"], params.seed)[0]
    simulator = eis.ImpedanceSimulator(params.model, params.eis, list(task.input_names))
    snapshots = aged["snapshots"].set_index("snapshot")
    frequencies = params.eis.frequencies_hz
    # Every other decade, on the aged curve only: enough to read the arc and the tail.
    labelled = [i for i, f in enumerate(frequencies) if np.isclose(np.log10(f), round(np.log10(f))) and round(np.log10(f)) % 2]

    figure, axes = plt.subplots(1, len(params.eis.socs), figsize=(4.2 * len(params.eis.socs), 4.2))
    for axis, soc in zip(np.atleast_1d(axes), params.eis.socs):
        for snapshot, style, annotate in ((task.snapshots[0], "-o", False), (task.snapshots[-1], "-s", True)):
            point = eis.Operating(soc, TEMPERATURE_C)
            result = eis.spectrum(simulator, snapshot, task.inputs, point)
            z, backend = result.impedance, result.backend
            info = snapshots.loc[snapshot.snapshot]
            label = f"cycle {int(info['cycle'])}: {1000 * info['capacity_lost_sei_ah']:.0f} mAh lost to SEI"
            axis.plot(1000 * z.real, -1000 * z.imag, style, markersize=3, label=label)
            for index in labelled if annotate else []:
                axis.annotate(f"{frequencies[index]:g} Hz", (1000 * z.real[index], -1000 * z.imag[index]),
                              fontsize=6, textcoords="offset points", xytext=(3, 3))
        axis.set_title(f"SOC {soc:.0%}, {TEMPERATURE_C:g} °C ({params.model.family}, {backend})", fontsize=9)
        axis.set_xlabel("Z_re [mΩ]")
        axis.set_ylabel("−Z_im [mΩ]")
        axis.set_aspect("equal", adjustable="datalim")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"Sample {task.sample_id}: fresh vs aged, {frequencies[0]:g}–{frequencies[-1]:g} Hz", fontsize=10)
    figure.tight_layout()
    figure.savefig(output, dpi=130)
    print(output)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/nyquist_aged_vs_fresh.png")
