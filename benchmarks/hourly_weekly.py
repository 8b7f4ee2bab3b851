"""Hourly-like and weekly series, scored as M4 scores them: sMAPE, MASE and OWA against Naive2.

A stand-in for the M4 hourly (48 steps ahead) and weekly (13 steps ahead) sets, which do
not ship here:

- hourly: half-hourly electricity demand of England and Wales (June to August 2000, the
  `taylor` series inside pmdarima's wheel) cut into 4 chunks of 3 weeks, period 48, when
  pmdarima is installed (`pip install pmdarima`); and 8 synthetic hourly series made here
  with numpy (a daily profile of 5 harmonics, a lower weekend in most, a trend, AR(1) noise
  and a level shift in some), period 24;
- weekly: 3 chunks of 700 weeks of the Mauna Loa CO2 record inside statsmodels, with M4's
  weekly m = 1.

Each series is split as `rnnlab train` splits it (70/10/20); the model is fitted as
`rnnlab train --data X --horizon H` fits it and forecasts H steps from every origin of the
test part, beside Naive2 on the same origins (seasonal indices from the part before the
test). OWA is the mean of the sMAPE and MASE ratios to Naive2 per series, averaged per group.
The one rule's verdict against the best of naive, seasonal naive and the mean is printed
beside it.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/hourly_weekly.py
    ... benchmarks/hourly_weekly.py --seq-len 48 --model linear    # another setting
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from rnnlab.baselines import BASELINES
from rnnlab.forecaster import Forecaster
from rnnlab.metrics import mase, naive2_paths, seasonal_indices, smape, verdict_of_losses
from rnnlab.windows import seq_len_for_split, split_sizes


def synthetic_hourly(k: int, n: int = 960) -> pd.Series:
    rng = np.random.default_rng(100 + k)
    t = np.arange(n)
    profile = sum(rng.normal(0, 1 / (j + 1)) *
                  np.sin(2 * np.pi * (j + 1) * t / 24 + rng.uniform(0, 2 * np.pi))
                  for j in range(5))
    weekend = 1 - rng.uniform(0, 0.4) * (((t // 24) % 7) >= 5)
    trend = 1 + rng.uniform(-0.3, 0.3) * t / n
    noise = np.zeros(n)
    shocks = rng.normal(0, rng.uniform(0.02, 0.15), n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + shocks[i]
    y = rng.uniform(50, 2000) * trend * weekend * (1 + 0.3 * profile / np.abs(profile).max()
                                                   + noise)
    if rng.random() < 0.25:
        y[rng.integers(n // 3, n - 100):] *= rng.uniform(0.6, 1.4)
    return pd.Series(np.maximum(y, 1.0), name=f"synthetic{k}",
                     index=pd.date_range("2020-01-01", periods=n, freq="h"))


def demand_parts(count: int, length: int, step: int) -> list[pd.Series]:
    """`count` stretches of `length` half-hours of the `taylor` demand record, each `step`
    after the last, or none (with a note) where pmdarima is not installed."""
    try:
        from pmdarima.datasets import load_taylor
    except ImportError:
        print("pmdarima is not installed: the half-hourly demand stretches are left out")
        return []
    demand = np.asarray(load_taylor(), dtype=np.float64)
    return [pd.Series(demand[k * step:k * step + length], name=f"taylor{k}",
                      index=pd.date_range("2000-06-05", periods=length, freq="30min"))
            for k in range(count)]


def series_set() -> list[tuple[str, int, int, pd.Series]]:
    """(group, horizon, M4's m, series) for every series of the set."""
    out = [("hourly", 48, 48, part) for part in demand_parts(4, 1008, 1008)]
    out += [("hourly", 48, 24, synthetic_hourly(k)) for k in range(8)]
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate()
    out += [("weekly", 13, 1, co2.iloc[k * 700:(k + 1) * 700].rename(f"co2_weekly{k}"))
            for k in range(3)]
    return out


def score(group: str, horizon: int, m: int, series: pd.Series, params: dict) -> dict:
    values = series.to_numpy(np.float64)
    window = seq_len_for_split(values, 0.1, 0.2, params.get("seq_len"))
    split = split_sizes(len(values), window.seq_len, 0.1, 0.2)
    origins = np.arange(split.n_fit, len(values) - horizon + 1)
    targets = values[origins[:, None] + np.arange(horizon)]
    fit_part = values[: split.n_fit]
    started = time.perf_counter()
    model = Forecaster(horizon=horizon, progress=False, **params).fit(
        series.iloc[: split.n_fit], val_size=split.n_val)
    paths = model.paths_from(values, origins, horizon)
    seconds = time.perf_counter() - started
    naive2 = naive2_paths(values, origins, horizon,
                          seasonal_indices(fit_part, m) if m > 1 else np.ones(1))
    losses = {name: ((targets - cls().fit(series.iloc[: split.n_fit]).paths_from(
        values, origins, horizon)) ** 2).mean(1) for name, cls in BASELINES.items()}
    found = verdict_of_losses(((targets - paths) ** 2).mean(1), losses, horizon)

    def pair(p):
        return smape(targets.ravel(), p.ravel()), mase(targets.ravel(), p.ravel(), fit_part, m)

    (s_model, m_model), (s_naive2, m_naive2) = pair(paths), pair(naive2)
    return {"group": group, "series": series.name, "seq_len": model.seq_len,
            "strategy": model.strategy_, "scaler": model.scaler_.kind,
            "forms": getattr(model, "forms_", None),
            "owa": 0.5 * (s_model / s_naive2 + m_model / m_naive2), "smape": s_model,
            "mase": m_model, "verdict": f"{found.outcome} vs {found.against} "
                                        f"({found.ratio:.3f})", "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="[default: rnnlab's, lstm]")
    parser.add_argument("--seq-len", type=int, default=None, help="[default: auto]")
    args = parser.parse_args()
    params = {k: v for k, v in {"model": args.model, "seq_len": args.seq_len}.items()
              if v is not None}
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {params or 'defaults'}")
    rows = []
    for group, horizon, m, series in series_set():
        row = score(group, horizon, m, series, params)
        rows.append(row)
        print(f"{group:7} {row['series']:14} seq_len {row['seq_len']:4} {row['scaler']:8} "
              f"{row['strategy']:9} OWA {row['owa']:.3f}  {row['verdict']}  "
              f"{row['seconds']:.1f} s", flush=True)
    table = pd.DataFrame(rows).groupby("group")[["owa", "smape", "mase", "seconds"]].mean()
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
