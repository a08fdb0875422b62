"""Property-based checks of the params schema (hypothesis)."""

import copy
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agingset.config import parse_params
from agingset.params import ParamsError, Range
from tests.conftest import tiny_params_dict

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)
SECTIONS = ["design", "model", "solver", "aging", "eis", "labels", "validate", "split", "train"]


@given(low=finite, high=finite, scale=st.sampled_from(["linear", "log"]), u=st.floats(0, 1, exclude_max=True))
def test_a_range_is_accepted_exactly_when_it_is_meaningful_and_maps_into_itself(low, high, scale, u):
    meaningful = low < high and (scale == "linear" or low > 0)
    try:
        value = Range(low=low, high=high, scale=scale)
    except ValueError:
        assert not meaningful
        return
    assert meaningful
    x = value.from_unit(u)
    assert low <= x <= high or math.isclose(x, high, rel_tol=1e-9) or math.isclose(x, low, rel_tol=1e-9)


VALID = tiny_params_dict()


@settings(max_examples=40, deadline=None)
@given(section=st.sampled_from(SECTIONS), key=st.text(st.characters(categories=["L"]), min_size=1, max_size=12))
def test_any_unknown_key_is_named(section, key):
    raw = copy.deepcopy(VALID)
    if key in raw[section]:
        return
    raw[section][key] = 1
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    assert f"{section}.{key}: unknown key" in str(caught.value)


@settings(max_examples=40, deadline=None)
@given(
    section=st.sampled_from(["solver"]),
    key=st.sampled_from(["rtol", "atol", "timeout_s"]),
    value=st.one_of(
        st.floats(max_value=0.0), st.just(float("nan")), st.just(float("inf")), st.text(st.characters(categories=["L"]))
    ),
)
def test_non_positive_or_non_finite_tolerances_are_rejected(section, key, value):
    # Numeric strings stay accepted on purpose: `dvc exp run -S solver.rtol=1e-5` writes 1e-05,
    # which YAML 1.1 (PyYAML) reads as a string.
    raw = copy.deepcopy(VALID)
    raw[section][key] = value
    with pytest.raises(ParamsError) as caught:
        parse_params(raw)
    assert str(caught.value).startswith(f"params.yaml: {section}.{key}:")


def test_dvc_exp_run_set_param_keeps_the_projects_params_yaml_valid(tmp_path):
    """`dvc exp run -S samples=1000` rewrites params.yaml through DVC's Hydra overrides, which keep the file's
    comments; a comment trailing a list item of flow mappings came out as `- after_cycles: 500 to_c: 0`
    (invalid YAML) and the documented command failed before any stage ran."""
    from pathlib import Path

    import yaml
    from dvc.utils.hydra import apply_overrides

    original = Path(__file__).resolve().parents[1] / "params.yaml"
    copy = tmp_path / "params.yaml"
    copy.write_text(original.read_text())
    apply_overrides(str(copy), ["samples=1000"])
    before, after = yaml.safe_load(original.read_text()), yaml.safe_load(copy.read_text())
    assert after["samples"] == 1000
    assert {**after, "samples": before["samples"]} == before
