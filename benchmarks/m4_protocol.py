"""Many series, one forecast each, as the M4 competition scores them.

`hourly_weekly.py` scores a few series from every origin of their test part. M4 instead
holds out the last H values of each of hundreds of series, fits on the rest and forecasts
once; sMAPE and MASE are averaged over the group and OWA is the mean of the two averages'
ratios to Naive2's. This script does that on a larger stand-in for M4's hourly and weekly
sets, which do not ship here:

- weekly_sp: weekly closes (the last close of each week) of 120 S&P 500 stocks drawn with
  a fixed seed from ../shared, each cut at an end drawn between week 150 and its last, so
  the forecasts do not all cover the same 13 weeks of the market (H = 13, m = 1); stocks
  with fewer than 151 weeks are left out;
- weekly_co2: 6 overlapping stretches of 700 weeks of the Mauna Loa CO2 record inside
  statsmodels (H = 13, m = 1);
- hourly_taylor: 8 overlapping stretches of 960 half-hours of England and Wales demand (the
  `taylor` series inside pmdarima's wheel, when it is installed; H = 48, m = 48);
- hourly_synth: 16 synthetic hourly series of 700 to 1,000 points, made as in
  `hourly_weekly.py` with other seeds (H = 48, m = 24).

Each fit is `Forecaster(horizon=H)` with defaults (its own validation share of the part
given), on one thread, two series at a time.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/m4_protocol.py
    ... benchmarks/m4_protocol.py --model linear --csv scores.csv
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hourly_weekly import demand_parts, synthetic_hourly  # noqa: E402
from rnnlab.metrics import mase, naive2_paths, seasonal_indices, smape  # noqa: E402

STOCKS = Path(__file__).resolve().parents[2] / "shared/data/sandp500/individual_stocks_5yr"


def series_set() -> list[tuple[str, int, int, pd.Series]]:
    """(group, horizon, M4's m, series) for every series of the set."""
    out = []
    files = sorted(STOCKS.glob("*.csv"))
    if not files:
        print(f"{STOCKS} is absent: the weekly closes are left out")
    rng = np.random.default_rng(7)
    for path in rng.choice(files, min(120, len(files)), replace=False) if files else []:
        daily = pd.read_csv(path, parse_dates=["date"]).set_index("date")["close"].dropna()
        weekly = daily.resample("W-FRI").last().dropna()
        if len(weekly) < 151:
            continue
        end = int(rng.integers(150, len(weekly) + 1))
        out.append(("weekly_sp", 13, 1, weekly.iloc[:end].rename(path.name.split("_")[0])))
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate()
    out += [("weekly_co2", 13, 1, co2.iloc[k * 350:k * 350 + 700].rename(f"co2_{k}"))
            for k in range(6)]
    out += [("hourly_taylor", 48, 48, part) for part in demand_parts(8, 960, 384)]
    out += [("hourly_synth", 48, 24, synthetic_hourly(50 + k, n=700 + 20 * k))
            for k in range(16)]
    return out


def score(item: tuple, params: dict) -> dict:
    import torch

    from rnnlab.forecaster import Forecaster

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    group, horizon, m, series = item
    values = series.to_numpy(np.float64)
    known, target = values[:-horizon], values[-horizon:]
    started = time.perf_counter()
    model = Forecaster(horizon=horizon, progress=False, **params).fit(series.iloc[:-horizon])
    forecast = model.forecast(horizon).to_numpy()
    seconds = time.perf_counter() - started
    indices = seasonal_indices(known, m) if m > 1 else np.ones(1)
    naive2 = naive2_paths(values, np.array([len(known)]), horizon, indices)[0]
    return {"group": group, "series": series.name, "smape": smape(target, forecast),
            "mase": mase(target, forecast, known, m), "smape_naive2": smape(target, naive2),
            "mase_naive2": mase(target, naive2, known, m), "seconds": seconds,
            "forms": "; ".join(getattr(model, "forms_", None) or [model.strategy_])}


def _score(job: tuple) -> dict:
    return score(*job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="[default: rnnlab's, lstm]")
    parser.add_argument("--csv", default=None, help="write every series' scores here")
    parser.add_argument("--seq-len", type=int, default=None, help="a window for every fit "
                        "[default: rnnlab's choice]")
    args = parser.parse_args()
    params = {"model": args.model} if args.model else {}
    if args.seq_len:
        params["seq_len"] = args.seq_len
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {params or 'defaults'}")
    with Pool(2) as pool:
        rows = pool.map(_score, [(item, params) for item in series_set()], chunksize=1)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)
    groups = table.groupby("group")[["smape", "mase", "smape_naive2", "mase_naive2",
                                     "seconds"]].mean()
    groups["owa"] = 0.5 * (groups["smape"] / groups["smape_naive2"] +
                           groups["mase"] / groups["mase_naive2"])
    groups.insert(0, "series", table.groupby("group").size())
    print(groups.round(4).to_string())


if __name__ == "__main__":
    main()
