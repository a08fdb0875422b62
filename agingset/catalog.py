"""The names the project shares: artifact paths, row keys, sample statuses, labels, recorded packages.

One place for what stages, card, loader, CLI, quality, train and cache must agree on. Constants
only (no imports), so any module can use it at no cost.
"""

# ---- rows -----------------------------------------------------------------------------------------
# An ML row is one snapshot (RPT) of one sample (aging trajectory); splits group by cell design.
KEYS = ["sample_id", "snapshot"]
GROUP = "cell_design_id"

# ---- sample statuses ------------------------------------------------------------------------------
# Every sample ends with one; only ok and non-physical samples carry measurements.
STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT, STATUS_NON_PHYSICAL = "ok", "failed", "timeout", "non-physical"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_TIMEOUT, STATUS_NON_PHYSICAL)

# ---- labels y -------------------------------------------------------------------------------------
RUL_SIMULATED, RUL_EXTRAPOLATED, RUL_CENSORED = "simulated", "extrapolated", "censored"
RUL_SOURCE = "rul80_source"
# The degradation modes (percent of the fresh cell's capacity they account for).
DEGRADATION_MODES = ["lli_pct", "lam_ne_pct", "lam_pe_pct"]
DEGRADATION_COLUMNS = [
    *DEGRADATION_MODES,
    "li_lost_plating_mol",
    "capacity_lost_sei_ah",
    "capacity_lost_sei_cracks_ah",
    "capacity_lost_plating_ah",
    "q_ne_ah",
    "q_pe_ah",
    "q_li_ah",
]
# A snapshot's age: days since the first RPT, equivalent full cycles (discharged A.h over the first
# RPT's capacity; RPTs and storage moves included), days stored (calendar rests) and days since the
# ambient switched (path dependence; 0 before it or without one).
AGE_COLUMNS = ["elapsed_days", "efc", "stored_days", "switched_days"]
LABEL_COLUMNS = [
    "soh",
    *AGE_COLUMNS,
    *DEGRADATION_COLUMNS,
    "resistance_ohm",
    "eol_cycle",
    "rul80_cycles",
    "rul80_lower_bound",
    "knee_cycle",
    "knee_capacity_retention",
]
# The labels every usable row must have (the quality gate flags a row missing one).
CORE_LABELS = ["soh", *DEGRADATION_MODES, "resistance_ohm", "rul80_cycles", RUL_SOURCE]

# ---- model ---------------------------------------------------------------------------------------
BPX_PREFIX = "bpx:"  # model.parameter_set: bpx:<path> loads a BPX JSON parameter file

# ---- packages -------------------------------------------------------------------------------------
# Versions recorded in every sample's m_i (and the run metadata).
RECORDED_PACKAGES = ("pybamm", "pybammsolvers", "casadi", "numpy", "scipy", "pandas")
# Versions a cached result depends on: the recorded ones and pyarrow, which writes the cache entries.
CACHE_KEY_PACKAGES = (*RECORDED_PACKAGES, "pyarrow")

# ---- artifacts (paths relative to the project or `agingset run` directory) ------------------------
ARTIFACT_ROOTS = ("data", "metrics", "docs")
PARAMS_CHECK = "data/check_params/valid.txt"
CALIBRATION_DIR = "data/calibrate"
CALIBRATION = f"{CALIBRATION_DIR}/calibrated.json"
DESIGN = "data/design/samples.parquet"
DESIGN_RANGES = "data/design/ranges.json"
SENSITIVITY_DIR = "data/sensitivity"
AGING_DIR = "data/aging"
AGING_TABLES = ("status", "snapshots", "curves", "states", "cycles", "metadata")
# The key columns of each per-sample measurement table: what an empty table still carries, so that
# a run in which no sample reached its first RPT flows through every stage as zero rows.
AGING_TABLE_KEYS = {
    "snapshots": ("sample_id", "snapshot"),
    "curves": ("sample_id", "snapshot"),
    "states": ("sample_id", "snapshot"),
    "cycles": ("sample_id", "cycle"),
}
STATUS = f"{AGING_DIR}/status.parquet"
CURVES = f"{AGING_DIR}/curves.parquet"
AGING_METADATA = f"{AGING_DIR}/metadata.json"
SPECTRA = "data/eis/spectra.parquet"
LABELS_DIR = "data/labels"
LABELS = f"{LABELS_DIR}/labels.parquet"
FEATURES = f"{LABELS_DIR}/features.parquet"
SPECTRUM_FEATURES = f"{LABELS_DIR}/spectrum_features.parquet"
VALIDATE_DIR = "data/validate"
FLAGS = f"{VALIDATE_DIR}/flags.parquet"
CHECKED_SPECTRA = f"{VALIDATE_DIR}/spectra.parquet"
# The fresh spectra the measured comparison reads (agingset.measured_comparison.fresh_points): the card draws them.
DATASET_FRESH_SPECTRA = f"{VALIDATE_DIR}/dataset_fresh_spectra.parquet"
SPLIT = "data/split/split.parquet"
TRAIN_DIR = "data/train"
PREDICTIONS = f"{TRAIN_DIR}/predictions.parquet"
CARD_DIR = "docs/dataset_card"
METRICS = {
    name: f"metrics/{name}.json" for name in ("calibration", "sensitivity", "quality", "split", "train")
}

# A protocol: the design samples one level of each. ``aging.cycle`` steps use the cycling fields
# as ``{placeholders}``; the storage fields (calendar aging: each block's cycles follow a rest of
# ``storage_days`` at ``storage_soc``; ``design.storage`` pairs them) set the storage block's
# durations. The RPT always runs the full reference window.
CYCLING_FIELDS = (
    "ambient_temperature_c",
    "charge_c_rate",
    "discharge_c_rate",
    "upper_voltage_v",
    "lower_voltage_v",
    "cv_cutoff_c_rate",
)
STORAGE_FIELDS = ("storage_days", "storage_soc")
# Path dependence: after ``switch_after_cycles`` (0: never) the cell cycles and rests at
# ``late_ambient_temperature_c`` (``design.temperature_switch``; the ambient itself without a switch).
SWITCH_FIELDS = ("switch_after_cycles", "late_ambient_temperature_c")
PROTOCOL_FIELDS = (*CYCLING_FIELDS, *STORAGE_FIELDS, *SWITCH_FIELDS)

# ---- transfer (`agingset transfer`) ---------------------------------------------------------------
# The models scored on a user's cells and how far a check-up may sit from the dataset's nearest
# spectrum condition: named here so that building the CLI's parser does not import scikit-learn.
TRANSFER_MODELS = ("no_change", "dummy", "ridge", "random_forest", "hist_gradient_boosting")
TRANSFER_MAX_TEMPERATURE_DISTANCE_C = 10.0
TRANSFER_MAX_SOC_DISTANCE = 0.15
