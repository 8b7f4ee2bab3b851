"""The public panels of ../shared/data/panels, scored as the M4 competition scores them.

Each series holds out its last H values; a method is fitted on the rest and forecasts once,
with a 95% interval. Per series: sMAPE, MASE (in-sample seasonal naive scale, m = 12),
MSIS at 95% (M4's interval score, on the same scale), the share of the H values inside
the interval, and whether the forecast went below zero on data that never did or beyond
the training range widened by its span. Per method: the means over series, and OWA, the
mean of the sMAPE and MASE ratios to Naive2's (M4's way: ratios of the means).

- tourism: 366 monthly series, H = 24;
- hospital: 767 monthly patient counts, H = 12;
- car_parts: 2,674 monthly spare-part demands, mostly intermittent, H = 12. Its 6,122
  empty values (165 series lose everything after their first 12-14 months) are read as 0,
  the archive's own convention for its version without missing values. Where the training
  part never changes over a season (all zeros), MASE and MSIS have no scale and are left
  out of their means (for every method alike); sMAPE counts 0/0 as 0.

Methods run in their own processes, each writing one CSV of per-series rows; `--table`
reads any number of them into one table:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/panels.py --panel tourism --method rnnlab
    ... --method rnnlab --src /work/base/src --label v0.1       # another copy of rnnlab
    ... --method rnnlab --param candidates=ets --label ets-only  # any Forecaster parameter
    ... --method global --label panel   # GlobalForecaster over each whole panel
    /work/sf-venv/bin/python benchmarks/panels.py --panel tourism --method statsforecast
    .venv/bin/python benchmarks/panels.py --table runs/panels/tourism-*.csv

statsforecast is no rnnlab dependency: see benchmarks/README.md for its environment. Its
rows are AutoETS, AutoTheta, SeasonalNaive and, on car_parts, CrostonClassic, CrostonSBA,
TSB and the zero forecast.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

PANELS_DIR = Path(__file__).resolve().parents[2] / "shared/data/panels"
PANELS = {  # name: (file, H, m)
    "tourism": ("tourism_monthly.csv", 24, 12),
    "hospital": ("hospital_monthly.csv", 12, 12),
    "car_parts": ("car_parts_monthly.csv", 12, 12),
}
LEVEL = 0.95


STOCKS = Path(__file__).resolve().parents[2] / "shared/data/sandp500/individual_stocks_5yr"
# Panels made here: (H, m). sandp500: the 505 daily closes of ../shared, H = 10; synthetic:
# 500 seasonal series from the built-in generators (sine, period 63, and drop, period 50,
# each with seeds 0..249), H = 24. MASE is scaled by the one-step naive error there.
MADE = {"sandp500": (10, 1), "synthetic": (24, 1)}


def load(panel: str, limit: int | None = None) -> list[pd.Series]:
    """Every series of `panel` as a dated Series (empty values read as 0)."""
    if panel in MADE:
        return made(panel, limit)
    file, _, _ = PANELS[panel]
    frame = pd.read_csv(PANELS_DIR / file, parse_dates=["date"])
    frame["value"] = frame["value"].fillna(0.0).astype(np.float64)
    series = [group.set_index("date")["value"].rename(str(name))
              for name, group in frame.groupby("id", sort=False)]
    for s in series:
        s.index.freq = "MS"  # every panel here is monthly, dated at the month's start
    return series[:limit] if limit else series


def made(panel: str, limit: int | None) -> list[pd.Series]:
    """The panels made here (`MADE`)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    if panel == "sandp500":
        out = []
        for path in sorted(STOCKS.glob("*_data.csv"))[:limit]:
            close = pd.read_csv(path, parse_dates=["date"]).set_index("date")["close"]
            close = close[~close.index.duplicated()].sort_index().interpolate().dropna()
            out.append(close.astype(np.float64).rename(path.name.split("_")[0]))
        return out
    from rnnlab.data import drop, sine

    out = [f(seed=k).rename(f"{name}{k}") for k in range(250) for name, f in
           (("sine", sine), ("drop", drop))]
    for s in out:  # a numeric axis: the generators' own
        s.index = pd.RangeIndex(len(s))
    return out[:limit] if limit else out


# --- scores ------------------------------------------------------------------------


def scale(train: np.ndarray, m: int) -> float:
    """The in-sample MAE of seasonal naive (lag m, or 1 where the part is too short)."""
    lag = m if len(train) > m else 1
    return float(np.mean(np.abs(train[lag:] - train[:-lag]))) if len(train) > lag else np.nan


def smape(y: np.ndarray, f: np.ndarray) -> float:
    denom = np.abs(y) + np.abs(f)
    ratio = np.divide(2 * np.abs(y - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100 * ratio.mean())


def msis(y: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float = LEVEL) -> float:
    """M4's interval score before scaling: the width plus 2 / alpha times each miss."""
    alpha = 1 - level
    return float(np.mean(upper - lower + 2 / alpha * np.maximum(lower - y, 0)
                         + 2 / alpha * np.maximum(y - upper, 0)))


def naive2(train: np.ndarray, horizon: int, m: int) -> np.ndarray:
    from rnnlab.metrics import naive2 as rnnlab_naive2  # the copy on sys.path (--src)

    return rnnlab_naive2(train, horizon, m)


def row(name: str, method: str, train: np.ndarray, test: np.ndarray, forecast: np.ndarray,
        lower, upper, m: int, seconds: float, chosen: str = "") -> dict:
    q = scale(train, m)
    q = q if q > 0 else np.nan
    n2 = naive2(train, len(test), m)
    lo, hi = float(train.min()), float(train.max())
    span = hi - lo
    out = {
        "id": name, "method": method, "smape": smape(test, forecast),
        "mase": float(np.mean(np.abs(test - forecast))) / q,
        "smape_naive2": smape(test, n2), "mase_naive2": float(np.mean(np.abs(test - n2))) / q,
        "negative": bool(lo >= 0 and (forecast < 0).any()),
        "far_outside": bool((forecast < lo - span).any() or (forecast > hi + span).any()),
        "seconds": seconds, "chosen": chosen,
    }
    if lower is not None and np.isfinite(lower).all() and np.isfinite(upper).all():
        out["msis"] = msis(test, lower, upper) / q
        out["coverage"] = float(np.mean((test >= lower) & (test <= upper)))
    return out


# --- methods -----------------------------------------------------------------------


def _rnnlab_one(job: tuple) -> dict:
    series, horizon, m, params, label = job
    import torch

    from rnnlab.forecaster import Forecaster

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    values = series.to_numpy(np.float64)
    train, test = values[:-horizon], values[-horizon:]
    started = time.perf_counter()
    try:
        model = Forecaster(horizon=horizon, interval=LEVEL, progress=False, **params)
        model.fit(series.iloc[:-horizon])
        frame = model.forecast_interval(horizon)
        forecast = frame["forecast"].to_numpy()
        lower, upper = frame["lower"].to_numpy(), frame["upper"].to_numpy()
        chosen = describe(model)
    except Exception as exc:  # a refusal is a result: scored as naive, and counted
        forecast, lower, upper = np.full(horizon, train[-1]), None, None
        chosen = f"refused: {type(exc).__name__}: {str(exc)[:120]}"
    return row(series.name, label, train, test, forecast, lower, upper, m,
               time.perf_counter() - started, chosen)


def describe(model) -> str:
    table = getattr(model, "candidates_", None)
    if table is not None:
        used = [c for c in table if c.get("weight", 0) > 0]
        return "; ".join(f"{c['name']} {c['weight']:.2f}" for c in used)
    forms = getattr(model, "forms_", None)
    body = getattr(model, "body_", None)
    kept = " + body" if body and body.get("kept") else ""
    return ("; ".join(forms) if forms else str(getattr(model, "strategy_", ""))) + kept


def run_rnnlab(series: list[pd.Series], horizon: int, m: int, params: dict, label: str,
               jobs: int) -> list[dict]:
    jobs_list = [(s, horizon, m, params, label) for s in series]
    rows = []
    with Pool(jobs) as pool:
        for k, result in enumerate(pool.imap(_rnnlab_one, jobs_list, chunksize=1), 1):
            rows.append(result)
            if k % 50 == 0 or k == len(jobs_list):
                print(f"  {k}/{len(jobs_list)} series", file=sys.stderr, flush=True)
    return rows


def run_global(series: list[pd.Series], horizon: int, m: int, params: dict, label: str,
               jobs: int) -> list[dict]:
    """rnnlab's panel default: `GlobalForecaster` over the whole panel (each series' pool
    with the global net), fitted on every series but its last H, forecast once."""
    import functools

    import torch

    from rnnlab.global_forecaster import GlobalForecaster
    from rnnlab.tasks import pool_map

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    model = GlobalForecaster(horizon=horizon, interval=LEVEL, progress=False, **params)
    model.fit({s.name: s.iloc[:-horizon] for s in series},
              mapper=functools.partial(pool_map, jobs=jobs))
    fit_s = time.perf_counter() - started
    rows = []
    started = time.perf_counter()
    for s in series:
        values = s.to_numpy(np.float64)
        train, test = values[:-horizon], values[-horizon:]
        if s.name not in model.forecasters_:
            rows.append(row(s.name, label, train, test, np.full(horizon, train[-1]), None, None,
                            m, 0.0, f"refused: {model.skipped_.get(s.name, '')[:100]}"))
            continue
        frame = model.forecast_interval(s.name, horizon)
        pool = model.forecasters_[s.name].pool_
        chosen = "; ".join(f"{c.name} {w:.2f}" for c, w in pool)
        rows.append(row(s.name, label, train, test, frame["forecast"].to_numpy(),
                        frame["lower"].to_numpy(), frame["upper"].to_numpy(), m,
                        fit_s / len(series), chosen))
    forecast_s = time.perf_counter() - started
    if model.global_ is not None:
        # The global net alone, beside it: its median, and its own 2.5% and 97.5% heads
        # (no conformal correction) as the interval.
        from rnnlab.globalnet import QUANTILES

        index = model.global_.index
        known = [s for s in series if s.name in index]
        paths = model.global_.quantile_paths(
            [(index[s.name], s.to_numpy(np.float64)[:-horizon],
              np.array([len(s) - horizon])) for s in known], horizon)
        low, mid, high = (QUANTILES.index(q) for q in (0.025, 0.5, 0.975))
        for s, q in zip(known, paths, strict=True):
            values = s.to_numpy(np.float64)
            rows.append(row(s.name, f"{label}-net", values[:-horizon], values[-horizon:],
                            q[0, :, mid], q[0, :, low], q[0, :, high], m,
                            fit_s / len(series), "global net alone"))
    peak = max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    print(f"  fit {fit_s:.0f} s ({model.seconds_['net']:.0f} s the net, "
          f"{model.seconds_['pools']:.0f} s the pools), forecast {forecast_s:.1f} s, net "
          f"{model.history_.epochs_run} epochs (best {model.history_.best_epoch}), peak RSS "
          f"{peak:.0f} MB (largest process), load {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return rows


def run_statsforecast(series: list[pd.Series], horizon: int, m: int, panel: str) -> list[dict]:
    from statsforecast import StatsForecast
    from statsforecast.models import (
        TSB,
        AutoETS,
        AutoTheta,
        CrostonClassic,
        CrostonSBA,
        SeasonalNaive,
    )

    ranged = [AutoETS(season_length=m), AutoTheta(season_length=m), SeasonalNaive(m)]
    point = [CrostonClassic(), CrostonSBA(), TSB(alpha_d=0.1, alpha_p=0.1)] \
        if panel == "car_parts" else []
    # Steps, not dates: the models read none, and trading days have gaps.
    frame = pd.concat([pd.DataFrame({"unique_id": s.name, "ds": np.arange(len(s) - horizon),
                                     "y": s.to_numpy()[:-horizon]}) for s in series])
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = StatsForecast(models=ranged, freq=1, n_jobs=2).forecast(
            df=frame, h=horizon, level=[int(LEVEL * 100)])
        if point:
            more = StatsForecast(models=point, freq=1, n_jobs=2).forecast(df=frame, h=horizon)
            out = out.merge(more, on=["unique_id", "ds"])
    models = ranged + point
    seconds = (time.perf_counter() - started) / len(series)
    out = out.reset_index() if "unique_id" not in out.columns else out
    rows = []
    names = [str(model) for model in models]
    for s in series:
        values = s.to_numpy(np.float64)
        train, test = values[:-horizon], values[-horizon:]
        mine = out[out["unique_id"] == s.name]
        for name in names:
            lo, hi = f"{name}-lo-{int(LEVEL * 100)}", f"{name}-hi-{int(LEVEL * 100)}"
            lower = mine[lo].to_numpy() if lo in mine else None
            upper = mine[hi].to_numpy() if hi in mine else None
            rows.append(row(s.name, name, train, test, mine[name].to_numpy(), lower, upper,
                            m, seconds))
        if panel == "car_parts":
            rows.append(row(s.name, "zero", train, test, np.zeros(horizon), None, None, m, 0.0))
    return rows


# --- the table ---------------------------------------------------------------------


def table(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (panel, method), part in frame.groupby(["panel", "method"], sort=False):
        owa = 0.5 * (part["smape"].mean() / part["smape_naive2"].mean()
                     + part["mase"].mean() / part["mase_naive2"].mean())
        out.append({"panel": panel, "method": method, "series": len(part),
                    "MASE": part["mase"].mean(), "sMAPE": part["smape"].mean(), "OWA": owa,
                    "MSIS": part["msis"].mean() if "msis" in part else np.nan,
                    "coverage": part["coverage"].mean() if "coverage" in part else np.nan,
                    "negative": int(part["negative"].sum()),
                    "far_outside": int(part["far_outside"].sum()),
                    "refused": int(part["chosen"].fillna("").str.startswith("refused").sum()),
                    "s/series": part["seconds"].mean()})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panel", choices=[*PANELS, *MADE], action="append")
    parser.add_argument("--method", choices=["rnnlab", "global", "statsforecast"],
                        default="rnnlab")
    parser.add_argument("--src", help="the src folder of another rnnlab copy to run")
    parser.add_argument("--label", help="the method's name in the table [rnnlab]")
    parser.add_argument("--param", action="append", default=[],
                        help="a Forecaster parameter, name=value (repeatable)")
    parser.add_argument("--limit", type=int, help="only the first N series of each panel")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="runs/panels", help="folder for the CSVs")
    parser.add_argument("--table", nargs="+", help="print one table from these CSVs")
    args = parser.parse_args()
    if args.table:
        frame = pd.concat([pd.read_csv(p) for p in args.table])
        print(table(frame).round(4).to_string(index=False))
        return
    if args.src:
        sys.path.insert(0, str(Path(args.src).resolve()))
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    params = {}
    for item in args.param:
        key, _, value = item.partition("=")
        params[key] = _value(value)
    label = args.label or args.method
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {label} "
          f"{params or ''}", file=sys.stderr)
    frames = []
    for panel in args.panel or list(PANELS):
        horizon, m = MADE[panel] if panel in MADE else PANELS[panel][1:]
        series = load(panel, args.limit)
        started = time.perf_counter()
        if args.method == "rnnlab":
            rows = run_rnnlab(series, horizon, m, params, label, args.jobs)
        elif args.method == "global":
            rows = run_global(series, horizon, m, params, label, args.jobs)
        else:
            rows = run_statsforecast(series, horizon, m, panel)
        wall = time.perf_counter() - started
        frame = pd.DataFrame(rows)
        frame.insert(0, "panel", panel)
        path = out / f"{panel}-{label}.csv"
        frame.to_csv(path, index=False)
        print(f"{panel}: {len(series)} series in {wall:.0f} s wall -> {path}; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)
        frames.append(frame)
    print(table(pd.concat(frames)).round(4).to_string(index=False))


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


if __name__ == "__main__":
    main()
