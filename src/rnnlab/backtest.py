"""Score a fitted forecaster on the test part, beside the baselines on the same targets.

`rnnlab train` (through `rnnlab.runs`) and every run of compare, sweep and demo (through
`rnnlab.tasks`) are scored here, so one rule makes every score.

    rnnlab train --data stock:A --out runs/a   # metrics.json: the model and each baseline
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .base import far_outside
from .baselines import BASELINES
from .choose import MAX_ORIGINS
from .errors import DataError
from .features import target_of
from .metrics import Verdict, mae, mase, rmse, score, smape, verdict, verdict_of_losses
from .windows import Split


@dataclass
class Backtest:
    """One model scored on the test part, beside the baselines on the same targets."""

    predictions: pd.DataFrame  # index: dates of the test part; actual, model, baselines
    metrics: dict  # {"model": {...}, "naive": {...}, ...}
    forecaster: object
    split: Split
    seasonal_period: int | None
    verdict: Verdict  # win, tie or loss against the best baseline, by the one rule
    # Forecasts `horizon` steps ahead from every test origin (`score_paths`), or None
    multi_step: dict | None = None
    # Each origin's mean squared error over its steps: "model" and every baseline
    path_losses: dict | None = None



def backtest(series: pd.Series, forecaster, split: Split, **fit_kwargs) -> Backtest:
    """Fit on everything before the test part (its last `n_val` points for early stopping)
    and score one-step-ahead predictions on the test part against every baseline."""
    check_horizon(getattr(forecaster, "horizon", 1), split,
                  str(target_of(series).name or "series"))
    forecaster.fit(series.iloc[: split.n_fit], val_size=split.n_val, **fit_kwargs)
    return score_fitted(series, forecaster, split)



def baseline_predictions(series: pd.Series, split: Split) -> tuple[dict, int | None]:
    """Each baseline's test predictions, fitted on the part before the test, and the
    seasonal period found on the training part (None when no period stands out)."""
    series = target_of(series)  # with features: the target, the frame's first column
    fit_part = series.iloc[: split.n_fit]
    columns, period = {}, None
    for name, cls in BASELINES.items():
        baseline = cls().fit(fit_part, val_size=split.n_val)
        columns[name] = baseline.predict(series, start=split.n_fit).to_numpy()[-split.n_test:]
        if name == "seasonal_naive" and baseline.period_found_:
            period = baseline.period_
    return columns, period



def score_fitted(series: pd.Series, forecaster, split: Split,
                 baselines: tuple[dict, int | None] | None = None) -> Backtest:
    """Score a forecaster already fitted on the part before the test, beside the baselines."""
    columns, period = baselines or baseline_predictions(series, split)
    actual = target_of(series).iloc[split.n_fit:]
    # From the series' start: the filters (ETS, Theta) run through the values before the
    # test part, as they did when fitted.
    model = forecaster.predict(series, start=split.n_fit).iloc[-split.n_test:].to_numpy()
    predictions = pd.DataFrame({"actual": actual.to_numpy(), "model": model, **columns},
                               index=actual.index)
    fit_part = target_of(series).iloc[: split.n_fit]
    metrics = {name: score(predictions["actual"], predictions[name], fit_part)
               for name in predictions if name != "actual"}
    found = verdict(predictions["actual"], predictions["model"], columns)
    horizon = getattr(forecaster, "horizon", 1)
    steps, losses = score_paths(series, forecaster, split, horizon)
    return Backtest(predictions, metrics, forecaster, split, period, found, steps, losses)


def check_horizon(horizon: int, split: Split, name: str = "series") -> None:
    """Refuse a horizon longer than the test part: no origin would have all its targets."""
    if horizon > split.n_test:
        raise DataError(
            f"horizon {horizon} is longer than the test part of {name} ({split.n_test} "
            f"values), so no test origin has {horizon} values after it to score; use "
            f"--horizon {split.n_test} or less, or a larger --test-fraction"
        )


PATH_METRICS = ("rmse", "mae", "mase", "smape")


def score_paths(series: pd.Series, forecaster, split: Split, horizon: int
                ) -> tuple[dict, dict[str, np.ndarray]]:
    """Forecast `horizon` steps ahead from every origin of the test part (each origin's
    targets all inside it) and score each step beside the baselines on the same targets.

    An origin o forecasts values[o:o + horizon] from values[:o]; the baselines are fitted
    on the part before the test, the model's interval (if any) was calibrated on
    validation. Returns the dict that metrics.json keeps under "multi_step", and each
    origin's mean squared error over its steps for the model and every baseline (what
    the one rule's paired test compares).
    """
    inputs, series = series, target_of(series)  # a frame with features goes to the model
    check_horizon(horizon, split, str(series.name or "series"))
    values = series.to_numpy(np.float64)
    fit_part = values[: split.n_fit]
    origins = np.arange(split.n_fit, len(values) - horizon + 1)
    targets = values[origins[:, None] + np.arange(horizon)]  # (n_origins, horizon)
    paths = {"model": forecaster.paths_from(
        inputs if isinstance(inputs, pd.DataFrame) else values, origins, horizon)}
    period = None
    for name, cls in BASELINES.items():
        baseline = cls().fit(series.iloc[: split.n_fit])
        paths[name] = baseline.paths_from(values, origins, horizon)
        if name == "seasonal_naive" and baseline.period_found_:
            period = baseline.period_
    per_step, overall = {}, {}
    for name, path in paths.items():
        per_step[name] = {metric: [_path_metric(metric, targets[:, h], path[:, h], fit_part)
                                   for h in range(horizon)] for metric in PATH_METRICS}
        overall[name] = {metric: _path_metric(metric, targets.ravel(), path.ravel(), fit_part)
                         for metric in PATH_METRICS}
    level = float(getattr(forecaster, "interval", 0.0) or 0.0)
    widths = forecaster.interval_widths(horizon) if level > 0 else None
    if widths is not None:
        inside = np.abs(targets - paths["model"]) <= widths
        per_step["model"]["coverage"] = inside.mean(0).tolist()
        overall["model"]["coverage"] = float(inside.mean())
        overall["model"]["width"] = float(2 * widths.mean())
    losses = {name: ((targets - path) ** 2).mean(1) for name, path in paths.items()}
    found = verdict_of_losses(losses["model"], {k: v for k, v in losses.items()
                                                if k != "model"}, horizon)
    return {
        "far_outside": far_outside(paths["model"], getattr(forecaster, "train_range_", None)),
        "horizon": horizon, "strategy": _strategy(forecaster),
        "candidates": candidate_scores(forecaster, inputs, origins, targets, fit_part),
        "origins": len(origins), "interval": level if widths is not None else 0.0,
        "seasonal_period": period, "per_step": per_step, "overall": overall,
        "verdict": found.to_dict(),
    }, losses


def candidate_scores(forecaster, inputs, origins: np.ndarray, targets: np.ndarray,
                     fit_part: np.ndarray) -> list[dict] | None:
    """The forecaster's table of candidates (`rnnlab.forecaster.Forecaster.candidates_`:
    fold loss, weight), each with its own test RMSE and MASE over every origin and step,
    as fitted before the first fold origin (the chosen ones were fitted again before
    forecasting). Reported, never used to choose: the test part chooses nothing. A test
    part of more than MAX_ORIGINS origins (a long series) is scored at MAX_ORIGINS of them,
    evenly spread, each row saying how many (`test_origins`)."""
    table = getattr(forecaster, "candidates_", None)
    if table is None:
        return None
    if len(origins) > MAX_ORIGINS:
        keep = np.linspace(0, len(origins) - 1, MAX_ORIGINS).round().astype(np.int64)
        origins, targets = origins[keep], targets[keep]
    fitted = {c.name: c for c in getattr(forecaster, "fold_candidates_", [])}
    floor = getattr(forecaster, "floor_", None)
    values, matrix, _ = forecaster._data(inputs)
    rows = []
    for row in table:
        row = dict(row)
        candidate = fitted.get(row["name"])
        if candidate is not None:
            data = matrix if candidate.family == "net" and matrix is not None else values
            path = candidate.paths(data, origins, targets.shape[1])
            path = path if floor is None else np.maximum(path, floor)
            row["test_rmse"] = rmse(targets.ravel(), path.ravel())
            row["test_mase"] = mase(targets.ravel(), path.ravel(), fit_part)
            row["test_origins"] = len(origins)
        rows.append(row)
    return rows


def _strategy(forecaster) -> str:
    """How the forecaster made its paths: the strategy it used (auto resolved)."""
    config = getattr(forecaster, "model_config", None)
    return config().strategy if callable(config) else "recursive"


def _path_metric(metric: str, y_true: np.ndarray, y_pred: np.ndarray, fit_part) -> float:
    if metric == "mase":
        return mase(y_true, y_pred, fit_part)
    return {"rmse": rmse, "mae": mae, "smape": smape}[metric](y_true, y_pred)
