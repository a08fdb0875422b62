"""The one schema for params.yaml, validated once at the boundary into typed objects.

Every stage calls :func:`load_params`; a bad key or value raises :class:`ParamsError`
whose message names the key and what is allowed.
"""

from __future__ import annotations

import math
import string
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

PROTOCOL_FIELDS = ("ambient_temperature_c", "charge_c_rate", "discharge_c_rate")
RPT_ROLES = ("capacity", "pulse", "eis_state")
MODEL_FAMILIES = ("SPM", "SPMe", "DFN")
LABEL_TARGETS = ("soh", "lli_pct", "lam_ne_pct", "lam_pe_pct", "resistance_ohm", "rul80_cycles")

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ParamsError(ValueError):
    """A params.yaml problem, phrased as one line naming the key."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
        if self.scale == "log":
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


class DesignConfig(Strict):
    method: Literal["sobol", "lhs"] = "sobol"
    protocols_per_cell: int = Field(2, ge=1)
    cell_parameters: dict[str, Range] = Field(min_length=1)
    ambient_temperature_c: list[Annotated[float, Field(ge=-40, le=80)]] = Field(min_length=1)
    charge_c_rate: list[Annotated[float, Field(gt=0, le=10)]] = Field(min_length=1)
    discharge_c_rate: list[Annotated[float, Field(gt=0, le=20)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _enough_protocols(self):
        distinct = math.prod(len(set(getattr(self, field))) for field in PROTOCOL_FIELDS)
        if self.protocols_per_cell > distinct:
            raise ValueError(
                f"protocols_per_cell ({self.protocols_per_cell}) exceeds the {distinct} "
                "distinct protocols the levels allow"
            )
        return self


class ModelConfig(Strict):
    family: Literal[MODEL_FAMILIES] = "SPM"
    parameter_set: str = "OKane2022"
    options: dict[str, str] = {}
    parameter_overrides: dict[str, FiniteFloat] = {}
    var_pts: dict[Literal["x_n", "x_s", "x_p", "r_n", "r_p"], Annotated[int, Field(ge=3, le=200)]] = {}

    @field_validator("parameter_set")
    @classmethod
    def _known_set(cls, value):
        import pybamm

        allowed = sorted(pybamm.parameter_sets.keys())
        if value not in allowed:
            raise ValueError(f"unknown parameter set {value!r}; allowed: {', '.join(allowed)}")
        return value

    @field_validator("options")
    @classmethod
    def _known_options(cls, value):
        import pybamm

        try:
            pybamm.BatteryModelOptions(dict(value))
        except pybamm.OptionError as err:
            raise ValueError(" ".join(str(err).split())) from None
        return value


class SolverConfig(Strict):
    rtol: PositiveFloat = 1e-6
    atol: PositiveFloat = 1e-6
    timeout_s: PositiveFloat = 120.0


class RptStep(Strict):
    step: str
    role: Literal[RPT_ROLES] | None = None
    period_s: PositiveFloat | None = None


def _check_experiment_string(text: str) -> str:
    import pybamm

    try:
        pybamm.step.string(text)
    except Exception as err:  # pybamm raises ValueError/TypeError with a long help text
        first_line = str(err).strip().splitlines()[0]
        raise ValueError(f"bad experiment step {text!r}: {first_line}") from None
    return text


class AgingConfig(Strict):
    cycles: int = Field(ge=1, le=5000)
    rpt_every: int = Field(ge=1)
    conditioning: list[str] = Field(min_length=1)
    cycle: list[str] = Field(min_length=1)
    rpt: list[RptStep] = Field(min_length=1)

    @field_validator("conditioning")
    @classmethod
    def _conditioning_steps_parse(cls, steps):
        for text in steps:
            _check_experiment_string(text)
        return steps

    @field_validator("cycle")
    @classmethod
    def _cycle_steps_parse(cls, steps):
        fields = set(PROTOCOL_FIELDS)
        for text in steps:
            names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            unknown = names - fields
            if unknown:
                raise ValueError(
                    f"unknown placeholder {sorted(unknown)} in {text!r}; allowed: {sorted(fields)}"
                )
            _check_experiment_string(text.format(**{f: 1 for f in fields}))
        return steps

    @field_validator("rpt")
    @classmethod
    def _rpt_roles(cls, steps):
        for step in steps:
            _check_experiment_string(step.step)
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
    socs: list[Annotated[float, Field(gt=0, lt=1)]] = Field([0.2, 0.5, 0.8], min_length=1)
    temperatures_c: list[Annotated[float, Field(ge=-40, le=80)]] = Field([25.0], min_length=1)
    soc_move_c_rate: Annotated[float, Field(gt=0, le=5)] = 0.2
    rest_s: PositiveFloat = 3600.0
    backend: Literal["frequency_domain", "time_domain"] = "frequency_domain"
    fallback: bool = True
    # The other backend re-solves these frequencies for every spectrum (cross_check_pct).
    cross_check_hz: list[PositiveFloat] = [0.01, 1.0, 100.0]
    solver: Tolerances = Tolerances()
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


class ValidateConfig(Strict):
    soh_max: PositiveFloat = 1.05
    numerical_noise_pct: Annotated[float, Field(ge=0)] = 1e-3
    max_failure_rate: Annotated[float, Field(ge=0, le=1)] = 0.5


class SplitConfig(Strict):
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.25


class TrainConfig(Strict):
    targets: list[Literal[LABEL_TARGETS]] = Field(min_length=1)
    n_estimators: int = Field(100, ge=1, le=5000)
    max_depth: int | None = Field(None, ge=1)


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

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _parameters_exist(self):
        import pybamm

        values = pybamm.ParameterValues(self.model.parameter_set)
        for section, names in (
            ("design.cell_parameters", self.design.cell_parameters),
            ("model.parameter_overrides", self.model.parameter_overrides),
        ):
            for name in names:
                if name not in values.keys():
                    raise ValueError(
                        f"{section}: {name!r} is not a parameter of {self.model.parameter_set}"
                    )
        return self


def _format_error(err: ValidationError) -> str:
    first = err.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "missing key"
    if first["type"] in ("literal_error", "enum"):
        message = f"{message} (got {first.get('input')!r})"
    more = len(err.errors()) - 1
    where = f"{location}: " if location else ""  # model-level checks name their key themselves
    return f"params.yaml: {where}{message}" + (f" (+{more} more)" if more else "")


def parse_params(raw: object) -> Params:
    if not isinstance(raw, dict):
        raise ParamsError("params.yaml: top level must be a mapping of sections")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_error(err)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(err).split())}") from None
    return parse_params(raw)
