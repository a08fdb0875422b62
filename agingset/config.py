"""params.yaml validated once at the boundary into typed objects: the schema
(:mod:`agingset.params`), then what PyBaMM says of the model configuration
(:func:`agingset.physics.model.params_problems`). Every problem is one line naming the key."""

from __future__ import annotations

from pathlib import Path

from .params import Params, ParamsError, one_line, read_yaml, validate_schema
from .physics.model import params_problems


def parse_params(raw: object) -> Params:
    """The validated params: the schema, then what PyBaMM says of the model configuration."""
    params = validate_schema(raw)
    problems = params_problems(params)
    if problems:
        raise ParamsError(one_line(*problems[0], len(problems) - 1))
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    return parse_params(read_yaml(path))
