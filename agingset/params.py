"""The one schema for params.yaml, validated once at the boundary into typed objects.

Every stage calls :func:`agingset.config.load_params`; a bad key or value raises
:class:`ParamsError` whose message names the key and what is allowed. The schema itself is pure
(no PyBaMM, no import of the physics): what only PyBaMM can answer (does the parameter set exist
and hold these names, do the model options and experiment steps parse) is
:func:`agingset.physics.model.params_problems`, which :mod:`agingset.config` runs on the
validated schema.
"""

from __future__ import annotations

import math
import string
import typing
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .catalog import CYCLING_FIELDS, PROTOCOL_FIELDS

RPT_ROLES = ("capacity", "pulse", "eis_state")
MODEL_FAMILIES = ("SPM", "SPMe", "DFN")
SPLIT_METHODS = ("group", "ood")
BASELINE_MODELS = ("dummy", "random_forest", "hist_gradient_boosting")
RUL_FIT_SOURCES = ("simulated", "extrapolated")
LABEL_TARGETS = (
    "soh",
    "lli_pct",
    "lam_ne_pct",
    "lam_pe_pct",
    "li_lost_plating_mol",
    "capacity_lost_sei_ah",
    "capacity_lost_sei_cracks_ah",
    "capacity_lost_plating_ah",
    "resistance_ohm",
    "rul80_cycles",
)
RANGE_SOURCES = ("prior", "calibrated")
CALIBRATION_ROLES = ("fit", "held_out")
PULSE_SPREAD_COLUMNS = ("r_instant_ohm", "r_10s_ohm")
MODEL_BASE_VALUES = ("calibrated", "parameter_set")
SENSITIVITY_OBSERVABLES = ("capacity_ah", "pulse_resistance_ohm", "ica_peak_v", "eol_soh")

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Rate = Annotated[float, Field(ge=0, le=1)]


class ParamsError(ValueError):
    """A params.yaml problem, phrased as one line naming the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def from_unit(u: float, low: float, high: float, scale: str = "linear") -> float:
    """The one mapping of u in [0, 1) onto low..high, linear or logarithmic (design, sensitivity, calibration)."""
    if scale == "log":
        return math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
    return low + u * (high - low)


def to_unit(value: float, low: float, high: float, scale: str = "linear") -> float:
    """The inverse of :func:`from_unit`."""
    if scale == "log":
        return (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return (value - low) / (high - low)


def unit_derivative(u: float, low: float, high: float, scale: str = "linear") -> float:
    """d from_unit / d u."""
    if scale == "log":
        return from_unit(u, low, high, scale) * (math.log(high) - math.log(low))
    return high - low


class Range(Strict):
    low: FiniteFloat
    high: FiniteFloat
    scale: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _ordered(self):
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be < high ({self.high})")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"log scale needs low > 0, got {self.low}")
        return self

    def from_unit(self, u: float) -> float:
        """Map u in [0, 1) onto the range on its scale."""
        return from_unit(u, self.low, self.high, self.scale)


class StorageLevel(Strict):
    """One calendar-aging level: before each block's cycles the cell rests ``days`` at ``soc`` (a
    fraction of the last RPT's capacity, counted down from full charge); 0 days: continuous cycling."""

    days: Annotated[float, Field(ge=0, le=365)] = 0.0
    soc: Annotated[float, Field(ge=0, le=1)] = 1.0

    @model_validator(mode="after")
    def _soc_only_with_days(self):
        if self.days == 0 and self.soc != 1.0:
            raise ValueError(f"soc {self.soc} without storage days: a level with days 0 stores nothing (omit soc)")
        return self


class TemperatureSwitch(Strict):
    """One path-dependence level: after ``after_cycles`` the ambient becomes ``to_c``; {} (the default): none."""

    after_cycles: int = Field(0, ge=0)
    to_c: Annotated[float, Field(ge=-40, le=80)] | None = None

    @model_validator(mode="after")
    def _both_or_neither(self):
        if (self.after_cycles > 0) != (self.to_c is not None):
            raise ValueError("a switch needs both after_cycles (> 0) and to_c; {} is no switch")
        return self


class DesignConfig(Strict):
    method: Literal["sobol", "lhs"] = "sobol"
    # prior: the ranges as written; calibrated: each range that names a calibrated
    # parameter keeps its width (on its scale) but is centred on the fitted value.
    ranges: Literal[RANGE_SOURCES] = "prior"
    protocols_per_cell: int = Field(2, ge=1)
    cell_parameters: dict[str, Range] = Field(min_length=1)
    ambient_temperature_c: list[Annotated[float, Field(ge=-40, le=80)]] = Field(min_length=1)
    charge_c_rate: list[Annotated[float, Field(gt=0, le=10)]] = Field(min_length=1)
    discharge_c_rate: list[Annotated[float, Field(gt=0, le=20)]] = Field(min_length=1)
    upper_voltage_v: list[Annotated[float, Field(gt=0, le=5)]] = Field(min_length=1)
    lower_voltage_v: list[Annotated[float, Field(gt=0, le=5)]] = Field(min_length=1)
    cv_cutoff_c_rate: list[Annotated[float, Field(gt=0, le=1)]] = Field(min_length=1)
    # Calendar aging: (days, soc) levels drawn as one factor; the default is continuous cycling.
    storage: list[StorageLevel] = Field([StorageLevel()], min_length=1)
    # Path dependence, one factor; a switch to the sample's own ambient is drawn as none.
    temperature_switch: list[TemperatureSwitch] = Field([TemperatureSwitch()], min_length=1)

    @property
    def storage_days(self) -> list[float]:
        return [level.days for level in self.storage]

    @property
    def storage_soc(self) -> list[float]:
        return [level.soc for level in self.storage]

    @field_validator("storage")
    @classmethod
    def _distinct_storage(cls, levels):
        pairs = [(level.days, level.soc) for level in levels]
        if len(set(pairs)) < len(pairs):
            raise ValueError(f"repeated level in {pairs}: each (days, soc) once")
        return levels

    @model_validator(mode="after")
    def _protocols_feasible(self):
        if max(self.lower_voltage_v) >= min(self.upper_voltage_v):
            raise ValueError(
                f"lower_voltage_v ({max(self.lower_voltage_v)}) must be below "
                f"upper_voltage_v ({min(self.upper_voltage_v)})"
            )
        # A constant-voltage hold ending above the charge current would end as it starts.
        if max(self.cv_cutoff_c_rate) >= min(self.charge_c_rate):
            raise ValueError(
                f"cv_cutoff_c_rate ({max(self.cv_cutoff_c_rate)}) must be below "
                f"charge_c_rate ({min(self.charge_c_rate)})"
            )
        return self

    @model_validator(mode="after")
    def _enough_protocols(self):
        distinct = math.prod(len(set(getattr(self, field))) for field in CYCLING_FIELDS) * len(self.storage)
        distinct *= len(self.temperature_switch)
        if self.protocols_per_cell > distinct:
            raise ValueError(
                f"protocols_per_cell ({self.protocols_per_cell}) exceeds the {distinct} "
                "distinct protocols the levels allow"
            )
        return self


class ModelConfig(Strict):
    """The model family, its PyBaMM options (degradation mechanisms, thermal) and mesh.

    An option given as a list sets the negative and positive electrode separately, as in
    PyBaMM's tuples, e.g. ``particle mechanics: [swelling and cracking, swelling only]``.
    """

    family: Literal[MODEL_FAMILIES] = "SPM"
    # A PyBaMM parameter set, or bpx:<path> (a BPX JSON file): checked by physics.model.params_problems.
    parameter_set: str = "OKane2022"
    # calibrated: the calibrate stage's fitted values are the base values (under
    # parameter_overrides, which win); parameter_set: the set's values as published.
    base_values: Literal[MODEL_BASE_VALUES] = "calibrated"
    options: dict[str, str | list[str]] = {}
    parameter_overrides: dict[str, FiniteFloat] = {}
    # Filled by the pipeline from data/calibrate/calibrated.json (fitted values, measurement
    # hashes) so that every sample's m_i names its calibration; leave it empty in params.yaml.
    calibration: dict = {}
    var_pts: dict[Literal["x_n", "x_s", "x_p", "r_n", "r_p"], Annotated[int, Field(ge=3, le=200)]] = {}

    def with_base_values(self, values: dict[str, float], **update) -> "ModelConfig":
        """This model with ``values`` as base values: ``parameter_overrides`` still win over them."""
        return self.model_copy(update={"parameter_overrides": {**values, **self.parameter_overrides}, **update})


class SolverConfig(Strict):
    rtol: PositiveFloat = 1e-6
    # PyBaMM scales the states to O(1), so atol is the tolerance that binds: 1e-5 solves an aging
    # life 1.4x faster than 1e-6, SOH within 0.12 % of a 1e-7 solve (docs/execution.md).
    atol: PositiveFloat = 1e-5
    timeout_s: PositiveFloat = 120.0
    # The aging experiment's model functions as compiled C (PyBaMM's IDAKLU "compile" option):
    # built once per worker (every temperature and protocol), cached on disk, ~3.5x faster solves.
    compile: bool = True
    # A solve that takes ``no_progress_steps`` consecutive steps covering less than
    # ``no_progress_s`` of simulated time is stopped with an error (IDAKLU's early termination)
    # instead of stepping on while its stored output grows by gigabytes: a jumped state a cycle
    # cannot start from then fails that jump, not the run. 0 disables the check.
    no_progress_steps: Annotated[int, Field(ge=0)] = 1000
    no_progress_s: Annotated[float, Field(ge=0)] = 10.0
    # A life that fails is solved once more from its start at this atol (the aging stage only): a tighter
    # solve converges where the looser one did not (the SPMe's end of a C/5 discharge, docs/execution.md).
    # Its m_i records the solver it ran with, its status message the first attempt's failure. null: no retry.
    retry_atol: PositiveFloat | None = None
    # IDA's local error test on the differential states only (IDAKLU's "suppress_algebraic_error"): the
    # algebraic ones (potentials, the held current) are still solved to the Newton tolerance at every step,
    # but no longer shrink the step size. Five SPMe lives 1.42x faster in one process, the stage's tasks on two
    # workers 1.07x; SOH within 6e-4 (docs/execution.md).
    suppress_algebraic_error: bool = False


class RptStep(Strict):
    step: str
    role: Literal[RPT_ROLES] | None = None
    period_s: PositiveFloat | None = None


class PhysicalBounds(Strict):
    """Limits beyond which a solved sample is ``non-physical`` rather than ``ok``, and a labelled
    snapshot is flagged by ``validate``: the one set of physical bounds (``aging.bounds``)."""

    soh_max: PositiveFloat = 1.05
    noise_pct: Annotated[float, Field(ge=0)] = 1e-3
    # Lithium lost from the particles must equal the lithium bound by side reactions plus
    # the lithium stranded in lost active material, up to this fraction of the cell's lithium.
    # Cycle jumping restores the cell's lithium after every extrapolation (up to 1.3e-4 in the default
    # run): the tolerance is the LLI accuracy jumping is held to, far below what a non-conserving solve
    # gives (0.23, PyBaMM #5263).
    lithium_balance_tolerance: Annotated[float, Field(gt=0, lt=1)] = 5e-3


class CycleJumping(Strict):
    """Envelope following between RPTs (agingset/physics/cycle_jumping.py, docs/physics.md)."""

    enabled: bool = False  # false: every cycle is simulated
    # Largest estimated extrapolation error of one jump, as a fraction of the cyclable-lithium
    # and electrode capacities at the first RPT.
    tolerance: Annotated[float, Field(gt=0, le=0.05)] = 2e-3
    max_jump: int = Field(100, ge=2, le=1000)  # cycles one jump may skip
    # Envelope the state is extrapolated along: 1, the slope of the last simulated cycle; 2, that
    # slope and its change per cycle (curvature) from the last checked jump.
    order: Literal[1, 2] = 2


def _known_placeholders(steps: list[str]) -> list[str]:
    fields = set(CYCLING_FIELDS)
    for text in steps:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
        unknown = names - fields
        if unknown:
            raise ValueError(f"unknown placeholder {sorted(unknown)} in {text!r}; allowed: {sorted(fields)}")
    return steps


class StorageSteps(Strict):
    """How a storage block (``design.storage``) is run: from the RPT's full charge a discharge at
    ``move_c_rate`` for the time that removes (1 - soc) of the last RPT's capacity, the rest, then
    ``recharge`` back to full (``{placeholders}`` as in ``aging.cycle``). Stored at soc 1: the rest only."""

    move_c_rate: Annotated[float, Field(gt=0, le=2)] = 0.2
    recharge: list[str] = Field(
        ["Charge at C/5 until {upper_voltage_v} V", "Hold at {upper_voltage_v} V until C/50"], min_length=1
    )

    @field_validator("recharge")
    @classmethod
    def _recharge_placeholders_known(cls, steps):
        return _known_placeholders(steps)


class AgingConfig(Strict):
    cycles: int = Field(ge=1, le=5000)
    rpt_every: int = Field(ge=1)
    conditioning: list[str] = Field(min_length=1)
    cycle: list[str] = Field(min_length=1)
    rpt: list[RptStep] = Field(min_length=1)
    bounds: PhysicalBounds = PhysicalBounds()
    cycle_jumping: CycleJumping = CycleJumping()
    storage: StorageSteps = StorageSteps()
    # Every RPT (and the conditioning before the first) at this ambient, as a laboratory measures aged cells;
    # null: at the cycling ambient (then the design may not switch temperatures).
    rpt_temperature_c: Annotated[float, Field(ge=-40, le=80)] | None = None
    # A trajectory ends after the first RPT whose SOH is at or below this (null: runs all cycles).
    stop_at_soh: Annotated[float, Field(gt=0, lt=1)] | None = None
    # Multiplies every degradation rate in ACCELERATED_PARAMETERS (agingset/physics/aging.py): 1 gives
    # the anchored, real lifetimes; larger values make short toy trajectories for tests.
    acceleration: Annotated[float, Field(ge=1, le=1e6)] = 1.0
    # Arrhenius temperature dependence added to degradation rates (J/mol): a rate (sampled or
    # fixed) is its value at 25 oC times exp(E/R (1/298.15 K - 1/T_ambient)).
    activation_energies: dict[str, Annotated[float, Field(ge=0, le=200_000)]] = {}

    @field_validator("cycle")
    @classmethod
    def _cycle_placeholders_known(cls, steps):
        return _known_placeholders(steps)

    @field_validator("rpt")
    @classmethod
    def _rpt_roles(cls, steps):
        for role in ("capacity", "eis_state"):
            count = sum(step.role == role for step in steps)
            if count != 1:
                raise ValueError(f"needs exactly one step with role {role!r}, found {count}")
        if sum(step.role == "pulse" for step in steps) > 1:
            raise ValueError("at most one step may have role 'pulse'")
        return steps

    @model_validator(mode="after")
    def _whole_blocks(self):
        if self.cycles % self.rpt_every:
            raise ValueError(f"cycles ({self.cycles}) must be a multiple of rpt_every ({self.rpt_every})")
        return self


class Tolerances(Strict):
    rtol: PositiveFloat = 1e-6
    atol: PositiveFloat = 1e-6
    suppress_algebraic_error: bool = False  # as SolverConfig's


class TimeDomainConfig(Strict):
    """Small-signal excitation of the time-domain backend."""

    # Small enough to stay linear: at 1 mHz, 0.05 C deviates 1.3 % from the linearisation,
    # 0.02 C 0.35 %, 0.005 C 0.04 % (the SOC swing meets the OCV curvature).
    amplitude_c_rate: Annotated[float, Field(gt=0, le=0.5)] = 0.01
    settle_periods: int = Field(1, ge=0, le=20)
    periods: int = Field(2, ge=1, le=50)
    points_per_period: int = Field(40, ge=8, le=1000)
    # The response is millivolts on volts: 2 % of it needs ~1e-5 relative accuracy.
    solver: Tolerances = Tolerances(rtol=1e-9, atol=1e-9)


class EisConfig(Strict):
    f_min_hz: PositiveFloat = 1e-3
    f_max_hz: PositiveFloat = 1e4
    points_per_decade: int = Field(8, ge=1, le=100)
    surface_form: Literal["differential"] = "differential"
    timeout_s: PositiveFloat = 300.0  # per sample, all its spectra
    socs: list[Annotated[float, Field(gt=0, lt=1)]] = Field([0.2, 0.5, 0.8], min_length=1)
    temperatures_c: list[Annotated[float, Field(ge=-40, le=80)]] = Field([25.0], min_length=1)
    soc_move_c_rate: Annotated[float, Field(gt=0, le=5)] = 0.2
    rest_s: PositiveFloat = 3600.0
    backend: Literal["frequency_domain", "time_domain"] = "frequency_domain"
    fallback: bool = True
    # The other backend re-solves these frequencies (cross_check_pct) for a seeded share of the
    # spectra: each is drawn from (seed, sample_id, snapshot, temperature, SOC), so the same
    # spectra are checked whatever the worker count. 1.0: every spectrum (tests, benchmarks).
    cross_check_hz: list[PositiveFloat] = [0.01, 1.0, 100.0]
    cross_check_fraction: Rate = 0.1
    solver: Tolerances = Tolerances(rtol=1e-6, atol=1e-5)  # the rests (and the SOC moves, without move_solver)
    # The SOC moves before the rests: the hour's rest that follows damps what a looser move leaves.
    move_solver: Tolerances | None = None
    # The SOC moves and the time-domain sine in compiled C (PyBaMM's IDAKLU "compile" option,
    # built once per model): ~5x faster than casadi's virtual machine; Z differs from it
    # within the solver tolerance (<= 3e-6 relative), the two round differently.
    compile: bool = True
    time_domain: TimeDomainConfig = TimeDomainConfig()

    @field_validator("socs", "temperatures_c")
    @classmethod
    def _distinct(cls, values):
        if len(set(values)) != len(values):
            raise ValueError(f"values must be distinct, got {values}")
        return values

    @model_validator(mode="after")
    def _ordered(self):
        if not self.f_min_hz < self.f_max_hz:
            raise ValueError(f"f_min_hz ({self.f_min_hz}) must be < f_max_hz ({self.f_max_hz})")
        return self

    @cached_property
    def frequencies_hz(self):
        import numpy as np

        decades = math.log10(self.f_max_hz / self.f_min_hz)
        count = max(2, int(round(decades * self.points_per_decade)) + 1)
        return np.logspace(math.log10(self.f_min_hz), math.log10(self.f_max_hz), count)


class VoltageGrid(Strict):
    v_min: PositiveFloat
    v_max: PositiveFloat
    points: int = Field(ge=4, le=1000)

    @model_validator(mode="after")
    def _ordered(self):
        if not self.v_min < self.v_max:
            raise ValueError(f"v_min ({self.v_min}) must be < v_max ({self.v_max})")
        return self


class LabelsConfig(Strict):
    eol_soh: Annotated[float, Field(gt=0, lt=1)] = 0.8
    voltage_grid: VoltageGrid
    # A power law through the last RPTs may place end of life at most this many cycles
    # beyond the simulated horizon; further out the RUL is censored (a lower bound).
    rul_extrapolation_limit_cycles: Annotated[int, Field(ge=0)] = 50
    rul_fit_points: int = Field(3, ge=2)
    # A knee needs the capacity fade after it to be this many times faster than before.
    knee_min_slope_ratio: Annotated[float, Field(gt=1)] = 2.0


# Keys that left ``validate`` for the one set of physical bounds, ``aging.bounds``.
MOVED_TO_BOUNDS = {"soh_max": "soh_max", "numerical_noise_pct": "noise_pct"}


class ValidateConfig(Strict):
    # SOH and degradation bounds: aging.bounds (PhysicalBounds), shared with the solve stages.
    max_kk_residual_pct: PositiveFloat = 1.0
    # The gate: the stage fails when a dataset-level rate exceeds its bound.
    max_failure_rate: Rate = 0.5
    max_flagged_rate: Rate = 0.5
    max_kk_flag_rate: Rate = 0.2
    max_duplicate_samples: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _bounds_moved(cls, raw):
        moved = [key for key in MOVED_TO_BOUNDS if isinstance(raw, dict) and key in raw]
        if moved:
            key = moved[0]
            raise ValueError(f"{key} moved to aging.bounds.{MOVED_TO_BOUNDS[key]} (one set of physical bounds)")
        return raw


class OodRegion(Strict):
    """Rows whose design ``column`` lies in the region are held out as the test part."""

    column: str
    above: FiniteFloat | None = None
    below: FiniteFloat | None = None
    levels: list[FiniteFloat] | None = None

    @model_validator(mode="after")
    def _one_bound(self):
        given = [name for name in ("above", "below", "levels") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of above, below, levels (got {given or 'none'})")
        return self


class SplitConfig(Strict):
    method: Literal[SPLIT_METHODS] = "group"
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.25
    validation_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0
    ood: OodRegion | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.method == "ood" and self.ood is None:
            raise ValueError("method 'ood' needs split.ood: {column, above | below | levels}")
        if self.method == "group" and self.test_fraction + self.validation_fraction >= 1:
            raise ValueError(
                f"test_fraction + validation_fraction ({self.test_fraction + self.validation_fraction}) must be < 1"
            )
        return self


class TrainConfig(Strict):
    targets: list[Literal[LABEL_TARGETS]] = Field(min_length=1)
    models: list[Literal[BASELINE_MODELS]] = Field(list(BASELINE_MODELS), min_length=1)
    n_estimators: int = Field(100, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=1)
    # Features a random-forest split draws from: the spectra and curves give hundreds of
    # strongly correlated columns, so the square root keeps trees diverse and fits cheap
    # (all features: 20x the fit time at 200 samples, docs/evaluation.md).
    max_features: Literal["sqrt", "log2"] | Annotated[float, Field(gt=0, le=1)] = "sqrt"
    # Histogram bins per feature of gradient boosting: 63 fits 2.5x faster than sklearn's 255 on the
    # 200-sample features with the same held-out SOH MAE (0.0088 vs 0.0089).
    max_bins: int = Field(63, ge=2, le=255)
    # Cross-validation on the train part (GroupKFold by design as `cv`, KFold on rows as
    # `random_cv`): 0 leaves it out. Off by default: the held-out designs with their bootstrap
    # interval are the estimate and `random_test` the leakage contrast, and the two CVs were
    # 47 % of the stage (6 of 12 fits per target and model; docs/evaluation.md).
    cv_folds: int = Field(0, ge=0, le=50)

    @field_validator("cv_folds")
    @classmethod
    def _off_or_two_folds(cls, value):
        if value == 1:
            raise ValueError("must be 0 (no cross-validation) or at least 2 folds, got 1")
        return value
    # Censored RUL is a lower bound, never a value to fit: it is scored as a bound only.
    rul_sources: list[Literal[RUL_FIT_SOURCES]] = Field(list(RUL_FIT_SOURCES), min_length=1)
    # Learning curve: the same models fitted on nested, seeded subsets of the training cell
    # designs (these shares of them), every point scored on the same held-out designs.
    learning_curve_fractions: list[Annotated[float, Field(gt=0, le=1)]] = Field([0.125, 0.25, 0.5, 1.0], min_length=1)
    # Confidence intervals: bootstrap over held-out cell designs (designs resampled, not rows).
    bootstrap_resamples: int = Field(1000, ge=10, le=100_000)
    confidence_level: Annotated[float, Field(gt=0, lt=1)] = 0.95

    @field_validator("learning_curve_fractions")
    @classmethod
    def _increasing(cls, values):
        if any(later <= earlier for earlier, later in zip(values, values[1:])):
            raise ValueError(f"must be strictly increasing, got {values}")
        return values


class NoiseConfig(Strict):
    """Instrument noise on the observables (agingset.noise; levels estimated in docs/noise.md).

    Noisy features sit beside the clean ones (``noisy_`` prefix); every level 0 reproduces
    the clean values exactly.
    """

    seed_offset: int = Field(0, ge=0)  # added to the params seed: other noise draws, same simulations
    impedance_relative: Annotated[float, Field(ge=0, le=0.2)] = 0.001  # per part, / |Z|, per frequency
    voltage_noise_v: Annotated[float, Field(ge=0, le=0.1)] = 2.4e-5  # Gaussian, per recorded point
    voltage_resolution_v: Annotated[float, Field(ge=0, le=0.1)] = 1e-5  # quantisation step; 0: none
    current_offset_a: Annotated[float, Field(ge=0, le=1)] = 1.3e-3  # spread of a channel's offset, per sample


class FitRange(Range):
    start: FiniteFloat | None = None  # None: the parameter set's value

    @model_validator(mode="after")
    def _start_inside(self):
        if self.start is not None and not self.low <= self.start <= self.high:
            raise ValueError(f"start ({self.start}) must lie within low..high ({self.low}..{self.high})")
        return self


class IcaSettings(Strict):
    step_v: PositiveFloat = 0.001
    smoothing_v: PositiveFloat = 0.01


class CalibrationParameter(FitRange):
    # Pulse-table column whose cell-to-cell spread (six cells per condition) widens this
    # parameter's design range beyond the fit's own uncertainty; None: the fit's alone.
    spread: Literal[PULSE_SPREAD_COLUMNS] | None = None


class HeldOut(Strict):
    """Rate tests never fitted, only predicted: at these ambient temperatures or C-rates."""

    ambient_temperatures_c: list[FiniteFloat] = [10.0]
    c_rates: list[PositiveFloat] = [0.5]


class ResidualScalesConfig(Strict):
    """What one unit of residual is, per quantity (see agingset.calibration)."""

    impedance_relative: PositiveFloat = 0.02
    voltage_v: PositiveFloat = 0.01
    temperature_k: PositiveFloat = 2.0


class CalibrationWeights(Strict):
    spectrum: Annotated[float, Field(ge=0)] = 1.0
    discharge: Annotated[float, Field(ge=0)] = 1.0
    drive_cycle: Annotated[float, Field(ge=0)] = 1.0
    pulse: Annotated[float, Field(ge=0)] = 1.0  # per ambient temperature's pulse series


class CalibrateConfig(Strict):
    """Joint identification of the dataset's model (section ``model``) against measurements."""

    spectra: str
    spectra_temperature_c: Annotated[float, Field(ge=-40, le=80)] = 25.0
    rate_tests: str
    drive_cycle: str
    drive_cycle_role: Literal[CALIBRATION_ROLES] = "fit"
    drive_cycle_temperature_c: Annotated[float, Field(ge=-40, le=80)] = 25.0
    pulse_resistance: str
    # The pulse table's pulses: predicted and reported (held_out) or also fitted (fit; those at a
    # held_out temperature stay held out); those rested below pulse_min_rest_voltage_v are left out
    # (the end of discharge: a 10-s pulse there runs into the knee).
    pulse_role: Literal[CALIBRATION_ROLES] = "held_out"
    pulse_min_rest_voltage_v: Annotated[float, Field(ge=0, le=5)] = 3.4
    # The rate-test cells' measured pseudo-OCV (soc_pct, ocv_v, hysteresis_v): their discharges
    # are simulated with it (their OCV differs from the set's); null: the set's OCV.
    rate_test_ocv: str | None = None
    # Its temperature: the fitted slowest discharge at this ambient scales its SOC axis to A.h.
    rate_test_ocv_temperature_c: Annotated[float, Field(ge=-40, le=80)] = 25.0
    held_out: HeldOut = HeldOut()
    frequency_window_hz: tuple[PositiveFloat, PositiveFloat] = (0.01, 1000.0)
    discharge_points: int = Field(120, ge=10, le=10_000)
    drive_cycle_resample_s: PositiveFloat = 60.0
    max_abs_current_a: PositiveFloat = 50.0
    scales: ResidualScalesConfig = ResidualScalesConfig()
    weights: CalibrationWeights = CalibrationWeights()
    parameters: dict[str, CalibrationParameter] = Field(min_length=1)
    # The fit's solver tolerances, apart from the aging solve's (section ``solver``): its Jacobian
    # (IDAKLU sensitivities, spectrum differences) wants a tight solve; and a change of the aging
    # tolerance does not rerun the calibration.
    solver: Tolerances = Tolerances()

    # Fitted parameters the rate-test cells (LG M50) take their own value of: they are another
    # product than the impedance/drive-cycle cell (LG M50LT) the dataset's base values describe.
    # name: warm start of the rate-test cells' value (null: the shared start).
    rate_test_own: dict[str, FiniteFloat | None] = {}
    max_iterations: int = Field(20, ge=1, le=10_000)
    prediction_socs: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], min_length=1
    )
    prediction_temperature_c: Annotated[float, Field(ge=-40, le=80)] = 25.0
    spread_temperature_c: FiniteFloat = 25.0
    design_sigmas: PositiveFloat = 2.0
    # A fitted value whose standard error exceeds this fraction of it is not handed to the dataset.
    max_relative_standard_error: PositiveFloat = 1.0
    # Fitted parameters whose fitted value is not handed to the dataset whatever its standard error
    # (the value absorbs model error: documented per name in params.yaml and docs/physics.md).
    keep_set_values: list[str] = []

    def solver_config(self) -> SolverConfig:
        """The fit's solver: these tolerances, not compiled (the model is rebuilt at every parameter change)."""
        return SolverConfig(**self.solver.model_dump(), compile=False)

    @model_validator(mode="after")
    def _own_values_are_fitted(self):
        unknown = [name for name in self.rate_test_own if name not in self.parameters]
        if unknown:
            raise ValueError(f"calibrate.rate_test_own: {unknown} are not in calibrate.parameters")
        kept = [name for name in self.keep_set_values if name not in self.parameters]
        if kept:
            raise ValueError(f"calibrate.keep_set_values: {kept} are not in calibrate.parameters")
        balanced = [name for name in self.rate_test_own if name.endswith("active material volume fraction")]
        if self.rate_test_ocv and balanced:
            raise ValueError(
                f"calibrate.rate_test_own: {balanced} are the electrode balance matched to calibrate.rate_test_ocv, not fitted"
            )
        return self

    @model_validator(mode="after")
    def _window_ordered(self):
        low, high = self.frequency_window_hz
        if not low < high:
            raise ValueError(f"calibrate.frequency_window_hz: low ({low}) must be < high ({high})")
        return self

    def start_value(self, name: str, values) -> float:
        """The configured start, else the parameter set's value (``values``)."""
        start = self.parameters[name].start
        return float(values[name]) if start is None else start


class ProtocolConfig(Strict):
    ambient_temperature_c: Annotated[float, Field(ge=-40, le=80)] = 25.0
    charge_c_rate: Annotated[float, Field(gt=0, le=10)] = 1.0
    discharge_c_rate: Annotated[float, Field(gt=0, le=20)] = 1.0


class SensitivityConfig(Strict):
    base_samples: int = Field(16, ge=2, le=4096)  # N; the stage solves N * (D + 2) samples
    cycles: int = Field(2, ge=1, le=1000)  # aging cycles per sample (one RPT before, one after)
    protocol: ProtocolConfig = ProtocolConfig()
    observables: list[Literal[SENSITIVITY_OBSERVABLES]] = Field(min_length=1)
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.05  # ST below it: unidentifiable
    ica: IcaSettings = IcaSettings()
    confidence_level: Annotated[float, Field(gt=0, lt=1)] = 0.95

    @field_validator("base_samples")
    @classmethod
    def _power_of_two(cls, value):
        if value & (value - 1):
            raise ValueError(f"must be a power of two for Sobol balance, got {value}")
        return value


class Params(Strict):
    samples: int = Field(ge=1, le=1_000_000)
    seed: int = Field(ge=0)
    design: DesignConfig
    model: ModelConfig
    solver: SolverConfig
    aging: AgingConfig
    eis: EisConfig
    labels: LabelsConfig
    validate_: ValidateConfig = Field(alias="validate")
    split: SplitConfig
    train: TrainConfig
    noise: NoiseConfig = NoiseConfig()
    calibrate: CalibrateConfig
    sensitivity: SensitivityConfig

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _ood_column_is_a_design_column(self):
        if self.split.ood is not None:
            allowed = [*PROTOCOL_FIELDS, *self.design.cell_parameters]
            if self.split.ood.column not in allowed:
                raise ValueError(
                    f"split.ood.column: {self.split.ood.column!r} is not a design column; allowed: {', '.join(allowed)}"
                )
        return self

    @model_validator(mode="after")
    def _switches_fit_the_aging(self):
        switches = [level for level in self.design.temperature_switch if level.after_cycles]
        if switches and self.aging.rpt_temperature_c is None:
            raise ValueError(
                "design.temperature_switch needs aging.rpt_temperature_c (RPTs at the cycling ambient would "
                "measure one life's capacity at two temperatures)"
            )
        for level in switches:
            if level.after_cycles % self.aging.rpt_every or level.after_cycles >= self.aging.cycles:
                raise ValueError(
                    f"design.temperature_switch.after_cycles {level.after_cycles}: a multiple of aging.rpt_every "
                    f"({self.aging.rpt_every}) below aging.cycles ({self.aging.cycles})"
                )
        return self

    @model_validator(mode="after")
    def _lithium_conserved(self):
        # PyBaMM #5263: in SPM/SPMe the SEI-on-cracks reaction is reported as lost lithium
        # but never removed from the particles, so capacity and labels would disagree.
        if self.model.family in ("SPM", "SPMe") and self.model.options.get("SEI on cracks") == "true":
            raise ValueError(
                f"model.options.SEI on cracks: 'true' does not conserve lithium in {self.model.family} "
                "(PyBaMM issue 5263); allowed: 'false', or model.family 'DFN'"
            )
        return self


# Bytes per row of each output table, measured on the default dataset (parquet, compressed).
_BYTES_PER_CURVE_POINT = 20
_BYTES_PER_SPECTRUM_POINT = 45
_BYTES_PER_STATE_VALUE = 20
_RPT_CURVE_POINTS = 300
_STATE_VALUES = 40
_SOLVE_MEMORY_FACTOR = 4  # uncompressed DataFrames held until they are concatenated
LARGE_RUN_GIB = 4.0


def size_warning(params: Params) -> str | None:
    """A warning when a run will produce more than LARGE_RUN_GIB of data, with the estimate."""
    snapshots = params.samples * (params.aging.cycles // params.aging.rpt_every + 1)
    per_snapshot = (
        _RPT_CURVE_POINTS * _BYTES_PER_CURVE_POINT
        + len(params.eis.frequencies_hz) * _BYTES_PER_SPECTRUM_POINT
        + _STATE_VALUES * _BYTES_PER_STATE_VALUE
    )
    gib = snapshots * per_snapshot / 2**30
    if gib <= LARGE_RUN_GIB:
        return None
    return (
        f"samples={params.samples} will write about {gib:.1f} GiB and solve_aging will hold about "
        f"{gib * _SOLVE_MEMORY_FACTOR:.1f} GiB in memory; consider growing the dataset in steps "
        "(the per-sample cache keeps finished samples)"
    )


def _allowed_keys(location: tuple) -> list[str] | None:
    """The keys the schema allows beside the last part of ``location`` (None past a free mapping)."""
    model = Params
    for part in location[:-1]:
        field = next(
            (f for name, f in model.model_fields.items() if part in (name, f.alias)), None
        )
        candidates = (field.annotation, *typing.get_args(field.annotation)) if field else ()
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return [field.alias or name for name, field in model.model_fields.items()]


def one_line(location: str, message: str, more: int) -> str:
    """A problem as the one line a user sees (``more``: how many further problems there are)."""
    where = f"{location}: " if location else ""  # model-level checks name their key themselves
    return f"params.yaml: {where}{message}" + (f" (+{more} more)" if more else "")


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        allowed = _allowed_keys(first["loc"])
        message = "unknown key" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif first["type"] == "missing":
        message = "missing key"
    if first["type"] in ("literal_error", "enum"):
        message = f"{message} (got {first.get('input')!r})"
    return one_line(location, message, len(err.errors()) - 1)


# dvc.lock stores params.yaml's keys from column 8, two more per level, and DVC's YAML writer
# folds a key that runs past column 80 over two lines, which it cannot read back: the stage
# runs, then `dvc repro` fails on a corrupt lock file.
_LOCK_KEY_COLUMN, _LOCK_INDENT, _LOCK_WIDTH = 8, 2, 80


def _key_too_long_for_dvc(raw: dict, path: tuple = ()) -> str | None:
    limit = _LOCK_WIDTH - _LOCK_KEY_COLUMN - _LOCK_INDENT * len(path)
    for key, value in raw.items():
        if isinstance(key, str) and len(key) > limit:
            return one_line(
                ".".join((*path, key)),
                f"a key of {len(key)} characters; DVC folds a params key past column {_LOCK_WIDTH} of dvc.lock "
                f"into YAML it cannot read back: at most {limit} characters at this depth",
                0,
            )
        if isinstance(value, dict):
            problem = _key_too_long_for_dvc(value, (*path, str(key)))
            if problem:
                return problem
    return None


def validate_schema(raw: object) -> Params:
    """``raw`` (params.yaml as loaded) checked against the schema; what PyBaMM says of the model
    configuration is :func:`agingset.config.parse_params`'s."""
    if not isinstance(raw, dict):
        raise ParamsError("params.yaml: top level must be a mapping of sections")
    too_long = _key_too_long_for_dvc(raw)
    if too_long:
        raise ParamsError(too_long)
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_error(err)) from None


def read_yaml(path: str | Path = "params.yaml") -> object:
    """The params file as loaded, before any check; a missing or malformed file is one line."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
