"""A sample's cycling protocol and the PyBaMM experiment steps it is run with.

``aging.cycle`` is written with ``{placeholders}`` for the protocol levels. The aging stage
builds every step it runs (conditioning, RPT, cycle, storage) with its levels as ``[input]``
parameters (:func:`input_step`): the value as ``Step value``, each termination's as ``Step
cut-off N``, and no step temperature (the ambient temperature is an input of the model). A
step's levels are numbers written in its text or protocol fields (:func:`step_levels`), given
per step at solve time (:func:`step_inputs`). So PyBaMM builds one model per control law and
cut-off kind, not per level: a discharge to a voltage is one model whether it is the RPT's C/5
to 2.5 V or a cycle's 2C to the sample's lower voltage, and the compiled library of each (a
few tens of seconds of gcc for the SPMe) is built once. One discretised, compiled model serves
every protocol and temperature, and a sample only passes its levels as inputs
(:func:`protocol_inputs`). :func:`experiment_steps` writes the same steps with the levels as
numbers: the reference a test checks the input steps against.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pybamm

from ..catalog import CYCLING_FIELDS, PROTOCOL_FIELDS

if TYPE_CHECKING:  # params.py checks aging.cycle with input_step: no import back at run time
    from ..params import AgingConfig

# A step whose value is an input has no value-dependent default duration (a C-rate step's
# is 2/C hours): it is built with this one, and :func:`set_durations` gives it the protocol's
# before every solve.
INPUT_STEP_DURATION_S = 24 * 3600.0
@dataclass(frozen=True)
class Protocol:
    """One level of every field in ``PROTOCOL_FIELDS``."""

    ambient_temperature_c: float
    charge_c_rate: float
    discharge_c_rate: float
    upper_voltage_v: float
    lower_voltage_v: float
    cv_cutoff_c_rate: float
    storage_days: float = 0.0
    storage_soc: float = 1.0
    switch_after_cycles: float = 0.0
    late_ambient_temperature_c: float | None = None  # None: the ambient (no switch)

    def __post_init__(self):
        if self.late_ambient_temperature_c is None:
            object.__setattr__(self, "late_ambient_temperature_c", self.ambient_temperature_c)

    @classmethod
    def of(cls, sample: dict) -> Protocol:
        return cls(**{field: float(sample[field]) for field in PROTOCOL_FIELDS})


# Stand-ins written into a template to find where each placeholder lands in the parsed step:
# numbers no experiment string would contain by accident.
_SENTINELS = {field: 7.000123 + index / 1000 for index, field in enumerate(CYCLING_FIELDS)}


STEP_VALUE = "Step value"


def input_name(field: str) -> str:
    """The input a protocol field is passed to the solver as (steps read it through :func:`step_inputs`)."""
    return f"Protocol {field}"


def cut_off_name(index: int) -> str:
    """The ``[input]`` parameter of a step's termination number ``index``."""
    return f"Step cut-off {index}"


def protocol_inputs(protocol: Protocol) -> dict[str, float]:
    """The protocol's cycling levels as solver inputs (the temperature has its own input; storage
    levels are durations, set on the steps)."""
    return {input_name(field): getattr(protocol, field) for field in CYCLING_FIELDS if field != "ambient_temperature_c"}


def _temperature(temperature_c: float | None) -> str | None:
    return None if temperature_c is None else f"{temperature_c} oC"


def experiment_steps(aging: AgingConfig, protocol: Protocol) -> dict[str, tuple]:
    """The conditioning, RPT and aging-cycle steps, every one at the protocol temperature,
    the cycle's placeholders written as numbers.

    The conditioning charge starts from the parameter set's initial state: PyBaMM's
    ``initial_soc`` root-finds the starting stoichiometry from the previous solve's guess,
    which would make results depend on the order in which a worker solves its samples.
    """
    temperature = _temperature(protocol.ambient_temperature_c)
    values = {field: f"{value:g}" for field, value in protocol.__dict__.items()}
    return {
        **reference_steps(aging, protocol.ambient_temperature_c),
        "cycle": tuple(pybamm.step.string(text.format(**values), temperature=temperature) for text in aging.cycle),
    }


def reference_steps(aging: AgingConfig, temperature_c: float | None = None, as_inputs: bool = False) -> dict[str, tuple]:
    """The conditioning and RPT steps, at ``temperature_c`` (None: the model's ambient input); with
    ``as_inputs``, their levels as inputs (:func:`input_step`), else as written."""
    temperature = _temperature(temperature_c)
    parse = input_step if as_inputs else _literal_step
    rpt = tuple(parse(step.step, temperature, step.period_s, [step.role] if step.role else None) for step in aging.rpt)
    conditioning = tuple(parse(text, temperature) for text in aging.conditioning)
    return {"conditioning": conditioning, "rpt": rpt}


def _literal_step(text: str, temperature: str | None = None, period: float | None = None, tags=None) -> pybamm.step.BaseStep:
    return pybamm.step.string(text, temperature=temperature, period=period, tags=tags)


def build_experiment(aging: AgingConfig, protocol: Protocol) -> pybamm.Experiment:
    """[conditioning] + [RPT] + ([cycle] * rpt_every + [RPT]) * (cycles / rpt_every): the whole
    trajectory as one PyBaMM experiment (the reference the chunked solve is checked against)."""
    steps = experiment_steps(aging, protocol)
    blocks = aging.cycles // aging.rpt_every
    return pybamm.Experiment(
        [steps["conditioning"], steps["rpt"]] + ([steps["cycle"]] * aging.rpt_every + [steps["rpt"]]) * blocks
    )


def input_steps(aging: AgingConfig, temperature_c: float | None = None) -> tuple:
    """The aging cycle with its placeholders as ``[input]`` parameters, at ``temperature_c``
    (None: the model's ambient input)."""
    return tuple(input_step(text, _temperature(temperature_c)) for text in aging.cycle)


def storage_steps(aging: AgingConfig, move: bool) -> tuple:
    """A storage block as input steps (durations set per block, :func:`set_storage_durations`):
    with ``move``, a discharge to the storage SOC, the rest and ``aging.storage.recharge``; without,
    the rest alone (stored at full charge, where the RPT left the cell)."""
    rest = pybamm.step.string("Rest for 24 hours")
    if not move:
        return (rest,)
    rate = aging.storage.move_c_rate
    discharge = input_step(f"Discharge at {rate:g}C for 1 hour or until {{lower_voltage_v}} V")
    return (discharge, rest, *(input_step(text) for text in aging.storage.recharge))


def set_storage_durations(steps, aging: AgingConfig, protocol: Protocol, capacity_ah: float, nominal_ah: float) -> None:
    """The storage steps' durations for this block: the discharge that removes (1 - storage_soc) of
    ``capacity_ah`` (the last RPT's) at ``aging.storage.move_c_rate`` of ``nominal_ah``, then
    ``storage_days`` of rest."""
    if len(steps) == 1:  # stored at full charge: the rest alone
        (rest,) = steps
    else:
        discharge, rest = steps[:2]
        discharge.duration = 3600.0 * (1.0 - protocol.storage_soc) * capacity_ah / (aging.storage.move_c_rate * nominal_ah)
        discharge.uses_default_duration = False
    rest.duration = protocol.storage_days * 86400.0
    rest.uses_default_duration = False


def set_durations(steps, protocol: Protocol) -> None:
    """Give built steps (``Simulation.experiment.steps``; their descriptions are their templates) the
    durations PyBaMM gives the same steps with the protocol's levels written in, and the same
    "infeasible when it runs that long" flag: a 2C charge that has not reached its voltage after
    1 hour fails the sample, as it would as a literal step, instead of running for a day; an RPT's
    C/5 discharge, after 10 hours. Durations are read at solve time, not built into the model
    (and PyBaMM's copy of an experiment rebuilds a step's default duration from its value, which
    an input has not)."""
    values = {field: f"{value:g}" for field, value in protocol.__dict__.items()}
    for step in steps:
        step.duration, step.uses_default_duration = _written_duration(step.description.format(**values))


@functools.cache
def _written_duration(text: str) -> tuple[float, bool]:
    written = pybamm.step.string(text)
    return written.duration, written.uses_default_duration


def _with_sentinels(template: str) -> str:
    """``template`` with each placeholder written as its sentinel number (a step PyBaMM can parse)."""
    return template.format(**{field: f"{sentinel:.6f}" for field, sentinel in _SENTINELS.items()})


def _placeholder(number) -> str | None:
    """The protocol field whose sentinel ``number`` is (sign ignored), or None."""
    if not isinstance(number, int | float):
        return None
    return next((field for field, sentinel in _SENTINELS.items() if abs(abs(number) - sentinel) < 1e-9), None)


def input_step(
    template: str, temperature: str | None = None, period: float | None = None, tags: list[str] | None = None
) -> pybamm.step.BaseStep:
    """One experiment step with its levels as inputs: its value as ``Step value`` and each termination's
    as ``Step cut-off N``, whether written as numbers or as protocol placeholders (a placeholder anywhere
    else is an error: a duration cannot vary between protocols). A rest keeps its zero. The step's
    duration is the one its text gives; a step whose value is a placeholder has none (its C-rate is not
    known when built); :func:`set_durations` gives every step its written duration before each solve."""
    used = [field for field in CYCLING_FIELDS if "{" + field + "}" in template]
    parsed = pybamm.step.string(_with_sentinels(template), temperature=temperature, period=period, tags=tags)
    levels = step_levels(template)
    if set(used) - set(levels.values()):
        raise ValueError(
            f"aging.cycle: in {template!r}, {{{sorted(set(used) - set(levels.values()))[0]}}} must be the step's value "
            "or its termination value (a duration cannot vary between protocols)"
        )
    if not levels:
        return parsed
    value = parsed.value
    if STEP_VALUE in levels:
        value = (1 if value > 0 else -1) * pybamm.InputParameter(STEP_VALUE)
    terminations = []
    for index, termination in enumerate(parsed.termination):
        if cut_off_name(index) not in levels:
            terminations.append(termination)
            continue
        operator = termination.operator
        if isinstance(termination, pybamm.step.VoltageTermination):
            operator = termination._get_operator(parsed)  # direction-based for a numeric value only
        terminations.append(type(termination)(pybamm.InputParameter(cut_off_name(index)), operator=operator))
    placeholder_value = isinstance(levels.get(STEP_VALUE), str)
    step = type(parsed)(
        value,
        duration=INPUT_STEP_DURATION_S if placeholder_value and parsed.uses_default_duration else parsed.duration,
        termination=terminations,
        period=parsed.period,
        temperature=parsed.temperature,
        tags=parsed.tags,
        description=template,
        direction=parsed.direction,
    )
    step.direction = parsed.direction  # PyBaMM cannot read it from an input-valued current
    step.uses_default_duration = parsed.uses_default_duration and not placeholder_value  # as written, until set_durations
    return step


@functools.cache
def step_levels(template: str) -> dict[str, float | str]:
    """The levels of a step written as ``template``, by input name (:func:`input_step`): a number
    written in the text, or the protocol field of a placeholder."""
    parsed = pybamm.step.string(_with_sentinels(template))
    levels: dict[str, float | str] = {}
    if isinstance(parsed.value, int | float) and parsed.value != 0:
        levels[STEP_VALUE] = _placeholder(parsed.value) or abs(float(parsed.value))
    for index, termination in enumerate(parsed.termination):
        if isinstance(termination.value, int | float):
            levels[cut_off_name(index)] = _placeholder(termination.value) or float(termination.value)
    return levels


def step_inputs(step: pybamm.step.BaseStep, user_inputs: dict) -> dict[str, float]:
    """The inputs of one step built by :func:`input_step` (its description is its template): its
    written numbers, and its placeholders' protocol levels from ``user_inputs`` (:func:`protocol_inputs`)."""
    return {
        name: user_inputs[input_name(level)] if isinstance(level, str) else level
        for name, level in step_levels(step.description).items()
    }
