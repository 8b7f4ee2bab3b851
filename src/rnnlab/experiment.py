"""Experiments: honest train/test backtests, alone or many at a time (compare, sweep).

    rnnlab compare --data sine,stock:A --models rnn,lstm,gru --seeds 3 --out runs/cmp
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .baselines import BASELINES
from .config import DataConfig, ModelConfig, TrainConfig
from .metrics import score
from .windows import Split


@dataclass
class Backtest:
    """One model scored on the test part, beside the baselines on the same targets."""

    predictions: pd.DataFrame  # index: dates of the test part; actual, model, baselines
    metrics: dict  # {"model": {...}, "naive": {...}, ...}
    forecaster: object
    split: Split
    seasonal_period: int | None


def load(data: DataConfig) -> pd.Series:
    from .data import load_series

    return load_series(data.source, target=data.target, ticker=data.ticker,
                       date_column=data.date_column, max_fill=data.max_fill,
                       seed=data.data_seed)


def make_forecaster(model: ModelConfig, training: TrainConfig, progress: bool | None = None):
    from .forecaster import Forecaster

    return Forecaster(**vars(model), **vars(training), progress=progress)


def backtest(series: pd.Series, forecaster, split: Split, **fit_kwargs) -> Backtest:
    """Fit on everything before the test part (its last `n_val` points for early stopping)
    and score one-step-ahead predictions on the test part against every baseline."""
    fit_part = series.iloc[: split.n_fit]
    forecaster.fit(fit_part, val_size=split.n_val, **fit_kwargs)
    actual = series.iloc[split.n_fit:]
    columns = {"actual": actual.to_numpy(),
               "model": forecaster.predict(series).iloc[-split.n_test:].to_numpy()}
    period = None
    for name, cls in BASELINES.items():
        baseline = cls().fit(fit_part)
        columns[name] = baseline.predict(series).iloc[-split.n_test:].to_numpy()
        if name == "seasonal_naive":
            period = baseline.period_ if baseline.period_found_ else None
    predictions = pd.DataFrame(columns, index=actual.index)
    metrics = {name: score(predictions["actual"], predictions[name], fit_part)
               for name in columns if name != "actual"}
    return Backtest(predictions, metrics, forecaster, split, period)


