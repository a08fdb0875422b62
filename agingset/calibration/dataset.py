"""The dataset's side of a calibration: the cell model and the design ranges the fit hands on.

With ``model.base_values: calibrated`` the calibrate stage's dataset parameters (its identified
shared values) are the dataset model's base values (``model.parameter_overrides`` still win) and the
model names the calibration it came from; with ``design.ranges: calibrated`` every cell-parameter
range that names a calibrated parameter is the calibration's design range (the fitted value +- its
combined fit and cell-to-cell uncertainty, :func:`.report.design_range`), the others keep their prior.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..params import DesignConfig, ModelConfig, Params, Range


@dataclass(frozen=True)
class Calibrated:
    """The calibrate stage's result as written (``data/calibrate/calibrated.json``) and its SHA-256."""

    content: dict
    sha256: str


def needs_calibration(params: Params) -> bool:
    """Whether the dataset's model or design takes anything from the calibrate stage."""
    return params.model.base_values == "calibrated" or params.design.ranges == "calibrated"


def dataset_model(model: ModelConfig, calibrated: Calibrated | None) -> ModelConfig:
    """The dataset's model: ``model``, with the fitted values as its base values when
    ``model.base_values: calibrated`` (``calibration`` then names them and their source)."""
    if model.base_values != "calibrated":
        return model
    content = calibrated.content
    fitted = {name: content["parameters"][name]["fitted"] for name in content["dataset_parameters"]}
    return model.with_base_values(
        fitted,
        calibration={
            "calibrated_json_sha256": calibrated.sha256,
            "measurements": content["measurements"],
            "fitted": fitted,
        },
    )


def dataset_design(design: DesignConfig, calibrated: Calibrated | None) -> DesignConfig:
    """The design the dataset is drawn from: ``design``, with the calibration's ranges when
    ``design.ranges: calibrated``."""
    if design.ranges == "prior":
        return design
    calibrated_ranges = calibrated.content["design_ranges"]
    ranges = {
        name: Range(**calibrated_ranges[name]) if name in calibrated_ranges else prior
        for name, prior in design.cell_parameters.items()
    }
    return design.model_copy(update={"cell_parameters": ranges})


def design_ranges_record(design: DesignConfig, calibrated: Calibrated | None) -> dict:
    """What the design stage records of its ranges: their kind, every cell-parameter range drawn
    from, the fitted values behind them and the calibration's measurements and range basis."""
    config = dataset_design(design, calibrated)
    content = calibrated.content if calibrated is not None and design.ranges == "calibrated" else None
    return {
        "ranges": design.ranges,
        "cell_parameters": {name: r.model_dump() for name, r in config.cell_parameters.items()},
        "calibrated_values": {
            name: content["parameters"][name]["fitted"]
            for name in config.cell_parameters
            if content and name in content["parameters"]
        },
        "calibration": {key: content[key] for key in ("measurements", "design_range_basis")} if content else None,
    }


def typical_cell(params: Params, calibrated: Calibrated | None) -> tuple[ModelConfig, dict[str, float]]:
    """The dataset's model and its typical cell: every sampled cell parameter at the middle of its
    (calibrated) design range, on its scale."""
    design = dataset_design(params.design, calibrated)
    cell = {name: entry.from_unit(0.5) for name, entry in design.cell_parameters.items()}
    return dataset_model(params.model, calibrated), cell
