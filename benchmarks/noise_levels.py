"""What instrument-noise levels (params.yaml `noise:`) do the real LG M50LT records show?

    python -m benchmarks run noise_levels

Reads reference-data/ (the measured drive cycle and impedance spectra, BSD-3-Clause) and prints
each level, how it was obtained and the params.yaml block. Method and numbers: docs/noise.md.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pandas as pd

from agingset.noise import estimate_impedance_relative_noise, estimate_voltage_levels
from benchmarks._common import ROOT, write_result

DRIVE_CYCLE = ROOT / "reference-data" / "lgm50lt_drive_cycle_80to20.csv.gz"
SPECTRA = ROOT / "reference-data" / "lgm50lt_eis_soc20_50_80.csv"
# The band the issue quotes the measured lin-KK residual for; the simulated spectra span 1 mHz - 10 kHz.
BAND_HZ = (1e-3, 1e3)
REST_CURRENT_A = 0.01


def voltage_levels():
    record = pd.read_csv(DRIVE_CYCLE)
    return estimate_voltage_levels(record["current_a"].to_numpy(), record["voltage_v"].to_numpy(), REST_CURRENT_A)


def impedance_levels():
    spectra = pd.read_csv(SPECTRA)
    spectra = spectra[spectra["frequency_hz"].between(*BAND_HZ)]
    result = {}
    for soc, spectrum in spectra.groupby("soc_pct"):
        spectrum = spectrum.sort_values("frequency_hz")
        z = spectrum["z_re_ohm"].to_numpy() + 1j * spectrum["z_im_ohm"].to_numpy()
        result[int(soc)] = estimate_impedance_relative_noise(spectrum["frequency_hz"].to_numpy(), z)
    return result


def estimate() -> dict:
    """The default levels (rounded to two significant figures) and the numbers behind them."""
    voltage = voltage_levels()
    impedance = impedance_levels()
    relative = float(np.median([entry.relative for entry in impedance.values()]))
    return {
        "voltage": voltage,
        "impedance": impedance,
        "defaults": {
            "impedance_relative": float(f"{relative:.2g}"),
            "voltage_noise_v": float(f"{voltage.voltage_noise_v:.2g}"),
            "voltage_resolution_v": float(f"{voltage.voltage_resolution_v:.2g}"),
            "current_offset_a": float(f"{abs(voltage.current_offset_a):.2g}"),
        },
    }


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    result = estimate()
    voltage = result["voltage"]
    print(f"drive cycle: {voltage.rest_periods} rests (|I| < {REST_CURRENT_A} A, >= 10 points), "
          f"{voltage.rest_points} points")
    print(f"  voltage noise (1.4826 MAD of 2nd differences / sqrt 6): {voltage.voltage_noise_v * 1e6:.1f} uV")
    print(f"  voltage resolution (smallest step between recorded values): {voltage.voltage_resolution_v * 1e6:.1f} uV")
    print(f"  current offset (median current in rests): {voltage.current_offset_a * 1e3:.3f} mA")
    print(f"impedance ({BAND_HZ[0]:g}-{BAND_HZ[1]:g} Hz):")
    for soc, entry in result["impedance"].items():
        print(f"  SOC {soc} %: lin-KK residual {entry.kk_residual_pct:.3f} %, "
              f"{entry.kk_pct_per_relative * 1e-3:.3f} % per 0.1 % relative noise -> relative noise "
              f"{100 * entry.relative:.3f} %")
    print("\nnoise:   # params.yaml")
    for name, value in result["defaults"].items():
        print(f"  {name}: {value:g}")
    write_result(
        "noise_levels",
        {
            "defaults": result["defaults"],
            "voltage": dataclasses.asdict(voltage),
            "impedance": {f"soc_{soc}": dataclasses.asdict(entry) for soc, entry in result["impedance"].items()},
        },
    )


if __name__ == "__main__":
    main()
