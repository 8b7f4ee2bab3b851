"""Level shifts and runaways: the scalers forced (before) against the default (after).

    PYTHONPATH=src .venv/bin/python benchmarks/level_shift.py                  # about 10 min
    PYTHONPATH=src .venv/bin/python benchmarks/level_shift.py --models lstm --tickers 0

Each series is fitted as `rnnlab train --data X` fits it (defaults, seed 0, one step ahead,
70/10/20 split) three ways: `--scaler standard` and `--scaler window` as main ran them
(no level-shift tracking: `error_scale_` cleared before scoring), and the new default
(`--scaler auto`, chosen on validation, with tracking). `adf` is what main's ADF rule
picked, so the "before" of the default is that column. Printed per row: test RMSE and its
ratio to the best baseline on the same targets; for `drop` the RMSE over the 20 steps after
the drop over naive's there (`rnnlab.explain.failure_anatomy`); and for every series the
range of a 22-step recursive `forecast` after all the data, beside the largest value seen.
The real series come from `statsmodels.api.datasets` (written as CSVs under a temporary
folder) and from ../shared/data/sandp500 (`--tickers` random files, fixed draw).
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
from pathlib import Path

import pandas as pd

from rnnlab.backtest import backtest, score_fitted
from rnnlab.data import load_series
from rnnlab.diagnostics import adf_pvalue
from rnnlab.explain import failure_anatomy
from rnnlab.forecaster import Forecaster
from rnnlab.windows import split_sizes

SANDP = Path(__file__).resolve().parents[2] / "shared/data/sandp500/individual_stocks_5yr"
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def statsmodels_csvs(folder: Path) -> list[str]:
    """sunspots (yearly), nile (yearly), elnino and co2 (monthly) as CSVs rnnlab reads."""
    import statsmodels.api as sm

    sm.datasets.sunspots.load_pandas().data.to_csv(folder / "sunspots.csv", index=False)
    sm.datasets.nile.load_pandas().data.to_csv(folder / "nile.csv", index=False)
    wide = sm.datasets.elnino.load_pandas().data.set_index("YEAR")
    long = wide.stack().reset_index()
    long.columns = ["year", "month", "temp"]
    long["date"] = pd.to_datetime({"year": long.year.astype(int),
                                   "month": long.month.map(MONTHS.index) + 1, "day": 1})
    long[["date", "temp"]].to_csv(folder / "elnino.csv", index=False)
    co2 = sm.datasets.co2.load_pandas().data.resample("MS").mean().interpolate()
    co2.rename_axis("date").reset_index().to_csv(folder / "co2.csv", index=False)
    return [str(folder / f"{n}.csv") for n in ("sunspots", "nile", "elnino", "co2")]


def run_one(series: pd.Series, split, model: str, scaler: str) -> dict:
    forecaster = Forecaster(model=model, scaler=scaler, progress=False)
    if scaler == "auto":
        result = backtest(series, forecaster, split)
    else:  # main's behaviour for a forced scaler: no level-shift tracking
        forecaster.fit(series.iloc[: split.n_fit], val_size=split.n_val)
        forecaster.error_scale_ = None
        result = score_fitted(series, forecaster, split)
    rmse = result.metrics["model"]["rmse"]
    best = min(m["rmse"] for name, m in result.metrics.items() if name != "model")
    episode = failure_anatomy(result.predictions[["actual", "model", "naive"]],
                              n_jumps=1).episodes[0]
    forecaster.set_history(series)
    future = forecaster.forecast(22).to_numpy()
    return {"rmse": rmse, "ratio": rmse / best, "used": forecaster.scaler_.kind,
            "after20": episode.rmse_after / episode.naive_rmse_after,
            "lo": float(future.min()), "hi": float(future.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lstm,rnn,gru")
    parser.add_argument("--tickers", type=int, default=5, help="random sandp500 files")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="level_shift_"))
    sources = ["drop", "sine", "noise", "complex", "stock:A", *statsmodels_csvs(folder)]
    files = sorted(SANDP.glob("*.csv")) if SANDP.is_dir() else []
    sources += [str(f) for f in random.Random(0).sample(files, min(args.tickers, len(files)))]
    rows = []
    for source in sources:
        series = load_series(source)
        split = split_sizes(len(series), 30, 0.1, 0.2)
        p = adf_pvalue(series.to_numpy()[: split.n_train])
        for model in args.models.split(","):
            runs = {kind: run_one(series, split, model, kind)
                    for kind in ("standard", "window", "auto")}
            after = runs["auto"]
            row = {"series": Path(source).stem if source.endswith(".csv") else source,
                   "model": model, "adf p": round(p, 3),
                   "adf rule": "window" if p > 0.05 else "standard",
                   "standard": runs["standard"]["rmse"], "r std": runs["standard"]["ratio"],
                   "window": runs["window"]["rmse"], "r win": runs["window"]["ratio"],
                   "new used": after["used"], "new": after["rmse"], "r new": after["ratio"],
                   "drop20 std/win/new": "/".join(f"{runs[k]['after20']:.2f}" for k in runs),
                   "f22 std": f"{runs['standard']['lo']:.3g}..{runs['standard']['hi']:.3g}",
                   "f22 win": f"{runs['window']['lo']:.3g}..{runs['window']['hi']:.3g}",
                   "f22 new": f"{after['lo']:.3g}..{after['hi']:.3g}",
                   "max seen": float(series.max())}
            rows.append(row)
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                           for k, v in row.items()), flush=True)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print("ratio = test RMSE / best baseline's (naive, mean, seasonal naive); drop20 = RMSE "
          "over the 20 steps after the largest jump / naive's there")


if __name__ == "__main__":
    main()
