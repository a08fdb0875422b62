"""The dataset card's calibration section: real measurements against the calibrated model.

Pure: the calibrate stage's prediction tables, its metrics and the dataset's fresh spectra in;
markdown lines and ``Figure`` objects out.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..measured_comparison import ENVELOPE_PERCENTILES  # noqa: E402
from .measurements import LOW_FREQUENCY_HZ, Measurement  # noqa: E402


def _calibrated(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["parameters"] == "calibrated"]


def _frequency_text(frequency_hz: float) -> str:
    for unit, scale in (("kHz", 1e3), ("Hz", 1.0), ("mHz", 1e-3)):
        if frequency_hz >= 0.999 * scale:
            return f"{frequency_hz / scale:.3g} {unit}"
    return f"{frequency_hz:.3g} Hz"


def _band_text(low_hz: float, high_hz: float) -> str:
    return f"{_frequency_text(low_hz)}-{_frequency_text(high_hz)}"


def nyquist_measured_vs_calibrated(spectra: pd.DataFrame) -> Figure:
    """Per measured SOC: measured, stock and calibrated spectra (Nyquist, -Z_im up)."""
    names = list(dict.fromkeys(spectra["measurement"]))
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for axis, name in zip(axes[0], names):
        rows = spectra[spectra["measurement"] == name]
        measured = rows[rows["parameters"] == "calibrated"]
        axis.plot(1e3 * measured["z_re_measured_ohm"], -1e3 * measured["z_im_measured_ohm"], "ko", ms=3, label="measured")
        for label, style in (("stock", "C1--"), ("calibrated", "C0-")):
            simulated = rows[rows["parameters"] == label]
            axis.plot(1e3 * simulated["z_re_simulated_ohm"], -1e3 * simulated["z_im_simulated_ohm"], style, label=label)
        axis.set_title(f"{name} ({_band_text(rows['frequency_hz'].min(), rows['frequency_hz'].max())})")
        axis.set_xlabel("Z_re [mOhm]")
        axis.set_ylabel("-Z_im [mOhm]")
        axis.set_aspect("equal", adjustable="datalim")
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    return figure


def _rate_tests_per_ambient(
    discharges: pd.DataFrame, x, columns: tuple[str, str], x_label: str, y_label: str, x_log: bool = False, **subplots
) -> Figure:
    """One panel per ambient temperature, one colour per C-rate: the measured column of ``columns``
    (thick) and the calibrated one (dashed where held out) against ``x(rows)``."""
    measured, simulated = columns
    temperatures = sorted(discharges["ambient_temperature_c"].unique())
    figure, axes = plt.subplots(1, len(temperatures), figsize=(3.6 * len(temperatures), 3.4), squeeze=False, **subplots)
    for axis, temperature in zip(axes[0], temperatures):
        at = discharges[discharges["ambient_temperature_c"] == temperature]
        for index, (c_rate, rows) in enumerate(at.groupby("c_rate")):
            held = (rows["role"] == "held_out").all()
            colour, along = f"C{index}", x(rows)
            axis.plot(along, rows[measured], color=colour, lw=2.5, alpha=0.35)
            axis.plot(along, rows[simulated], color=colour, ls="--" if held else "-", lw=1,
                      label=f"{c_rate:g}C" + (" (held out)" if held else ""))
        axis.set_title(f"{temperature:g} degC ambient")
        if x_log:
            axis.set_xscale("log")
        axis.set_xlabel(x_label)
        axis.legend(fontsize=7)
    axes[0][0].set_ylabel(f"{y_label} (thick: measured)")
    figure.tight_layout()
    return figure


def _discharged_ah(rows: pd.DataFrame) -> np.ndarray:
    return Measurement(rows["time_s"].to_numpy(), rows["current_a"].to_numpy(), rows["voltage_measured_v"].to_numpy()).discharged_ah


def _minutes(rows: pd.DataFrame) -> pd.Series:
    return rows["time_s"] / 60


def discharges_measured_vs_calibrated(records: pd.DataFrame) -> Figure:
    """Per ambient temperature: measured and calibrated discharge voltage, every C-rate."""
    discharges = _calibrated(records[records["kind"] == "discharge"])
    columns = ("voltage_measured_v", "voltage_simulated_v")
    return _rate_tests_per_ambient(discharges, _discharged_ah, columns, "discharged [A.h]", "voltage [V]", sharey=True)


def cell_temperatures_measured_vs_calibrated(records: pd.DataFrame) -> Figure | None:
    """Per ambient temperature: the cell's measured (can surface) and calibrated (lumped) temperature
    over each discharge, every C-rate; None without measured temperatures."""
    discharges = _calibrated(records[records["kind"] == "discharge"])
    discharges = discharges[np.isfinite(discharges["temperature_measured_c"].to_numpy(dtype=float))]
    if discharges.empty:
        return None
    columns = ("temperature_measured_c", "temperature_simulated_c")
    return _rate_tests_per_ambient(discharges, _minutes, columns, "time [min]", "cell temperature [degC]", x_log=True)


def drive_cycle_measured_vs_calibrated(records: pd.DataFrame) -> Figure:
    rows = _calibrated(records[records["kind"] == "drive_cycle"])
    figure, axis = plt.subplots(figsize=(8, 3))
    axis.plot(rows["time_s"] / 3600, rows["voltage_measured_v"], "k", lw=1, label="measured (60 s blocks)")
    axis.plot(rows["time_s"] / 3600, rows["voltage_simulated_v"], "C0", lw=1, label="calibrated")
    axis.set_xlabel("time [h]")
    axis.set_ylabel("voltage [V]")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def measured_in_dataset_envelope(spectra: pd.DataFrame, fresh: pd.DataFrame) -> Figure | None:
    """Per measured spectrum, Re Z and -Im Z against frequency: the dataset's fresh spectra (5-95 % band and
    median over the samples, :func:`agingset.measured_comparison.fresh_points`: the rows the metric
    ``measured_spectra`` scores), the calibrated model and the measured cell."""
    measured = _calibrated(spectra)
    names = list(dict.fromkeys(measured["measurement"]))
    figure, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 5.6), squeeze=False, sharex=True)
    drawn = False
    for column, name in enumerate(names):
        rows = measured[measured["measurement"] == name].sort_values("frequency_hz")
        soc = float(rows["soc_measured"].iloc[0])
        at_soc = fresh[np.isclose(fresh["soc"].to_numpy(dtype=float), soc)]
        for row, (part, sign, label) in enumerate((("z_re", 1, "Re Z"), ("z_im", -1, "-Im Z"))):
            axis = axes[row][column]
            if not at_soc.empty:
                per_frequency = (sign * 1e3 * at_soc[f"{part}_ohm"]).groupby(at_soc["frequency_hz"])
                low, high = (per_frequency.quantile(p / 100) for p in ENVELOPE_PERCENTILES)
                axis.fill_between(low.index, low, high, color="C0", alpha=0.25, label="dataset fresh 5-95 %")
                axis.plot(low.index, per_frequency.median(), "C0-", lw=1, label="dataset median")
                drawn = True
            axis.plot(rows["frequency_hz"], sign * 1e3 * rows[f"{part}_simulated_ohm"], "C1--", lw=1, label="calibrated")
            axis.plot(rows["frequency_hz"], sign * 1e3 * rows[f"{part}_measured_ohm"], "ko", ms=2.5, label="measured")
            axis.set_xscale("log")
            axis.set_ylabel(f"{label} [mOhm]")
        axes[0][column].set_title(f"{name} ({int(at_soc['sample_id'].nunique())} samples)")
        axes[1][column].set_xlabel("frequency [Hz]")
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    if not drawn:
        plt.close(figure)
        return None
    return figure


def build_calibration_figures(spectra, records, fresh_spectra) -> dict[str, Figure]:
    figures = {}
    if spectra is not None and not spectra.empty:
        figures["calibration_nyquist"] = nyquist_measured_vs_calibrated(spectra)
        if fresh_spectra is not None:
            envelope = measured_in_dataset_envelope(spectra, fresh_spectra)
            if envelope is not None:
                figures["calibration_band"] = envelope
    if records is not None and not records.empty:
        figures["calibration_discharges"] = discharges_measured_vs_calibrated(records)
        temperatures = cell_temperatures_measured_vs_calibrated(records)
        if temperatures is not None:
            figures["calibration_cell_temperatures"] = temperatures
        pulses = pulses_measured_vs_calibrated(records)
        if pulses is not None:
            figures["calibration_pulses"] = pulses
        if (records["kind"] == "drive_cycle").any():
            figures["calibration_drive_cycle"] = drive_cycle_measured_vs_calibrated(records)
    return figures


def _number(value, digits=3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}g}"


def _error_text(errors: Mapping) -> str:
    if "median_relative_abs_z_error_pct" in errors:
        text = f"{errors['median_relative_abs_z_error_pct']:.1f} % median rel. abs Z"
        if "median_complex_error_pct" in errors:
            text += f"; complex {errors['median_complex_error_pct']:.1f} %, below 0.1 Hz {_number(errors['median_complex_error_below_0_1hz_pct'], 3)} %"
        return text
    text = f"{errors['voltage_rmse_mv']:.1f} mV"
    if "r_end_mean_error_mohm" in errors:
        text += f"; resistance at the pulse's end {errors['r_end_mean_error_mohm']:+.1f} mOhm (mean), first sample {errors['r_instant_rmse_mohm']:.1f} mOhm RMSE"
        if "r_end_relative_error_pct" in errors:
            text += f" ({errors['r_end_relative_error_pct']:+.0f} % at the end)"
    if "temperature_rmse_k" in errors:
        text += f", {errors['temperature_rmse_k']:.1f} K"
    if "capacity_to_3v_error_pct" in errors:
        error = errors["capacity_to_3v_error_pct"]
        text += "; ends above 3.0 V" if error is None else f"; capacity to 3.0 V {error:+.1f} %"
    return text


def pulses_measured_vs_calibrated(records: pd.DataFrame) -> Figure | None:
    """Per ambient temperature: the pulses' resistance at their end against their rested voltage,
    measured and simulated (stock, calibrated)."""
    pulses = records[records["kind"] == "pulse"]
    if pulses.empty:
        return None
    ends = pulses.loc[pulses.groupby(["measurement", "parameters", "pulse_soc_step"])["time_s"].idxmax()]
    ends = ends.assign(
        **{
            f"{which}_mohm": 1e3 * (ends["pulse_rest_voltage_v"] - ends[f"voltage_{which}_v"]) / -ends["current_a"]
            for which in ("measured", "simulated")
        }
    )
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for color, (name, rows) in enumerate(ends.groupby("measurement", sort=False)):
        measured = rows[rows["parameters"] == "calibrated"]
        axis.plot(measured["pulse_rest_voltage_v"], measured["measured_mohm"], "o", color=f"C{color}", label=name)
        for label, style in (("stock", ":"), ("calibrated", "-")):
            simulated = rows[rows["parameters"] == label]
            axis.plot(simulated["pulse_rest_voltage_v"], simulated["simulated_mohm"], style, color=f"C{color}", label=label if color == 0 else None)
    axis.set_xlabel("rested voltage before the pulse [V]")
    axis.set_ylabel("resistance at the pulse's end [mOhm]")
    axis.legend(fontsize=7)
    figure.tight_layout()
    return figure


def calibration_section(metrics: Mapping, coverage: Mapping, figures: Mapping[str, str], link) -> list[str]:
    """Markdown of the calibration section; ``link`` renders a figure reference."""
    if not metrics:
        return ["_Not available: metrics/calibration.json was not produced._", ""]
    lines = [
        "The dataset's model and base parameter values come from the `calibrate` stage: a joint fit to real "
        "LG M50/M50LT measurements (`reference-data/`). Held-out records were never fitted. Errors: voltage "
        "RMSE (and cell-temperature RMSE); spectra: median relative |Z| error and median complex error "
        "|Z_sim - Z_meas| / |Z_meas| over the fit window (calibrate.frequency_window_hz) and below "
        f"{_frequency_text(LOW_FREQUENCY_HZ)}. "
        "`stock`: the parameter set as published.",
        "",
        "| measurement | role | stock | calibrated |",
        "|---|---|---|---|",
    ]
    for name, entry in metrics["measurements"].items():
        lines.append(f"| {name} | {entry['role']} | {_error_text(entry['stock'])} | {_error_text(entry['calibrated'])} |")
    held_out = metrics.get("summary", {}).get("calibrated", {}).get("held_out", {})
    if "discharge_voltage_rmse_mv_mean" in held_out:
        lines += [
            "",
            f"Held-out discharges (calibrated): mean {held_out['discharge_voltage_rmse_mv_mean']:.1f} mV, worst "
            f"{held_out['discharge_voltage_rmse_mv_max']:.1f} mV; worst up to 1C "
            f"{held_out.get('discharge_up_to_1c_voltage_rmse_mv_max', float('nan')):.1f} mV; capacity to 3.0 V within "
            f"{_number(held_out.get('discharge_capacity_to_3v_error_pct_max_abs'), 2)} % (the RMSE is mostly the last few "
            "per cent of each discharge, where the voltage falls by up to 1 V: docs/physics.md).",
        ]
    lines += ["", "Fitted values (standard errors from the Jacobian: a lower bound where the misfit is model error):", ""]
    lines += ["| parameter | fitted | standard error |", "|---|---|---|"]
    for name, entry in metrics["parameters"].items():
        lines.append(f"| {name} | {_number(entry['fitted'], 4)} | {_number(entry['standard_error'], 2)} |")
    lines.append("")
    if coverage.get("spectra"):
        tails = [entry["tail_frequency_hz"] for entry in coverage["spectra"].values() if entry.get("samples")]
        tail_text = _frequency_text(min(tails)) if tails else "the lowest frequency"
        low_text = _frequency_text(LOW_FREQUENCY_HZ)
        lines += [
            f"Measured spectra against the dataset's fresh-cell spectra ({coverage['temperature_c']:g} degC, each "
            f"sample's first spectrum at the measured SOC; metrics/quality.json `measured_spectra`), {_band_text(*coverage['band_hz'])}: "
            "share of frequencies inside the dataset's 5-95 % band, by Re Z and Im Z together and by |Z|; complex "
            "error |Z_dataset - Z_measured| / |Z_measured| of the dataset's median spectrum (median over "
            f"frequencies); -Im Z at {tail_text}, dataset median and measured:",
            "",
            f"| measured SOC | samples | inside band: Re and Im | abs Z | complex error | below {low_text} | -Im Z {tail_text} [mOhm] |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, entry in coverage["spectra"].items():
            if not entry.get("samples"):
                lines.append(f"| {name} | 0 | | | | | |")
                continue
            tail = entry["tail_minus_im_z_mohm"]
            lines.append(
                f"| {name} | {entry['samples']} | {entry['envelope_coverage_pct']:.0f} % | {entry['abs_z_coverage_pct']:.0f} % | "
                f"{_number(entry['median_spectrum_complex_error_pct'], 3)} % | "
                f"{_number(entry.get('median_spectrum_complex_error_below_0_1hz_pct'), 3)} % | "
                f"{tail['dataset_median']:.2f} / {tail['measured']:.2f} |"
            )
        lines.append("")
    lines += ["Measured (dots) against stock and calibrated spectra:", "", *link("calibration_nyquist", "calibration Nyquist", figures)]
    lines += [
        "Measured spectra (dots) in the dataset's fresh-cell band (shaded: 5-95 % of the samples; line: their median; "
        "dashed: the calibrated model), Re Z and -Im Z apart: where the measured -Im Z leaves the band, the model's "
        "arcs and tail have another shape than the cell's:",
        "",
        *link("calibration_band", "measured vs dataset band", figures),
    ]
    lines += ["Discharges per ambient temperature (thick: measured; dashed: held out):", "", *link("calibration_discharges", "discharges", figures)]
    lines += [
        "Cell temperature over those discharges (thick: measured at the can; thin: the lumped model):",
        "",
        *link("calibration_cell_temperatures", "cell temperatures", figures),
    ]
    lines += ["Drive cycle:", "", *link("calibration_drive_cycle", "drive cycle", figures)]
    lines += ["Current pulses (10 s, median cell): resistance at the pulse's end (dots: measured):", "", *link("calibration_pulses", "pulses", figures)]
    return lines
