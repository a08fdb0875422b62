"""Reading the calibration's measurement files named in ``params.calibrate`` (CSV, gzipped CSV or
parquet) and checking them against their documented formats (:mod:`agingset.calibration.measurements`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from .calibration.measurements import (
    MeasuredSpectrum,
    MeasurementError,
    Measurements,
    MeasurementTables,
    validate_spectra,
    validate_tables,
)
from .errors import InputError
from .params import CalibrateConfig

TABLE_KEYS = ("spectra", "rate_tests", "drive_cycle", "pulse_resistance")


def read_table(key: str, path: str) -> pd.DataFrame:
    """A measurement table; a problem is one line naming the key."""
    try:
        return pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"calibrate.{key}: {path} not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as err:
        raise InputError(f"calibrate.{key}: {path} is not a readable table: {' '.join(str(err).split())[:200]}") from None


def read_measurement_tables(config: CalibrateConfig) -> MeasurementTables:
    """Every file ``params.calibrate`` names, as tables, with their SHA-256."""
    tables = {key: read_table(key, getattr(config, key)) for key in TABLE_KEYS}
    ocv = read_table("rate_test_ocv", config.rate_test_ocv) if config.rate_test_ocv else None
    paths = [getattr(config, key) for key in (*TABLE_KEYS, "rate_test_ocv")]
    hashes = {path: hashlib.sha256(Path(path).read_bytes()).hexdigest() for path in paths if path}
    return MeasurementTables(**tables, rate_test_ocv=ocv, sha256=hashes)


def read_measurements(config: CalibrateConfig) -> Measurements:
    """Every configured measurement, read and checked against its documented format."""
    tables = read_measurement_tables(config)
    try:
        return validate_tables(tables, config)
    except MeasurementError as err:
        raise InputError(f"calibrate: {err}") from None


def read_measured_spectra(config: CalibrateConfig) -> list[MeasuredSpectrum]:
    """The measured impedance spectra alone (``calibrate.spectra``), checked against their format."""
    try:
        return validate_spectra(read_table("spectra", config.spectra), source=config.spectra)
    except MeasurementError as err:
        raise InputError(f"calibrate.spectra: {err}") from None
