"""Build PyBaMM models and parameter values from the typed model configuration.

Sampled cell parameters become ``[input]`` parameters, so a model is discretised once
and each sample only changes the inputs passed to the solver. Every parameter set is
loaded by :func:`base_parameter_values`; :func:`params_problems` is what PyBaMM says of a
params file (run by :func:`agingset.config.parse_params`).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import pybamm

from ..catalog import BPX_PREFIX

if TYPE_CHECKING:  # the configuration types only: params.py runs params_problems, never the reverse
    from ..params import ModelConfig, Params, SolverConfig


def pybamm_options(options: dict[str, str | list[str]]) -> dict[str, str | tuple[str, ...]]:
    """Options as PyBaMM takes them: per-electrode lists become tuples."""
    return {name: tuple(value) if isinstance(value, list) else value for name, value in options.items()}


def build_model(config: ModelConfig, **extra_options) -> pybamm.BaseModel:
    """The configured lithium-ion model; ``extra_options`` override the configured ones."""
    family = getattr(pybamm.lithium_ion, config.family)
    return family({**pybamm_options(config.options), **extra_options})


# The cell's series inductance (its winding, tabs and the measurement leads): Z + j omega L on every
# spectrum, what turns a measured spectrum inductive above a few hundred hertz. The models have no
# inductor (a DAE current has no dI/dt), so it is added to their impedance after the solve; 0: none,
# as a published set. A base value (model.parameter_overrides, or fitted by calibrate), never an
# [input] of a PyBaMM model (see :func:`params_problems`).
SERIES_INDUCTANCE = "Cell series inductance [H]"


def base_parameter_values(parameter_set: str) -> pybamm.ParameterValues:
    """A named PyBaMM parameter set (kinetics as named scalars, :func:`with_scalar_kinetics`),
    or ``bpx:<path>``: a BPX JSON file (path relative to the project); either with the cell's
    series inductance (:data:`SERIES_INDUCTANCE`, 0)."""
    if parameter_set.startswith(BPX_PREFIX):
        values = pybamm.ParameterValues.create_from_bpx(parameter_set.removeprefix(BPX_PREFIX))
    else:
        values = with_scalar_kinetics(pybamm.ParameterValues(parameter_set))
    values.update({SERIES_INDUCTANCE: 0.0}, check_already_exists=False)
    return values


def with_series_inductance(impedance_ohm: np.ndarray, frequencies_hz: np.ndarray, inductance_h: float) -> np.ndarray:
    """A model's impedance with the cell's series inductance: Z + j 2 pi f L."""
    return np.asarray(impedance_ohm) + 2j * np.pi * np.asarray(frequencies_hz, dtype=float) * inductance_h


def params_problems(params: Params) -> list[tuple[str, str]]:
    """What PyBaMM finds wrong with schema-valid params, as (key, message) in key order; empty: none.

    The parameter set (a PyBaMM set, or a readable BPX file), the model options and every
    experiment step are checked first; then, when those hold, that each parameter name the
    params use exists in the set (a BPX set: or in ``model.parameter_overrides``, which may add
    what BPX lacks) and that a fitted parameter's set value is a number inside its range. A
    problem's key is empty when its message names the key itself.
    """
    model, aging = params.model, params.aging
    problems = []
    parameter_set = model.parameter_set
    if parameter_set.startswith(BPX_PREFIX):
        import bpx

        try:
            bpx.parse_bpx_file(parameter_set.removeprefix(BPX_PREFIX))
        except Exception as err:  # missing file, bad JSON, or BPX schema errors
            problems.append(
                ("model.parameter_set", f"{parameter_set!r} is not a readable BPX file: {' '.join(str(err).split())[:300]}")
            )
    elif parameter_set not in pybamm.parameter_sets.keys():
        allowed = sorted(pybamm.parameter_sets.keys())
        problems.append(
            (
                "model.parameter_set",
                f"unknown parameter set {parameter_set!r}; allowed: {', '.join(allowed)}, or bpx:<path to a BPX JSON file>",
            )
        )
    try:
        pybamm.BatteryModelOptions(pybamm_options(model.options))
    except pybamm.OptionError as err:
        problems.append(("model.options", " ".join(str(err).split())))
    steps = {
        "aging.conditioning": aging.conditioning,
        # Placeholders are known names (the schema checked them): any number makes a step to parse.
        "aging.cycle": [text.format_map(_AnyLevel()) for text in aging.cycle],
        "aging.rpt": [step.step for step in aging.rpt],
    }
    for key, texts in steps.items():
        problem = next(filter(None, map(_experiment_step_problem, texts)), None)
        if problem:
            problems.append((key, problem))
    if not any(key == "aging.cycle" for key, _ in problems):
        problem = next(filter(None, map(_input_step_problem, aging.cycle)), None)
        if problem:
            problems.append(("aging.cycle", problem))
    return problems or _unknown_parameters(params)


def _input_step_problem(template: str) -> str | None:
    """Why a cycle step cannot take its protocol levels as inputs (see :mod:`.protocol`), or None."""
    from .protocol import input_step

    try:
        input_step(template, "25 oC")
    except ValueError as err:
        return str(err).removeprefix("aging.cycle: ")
    return None


class _AnyLevel(dict):
    def __missing__(self, name):
        return 1


def _experiment_step_problem(text: str) -> str | None:
    try:
        pybamm.step.string(text)
    except Exception as err:  # pybamm raises ValueError/TypeError with a long help text
        first_line = str(err).strip().splitlines()[0]
        return f"bad experiment step {text!r}: {first_line}"
    return None


def _unknown_parameters(params: Params) -> list[tuple[str, str]]:
    """The first parameter name the params use that the set lacks, or a fitted parameter whose set
    value (no ``start`` given) is not a number inside its range. A BPX set is checked like any other:
    the calibrate stage reads every fitted parameter's value from it (or from the overrides)."""
    model = params.model
    values = base_parameter_values(model.parameter_set)
    known = set(values.keys())
    bpx = model.parameter_set.startswith(BPX_PREFIX)
    if bpx:
        # BPX carries no degradation or double-layer parameters: overrides may add them.
        known |= set(model.parameter_overrides)
    sections = [
        ("design.cell_parameters", params.design.cell_parameters),
        ("model.parameter_overrides", model.parameter_overrides),
        ("aging.activation_energies", params.aging.activation_energies),
        ("calibrate.parameters", params.calibrate.parameters),
    ]
    for section, names in sections:
        for name in names:
            if name not in known:
                return [("", f"{section}: {name!r} is not a parameter of {model.parameter_set}")]
    if SERIES_INDUCTANCE in params.design.cell_parameters:
        return [
            (
                "design.cell_parameters",
                f"{SERIES_INDUCTANCE!r} is added to the spectra after the solve and cannot be sampled; "
                "set it in model.parameter_overrides",
            )
        ]
    values.update(dict(model.parameter_overrides))
    for name, fit_range in params.calibrate.parameters.items():
        if fit_range.start is not None:
            continue
        if not isinstance(values[name], int | float):
            return [("", f"calibrate.parameters: {name!r} is a function in {model.parameter_set}; fit a number")]
        if not fit_range.low <= values[name] <= fit_range.high:
            return [
                (
                    "",
                    f"calibrate.parameters: {name!r}: the parameter set's value {values[name]} lies outside "
                    f"{fit_range.low}..{fit_range.high}; give a start or widen the range",
                )
            ]
    return []


# Scalar kinetic and transport parameters of the LG M50 sets (Chen2020, OKane2022 and
# those built on them): their exchange-current densities and particle diffusivities are
# functions with the rate constant and activation energy written inside, which an
# identification cannot vary. ``with_scalar_kinetics`` rewrites them as the same Arrhenius
# laws of these named parameters (defaults: the values inside the functions), so they can
# be fitted, sampled or overridden like any other parameter.
REFERENCE_TEMPERATURE_K = 298.15
KINETIC_DEFAULTS = {
    "Negative electrode reaction rate constant [A.m-2.(m3.mol)1.5]": 6.48e-7,
    "Negative electrode reaction activation energy [J.mol-1]": 35000.0,
    "Positive electrode reaction rate constant [A.m-2.(m3.mol)1.5]": 3.42e-6,
    "Positive electrode reaction activation energy [J.mol-1]": 17800.0,
    "Negative particle reference diffusivity [m2.s-1]": 3.3e-14,
    "Negative particle diffusivity activation energy [J.mol-1]": 30300.0,
    "Positive particle reference diffusivity [m2.s-1]": 4.0e-15,
    "Positive particle diffusivity activation energy [J.mol-1]": 25000.0,
    # log10 D per unit stoichiometry (D is the reference diffusivity at stoichiometry 0.5):
    # 0 in the published sets; O'Regan et al. (2022) measured ~11 decades for LG M50 graphite by GITT
    "Negative particle diffusivity stoichiometry slope": 0.0,
    "Positive particle diffusivity stoichiometry slope": 0.0,
    # The negative's low-lithiation region, where the LG M50's SiOx delithiates last: below the first
    # stoichiometry (a tanh step of the given width) the diffusivity has the extra activation energy
    # (the same value at 25 oC, slower in the cold). Energy 0: no region (the published sets).
    "Negative particle low-lithiation stoichiometry": 0.0,
    "Negative particle low-lithiation width": 0.02,
    "Negative particle low-lithiation activation energy [J.mol-1]": 0.0,
    # ... and its charge transfer there: below the stoichiometry (surface; tanh step of the width) the
    # exchange current is 10^-depth of the law above at 25 oC, with the extra activation energy. Depth and
    # energy 0: no region. The cell's cold capacity is nearly rate-independent: a kinetic limitation.
    "Negative reaction low-lithiation stoichiometry": 0.0,
    "Negative reaction low-lithiation width": 0.02,
    "Negative reaction low-lithiation depth": 0.0,
    "Negative reaction low-lithiation activation energy [J.mol-1]": 0.0,
    # The electrolyte's transport (SPMe, DFN: the polarization that builds over minutes) as the set's
    # functions times a scale and an extra Arrhenius factor; 1 and 0: the published functions.
    "Electrolyte conductivity scale": 1.0,
    "Electrolyte diffusivity scale": 1.0,
    "Electrolyte transport extra activation energy [J.mol-1]": 0.0,
    # The lumped thermal model's heat capacity is the electrode stack's (no electrolyte, can or mandrel):
    # ~43 J/K for the set's 21700 against ~70 J/K for a 69-g cell at ~1 J/(g K). It multiplies every
    # component's specific heat capacity; 1: the set's.
    "Cell heat capacity scale": 1.0,
}
REFERENCE_STOICHIOMETRY = 0.5
_LGM50_FUNCTIONS = {
    "Negative electrode exchange-current density [A.m-2]": "graphite_LGM50_electrolyte_exchange_current_density_Chen2020",
    "Positive electrode exchange-current density [A.m-2]": "nmc_LGM50_electrolyte_exchange_current_density_Chen2020",
    "Negative particle diffusivity [m2.s-1]": "graphite_LGM50_diffusivity_Chen2020",
    "Positive particle diffusivity [m2.s-1]": "nmc_LGM50_diffusivity_Chen2020",
}


def _arrhenius(activation_energy, T):
    return pybamm.exp(activation_energy / pybamm.constants.R * (1 / REFERENCE_TEMPERATURE_K - 1 / T))


def _below(stoichiometry, width, sto):
    """1 well below ``stoichiometry``, 0 well above: a tanh step of ``width``."""
    return (1 + pybamm.tanh((stoichiometry - sto) / width)) / 2


def _exchange_current_density(electrode: str):
    def exchange_current_density(c_e, c_s_surf, c_s_max, T):
        rate = pybamm.Parameter(f"{electrode} electrode reaction rate constant [A.m-2.(m3.mol)1.5]")
        energy = pybamm.Parameter(f"{electrode} electrode reaction activation energy [J.mol-1]")
        j0 = rate * _arrhenius(energy, T) * c_e**0.5 * c_s_surf**0.5 * (c_s_max - c_s_surf) ** 0.5
        if electrode != "Negative":
            return j0
        region = "Negative reaction low-lithiation"
        inside = _below(pybamm.Parameter(f"{region} stoichiometry"), pybamm.Parameter(f"{region} width"), c_s_surf / c_s_max)
        slowed = 10 ** (-pybamm.Parameter(f"{region} depth")) * _arrhenius(
            pybamm.Parameter(f"{region} activation energy [J.mol-1]"), T
        )
        return j0 * (1 - inside * (1 - slowed))

    exchange_current_density.__qualname__ = f"{electrode.lower()}_exchange_current_density_arrhenius"
    return exchange_current_density


def _diffusivity(electrode: str):
    def diffusivity(sto, T):
        reference = pybamm.Parameter(f"{electrode} particle reference diffusivity [m2.s-1]")
        energy = pybamm.Parameter(f"{electrode} particle diffusivity activation energy [J.mol-1]")
        slope = pybamm.Parameter(f"{electrode} particle diffusivity stoichiometry slope")
        diffusivity = reference * _arrhenius(energy, T) * 10 ** (slope * (sto - REFERENCE_STOICHIOMETRY))
        if electrode != "Negative":
            return diffusivity
        low = pybamm.Parameter("Negative particle low-lithiation stoichiometry")
        width = pybamm.Parameter("Negative particle low-lithiation width")
        low_energy = pybamm.Parameter("Negative particle low-lithiation activation energy [J.mol-1]")
        return diffusivity * (1 - _below(low, width, sto) * (1 - _arrhenius(low_energy, T)))

    diffusivity.__qualname__ = f"{electrode.lower()}_particle_diffusivity_arrhenius"
    return diffusivity


def _scaled_electrolyte(published, quantity: str):
    def scaled(c_e, T):
        scale = pybamm.Parameter(f"Electrolyte {quantity} scale")
        energy = pybamm.Parameter("Electrolyte transport extra activation energy [J.mol-1]")
        return published(c_e, T) * scale * _arrhenius(energy, T)

    scaled.__qualname__ = f"{getattr(published, '__name__', quantity)}_scaled"
    return scaled


def with_scalar_kinetics(values: pybamm.ParameterValues) -> pybamm.ParameterValues:
    """``values`` with the LG M50 kinetic/diffusivity functions rewritten over named scalars, and the
    electrolyte's transport and every specific heat capacity times a named scale (``KINETIC_DEFAULTS``).

    Sets whose functions are not the Chen2020 LG M50 ones are returned unchanged.
    """
    names = [getattr(values[name], "__name__", None) for name in _LGM50_FUNCTIONS if name in values.keys()]
    if names != list(_LGM50_FUNCTIONS.values()):
        return values
    values.update(
        {
            "Negative electrode exchange-current density [A.m-2]": _exchange_current_density("Negative"),
            "Positive electrode exchange-current density [A.m-2]": _exchange_current_density("Positive"),
            "Negative particle diffusivity [m2.s-1]": _diffusivity("Negative"),
            "Positive particle diffusivity [m2.s-1]": _diffusivity("Positive"),
            **{
                name: values[name] * pybamm.Parameter("Cell heat capacity scale")
                for name in values.keys()
                if name.endswith("specific heat capacity [J.kg-1.K-1]") and isinstance(values[name], numbers.Number)
            },
            **{
                f"Electrolyte {quantity} [{unit}]": _scaled_electrolyte(values[f"Electrolyte {quantity} [{unit}]"], quantity)
                for quantity, unit in (("conductivity", "S.m-1"), ("diffusivity", "m2.s-1"))
            },
        }
    )
    values.update(KINETIC_DEFAULTS, check_already_exists=False)
    return values


def parameter_values(config: ModelConfig, input_names: Iterable[str]) -> pybamm.ParameterValues:
    values = base_parameter_values(config.parameter_set)
    values.update(dict(config.parameter_overrides))
    values.update({name: "[input]" for name in input_names})
    return values


def serialisable_parameters(values: pybamm.ParameterValues, inputs: dict[str, float]) -> dict[str, object]:
    """Every parameter value as JSON-ready data, with the sample's inputs substituted.

    Numbers stay numbers; functions are named by module and name; data tables by the
    name PyBaMM gives them.
    """
    record = {}
    for name, value in sorted(values.items()):
        if name in inputs:
            record[name] = float(inputs[name])
        elif isinstance(value, bool | str):
            record[name] = value
        elif isinstance(value, numbers.Number):
            record[name] = float(value)
        elif isinstance(value, pybamm.InputParameter):
            raise ValueError(f"{name!r} is an [input] without a value")
        elif isinstance(value, pybamm.Symbol):  # a number times a scale (``with_scalar_kinetics``)
            record[name] = f"expression {value}"
        elif callable(value):
            record[name] = f"function {value.__module__}.{value.__qualname__}"
        elif isinstance(value, tuple) and value and isinstance(value[0], str):
            record[name] = f"data {value[0]}"
        else:
            record[name] = f"{type(value).__name__} {value}"
    return record


# PyBaMM checks, after every step, whether an interpolated parameter was evaluated outside its
# data, by evaluating each interpolant's bound events as Python expression trees: off, the aging
# stage ran 1.06x faster (94a2470; the direct aging loop, agingset/physics/stepping.py, never runs it,
# the impedance stage's steps do not with this setting). The only interpolant of OKane2022 (and
# Chen2020) is the graphite OCP, tabulated over stoichiometry [0, 1], which the voltage limits
# keep a cell well inside (the check warned on none of the 200-sample design's lives).
ON_EXTRAPOLATION = "ignore"


def solver(config: SolverConfig, compile_: bool | None = None) -> pybamm.IDAKLUSolver:
    """IDAKLU at the configured tolerances; compiled as configured unless ``compile_`` says.

    Compiled (PyBaMM's ``compile`` option) the model functions are C built with the system
    compiler once per model and machine, cached on disk (in the project's workers
    ``.agingset-cache/compiled/``, :mod:`agingset.compiled`): a build costs tens of seconds more, every solve after it runs
    ~3.5x faster. Worth it for a model solved hundreds of times (the aging experiment), not
    for one rebuilt at every parameter change (calibration). A solve that stops progressing
    (``no_progress_steps`` steps within ``no_progress_s``) ends with an error rather than
    running until the sample's hard timeout."""
    compiled = config.compile if compile_ is None else compile_
    options = {
        "compile": bool(compiled),
        "num_steps_no_progress": config.no_progress_steps,
        "t_no_progress": config.no_progress_s,
        "suppress_algebraic_error": config.suppress_algebraic_error,
    }
    return pybamm.IDAKLUSolver(
        rtol=config.rtol, atol=config.atol, options=options, on_extrapolation=ON_EXTRAPOLATION
    )


def var_pts(config: ModelConfig, model: pybamm.BaseModel) -> dict:
    points = dict(model.default_var_pts)
    points.update(config.var_pts)
    return points


def impedance_model(config: ModelConfig, surface_form: str) -> pybamm.BaseModel:
    """The aging model with the double-layer surface form impedance needs."""
    return build_model(config, **{"surface form": surface_form})


def handoff_state_names(config: ModelConfig, surface_form: str) -> list[str]:
    """The impedance model's differential states: what the aging stage saves per snapshot.

    Algebraic states (interfacial current densities, electrolyte potential, MacInnes
    function) follow from the differential ones; the impedance stage recomputes them by
    consistent initialisation before it moves the state to each SOC, so they are not
    handed over. The double-layer states are the aging model's surface potential
    differences of the same name, which hold the rested values.
    """
    model = impedance_model(config, surface_form)
    return [variable.name for variable in model.initial_conditions if variable in model.rhs]
