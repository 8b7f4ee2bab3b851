"""What many steps ahead cost: fit + a 48-step forecast of a 1,000-point hourly series,
against the one-step fit, for both strategies. Each setting runs `--repeats` times in
turn (medians reported), in one process, so the ratios are measured under the same load.

Also times the scoring of every test origin 48 steps ahead (`score_paths`), which
`rnnlab train --horizon 48` adds to the fit.

    python benchmarks/horizon_speed.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd

from rnnlab.backtest import score_paths
from rnnlab.forecaster import Forecaster
from rnnlab.windows import split_sizes

HORIZON = 48


def hourly_series(n: int = 1000, seed: int = 0) -> pd.Series:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    values = 10 + 3 * np.sin(2 * np.pi * t / 24) + np.sin(2 * np.pi * t / 168) \
        + 0.3 * rng.standard_normal(n)
    index = pd.date_range("2024-01-01", periods=n, freq="h", name="date")
    return pd.Series(values, index=index, name="hourly")


def one(series: pd.Series, split, horizon: int, strategy: str, steps: int) -> dict:
    started = time.perf_counter()
    f = Forecaster(horizon=horizon, strategy=strategy, progress=False)
    f.fit(series.iloc[:split.n_fit], val_size=split.n_val)
    fitted = time.perf_counter()
    f.forecast_interval(steps)
    forecast = time.perf_counter()
    steps, _ = score_paths(series, f, split, horizon)
    scored = time.perf_counter()
    overall = steps["overall"]
    return {"fit": fitted - started, "forecast": forecast - fitted,
            "fit+forecast": forecast - started, "score": scored - forecast,
            "rmse": overall["model"]["rmse"], "snaive": overall["seasonal_naive"]["rmse"],
            "coverage": overall["model"].get("coverage", float("nan"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    series = hourly_series()
    split = split_sizes(len(series), 30, 0.1, 0.2)
    settings = {"one step (H=1)": (1, "recursive", 1),
                "recursive H=48": (HORIZON, "recursive", HORIZON),
                "direct H=48": (HORIZON, "direct", HORIZON),
                "auto H=48": (HORIZON, "auto", HORIZON)}
    times = {name: [] for name in settings}
    for _ in range(args.repeats):
        for name, (horizon, strategy, steps) in settings.items():
            times[name].append(one(series, split, horizon, strategy, steps))
    base = statistics.median(t["fit"] for t in times["one step (H=1)"])
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {args.repeats}")
    print(f"{'setting':<18} {'fit s':>7} {'forecast s':>10} {'fit+fc s':>9} "
          f"{'vs 1-step fit':>13} {'score s':>8} {'RMSE all H':>10} {'snaive':>7} "
          f"{'cover':>6}")
    for name, rows in times.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"{name:<18} {med['fit']:7.2f} {med['forecast']:10.3f} {med['fit+forecast']:9.2f}"
              f" {med['fit+forecast'] / base:12.2f}x {med['score']:8.2f} {med['rmse']:10.4f}"
              f" {med['snaive']:7.4f} {med['coverage']:6.2f}")


if __name__ == "__main__":
    main()
