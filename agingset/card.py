"""The dataset card: markdown text and matplotlib figures built from a finished dataset.

Pure: tables and dicts in, a markdown string and ``Figure`` objects out, and :func:`card_files`
the card's files as bytes (the card stage writes them). Every input is optional: a section whose input is missing says so in the
card instead of being left out silently, and columns or keys this module does not know
(added by later versions of the pipeline) are reported generically rather than dropped.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from string import Template

import matplotlib

matplotlib.use("Agg")  # no display, and the same bytes on every machine with the same fonts

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from . import aging_signatures  # noqa: E402
from .calibration import figures as calibration_figures  # noqa: E402
from .catalog import KEYS  # noqa: E402
from .design import cell_parameter_columns  # noqa: E402
from .ica import incremental_capacity  # noqa: E402
from .train import fraction_label  # noqa: E402

NOT_LABELS = {"sample_id", "snapshot", "cycle", "cell_design_id", "rpt_capacity_ah"}
DEGRADATION_MODES = (("lam_ne_pct", "LAM negative"), ("lam_pe_pct", "LAM positive"))
FIGURE_DPI = 110
# The card's text: static prose and the order of its sections; the blocks are rendered here.
CARD_TEMPLATE = Template((files(__package__) / "templates" / "dataset_card.md").read_text())
# Saved PNGs carry no software or date stamp, so identical data gives identical bytes.
PNG_METADATA = {"Software": None}


@dataclass(frozen=True)
class CardInputs:
    """Everything a card can show; ``None`` (or an empty dict) means "not produced"."""

    params: dict
    metadata: dict | None = None
    design: pd.DataFrame | None = None
    status: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    spectra: pd.DataFrame | None = None
    # The card stage passes only the curves and spectra the card draws (:func:`drawn_spectra`), and
    # their sizes here; without them the sizes are the frames'.
    spectra_summary: dict | None = None
    curve_points: int | None = None
    flags: pd.DataFrame | None = None
    predictions: pd.DataFrame | None = None
    quality: dict = field(default_factory=dict)
    split_metrics: dict = field(default_factory=dict)
    train_metrics: dict = field(default_factory=dict)
    # Rows of each exported split file (data/hf/<part>.parquet), for the Hugging Face header.
    hf_parts: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    calibration_spectra: pd.DataFrame | None = None
    calibration_records: pd.DataFrame | None = None
    # The dataset's fresh spectra on the measured frequencies (data/validate/dataset_fresh_spectra.parquet).
    dataset_fresh_spectra: pd.DataFrame | None = None


# ---------------------------------------------------------------- helpers


def _fmt(value) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) >= 1e4 or abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value).replace("|", "/").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return lines


def _leaf_rows(tree: Mapping, path: tuple = ()) -> list[tuple[str, dict]]:
    """Flatten nested dicts into (path, {scalar leaves}) rows, in sorted key order."""
    scalars = {key: value for key, value in sorted(tree.items()) if not isinstance(value, Mapping)}
    rows = [(" / ".join(path) or "(top level)", scalars)] if scalars else []
    for key, value in sorted(tree.items()):
        if isinstance(value, Mapping):
            rows += _leaf_rows(value, (*path, str(key)))
    return rows


def _nested_table(tree: Mapping, first_column: str) -> list[str]:
    """A nested metrics dict as tables grouped by shape: rows sharing the same leaf keys share a table."""
    groups: dict[tuple, list] = {}
    for path, leaves in _leaf_rows(tree):
        groups.setdefault(tuple(leaves), []).append((path, leaves))
    lines: list[str] = []
    for keys, rows in groups.items():
        lines += _table([first_column, *keys], [[path, *(leaves[k] for k in keys)] for path, leaves in rows])
        lines.append("")
    return lines


def _flat_table(tree: Mapping, first_column: str) -> list[str]:
    """A nested metrics dict as one two-column table of ``path / key`` and value."""
    rows = [
        [key if path == "(top level)" else f"{path} / {key}", value]
        for path, leaves in _leaf_rows(tree)
        for key, value in leaves.items()
    ]
    return [*_table([first_column, "value"], rows), ""]


def _missing(what: str) -> list[str]:
    return [f"_Not available in this dataset: {what} was not produced._", ""]


def label_columns(labels: pd.DataFrame) -> list[str]:
    """Numeric label columns (y), whatever the labels stage added, without keys and provenance."""
    return [
        column
        for column in labels.select_dtypes("number").columns
        if column not in NOT_LABELS and not column.startswith("m_")
    ]


def _last_snapshots(labels: pd.DataFrame) -> pd.DataFrame:
    return labels.sort_values(list(KEYS)).groupby("sample_id").tail(1)


def colour_parameter(design: pd.DataFrame, labels: pd.DataFrame) -> str | None:
    """The sampled cell parameter whose rank correlation with the final SOH is strongest."""
    parameters = cell_parameter_columns(design)
    final = _last_snapshots(labels)[["sample_id", "soh"]].merge(design, on="sample_id")
    if not parameters or len(final) < 3:
        return parameters[0] if parameters else None
    strength = {}
    for name in parameters:
        rho = final[name].rank().corr(final["soh"].rank())
        strength[name] = abs(rho) if np.isfinite(rho) else -1.0
    return max(parameters, key=lambda name: (strength[name], -parameters.index(name)))


def _norm(values: np.ndarray):
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if low > 0 and high / low > 20:
        return LogNorm(low, high)
    return Normalize(low, high if high > low else low + 1)


def spectra_summary(spectra: pd.DataFrame) -> dict:
    """Spectra and points of a spectra table and its SOC range: summed (spectra, points) and
    min/max (SOC) over blocks of samples, they are the whole table's."""
    keys = [c for c in ("sample_id", "snapshot", "soc", "temperature_c") if c in spectra]
    has_soc = "soc" in spectra and len(spectra)
    return {
        "spectra": spectra.groupby(keys).ngroups,
        "points": len(spectra),
        "soc_min": spectra["soc"].min() if has_soc else None,
        "soc_max": spectra["soc"].max() if has_soc else None,
    }


def combined_summary(parts: list[dict]) -> dict:
    """:func:`spectra_summary` of a table from its blocks' summaries."""
    socs = [part for part in parts if part["soc_min"] is not None]
    return {
        "spectra": sum(part["spectra"] for part in parts),
        "points": sum(part["points"] for part in parts),
        "soc_min": min((part["soc_min"] for part in socs), default=None),
        "soc_max": max((part["soc_max"] for part in socs), default=None),
    }


def _spectra_summary(inputs: CardInputs) -> dict | None:
    if inputs.spectra_summary is not None:
        return inputs.spectra_summary
    return spectra_summary(inputs.spectra) if inputs.spectra is not None else None


def drawn_spectra(spectra: pd.DataFrame, showcase: list[str]) -> pd.DataFrame:
    """The rows of ``spectra`` the card draws: the showcase samples' (fresh vs aged) and every
    sample's fresh ones (snapshot 0: the calibration figures' dataset band)."""
    return spectra[spectra["sample_id"].isin(showcase) | (spectra["snapshot"] == 0)]


def _nearest(frame: pd.DataFrame, column: str, target: float) -> pd.DataFrame:
    """Rows whose ``column`` is, within each snapshot, the value nearest ``target`` (ties: the lower)."""
    distance = (frame[column] - target).abs()
    keys = [frame["sample_id"], frame["snapshot"]]
    frame = frame[np.isclose(distance, distance.groupby(keys).transform("min"))]
    return frame[frame[column] == frame.groupby(list(KEYS))[column].transform("min")]


def _spectrum_condition(spectra: pd.DataFrame) -> pd.DataFrame:
    """One spectrum per snapshot: the temperature nearest 25 °C, then the SOC nearest 50 %."""
    spectra = spectra[spectra["solver_status"] == "ok"] if "solver_status" in spectra else spectra
    for column, target in (("temperature_c", 25.0), ("soc", 0.5)):
        if column in spectra:
            spectra = _nearest(spectra, column, target)
    return spectra.sort_values([*KEYS, "frequency_hz"])


def showcase_samples(labels: pd.DataFrame, count: int = 3) -> list[str]:
    """The least, median and most aged samples (by final SOH), for fresh-vs-aged figures."""
    final = _last_snapshots(labels).sort_values(["soh", "sample_id"])
    if final.empty:
        return []
    positions = sorted({0, len(final) // 2, len(final) - 1})[:count]
    return [final["sample_id"].iloc[p] for p in positions]


# ---------------------------------------------------------------- figures


def soh_trajectories(design: pd.DataFrame, labels: pd.DataFrame) -> tuple[Figure, str]:
    parameter = colour_parameter(design, labels)
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    colours = design.set_index("sample_id")[parameter] if parameter else None
    norm = _norm(colours.to_numpy(dtype=float)) if parameter else None
    cmap = plt.get_cmap("viridis")
    for sample_id, trajectory in labels.sort_values(list(KEYS)).groupby("sample_id", sort=True):
        colour = cmap(norm(colours[sample_id])) if parameter else "C0"
        axes.plot(
            trajectory["cycle"], trajectory["soh"], "-o", color=colour, markersize=3, linewidth=1, alpha=0.85
        )
    axes.set_xlabel("cycle")
    axes.set_ylabel("SOH (measured C/5 capacity / initial)")
    axes.grid(alpha=0.3)
    if parameter:
        colourbar = figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes)
        colourbar.set_label(parameter, fontsize=8)
    axes.set_title("SOH trajectories")
    figure.tight_layout()
    return figure, parameter or ""


def lli_vs_lam(labels: pd.DataFrame) -> Figure:
    figure, axes = plt.subplots(figsize=(6.0, 4.2))
    for (column, name), marker in zip(DEGRADATION_MODES, ("o", "^")):
        if column in labels:
            points = axes.scatter(
                labels["lli_pct"],
                labels[column],
                c=labels["soh"],
                cmap="plasma",
                marker=marker,
                s=18,
                label=name,
            )
    figure.colorbar(points, ax=axes).set_label("SOH")
    axes.set_xlabel("LLI [%]")
    axes.set_ylabel("LAM [%]")
    axes.legend()
    axes.grid(alpha=0.3)
    axes.set_title("Degradation modes: lithium inventory vs active material")
    figure.tight_layout()
    return figure


def nyquist_fresh_vs_aged(spectra: pd.DataFrame, samples: list[str]) -> Figure:
    spectra = _spectrum_condition(spectra[spectra["sample_id"].isin(samples)])
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    for index, sample_id in enumerate(samples):
        own = spectra[spectra["sample_id"] == sample_id]
        if own.empty:
            continue
        for snapshot, style in ((own["snapshot"].min(), "--"), (own["snapshot"].max(), "-")):
            curve = own[own["snapshot"] == snapshot]
            stage = "fresh" if style == "--" else f"aged (RPT {snapshot})"
            axes.plot(
                curve["z_re_ohm"] * 1e3,
                -curve["z_im_ohm"] * 1e3,
                style,
                marker="." if style == "-" else None,
                color=f"C{index}",
                label=f"{sample_id} {stage}",
            )
    soc = f", SOC ≈ {spectra['soc'].median():.2f}" if "soc" in spectra and len(spectra) else ""
    axes.set_xlabel("Z_re [mΩ]")
    axes.set_ylabel("−Z_im [mΩ]")
    axes.set_aspect("equal", adjustable="datalim")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    axes.set_title(f"Nyquist: fresh vs aged{soc}")
    figure.tight_layout()
    return figure


def ica_curves(curves: pd.DataFrame, samples: list[str]) -> Figure:
    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for index, sample_id in enumerate(samples):
        own = curves[curves["sample_id"] == sample_id]
        if own.empty:
            continue
        for snapshot, style in ((own["snapshot"].min(), "--"), (own["snapshot"].max(), "-")):
            curve = own[own["snapshot"] == snapshot].sort_values("time_s")
            if len(curve) < 8:
                continue
            voltage, dqdv = incremental_capacity(
                curve["discharged_ah"], curve["voltage_v"], step_v=0.005, smoothing_v=0.015
            )
            stage = "fresh" if style == "--" else f"aged (RPT {snapshot})"
            axes.plot(voltage, dqdv, style, color=f"C{index}", label=f"{sample_id} {stage}")
    axes.set_xlabel("voltage [V]")
    axes.set_ylabel("dQ/dV [A.h/V]")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    axes.set_title("Incremental capacity of the C/5 RPT discharge")
    figure.tight_layout()
    return figure


def label_histograms(labels: pd.DataFrame) -> Figure:
    """One histogram per label that varies (constant labels, e.g. no plating, are in the card's table)."""
    columns = [column for column in label_columns(labels) if labels[column].nunique(dropna=True) > 1]
    width = 3
    rows = max(1, math.ceil(len(columns) / width))
    figure, grid = plt.subplots(rows, width, figsize=(3.2 * width, 2.4 * rows), squeeze=False)
    for axes, column in zip(grid.flat, columns):
        values = labels[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        axes.hist(values, bins=20, color="C0")
        axes.set_title(column, fontsize=9)
        axes.tick_params(labelsize=7)
    for axes in list(grid.flat)[len(columns) :]:
        axes.set_visible(False)
    figure.tight_layout()
    return figure


def predicted_vs_true(predictions: pd.DataFrame) -> Figure:
    targets = sorted(predictions["target"].unique())
    width = min(3, len(targets))
    rows = math.ceil(len(targets) / width)
    figure, grid = plt.subplots(rows, width, figsize=(3.4 * width, 3.2 * rows), squeeze=False)
    models = sorted(name for name in predictions["model"].unique() if not name.startswith("dummy"))
    for axes, target in zip(grid.flat, targets):
        own = predictions[predictions["target"] == target]
        for index, model in enumerate(models):
            rows_ = own[own["model"] == model]
            axes.scatter(rows_["true"], rows_["predicted"], s=10, color=f"C{index}", label=model)
        low, high = own["true"].min(), own["true"].max()
        axes.plot([low, high], [low, high], "k:", linewidth=1)
        axes.set_title(target, fontsize=9)
        axes.set_xlabel("true", fontsize=8)
        axes.set_ylabel("predicted", fontsize=8)
        axes.tick_params(labelsize=7)
    for axes in list(grid.flat)[len(targets) :]:
        axes.set_visible(False)
    if models:
        grid.flat[0].legend(fontsize=7)
    figure.suptitle("Held-out groups: predicted vs true")
    figure.tight_layout()
    return figure


def build_figures(inputs: CardInputs) -> dict[str, Figure]:
    """Figures by file stem; a figure whose inputs are missing is not built."""
    figures: dict[str, Figure] = {}
    labels = inputs.labels
    if labels is not None and inputs.design is not None:
        figures["soh_trajectories"], _ = soh_trajectories(inputs.design, labels)
    if (
        labels is not None
        and "lli_pct" in labels
        and any(column in labels for column, _ in DEGRADATION_MODES)
    ):
        figures["lli_vs_lam"] = lli_vs_lam(labels)
    showcase = showcase_samples(labels) if labels is not None else []
    if inputs.spectra is not None and showcase:
        figures["nyquist_fresh_vs_aged"] = nyquist_fresh_vs_aged(inputs.spectra, showcase)
    if inputs.curves is not None and showcase:
        figures["ica_curves"] = ica_curves(inputs.curves, showcase)
    if labels is not None:
        figures["label_histograms"] = label_histograms(labels)
    if inputs.predictions is not None and not inputs.predictions.empty:
        figures["predicted_vs_true"] = predicted_vs_true(inputs.predictions)
    figures.update(
        calibration_figures.build_calibration_figures(
            inputs.calibration_spectra, inputs.calibration_records, inputs.dataset_fresh_spectra
        )
    )
    return figures


# ---------------------------------------------------------------- markdown

HF_LICENSE = "bsd-3-clause"  # the project's licence (pyproject.toml), which the generated data carries
HF_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
HF_PATH = "data/hf/{part}.parquet"


def size_category(rows: int) -> str:
    """The Hugging Face ``size_categories`` bucket of a row count."""
    for bound, name in HF_SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "1M<n<10M" if rows < 10_000_000 else "n>10M"


def hf_header(inputs: CardInputs) -> list[str]:
    """The Hugging Face dataset-card YAML header: licence, size, tags and, when the split files
    exist, a ``configs`` entry whose ``data_files`` are the parquet parts (paths relative to the
    project root, where the Hub expects them when the project is uploaded with this card as README)."""
    rows = sum(inputs.hf_parts.values()) if inputs.hf_parts else (len(inputs.labels) if inputs.labels is not None else 0)
    lines = [
        "---",
        f"license: {HF_LICENSE}",
        "pretty_name: agingset physics-labelled lithium-ion aging and impedance dataset",
        "size_categories:",
        f"- {size_category(rows)}",
        "task_categories:",
        "- tabular-regression",
        "tags:",
        *(f"- {tag}" for tag in ("battery", "lithium-ion", "state-of-health", "impedance", "pybamm", "simulation")),
    ]
    if inputs.hf_parts:
        lines += ["configs:", "- config_name: default", "  data_files:"]
        for part in inputs.hf_parts:
            lines += [f"  - split: {part}", f"    path: {HF_PATH.format(part=part)}"]
    return [*lines, "---", ""]


def _learning_curve_table(train_metrics: Mapping) -> list[str]:
    """Held-out MAE [interval] per target and model at each share of the training cell designs."""
    rows, header = [], None
    for target, entries in sorted(train_metrics.items()):
        if not isinstance(entries, Mapping):
            continue
        for model, entry in sorted(entries.items()):
            curve = entry.get("learning_curve") if isinstance(entry, Mapping) else None
            if not curve:
                continue
            points = list(curve.values())
            header = header or [f"{fraction_label(p['train_fraction'])} ({p['train_designs']} designs)" for p in points]
            rows.append(
                [
                    f"{target} / {model}",
                    *(
                        f"{_fmt(p['mae'])} [{_fmt(p.get('mae_low'))}, {_fmt(p.get('mae_high'))}]"
                        for p in points
                    ),
                ]
            )
    if not rows:
        return _missing("a learning curve (metrics/train.json)")
    return [*_table(["target / model", *header], rows), ""]


def _without_learning_curves(train_metrics: Mapping) -> dict:
    return {
        key: (
            {name: {k: v for k, v in entry.items() if k != "learning_curve"} if isinstance(entry, Mapping) else entry
             for name, entry in value.items()}
            if isinstance(value, Mapping)
            else value
        )
        for key, value in train_metrics.items()
    }


def _counts(inputs: CardInputs) -> list[str]:
    rows = []
    if inputs.design is not None:
        rows += [
            ["samples (trajectories)", len(inputs.design)],
            ["cell designs (split groups)", inputs.design["cell_design_id"].nunique()],
        ]
    if inputs.status is not None:
        for status, count in inputs.status["status"].value_counts().sort_index().items():
            rows.append([f"samples with status `{status}`", int(count)])
    if inputs.labels is not None:
        rows.append(["snapshots (ML rows)", len(inputs.labels)])
    if inputs.flags is not None:
        rows.append(["usable snapshots", int(inputs.flags["usable"].sum())])
    summary = _spectra_summary(inputs)
    if summary is not None:
        rows += [["impedance spectra", summary["spectra"]], ["spectrum points", summary["points"]]]
    if inputs.curve_points is not None or inputs.curves is not None:
        rows.append(["RPT curve points", inputs.curve_points if inputs.curve_points is not None else len(inputs.curves)])
    if not rows:
        return _missing("the dataset tables")
    return [*_table(["what", "count"], rows), ""]


def _simulated(inputs: CardInputs) -> list[str]:
    lines: list[str] = []
    meta = inputs.metadata
    if meta is None:
        return _missing("data/aging/metadata.json")
    model = meta.get("model", {})
    solver = meta.get("solver", {})
    lines += [
        f"- **Model**: PyBaMM `{model.get('family')}` with parameter set `{model.get('parameter_set')}`"
        + (
            f", overrides {json.dumps(model.get('parameter_overrides'), sort_keys=True)}"
            if model.get("parameter_overrides")
            else ""
        ),
        "- **Mechanisms (model options)**: "
        + ("; ".join(f"{key}: {value}" for key, value in sorted(model.get("options", {}).items())) or "none"),
        f"- **Mesh points**: {json.dumps(model.get('var_pts', {}), sort_keys=True)} "
        "(unset domains use PyBaMM's defaults)",
        f"- **Solver**: {solver.get('name')} rtol={_fmt(solver.get('rtol'))} atol={_fmt(solver.get('atol'))}"
        + (f", per-sample timeout {_fmt(solver.get('timeout_s'))} s" if "timeout_s" in solver else ""),
        f"- **Seed**: {meta.get('seed')}",
        "- **Versions**: "
        + ", ".join(f"{name} {version}" for name, version in sorted(meta.get("versions", {}).items())),
    ]
    aging = meta.get("aging", {})
    if aging:
        lines += [
            f"- **Aging**: {aging.get('cycles')} cycles, an RPT every {aging.get('rpt_every')} cycles "
            "(and before the first)",
            "",
            "Protocol (placeholders come from each sample's design point):",
            "",
            "```",
            "conditioning: " + " → ".join(aging.get("conditioning", [])),
            "cycle:        " + " → ".join(aging.get("cycle", [])),
            "RPT:          "
            + " → ".join(
                step["step"] + (f" [{step['role']}]" if step.get("role") else "")
                for step in aging.get("rpt", [])
            ),
            "```",
        ]
    known = {"model", "solver", "aging", "seed", "versions", "handoff_state_variables"}
    if meta.get("handoff_state_variables"):
        lines.append(
            f"- **Impedance hand-off**: {len(meta['handoff_state_variables'])} state variables "
            "saved by name per snapshot"
        )
    for key in sorted(set(meta) - known):
        lines.append(f"- **{key}**: `{json.dumps(meta[key], sort_keys=True, default=str)[:400]}`")
    return [*lines, ""]


def _design(inputs: CardInputs) -> list[str]:
    design_params = inputs.params.get("design", {})
    if not design_params:
        return _missing("the design section of params.yaml")
    lines = [
        f"{inputs.params.get('samples')} samples drawn by `{design_params.get('method')}` "
        f"(seed {inputs.params.get('seed')}); "
        f"each cell design is cycled under {design_params.get('protocols_per_cell')} protocols.",
        "",
    ]
    rows = []
    for name, spec in design_params.get("cell_parameters", {}).items():
        observed = ["", ""]
        if inputs.design is not None and name in inputs.design:
            observed = [inputs.design[name].min(), inputs.design[name].max()]
        rows.append([name, spec.get("low"), spec.get("high"), spec.get("scale", "linear"), *observed])
    lines += _table(["sampled parameter", "low", "high", "scale", "min drawn", "max drawn"], rows)
    lines.append("")
    levels = [
        [field_, ", ".join(_fmt(v) for v in design_params.get(field_, []))]
        for field_ in ("ambient_temperature_c", "charge_c_rate", "discharge_c_rate")
    ]
    lines += _table(["protocol factor", "levels"], levels)
    eis = inputs.params.get("eis", {})
    if eis:
        lines += [
            "",
            f"Impedance: `pybamm.EISSimulation` from {_fmt(eis.get('f_min_hz'))} Hz "
            f"to {_fmt(eis.get('f_max_hz'))} Hz, "
            f"{eis.get('points_per_decade')} points per decade, surface form `{eis.get('surface_form')}`"
            + (
                f"; spectra at SOC {_fmt(summary['soc_min'])}–{_fmt(summary['soc_max'])} "
                "(coulomb-counted at the rested RPT state)"
                if (summary := _spectra_summary(inputs)) is not None and summary.get("soc_min") is not None
                else ""
            )
            + "."
            + _cross_check_sentence(eis),
        ]
    return [*lines, ""]


def _cross_check_sentence(eis: Mapping) -> str:
    hz = eis.get("cross_check_hz") or []
    if not hz:
        return ""
    fraction = eis.get("cross_check_fraction", 1.0)
    share = "every spectrum" if fraction >= 1 else f"a seeded {_fmt(100 * fraction)} % of the spectra"
    return (
        f" The other backend re-solves {', '.join(_fmt(f) for f in hz)} Hz of {share} "
        "(`cross_check_pct`; counts and distribution under Quality, `cross_check`)."
    )


def _label_distributions(inputs: CardInputs) -> list[str]:
    labels = inputs.labels
    if labels is None:
        return _missing("data/labels/labels.parquet")
    rows = []
    for column in label_columns(labels):
        values = labels[column].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            rows.append([column, 0, *[""] * 6])
            continue
        q = np.quantile(finite, [0.0, 0.05, 0.5, 0.95, 1.0])
        rows.append([column, finite.size, float(finite.mean()), *map(float, q)])
    lines = _table(["label", "n", "mean", "min", "p5", "median", "p95", "max"], rows)
    for column in [c for c in labels.columns if c.endswith("_source") or c == "status"]:
        counts = labels[column].value_counts().sort_index()
        lines += ["", f"`{column}`: " + ", ".join(f"{name} {int(n)}" for name, n in counts.items())]
    return [*lines, ""]


def _limitations(inputs: CardInputs) -> list[str]:
    meta = inputs.metadata or {}
    model = meta.get("model", {})
    aging = meta.get("aging", {})
    items = [
        f"Every cell is simulated: one physics-based model (`{model.get('family', '?')}`) and one "
        f"parameter set (`{model.get('parameter_set', '?')}`) perturbed over the ranges above. "
        "Models trained here learn that "
        "model's physics, not a real cell's. Clean observables are exact simulator outputs; the `noisy_` "
        "columns carry an instrument noise model whose levels come from one real LG M50LT cell and its "
        "cycler (docs/noise.md), not from every instrument.",
        "Only the degradation mechanisms listed in the model options age the cells; others (e.g. electrolyte "
        "decomposition, current-collector corrosion) are absent.",
        "Impedance is PyBaMM's frequency-domain linearisation at a rested state: no measurement artefacts, "
        "inductance or cable effects.",
        "Ambient temperature takes the discrete levels listed above and is constant within a trajectory.",
    ]
    if aging:
        items.append(
            f"Trajectories are {aging.get('cycles')} cycles long with an RPT every {aging.get('rpt_every')}: "
            "fade between RPTs is not resolved."
        )
    if inputs.labels is not None and "rul80_source" in inputs.labels:
        share = float((inputs.labels["rul80_source"] == "censored").mean())
        items.append(
            f"{share:.0%} of the rows have a censored RUL (end of life not reached in the run): "
            "`rul80_cycles` is then only a lower bound and is excluded from RUL training."
        )
    if inputs.status is not None:
        not_ok = int((inputs.status["status"] != "ok").sum())
        if not_ok:
            items.append(
                f"{not_ok} samples did not finish `ok`; their reasons are in `data/validate/report.md`."
            )
    return [*(f"- {item}" for item in items), ""]


# ---------------------------------------------------------------- impedance aging signatures

SIGNATURES_KEY = "aging_signatures"  # the validate stage's key in metrics/quality.json
HEADLINE_CONDITION = aging_signatures.condition_name(25.0, 0.5)
PULSE = aging_signatures.PULSE


MEASURED_SPECTRA_KEY = "measured_spectra"  # ... and of the fresh spectra against the measured cell's


def _without_signatures(quality: Mapping) -> dict:
    """quality.json without its aging signatures and the measured comparison: they get their own sections
    (the calibration's for the comparison), not the counts' table or plot."""
    return {key: value for key, value in quality.items() if key not in (SIGNATURES_KEY, MEASURED_SPECTRA_KEY)}


def _quantity_label(quantity: str) -> str:
    if quantity == PULSE:
        return "pulse resistance (10 s, 1C, at the cycling ambient)"
    return "Re Z at " + quantity.removeprefix("re_z_").replace("hz", " Hz")


def _spread_text(spread: Mapping | None) -> str:
    if not spread:
        return ""
    return f"{_fmt(spread['median'])} [{_fmt(spread['p5'])}, {_fmt(spread['p95'])}]"


def _aging_signatures(quality: Mapping) -> list[str]:
    """Growth of the impedance per 10 % capacity lost (median [5-95 %]) beside the measured cells' values."""
    signatures = quality.get(SIGNATURES_KEY)
    lines = ["### Impedance aging signatures", ""]
    if not signatures or not signatures.get("growth_pct"):
        return [*lines, *_missing("the aging signatures (metrics/quality.json, `aging_signatures`)")]
    growth = signatures["growth_pct"]
    conditions = [name for name in growth if name != PULSE]
    quantities = [aging_signatures.quantity_name(f) for f in aging_signatures.FREQUENCIES_HZ]
    lines += [
        f"Growth per {signatures['per_capacity_lost_pct']} % of capacity lost, in percent: per sample the "
        "least-squares slope through the origin of R/R0 - 1 on 1 - C/C0 over its usable RPTs (R0, C0: its "
        f"first), median [5-95 %] over {signatures['samples']} samples (docs/aging-signatures.md). Columns: "
        "spectrum SOC and temperature.",
        "",
    ]
    rows = [
        [_quantity_label(q), *(_spread_text(growth.get(name, {}).get(q)) for name in conditions)] for q in quantities
    ]
    lines += [*_table(["quantity", *conditions], rows), ""]
    if PULSE in growth:
        lines += [f"{_quantity_label(PULSE)}: {_spread_text(growth[PULSE])} %.", ""]
    by_ambient = signatures.get("by_ambient_temperature_c", {})
    if by_ambient:
        header = ["cycling ambient (°C)", "pulse resistance", *(f"{q} {HEADLINE_CONDITION}" for q in quantities)]
        rows = [
            [ambient, medians.get(PULSE), *(medians.get(HEADLINE_CONDITION, {}).get(q) for q in quantities)]
            for ambient, medians in by_ambient.items()
        ]
        lines += ["Medians by the cycling protocol's ambient temperature:", "", *_table(header, rows), ""]
    if aging_signatures.MEASURED:
        rows = [[m["source"], m["quantity"], m["growth_pct"]] for m in aging_signatures.MEASURED]
        lines += ["Measured aged NMC/graphite cells:", "", *_table(["source", "quantity", "growth (%)"], rows), ""]
    else:
        lines += [
            (
                "Measured aged NMC/graphite cells: no published Re Z or pulse-resistance growth per capacity lost "
                "has been read from a citable source yet, so nothing checks these numbers against real cells "
                "(docs/aging-signatures.md, where we looked)."
            ),
            "",
        ]
    return lines


def _figure_link(name: str, title: str, figures: Mapping[str, str]) -> list[str]:
    if name not in figures:
        return [f"_Figure `{name}` not available: its inputs were not produced._", ""]
    return [f"![{title}]({figures[name]})", ""]


def render_card(inputs: CardInputs, figures: Mapping[str, str]) -> str:
    """The card's markdown: ``templates/dataset_card.md`` filled with the dataset's sections;
    ``figures`` maps figure stems to the relative paths they are saved under."""
    colour = ""
    if inputs.design is not None and inputs.labels is not None:
        colour = colour_parameter(inputs.design, inputs.labels) or ""
    features = inputs.train_metrics.get("learning_curve_features") if inputs.train_metrics else None
    blocks = {
        "hf_header": hf_header(inputs),
        "counts": _counts(inputs),
        "simulated": _simulated(inputs),
        "design": _design(inputs),
        "label_distributions": _label_distributions(inputs),
        **{
            name: _figure_link(name, title, figures)
            for name, title in (
                ("label_histograms", "label histograms"),
                ("soh_trajectories", "SOH trajectories"),
                ("lli_vs_lam", "LLI vs LAM"),
                ("nyquist_fresh_vs_aged", "Nyquist fresh vs aged"),
                ("ica_curves", "ICA curves"),
                ("predicted_vs_true", "predicted vs true"),
            )
        },
        "quality": (
            [*_flat_table(_without_signatures(inputs.quality), "metric"), *_aging_signatures(inputs.quality)]
            if inputs.quality
            else _missing("metrics/quality.json")
        ),
        "split": (
            _flat_table(inputs.split_metrics, "metric") if inputs.split_metrics else _missing("metrics/split.json")
        ),
        "train": (
            _nested_table(_without_learning_curves(inputs.train_metrics), "target / model")
            if inputs.train_metrics
            else _missing("metrics/train.json")
        ),
        "learning_curve": _learning_curve_table(inputs.train_metrics),
        "calibration": calibration_figures.calibration_section(
            inputs.calibration,
            (inputs.quality or {}).get(MEASURED_SPECTRA_KEY, {}),
            figures,
            _figure_link,
        ),
        "limitations": _limitations(inputs),
    }
    text = CARD_TEMPLATE.substitute(
        {name: "\n".join(lines) for name, lines in blocks.items()},
        colour=f" (`{colour}`)" if colour else "",
        learning_curve_features=f" ({features} features)" if features else "",
    )
    return text.rstrip("\n") + "\n"


# ---------------------------------------------------------------- dvc plots data


def quality_plot_rows(quality: Mapping) -> pd.DataFrame:
    """``metric, value`` for every scalar count or rate in quality.json (``dvc plots`` bar chart)."""
    rows = [
        {"metric": f"{path} / {key}" if path != "(top level)" else key, "value": float(value)}
        for path, leaves in _leaf_rows(quality)
        for key, value in leaves.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    return pd.DataFrame(rows, columns=["metric", "value"])


def soh_by_cycle(labels: pd.DataFrame) -> pd.DataFrame:
    """Median and spread of SOH per cycle (``dvc plots`` line across dataset versions)."""
    grouped = labels.groupby("cycle")["soh"]
    return pd.DataFrame(
        {
            "cycle": grouped.median().index.to_numpy(),
            "soh_median": grouped.median().to_numpy(),
            "soh_p5": grouped.quantile(0.05).to_numpy(),
            "soh_p95": grouped.quantile(0.95).to_numpy(),
        }
    )


# ---------------------------------------------------------------- the card's files


def card_params(params) -> dict:
    """The part of :class:`agingset.params.Params` the card reports, as plain dicts."""
    return {
        "samples": params.samples,
        "seed": params.seed,
        "design": params.design.model_dump(),
        "eis": params.eis.model_dump(),
    }


def card_files(inputs: CardInputs) -> dict[str, bytes]:
    """The card's files by path relative to its directory: README.md, figures/<name>.png and the ``dvc plots``
    data plots/quality.csv and plots/soh_by_cycle.csv (each only when its input exists)."""
    figures = build_figures(inputs)
    contents = {}
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata=PNG_METADATA)
        plt.close(figure)
        contents[f"figures/{name}.png"] = buffer.getvalue()
    contents["README.md"] = render_card(inputs, {name: f"figures/{name}.png" for name in figures}).encode()
    if inputs.quality:
        contents["plots/quality.csv"] = (
            quality_plot_rows(_without_signatures(inputs.quality)).to_csv(index=False).encode()
        )
    if inputs.labels is not None:
        contents["plots/soh_by_cycle.csv"] = soh_by_cycle(inputs.labels).to_csv(index=False).encode()
    return contents
