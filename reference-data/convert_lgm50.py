"""Convert W. D. Widanage's LG M50 5 Ah MATLAB records into the project's measurement tables.

Run once by hand (``python reference-data/convert_lgm50.py SOURCE_DIR``) where SOURCE_DIR holds
``LGM50_5Ah_RateTest.mat`` and ``LGM50_5Ah_Pulse.mat`` (Simscape Battery Library, MIT licence, as
distributed in PyBOP ``examples/data/LG_M50_ECM/data/``). The pipeline reads only its outputs:

- ``lgm50_rate_tests.csv.gz``: the constant-current discharge of every rate test (from full charge to
  2.5 V; the charge after it is dropped), long format: ``ambient_temperature_c``, ``c_rate``,
  ``time_s``, ``current_a`` (negative = discharge), ``voltage_v``, ``temperature_c`` (mid-cell).
- ``lgm50_rate_test_cycles.csv.gz``: what each rate-test record holds after its discharge (the
  relaxation after the cut-off, the CC-CV charge and the rest before the next test), long format:
  ``ambient_temperature_c``, ``c_rate`` (the discharge's), ``phase`` (``rest_after_discharge``,
  ``charge``, ``rest_after_charge``), ``time_s`` (from the end of the discharge), ``current_a``,
  ``voltage_v``, ``temperature_c``; one sample per 10 s at most, every sample of a phase's first minute.
- ``lgm50_pulse_resistance.csv``: per cell, temperature and SOC step, the 1.5C discharge pulse's
  instantaneous resistance (rest voltage minus first loaded sample, over the current) and its
  10-second resistance; the cell-to-cell spread the design ranges are justified by.
- ``lgm50_pseudo_ocv.csv``: the 25 degC pseudo-OCV (``soc_pct``, ``ocv_v``: mean of charge and
  discharge) and ``hysteresis_v`` of ``LGM50_5Ah_OCV.mat``.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

HERE = Path(__file__).resolve().parent
RATES = {"cRate_0p1C": 0.1, "cRate_0p5C": 0.5, "cRate_1C": 1.0, "cRate_1p5C": 1.5, "cRate_2C": 2.0}


def _load(path: Path, name: str):
    return scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)[name]


def _rate_test_records(source: Path):
    """Per rate-test record: ambient temperature, C-rate, the record's arrays, and the discharge as the
    first block of negative current (index of its first sample, index of the first sample after it)."""
    tests = _load(source / "LGM50_5Ah_RateTest.mat", "LGM50_5Ah_RateTest")
    for temperature_key in tests._fieldnames:
        per_rate = getattr(tests, temperature_key)
        for rate_key in per_rate._fieldnames:
            record = getattr(per_rate, rate_key)
            current = np.asarray(record.currVec, dtype=float)
            discharging = current < -0.01
            start = int(np.argmax(discharging))
            after = np.flatnonzero(~discharging[start:])
            end = start + after[0] if after.size else current.size
            arrays = {
                "time_s": np.asarray(record.timeVec, dtype=float),
                "current_a": current,
                "voltage_v": np.asarray(record.volVec, dtype=float),
                "temperature_c": np.asarray(record.cellTemp_mid, dtype=float),
            }
            yield float(temperature_key.removeprefix("T")), RATES[rate_key], arrays, start, end


def _increasing(frame: pd.DataFrame) -> pd.DataFrame:
    """The logger repeats a time stamp now and then (a second sample in the same millisecond);
    the record format needs strictly increasing time: keep the first."""
    return frame[frame["time_s"].diff().fillna(1.0) > 0]


def rate_tests(source: Path) -> pd.DataFrame:
    frames = []
    for ambient, c_rate, arrays, start, end in _rate_test_records(source):
        time = arrays["time_s"]
        # The discharge is kept with the rested sample before it, when that was logged before it began.
        first = start - 1 if start > 0 and time[start - 1] < time[start] else start
        keep = slice(first, end)
        frame = pd.DataFrame(
            {"ambient_temperature_c": ambient, "c_rate": c_rate, **{name: values[keep] for name, values in arrays.items()}}
        )
        frames.append(_increasing(frame))
    return pd.concat(frames, ignore_index=True)


CYCLE_PHASES = ("rest_after_discharge", "charge", "rest_after_charge")
THINNED_SPACING_S = 10.0
FULL_RESOLUTION_S = 60.0


def _thinned(time: np.ndarray, start: float) -> np.ndarray:
    """Indices of samples at least THINNED_SPACING_S apart, after the first minute from ``start``."""
    keep, last = [], -np.inf
    for index, value in enumerate(time):
        if value - start <= FULL_RESOLUTION_S or value - last >= THINNED_SPACING_S:
            keep.append(index)
            last = value
    return np.asarray(keep, dtype=int)


def rate_test_cycles(source: Path) -> pd.DataFrame:
    """Each rate-test record after its discharge: relaxation, charge, rest (see the module docstring)."""
    frames = []
    for ambient, c_rate, arrays, _, end in _rate_test_records(source):
        current, time = arrays["current_a"], arrays["time_s"]
        charging = np.flatnonzero(current[end:] > 0.01) + end
        phase = np.full(current.size, "", dtype=object)
        phase[end : charging[0]] = CYCLE_PHASES[0]
        phase[charging[0] : charging[-1] + 1] = CYCLE_PHASES[1]
        phase[charging[-1] + 1 :] = CYCLE_PHASES[2]
        frame = pd.DataFrame(
            {
                "ambient_temperature_c": ambient,
                "c_rate": c_rate,
                "phase": phase[end:],
                "time_s": time[end:] - time[end - 1],
                **{name: arrays[name][end:] for name in ("current_a", "voltage_v", "temperature_c")},
            }
        )
        frame = _increasing(frame)
        parts = []
        for name in CYCLE_PHASES:
            part = frame[frame["phase"] == name]
            parts.append(part.iloc[_thinned(part["time_s"].to_numpy(), part["time_s"].iloc[0])])
        frames.append(pd.concat(parts))
    return pd.concat(frames, ignore_index=True)


def pulse_resistance(source: Path) -> pd.DataFrame:
    pulses = _load(source / "LGM50_5Ah_Pulse.mat", "LGM50_5Ah_Pulse")
    rows = []
    for temperature_key in pulses._fieldnames:
        per_soc = getattr(pulses, temperature_key)
        for soc_key in per_soc._fieldnames:
            per_cell = getattr(per_soc, soc_key)
            for cell_key in per_cell._fieldnames:
                data = getattr(per_cell, cell_key).data
                current = np.asarray(data.Current, dtype=float)
                voltage = np.asarray(data.Voltage, dtype=float)
                time = np.asarray(data.ProgTime, dtype=float)
                loaded = np.flatnonzero(current < -0.5)
                if loaded.size < 2:
                    continue
                first, last = loaded[0], loaded[-1]
                rest_v = voltage[0]
                pulse_a = -float(np.mean(current[loaded]))
                rows.append(
                    {
                        "ambient_temperature_c": float(temperature_key.removeprefix("T")),
                        "soc_step": int(soc_key.removeprefix("SoC")),
                        "cell": cell_key,
                        "rest_voltage_v": rest_v,
                        "pulse_current_a": pulse_a,
                        "pulse_duration_s": float(time[last] - time[first]),
                        "r_instant_ohm": (rest_v - voltage[first]) / pulse_a,
                        "r_10s_ohm": (rest_v - voltage[last]) / pulse_a,
                    }
                )
    return pd.DataFrame(rows)


def pseudo_ocv(source: Path) -> pd.DataFrame:
    """The 25 degC pseudo-OCV (mean of the slow charge and discharge) and its hysteresis."""
    record = _load(source / "LGM50_5Ah_OCV.mat", "LGM50_5Ah_OCV").T25
    return pd.DataFrame(
        {
            "soc_pct": np.asarray(record.refSoC, dtype=float),
            "ocv_v": np.asarray(record.meanOCV, dtype=float),
            "hysteresis_v": np.asarray(record.meanHys, dtype=float),
        }
    )


if __name__ == "__main__":
    source = Path(sys.argv[1])
    rate_tests(source).to_csv(
        HERE / "lgm50_rate_tests.csv.gz", index=False, float_format="%.10g", compression={"method": "gzip", "mtime": 0}
    )
    rate_test_cycles(source).to_csv(
        HERE / "lgm50_rate_test_cycles.csv.gz", index=False, float_format="%.10g", compression={"method": "gzip", "mtime": 0}
    )
    pulse_resistance(source).to_csv(HERE / "lgm50_pulse_resistance.csv", index=False, float_format="%.10g")
    pseudo_ocv(source).to_csv(HERE / "lgm50_pseudo_ocv.csv", index=False, float_format="%.10g")
