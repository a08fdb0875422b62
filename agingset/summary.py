"""The headline of a dataset version (metrics/summary.json): one screen of `dvc metrics diff`.

Pure: the metrics dicts of validate, split, train_baseline and calibrate in, one small dict
out. For each headline target the best baseline (lowest held-out MAE, the dummy excluded) is
reported with its bootstrap interval over held-out cell designs, on the instrument-noisy
features when the dataset has them (what a real measurement would give), with the clean
score beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

HEADLINE_TARGETS = ("soh", "lli_pct", "lam_ne_pct", "lam_pe_pct")
BASELINE = "dummy"


def _rounded(value, digits: int = 6):
    return round(float(value), digits) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def best_model(entries: Mapping, way: str) -> str | None:
    """The model with the lowest MAE on ``way`` (ties: the first name in sorted order)."""
    candidates = [
        (entry[way]["mae"], name)
        for name, entry in sorted(entries.items())
        if isinstance(entry, Mapping) and name != BASELINE and way in entry
    ]
    return min(candidates)[1] if candidates else None


def target_headline(entries: Mapping) -> dict | None:
    way = "noisy_test" if any(isinstance(e, Mapping) and "noisy_test" in e for e in entries.values()) else "test"
    name = best_model(entries, way)
    if name is None:
        return None
    entry = entries[name]
    interval = entry.get(f"{way}_ci", {})
    headline = {
        "model": name,
        "features": "noisy" if way == "noisy_test" else "clean",
        "mae": entry[way]["mae"],
        "mae_low": interval.get("mae_low"),
        "mae_high": interval.get("mae_high"),
        "r2": entry[way]["r2"],
        "mae_clean_features": entry["test"]["mae"] if way != "test" else None,
        "dummy_mae": entries.get(BASELINE, {}).get(way, {}).get("mae"),
    }
    return {key: _rounded(value) for key, value in headline.items() if value is not None}


def calibration_errors(calibration: Mapping) -> dict:
    """Real-data errors the calibrate stage reports: the fit's RMSE on the measured record
    (``rmse_fitted``) and, when present, every number under ``held_out`` (measurements kept
    out of the fit), flattened to ``held_out/<name>/<metric>``."""
    errors = {}
    if isinstance(calibration.get("rmse_fitted"), (int, float)):
        errors["fit_rmse_v"] = _rounded(calibration["rmse_fitted"])

    def flatten(tree, path):
        for key, value in sorted(tree.items()):
            if isinstance(value, Mapping):
                flatten(value, (*path, str(key)))
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                errors["/".join((*path, str(key)))] = _rounded(value)

    if isinstance(calibration.get("held_out"), Mapping):
        flatten(calibration["held_out"], ("held_out",))
    return errors


def summarise(quality: Mapping, split: Mapping, train: Mapping, calibration: Mapping | None = None) -> dict:
    snapshots = quality.get("snapshots", 0)
    summary = {
        "samples": quality.get("samples"),
        "snapshots": snapshots,
        "usable_share": _rounded(quality["snapshots_usable"] / snapshots) if snapshots else None,
        "failure_rate": quality.get("failure_rate"),
        "held_out_designs": split.get("groups_test"),
        "train_designs": split.get("groups_train"),
    }
    for target in HEADLINE_TARGETS:
        if isinstance(train.get(target), Mapping):
            headline = target_headline(train[target])
            if headline:
                summary[target] = headline
    if calibration:
        errors = calibration_errors(calibration)
        if errors:
            summary["calibration"] = errors
    return {key: value for key, value in summary.items() if value is not None}
