"""Models trained on the dataset and scored on a user's real aged cells: relative capacity from impedance.

A user has, per real cell, impedance spectra and capacities at a few check-ups, the first of which
is the cell's reference. The target is the relative capacity, capacity / the cell's reference
capacity; the features come from the spectra only and are relative to the cell's own reference
spectrum (:func:`relative_spectrum_features`), because relative changes are what can carry over from
the simulated cell product to another one (absolute resistances differ from product to product).

The dataset side mirrors it exactly: each simulated sample's first RPT is its reference, the target is
``rpt_capacity_ah`` over the first RPT's, and the features are the same functions of the dataset's
spectra, taken at the dataset's (temperature, SOC) grid point nearest to each user measurement and
on the dataset's frequencies inside the band every user spectrum covers (the user's spectra are
interpolated onto them in log frequency). The dataset spectra carry the dataset's own instrument
noise (:func:`agingset.noise.noisy_spectra`, the draws of its ``noisy_`` features), so the models
are trained on what an analyser measures; solver failures and spectra or snapshots flagged by
``validate`` are left out.

Every model is fitted on every usable dataset row (the user's cells are the held-out set) and scored
with MAE and RMSE in percentage points of relative capacity, over all user check-ups and over the
check-ups after each cell's reference (the headline: a reference is 1.0 by definition). Two trivial
baselines frame the numbers: ``no_change`` (every check-up predicted as its reference, 1.0) and
``dummy`` (the mean of the training target). No file I/O here: :mod:`agingset.transfer_files` reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .catalog import TRANSFER_MAX_SOC_DISTANCE, TRANSFER_MAX_TEMPERATURE_DISTANCE_C, TRANSFER_MODELS
from .noise import NoiseLevels, noisy_spectra
from .params import TrainConfig
from .train import make_model

# ---- the user's file ------------------------------------------------------------------------------
USER_COLUMNS = {
    "cell_id": "text: the cell's name",
    "measurement": "a number (or sortable text): the order of the cell's check-ups; the lowest is the reference",
    "capacity_ah": "a positive number: the check-up's measured capacity in A.h",
    "temperature_c": "a number: the cell temperature of the spectrum in deg C",
    "soc": "a number in 0..1: the state of charge of the spectrum",
    "frequency_hz": "a positive number in Hz",
    "z_re_ohm": "a positive number: Re Z in ohm",
    "z_im_ohm": "a number: Im Z in ohm, negative on the capacitive arc (-Im Z > 0 there)",
}
NUMERIC_COLUMNS = ("capacity_ah", "temperature_c", "soc", "frequency_hz", "z_re_ohm", "z_im_ohm")
MEASUREMENT = ["cell_id", "measurement"]
# One check-up is one spectrum at one condition: readings that drift more than this within it are
# not one spectrum (a temperature logged per point may wander a little).
MAX_SPREAD_WITHIN_MEASUREMENT = {"temperature_c": 5.0, "soc": 0.05}
MIN_POINTS_PER_SPECTRUM = 5

# ---- the models -----------------------------------------------------------------------------------
MODELS = TRANSFER_MODELS
NO_CHANGE, DUMMY, RIDGE = MODELS[:3]
TRAINED_MODELS = MODELS[1:]
RIDGE_ALPHAS = np.logspace(-3, 4, 15)
RIDGE_FOLDS = 5


class UserCellsError(ValueError):
    """The user's cells are not in the documented format or outside what the dataset covers (one
    line naming the column and what is allowed; the reader prefixes the file)."""


class DatasetError(ValueError):
    """The dataset cannot serve these cells (no usable spectrum at a needed grid point...)."""


@dataclass(frozen=True)
class Limits:
    """How far a user's measurement may sit from the dataset's nearest (temperature, SOC) grid point,
    and how narrow the frequency band shared by the user's and the dataset's spectra may be."""

    max_temperature_distance_c: float = TRANSFER_MAX_TEMPERATURE_DISTANCE_C
    max_soc_distance: float = TRANSFER_MAX_SOC_DISTANCE
    min_band_decades: float = 1.0


@dataclass(frozen=True)
class DatasetTables:
    """The built dataset's tables the transfer needs (paths in :mod:`agingset.catalog`)."""

    spectra: pd.DataFrame  # data/eis/spectra.parquet
    labels: pd.DataFrame  # data/labels/labels.parquet: sample_id, snapshot, rpt_capacity_ah
    flags: pd.DataFrame  # data/validate/flags.parquet: sample_id, snapshot, usable
    checked_spectra: pd.DataFrame  # data/validate/spectra.parquet: sample_id, snapshot, soc, temperature_c, usable
    train: TrainConfig
    noise: NoiseLevels
    seed: int


@dataclass(frozen=True)
class TransferResult:
    scores: pd.DataFrame  # one row per model
    predictions: pd.DataFrame  # one row per user check-up, a column per model
    conditions: pd.DataFrame  # per (reference grid point, check-up grid point): rows trained, check-ups
    frequencies_hz: np.ndarray
    band_hz: tuple[float, float]
    features: list[str]
    notes: list[str] = field(default_factory=list)


# ---- checking the user's cells --------------------------------------------------------------------
def _allowed(column: str) -> str:
    return f"column {column}: must be {USER_COLUMNS[column]}"


def validate_user_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """The user's long table, checked against the documented format; returns the documented columns
    only (extra columns are ignored), numbers as floats, the measurement order as ``rank`` (0: the
    reference) and duplicate frequencies of one spectrum averaged."""
    missing = [column for column in USER_COLUMNS if column not in cells.columns]
    if missing:
        raise UserCellsError(
            f"missing column {', '.join(missing)}; required: {', '.join(USER_COLUMNS)} (extra columns are ignored)"
        )
    if cells.empty:
        raise UserCellsError("no rows; one row per frequency point of every check-up")
    table = cells[list(USER_COLUMNS)].copy()
    for column in ("cell_id", "measurement"):
        if table[column].isna().any():
            raise UserCellsError(f"{_allowed(column)}; {int(table[column].isna().sum())} rows are empty")
    table["cell_id"] = table["cell_id"].astype(str)
    for column in NUMERIC_COLUMNS:
        values = pd.to_numeric(table[column], errors="coerce") if not is_numeric_dtype(table[column]) else table[column]
        bad = ~np.isfinite(values.to_numpy(dtype=float))
        if bad.any():
            first = table.loc[bad, column].iloc[0]
            raise UserCellsError(f"{_allowed(column)}; {int(bad.sum())} rows are not finite numbers (first: {first!r})")
        table[column] = values.to_numpy(dtype=float)
    for column, ok in (
        ("capacity_ah", table["capacity_ah"] > 0),
        ("frequency_hz", table["frequency_hz"] > 0),
        ("z_re_ohm", table["z_re_ohm"] > 0),
        ("soc", table["soc"].between(0.0, 1.0)),
    ):
        if not ok.all():
            first = table.loc[~ok, column].iloc[0]
            hint = " (a fraction, not percent)" if column == "soc" and first > 1 else ""
            raise UserCellsError(f"{_allowed(column)}{hint}; {int((~ok).sum())} rows are not (first: {first!r})")
    try:
        order = np.sort(table["measurement"].unique())
    except TypeError:
        raise UserCellsError(f"{_allowed('measurement')}; its values mix numbers and text") from None
    table["measurement"] = table["measurement"].map({value: index for index, value in enumerate(order)}).astype(int)
    measurement_values = dict(enumerate(order))
    grouped = table.groupby(MEASUREMENT)
    for column in ("capacity_ah", *MAX_SPREAD_WITHIN_MEASUREMENT):
        spread = grouped[column].agg(lambda values: values.max() - values.min())
        limit = MAX_SPREAD_WITHIN_MEASUREMENT.get(column, 1e-6 * table[column].abs().max())
        if (spread > limit).any():
            (cell, measurement), value = next(iter(spread[spread > limit].items()))
            raise UserCellsError(
                f"column {column}: one check-up is one spectrum at one condition; cell {cell} measurement "
                f"{measurement_values[measurement]!r} varies by {value:.4g} (allowed: {limit:.4g})"
            )
    points = grouped["frequency_hz"].nunique()
    if (points < MIN_POINTS_PER_SPECTRUM).any():
        cell, measurement = points[points < MIN_POINTS_PER_SPECTRUM].index[0]
        raise UserCellsError(
            f"column frequency_hz: cell {cell} measurement {measurement_values[measurement]!r} has "
            f"{points.min()} distinct frequencies; every spectrum needs at least {MIN_POINTS_PER_SPECTRUM}"
        )
    per_cell = table.groupby("cell_id")["measurement"].nunique()
    if (per_cell < 2).any():
        raise UserCellsError(
            f"column measurement: cell {per_cell[per_cell < 2].index[0]} has 1 check-up; every cell needs "
            "at least 2 (its reference and a later one)"
        )
    # The cell's own rank (0: its reference) and the original label, for the output.
    table["rank"] = table.groupby("cell_id")["measurement"].rank(method="dense").astype(int) - 1
    table["measurement"] = table["measurement"].map(measurement_values)
    averaged = table.groupby([*MEASUREMENT, "rank", "frequency_hz"], sort=True, as_index=False).mean(numeric_only=True)
    return averaged.sort_values(["cell_id", "rank", "frequency_hz"], kind="stable").reset_index(drop=True)


def user_checkups(cells: pd.DataFrame) -> pd.DataFrame:
    """One row per check-up of the checked cells: condition, capacity, relative capacity (the target)."""
    checkups = cells.groupby(["cell_id", "rank"], as_index=False).agg(
        measurement=("measurement", "first"),
        temperature_c=("temperature_c", "median"),
        soc=("soc", "median"),
        capacity_ah=("capacity_ah", "first"),
        f_min_hz=("frequency_hz", "min"),
        f_max_hz=("frequency_hz", "max"),
    )
    reference = checkups[checkups["rank"] == 0].set_index("cell_id")["capacity_ah"]
    checkups["relative_capacity"] = checkups["capacity_ah"] / checkups["cell_id"].map(reference)
    checkups["is_reference"] = checkups["rank"] == 0
    return checkups


# ---- the dataset side -----------------------------------------------------------------------------
def dataset_targets(labels: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """sample_id, snapshot, relative_capacity of every usable snapshot whose sample's first RPT is usable."""
    usable = labels[["sample_id", "snapshot", "rpt_capacity_ah"]].merge(
        flags.loc[flags["usable"].astype(bool), ["sample_id", "snapshot"]], on=["sample_id", "snapshot"]
    )
    first = labels.groupby("sample_id")["snapshot"].min().rename("first_snapshot").reset_index()
    usable = usable.merge(first, on="sample_id")
    reference = usable[usable["snapshot"] == usable["first_snapshot"]].set_index("sample_id")["rpt_capacity_ah"]
    usable = usable[usable["sample_id"].isin(reference.index) & np.isfinite(usable["rpt_capacity_ah"])]
    relative = usable["rpt_capacity_ah"] / usable["sample_id"].map(reference)
    return usable.assign(relative_capacity=relative.to_numpy(), is_reference=usable["snapshot"] == usable["first_snapshot"])[
        ["sample_id", "snapshot", "relative_capacity", "is_reference"]
    ].reset_index(drop=True)


def usable_spectra(spectra: pd.DataFrame, checked_spectra: pd.DataFrame) -> pd.DataFrame:
    """The spectra rows solved ``ok`` and not flagged by validate (data/validate/spectra.parquet)."""
    keys = ["sample_id", "snapshot", "soc", "temperature_c"]
    ok = spectra[spectra["solver_status"] == "ok"] if "solver_status" in spectra else spectra
    good = checked_spectra.loc[checked_spectra["usable"].astype(bool), keys]
    return ok.merge(good, on=keys)


def grid_points(spectra: pd.DataFrame) -> pd.DataFrame:
    return spectra[["temperature_c", "soc"]].drop_duplicates().sort_values(["temperature_c", "soc"]).reset_index(drop=True)


def nearest_grid_points(checkups: pd.DataFrame, grid: pd.DataFrame, limits: Limits) -> pd.DataFrame:
    """Per check-up the dataset's nearest (temperature, SOC) grid point (distances scaled by the limits),
    its distance; a check-up beyond the limits is refused."""
    temperature_scale, soc_scale = limits.max_temperature_distance_c, limits.max_soc_distance
    d_t = checkups["temperature_c"].to_numpy()[:, None] - grid["temperature_c"].to_numpy()[None, :]
    d_s = checkups["soc"].to_numpy()[:, None] - grid["soc"].to_numpy()[None, :]
    nearest = np.argmin((d_t / temperature_scale) ** 2 + (d_s / soc_scale) ** 2, axis=1)
    rows = np.arange(len(checkups))
    located = checkups.assign(
        grid_temperature_c=grid["temperature_c"].to_numpy()[nearest],
        grid_soc=grid["soc"].to_numpy()[nearest],
        temperature_distance_c=np.abs(d_t[rows, nearest]),
        soc_distance=np.abs(d_s[rows, nearest]),
    )
    points = ", ".join(f"({t:g} C, SOC {s:g})" for t, s in zip(grid["temperature_c"], grid["soc"]))
    for column, distance, limit in (
        ("temperature_c", "temperature_distance_c", temperature_scale),
        ("soc", "soc_distance", soc_scale),
    ):
        far = located[located[distance] > limit + 1e-9]
        if len(far):
            first = far.iloc[0]
            raise UserCellsError(
                f"column {column}: cell {first['cell_id']} measurement {first['measurement']!r} at "
                f"{first['temperature_c']:g} C, SOC {first['soc']:g} is {first[distance]:.3g} from the dataset's "
                f"nearest grid point; allowed: within {limit:g} of one of {points}"
            )
    return located


def common_band(checkups: pd.DataFrame, dataset_frequencies: np.ndarray, limits: Limits) -> tuple[float, float]:
    """The band every user spectrum and the dataset cover; refused when narrower than the limit."""
    low = max(float(checkups["f_min_hz"].max()), float(dataset_frequencies.min()))
    high = min(float(checkups["f_max_hz"].min()), float(dataset_frequencies.max()))
    if high <= low or np.log10(high / low) < limits.min_band_decades:
        narrowest = checkups.assign(decades=np.log10(checkups["f_max_hz"] / checkups["f_min_hz"])).sort_values("decades").iloc[0]
        raise UserCellsError(
            f"column frequency_hz: the band shared by every spectrum and the dataset "
            f"({dataset_frequencies.min():g}-{dataset_frequencies.max():g} Hz) is {low:g}-{high:g} Hz; allowed: at "
            f"least {limits.min_band_decades:g} decade(s) (narrowest: cell {narrowest['cell_id']} measurement "
            f"{narrowest['measurement']!r}, {narrowest['f_min_hz']:g}-{narrowest['f_max_hz']:g} Hz)"
        )
    return low, high


def band_frequencies(dataset_frequencies: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    low, high = band
    frequencies = np.unique(dataset_frequencies)
    return frequencies[(frequencies >= low * (1 - 1e-9)) & (frequencies <= high * (1 + 1e-9))]


def interpolated_spectrum(frequency_hz: np.ndarray, z: np.ndarray, onto_hz: np.ndarray) -> np.ndarray:
    """Z on ``onto_hz``: Re and Im interpolated linearly in log frequency (inside the measured band)."""
    order = np.argsort(frequency_hz)
    x, onto = np.log10(frequency_hz[order]), np.log10(onto_hz)
    return np.interp(onto, x, z.real[order]) + 1j * np.interp(onto, x, z.imag[order])


# ---- features -------------------------------------------------------------------------------------
ARC_MIN_HZ = 0.1  # the arc height is read above the diffusion tail
# Per-frequency features are read on the polarisation, Z minus the spectrum's series resistance (Re Z at the
# band's highest frequency), up to this frequency. A real cell's series resistance grows with age (contacts,
# electrolyte); the dataset's cells age neither (no contact loss; the SPMe's electrolyte is not consumed), so their series resistance does not: a feature that carries it
# reads a real cell's ohmic growth as capacity loss (on the stand-in cells, every trained model overstated the
# loss, bias -4 to -13 points, and none beat the training mean). Above ~100 Hz the polarisation is a small
# difference of near-equal numbers (the LG M50LT's arc peaks at 126 Hz and turns inductive above ~500 Hz).
POLARISATION_MAX_HZ = 100.0


def per_frequency(frequencies_hz: np.ndarray) -> np.ndarray:
    """The band frequencies the per-frequency features are read at (at least two)."""
    kept = frequencies_hz <= POLARISATION_MAX_HZ
    return kept if kept.sum() >= 2 else np.ones(len(frequencies_hz), bool)


def feature_names(frequencies_hz: np.ndarray) -> list[str]:
    labels = [f"{f:.4g}hz" for f in frequencies_hz[per_frequency(frequencies_hz)]]
    return [
        *(f"log_polarisation_ratio_{label}" for label in labels),
        *(f"log_abs_polarisation_ratio_{label}" for label in labels),
        *(f"minus_im_change_{label}" for label in labels),
        "re_span_change",
        "arc_height_change",
    ]


def relative_spectrum_features(z: np.ndarray, z_reference: np.ndarray, frequencies_hz: np.ndarray) -> np.ndarray:
    """Features of spectra ``z`` (rows, frequencies) relative to their cells' reference spectra (same shape),
    on ``frequencies_hz`` ascending. Per frequency up to :data:`POLARISATION_MAX_HZ`, on the polarisation
    P = Z - Re Z(highest frequency): log(Re P / Re P_ref), log(|P| / |P_ref|) and the change of -Im Z over
    |P_ref| (Im Z crosses zero, so no ratio); over the band, the change of the Re Z span (lowest minus highest
    frequency) and of the largest -Im Z above :data:`ARC_MIN_HZ` (the arc), both over the reference's span.
    None depends on the series resistance; a reference spectrum gives zeros."""
    z, z_reference = np.atleast_2d(z), np.atleast_2d(z_reference)
    polarisation = z - z.real[:, [-1]]
    polarisation_reference = z_reference - z_reference.real[:, [-1]]
    kept = per_frequency(frequencies_hz)
    p, p_reference = polarisation[:, kept], polarisation_reference[:, kept]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_re = np.log(p.real / p_reference.real)
        log_abs = np.log(np.abs(p) / np.abs(p_reference))
        im_change = (-z.imag[:, kept] + z_reference.imag[:, kept]) / np.abs(p_reference)
        span = polarisation.real[:, 0]
        span_reference = polarisation_reference.real[:, 0]
        arc = frequencies_hz >= ARC_MIN_HZ if (frequencies_hz >= ARC_MIN_HZ).sum() >= 2 else np.ones(len(frequencies_hz), bool)
        height = (-z.imag[:, arc]).max(axis=1)
        height_reference = (-z_reference.imag[:, arc]).max(axis=1)
        band = np.column_stack([(span - span_reference) / span_reference, (height - height_reference) / span_reference])
    return np.hstack([log_re, log_abs, im_change, band])


# ---- assembling the training and the user's rows ---------------------------------------------------
def _spectra_on_grid(spectra: pd.DataFrame, frequencies_hz: np.ndarray) -> dict[tuple, np.ndarray]:
    """(sample_id, snapshot, temperature_c, soc) -> Z on ``frequencies_hz`` (spectra lacking one are left out)."""
    rows = spectra[np.isin(spectra["frequency_hz"].to_numpy(), frequencies_hz)]
    keys = ["sample_id", "snapshot", "temperature_c", "soc"]
    wide_re = rows.pivot_table(index=keys, columns="frequency_hz", values="z_re_ohm", aggfunc="mean")
    wide_im = rows.pivot_table(index=keys, columns="frequency_hz", values="z_im_ohm", aggfunc="mean")
    wide_re, wide_im = wide_re.reindex(columns=frequencies_hz), wide_im.reindex(columns=frequencies_hz)
    z = wide_re.to_numpy() + 1j * wide_im.to_numpy()
    complete = np.isfinite(z).all(axis=1)
    return {key: z[i] for i, key in enumerate(wide_re.index) if complete[i]}


def training_rows(
    spectra_on_grid: dict[tuple, np.ndarray], targets: pd.DataFrame, reference_point: tuple, point: tuple,
    frequencies_hz: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, target and sample ids of the dataset rows for user check-ups measured at grid
    ``point`` whose cells' references were measured at grid ``reference_point`` (temperature, SOC)."""
    first = targets[targets["is_reference"]].set_index("sample_id")["snapshot"]
    z, z_reference, y, samples = [], [], [], []
    for sample_id, snapshot, relative in targets[["sample_id", "snapshot", "relative_capacity"]].itertuples(index=False):
        spectrum = spectra_on_grid.get((sample_id, snapshot, *point))
        reference_spectrum = spectra_on_grid.get((sample_id, first[sample_id], *reference_point))
        if spectrum is None or reference_spectrum is None:
            continue
        z.append(spectrum), z_reference.append(reference_spectrum), y.append(relative), samples.append(sample_id)
    if not z:
        return np.empty((0, len(feature_names(frequencies_hz)))), np.empty(0), np.empty(0, str)
    x = relative_spectrum_features(np.array(z), np.array(z_reference), frequencies_hz)
    finite = np.isfinite(x).all(axis=1)
    return x[finite], np.array(y)[finite], np.array(samples)[finite]


def user_features(cells: pd.DataFrame, checkups: pd.DataFrame, frequencies_hz: np.ndarray) -> np.ndarray:
    """The features of every check-up (rows in ``checkups`` order) against its cell's reference."""
    spectra = {}
    for (cell, rank), rows in cells.groupby(["cell_id", "rank"]):
        z = rows["z_re_ohm"].to_numpy() + 1j * rows["z_im_ohm"].to_numpy()
        spectra[(cell, rank)] = interpolated_spectrum(rows["frequency_hz"].to_numpy(), z, frequencies_hz)
    z = np.array([spectra[(cell, rank)] for cell, rank in zip(checkups["cell_id"], checkups["rank"])])
    z_reference = np.array([spectra[(cell, 0)] for cell in checkups["cell_id"]])
    return relative_spectrum_features(z, z_reference, frequencies_hz)


# ---- covariate support ----------------------------------------------------------------------------
# A feature the user's cells move far outside anything the dataset's cells do (e.g. a high-frequency
# resistance that grows in real cells and stays flat in the simulated ones) is not learnt from, only
# extrapolated: trees put every such check-up in their edge leaf. Such features are left out, chosen
# from the user's features alone (never their capacities): a feature is kept when at most
# MAX_OUTSIDE_SHARE of the user's later check-ups lie outside the dataset rows' range widened by
# SUPPORT_MARGIN of its width on each side.
SUPPORT_MARGIN = 0.05
MAX_OUTSIDE_SHARE = 0.10
MIN_FEATURES = 3


def outside_support_share(x_train: np.ndarray, x_user: np.ndarray) -> np.ndarray:
    """Per feature, the share of ``x_user`` rows outside the widened range of ``x_train``."""
    low, high = x_train.min(axis=0), x_train.max(axis=0)
    margin = SUPPORT_MARGIN * (high - low)
    return ((x_user < low - margin) | (x_user > high + margin)).mean(axis=0)


def supported_features(x_train: np.ndarray, x_user: np.ndarray) -> np.ndarray:
    """The mask of features kept (:data:`MAX_OUTSIDE_SHARE`); at least :data:`MIN_FEATURES`, the least
    outside first, when fewer pass."""
    share = outside_support_share(x_train, x_user) if len(x_user) else np.zeros(x_train.shape[1])
    keep = share <= MAX_OUTSIDE_SHARE
    if keep.sum() < MIN_FEATURES:
        keep = np.zeros_like(keep)
        keep[np.argsort(share, kind="stable")[:MIN_FEATURES]] = True
    return keep


# ---- models and scores ----------------------------------------------------------------------------
def fitted_model(name: str, x: np.ndarray, y: np.ndarray, samples: np.ndarray, config: TrainConfig, seed: int):
    if name == RIDGE:
        # Standardised features; the penalty chosen by cross-validation over whole samples (GroupKFold): the
        # rows of one trajectory are not independent, and leave-one-row-out picks far too weak a penalty.
        ridge = make_pipeline(StandardScaler(), Ridge())
        folds = min(RIDGE_FOLDS, len(np.unique(samples)))
        if folds < 2:
            return ridge.set_params(ridge__alpha=1.0).fit(x, y)
        search = GridSearchCV(ridge, {"ridge__alpha": RIDGE_ALPHAS}, cv=GroupKFold(folds), scoring="neg_mean_absolute_error")
        return search.fit(x, y, groups=samples).best_estimator_
    return make_model(name, config, seed).fit(x, y)


def predicted(name: str, model, x: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """A model's predictions; the linear one is kept inside the training targets' range (outside it, it
    would extrapolate a product's aging it never saw; the trees stay inside by construction)."""
    values = model.predict(x)
    return np.clip(values, y_train.min(), y_train.max()) if name == RIDGE else values


def score_table(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """MAE and RMSE in percentage points of relative capacity, over all check-ups and after the references."""
    later = ~predictions["is_reference"].to_numpy()
    truth = predictions["relative_capacity"].to_numpy()
    rows = []
    for name in models:
        error = 100.0 * (predictions[name].to_numpy() - truth)
        rows.append(
            {
                "model": name,
                "mae_pct": float(np.mean(np.abs(error[later]))) if later.any() else float("nan"),
                "rmse_pct": float(np.sqrt(np.mean(error[later] ** 2))) if later.any() else float("nan"),
                "mae_all_pct": float(np.mean(np.abs(error))),
                "rmse_all_pct": float(np.sqrt(np.mean(error**2))),
                "bias_pct": float(np.mean(error[later])) if later.any() else float("nan"),
                "checkups": int(later.sum()),
                "checkups_all": len(truth),
            }
        )
    return pd.DataFrame(rows)


def transfer(
    dataset: DatasetTables, cells: pd.DataFrame, models: tuple[str, ...] | list[str] = MODELS, limits: Limits = Limits()
) -> TransferResult:
    """Fit ``models`` on the dataset and score them on the user's ``cells`` (the long table of
    :data:`USER_COLUMNS`; checked here, :class:`UserCellsError` when it does not conform)."""
    unknown = [name for name in models if name not in MODELS]
    if unknown:
        raise ValueError(f"unknown model {', '.join(unknown)}; allowed: {', '.join(MODELS)}")
    cells = validate_user_cells(cells)
    checkups = user_checkups(cells)
    spectra = usable_spectra(dataset.spectra, dataset.checked_spectra)
    if spectra.empty:
        raise DatasetError("the dataset has no usable spectrum")
    located = nearest_grid_points(checkups, grid_points(spectra), limits)
    band = common_band(checkups, spectra["frequency_hz"].to_numpy(), limits)
    frequencies = band_frequencies(spectra["frequency_hz"].to_numpy(), band)
    if len(frequencies) < 3:
        raise UserCellsError(f"column frequency_hz: the shared band {band[0]:g}-{band[1]:g} Hz holds {len(frequencies)} dataset frequencies; allowed: at least 3")

    reference_point = located[located["is_reference"]].set_index("cell_id")[["grid_temperature_c", "grid_soc"]]
    located["reference_temperature_c"] = located["cell_id"].map(reference_point["grid_temperature_c"])
    located["reference_soc"] = located["cell_id"].map(reference_point["grid_soc"])
    needed = located[["grid_temperature_c", "grid_soc"]].drop_duplicates()
    conditions_needed = spectra.merge(needed, left_on=["temperature_c", "soc"], right_on=["grid_temperature_c", "grid_soc"])
    measured = noisy_spectra(conditions_needed[dataset.spectra.columns.intersection(spectra.columns)], dataset.noise, dataset.seed)
    on_grid = _spectra_on_grid(measured, frequencies)
    targets = dataset_targets(dataset.labels, dataset.flags)

    x_user = user_features(cells, located, frequencies)
    names = feature_names(frequencies)
    predictions = located[
        ["cell_id", "measurement", "rank", "is_reference", "capacity_ah", "relative_capacity", "temperature_c", "soc",
         "grid_temperature_c", "grid_soc", "temperature_distance_c", "soc_distance"]
    ].copy()
    for name in models:
        predictions[name] = np.nan
    conditions = []
    pair_columns = ["reference_temperature_c", "reference_soc", "grid_temperature_c", "grid_soc"]
    for pair, rows in located.groupby(pair_columns, sort=True):
        reference, point = pair[:2], pair[2:]
        x, y, samples = training_rows(on_grid, targets, reference, point, frequencies)
        if len(y) < 2:
            raise DatasetError(
                f"the dataset has {len(y)} usable rows with a reference spectrum at {reference[0]:g} C, SOC {reference[1]:g} "
                f"and a spectrum at {point[0]:g} C, SOC {point[1]:g}; at least 2 are needed"
            )
        index = rows.index.to_numpy()
        later = index[~rows["is_reference"].to_numpy()]
        keep = supported_features(x, x_user[later])
        x, x_pair = x[:, keep], x_user[index][:, keep]
        with threadpool_limits(limits=1):  # a few hundred rows: threads cost more than they save, and stay deterministic
            for name in models:
                if name == NO_CHANGE:
                    predictions.loc[index, name] = 1.0
                    continue
                model = fitted_model(name, x, y, samples, dataset.train, dataset.seed)
                predictions.loc[index, name] = predicted(name, model, x_pair, y)
        conditions.append(
            {
                "reference_temperature_c": reference[0], "reference_soc": reference[1],
                "grid_temperature_c": point[0], "grid_soc": point[1],
                "training_rows": len(y),
                "features_used": [name for name, kept in zip(names, keep) if kept],
                "checkups": len(rows),
                "max_temperature_distance_c": float(rows["temperature_distance_c"].max()),
                "max_soc_distance": float(rows["soc_distance"].max()),
                "training_relative_capacity_min": float(y.min()),
            }
        )
    notes = []
    outside = int(((cells["frequency_hz"] < band[0] * (1 - 1e-9)) | (cells["frequency_hz"] > band[1] * (1 + 1e-9))).sum())
    if outside:
        notes.append(f"{outside} of {len(cells)} user frequency points lie outside the shared band and are not used")
    return TransferResult(
        scores=score_table(predictions, list(models)),
        predictions=predictions.reset_index(drop=True),
        conditions=pd.DataFrame(conditions),
        frequencies_hz=frequencies,
        band_hz=band,
        features=feature_names(frequencies),
        notes=notes,
    )


def format_table(result: TransferResult) -> str:
    """The scores as a fixed-width text table (percentage points of relative capacity)."""
    header = f"{'model':<24}{'MAE':>8}{'RMSE':>8}{'bias':>8}{'MAE all':>10}{'RMSE all':>10}"
    later, every = int(result.scores["checkups"].iloc[0]), int(result.scores["checkups_all"].iloc[0])
    lines = [
        (
            f"relative capacity, percentage points; MAE/RMSE/bias: check-ups after each cell's reference ({later}); "
            f"'all': with the references ({every})"
        ),
        header,
        "-" * len(header),
    ]
    for row in result.scores.itertuples(index=False):
        lines.append(f"{row.model:<24}{row.mae_pct:>8.2f}{row.rmse_pct:>8.2f}{row.bias_pct:>+8.2f}{row.mae_all_pct:>10.2f}{row.rmse_all_pct:>10.2f}")
    return "\n".join(lines)


def format_conditions(result: TransferResult) -> str:
    """Which dataset grid points were used, how far the user's check-ups were from them, the band."""
    band = f"band {result.band_hz[0]:g}-{result.band_hz[1]:g} Hz"
    lines = [f"{band}: {len(result.frequencies_hz)} dataset frequencies, {len(result.features)} features"]
    for row in result.conditions.itertuples(index=False):
        lines.append(
            f"grid point {row.grid_temperature_c:g} C, SOC {row.grid_soc:g} (references at {row.reference_temperature_c:g} C, "
            f"SOC {row.reference_soc:g}): {row.checkups} check-ups, at most {row.max_temperature_distance_c:.3g} C and "
            f"{row.max_soc_distance:.3g} SOC away; trained on {row.training_rows} dataset rows with "
            f"{len(row.features_used)} of {len(result.features)} features (the others: user values outside the dataset's)"
        )
    return "\n".join([*lines, *result.notes])
