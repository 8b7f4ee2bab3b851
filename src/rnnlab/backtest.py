"""Score a fitted forecaster on the test part, beside the baselines on the same targets.

`rnnlab train` (through `rnnlab.runs`) and every run of compare, sweep and demo (through
`rnnlab.tasks`) are scored here, so one rule makes every score.

    rnnlab train --data stock:A --out runs/a   # metrics.json: the model and each baseline
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .baselines import BASELINES
from .metrics import Verdict, score, verdict
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



def backtest(series: pd.Series, forecaster, split: Split, **fit_kwargs) -> Backtest:
    """Fit on everything before the test part (its last `n_val` points for early stopping)
    and score one-step-ahead predictions on the test part against every baseline."""
    forecaster.fit(series.iloc[: split.n_fit], val_size=split.n_val, **fit_kwargs)
    return score_fitted(series, forecaster, split)



def baseline_predictions(series: pd.Series, split: Split) -> tuple[dict, int | None]:
    """Each baseline's test predictions, fitted on the part before the test, and the
    seasonal period found on the training part (None when no period stands out)."""
    fit_part = series.iloc[: split.n_fit]
    columns, period = {}, None
    for name, cls in BASELINES.items():
        baseline = cls().fit(fit_part, val_size=split.n_val)
        columns[name] = baseline.predict(series).iloc[-split.n_test:].to_numpy()
        if name == "seasonal_naive" and baseline.period_found_:
            period = baseline.period_
    return columns, period



def score_fitted(series: pd.Series, forecaster, split: Split,
                 baselines: tuple[dict, int | None] | None = None) -> Backtest:
    """Score a forecaster already fitted on the part before the test, beside the baselines."""
    columns, period = baselines or baseline_predictions(series, split)
    actual = series.iloc[split.n_fit:]
    # Only the test windows: their look-back starts seq_len rows before the test part.
    history = getattr(forecaster, "min_history", 1)
    model = forecaster.predict(series.iloc[max(0, split.n_fit - history):])
    model = model.iloc[-split.n_test:].to_numpy()
    predictions = pd.DataFrame({"actual": actual.to_numpy(), "model": model, **columns},
                               index=actual.index)
    fit_part = series.iloc[: split.n_fit]
    metrics = {name: score(predictions["actual"], predictions[name], fit_part)
               for name in predictions if name != "actual"}
    found = verdict(predictions["actual"], predictions["model"], columns)
    return Backtest(predictions, metrics, forecaster, split, period, found)
