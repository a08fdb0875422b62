"""Reading what `agingset transfer` needs: the user's cells file (CSV or Parquet, docs/transfer.md) and a
built dataset's tables; a problem is an :class:`agingset.errors.InputError` of one line naming the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml
from pydantic import ValidationError

from .catalog import CHECKED_SPECTRA, FLAGS, LABELS, SPECTRA
from .errors import InputError
from .params import NoiseConfig, TrainConfig
from .transfer import DatasetTables, UserCellsError, validate_user_cells

CELL_SUFFIXES = (".csv", ".csv.gz", ".parquet")
SPECTRA_COLUMNS = ["sample_id", "snapshot", "soc", "temperature_c", "frequency_hz", "z_re_ohm", "z_im_ohm", "solver_status"]
PARAMS_FILE = "params.yaml"


def read_user_cells(path: str | Path) -> pd.DataFrame:
    """The user's cells, read and checked against the documented format (:func:`agingset.transfer.validate_user_cells`)."""
    path = Path(path)
    if not path.name.endswith(CELL_SUFFIXES):
        raise InputError(f"{path}: cells file must end in {', '.join(CELL_SUFFIXES)}")
    try:
        # cell_id stays text ("007" is not 7); measurement is read as it is written (numbers or text).
        table = pd.read_parquet(path) if path.name.endswith(".parquet") else pd.read_csv(path, dtype={"cell_id": str})
    except FileNotFoundError:
        raise InputError(f"{path}: not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable table: {' '.join(str(err).split())[:200]}") from None
    try:
        return validate_user_cells(table)
    except UserCellsError as err:
        raise InputError(f"{path}: {err}") from None


def _read_parquet(directory: Path, relative: str, columns=None) -> pd.DataFrame:
    path = directory / relative
    if not path.is_file():
        raise InputError(
            f"{path}: not found; --dataset must be a built dataset (the DVC project or an `agingset run --output` directory)"
        )
    try:
        return pd.read_parquet(path, columns=columns)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(f"{path}: not a readable dataset table: {' '.join(str(err).split())[:200]}") from None


def read_dataset(directory: str | Path) -> DatasetTables:
    """A built dataset's spectra, labels, validate flags and the params it was built with (train, noise, seed)."""
    directory = Path(directory)
    params_path = directory / PARAMS_FILE
    if not params_path.is_file():
        raise InputError(f"{params_path}: not found; --dataset must be a DVC project or an `agingset run --output` directory")
    try:
        raw = yaml.safe_load(params_path.read_text())
        train = TrainConfig.model_validate(raw["train"])
        noise = NoiseConfig.model_validate(raw.get("noise") or {})
        seed = int(raw["seed"])
    except (yaml.YAMLError, KeyError, TypeError, ValueError, ValidationError) as err:
        raise InputError(f"{params_path}: no valid train, noise and seed: {' '.join(str(err).split())[:200]}") from None
    return DatasetTables(
        spectra=_read_parquet(directory, SPECTRA, SPECTRA_COLUMNS),
        labels=_read_parquet(directory, LABELS, ["sample_id", "snapshot", "rpt_capacity_ah"]),
        flags=_read_parquet(directory, FLAGS, ["sample_id", "snapshot", "usable"]),
        checked_spectra=_read_parquet(directory, CHECKED_SPECTRA, ["sample_id", "snapshot", "soc", "temperature_c", "usable"]),
        train=train,
        noise=noise,
        seed=seed,
    )
