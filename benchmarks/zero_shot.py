"""The pretrained net zero-shot, and the default pool with and without it, scored as the
M4 competition scores (`panels.py`'s per-series rows: sMAPE, MASE, OWA against Naive2,
MSIS and coverage of the 95% interval).

Sets:

- tourism, hospital, car_parts: the panels of ../shared/data/panels, the last H of each
  series held out (H = 24, 12, 12; m = 12). The pretrained net was trained on the rest of
  each series, so these are in-distribution for their training parts; a net pretrained
  without one panel (`pretrain.py --exclude tourism`) gives the zero-shot figure there;
- series: rnnlab's sine, noise, stock:A and drop, statsmodels' sunspots, co2, elnino and
  nile, and 20 S&P 500 closes drawn with a fixed seed, each cut at up to CUTS ends in its
  last 20% (the pretraining corpus holds only the first 80% of each): each cut is fitted
  on the values before its last H and scored on those H.

Methods (each writes one CSV of per-series rows into --out; `--table` reads them):

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/zero_shot.py --method pretrained
    ... --method pool            # the default pool without the pretrained family
    ... --method pool-pretrained # the default pool, the pretrained family in it
    ... --method pool-nonet, pool-nonet-pretrained   # the same, without the local net
    RNNLAB_PRETRAINED=runs/pretrain/no-tourism.npz RNNLAB_PRETRAINED_SHA256=... \\
        .venv/bin/python benchmarks/zero_shot.py --method pretrained --set tourism \\
        --label pretrained-lopo
    /work/sf-venv/bin/python benchmarks/zero_shot.py --method statsforecast --set series
    .venv/bin/python benchmarks/zero_shot.py --table runs/zero_shot/*.csv

statsforecast's rows on the panels are `panels.py --method statsforecast`'s: copy them
into --out (`tourism-statsforecast.csv` etc.), the table reads them too.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from panels import LEVEL, PANELS, describe, load, row  # noqa: E402

STOCKS = HERE.parents[1] / "shared/data/sandp500/individual_stocks_5yr"
# (name, H, m) of the named series; S&P closes are 10 steps ahead, m = 1.
NAMED = (("sine", 20, 1), ("noise", 10, 1), ("stock:A", 10, 1), ("drop", 10, 1),
         ("sunspots", 11, 1), ("co2", 12, 12), ("elnino", 12, 12), ("nile", 10, 1))
N_STOCKS = 20
CUTS = 4
KEEP = 0.8  # the share of each series the pretraining corpus holds (pretrain.py's KEEP)


def series_items() -> list[tuple[str, pd.Series, int, int]]:
    """(id, values up to the cut's end, H, m) for every cut of the series set."""
    from rnnlab.data import load_series

    named = [(name, load_series(name), h, m) for name, h, m in NAMED]
    files = sorted(STOCKS.glob("*_data.csv"))
    for path in np.random.default_rng(27).choice(files, min(N_STOCKS, len(files)),
                                                 replace=False):
        closes = pd.read_csv(path)["close"].dropna().to_numpy(np.float64)
        named.append((f"sp:{path.name.split('_')[0]}", pd.Series(closes), 10, 1))
    out = []
    for name, series, h, m in named:
        series = pd.Series(series.to_numpy(np.float64), name=name)  # positions as the index
        n = len(series)
        for k in range(CUTS):
            end = n - k * h
            if end - h < int(n * KEEP):
                break
            out.append((f"{name}@{end}", series.iloc[:end], h, m))
    return out


def items(name: str, limit: int | None) -> list[tuple[str, pd.Series, int, int]]:
    if name == "series":
        out = series_items()
    else:
        _, h, m = PANELS[name]
        out = [(str(s.name), s, h, m) for s in load(name)]
    return out[:limit] if limit else out


# --- rnnlab ---------------------------------------------------------------------------


def params_of(method: str) -> dict:
    from rnnlab.config import POOL_FAMILIES

    if method == "pretrained":
        return {"model": "pretrained", "candidates": "net"}
    if method == "pool":
        return {"candidates": ",".join(f for f in POOL_FAMILIES if f != "pretrained")}
    # Without the local net (it trains on every series: hours over a whole panel here),
    # with and without the pretrained net: the same pool but for the family measured.
    if method == "pool-nonet":
        return {"candidates": ",".join(f for f in POOL_FAMILIES
                                       if f not in ("pretrained", "net"))}
    if method == "pool-nonet-pretrained":
        return {"candidates": ",".join(f for f in POOL_FAMILIES if f != "net")}
    return {}  # pool-pretrained: the defaults


def _rnnlab_one(job) -> dict:
    set_name, sid, series, h, m, method, label = job
    import torch

    from rnnlab.forecaster import Forecaster

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    values = series.to_numpy(np.float64)
    train, test = values[:-h], values[-h:]
    started = time.perf_counter()
    try:
        model = Forecaster(horizon=h, interval=LEVEL, progress=False, **params_of(method))
        model.fit(series.iloc[:-h])
        frame = model.forecast_interval(h)
        forecast = frame["forecast"].to_numpy()
        lower, upper = frame["lower"].to_numpy(), frame["upper"].to_numpy()
        chosen = describe(model)
    except Exception as exc:  # a refusal is a result: scored as naive, and counted
        forecast, lower, upper = np.full(h, train[-1]), None, None
        chosen = f"refused: {type(exc).__name__}: {str(exc)[:120]}"
    out = row(sid, label, train, test, forecast, lower, upper, m,
              time.perf_counter() - started, chosen)
    return {"panel": set_name, **out}


def run_rnnlab(set_name: str, jobs_list: list, method: str, label: str, jobs: int) -> list:
    work = [(set_name, sid, s, h, m, method, label) for sid, s, h, m in jobs_list]
    rows = []
    with Pool(jobs) as pool:
        for k, result in enumerate(pool.imap(_rnnlab_one, work, chunksize=4), 1):
            rows.append(result)
            if k % 200 == 0 or k == len(work):
                print(f"  {set_name}: {k}/{len(work)}", file=sys.stderr, flush=True)
    return rows


# --- statsforecast --------------------------------------------------------------------


def run_statsforecast(set_name: str, jobs_list: list) -> list:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive

    rows = []
    for m in sorted({m for _, _, _, m in jobs_list}):
        for h in sorted({h for _, _, h, mm in jobs_list if mm == m}):
            group = [(sid, s) for sid, s, hh, mm in jobs_list if mm == m and hh == h]
            models = [AutoETS(season_length=m), AutoTheta(season_length=m), SeasonalNaive(m)]
            frame = pd.concat([pd.DataFrame({"unique_id": sid, "ds": np.arange(len(s) - h),
                                             "y": s.to_numpy(np.float64)[:-h]})
                               for sid, s in group])
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = StatsForecast(models=models, freq=1, n_jobs=1).forecast(
                    df=frame, h=h, level=[int(LEVEL * 100)])
            seconds = (time.perf_counter() - started) / len(group)
            out = out.reset_index() if "unique_id" not in out.columns else out
            for sid, s in group:
                values = s.to_numpy(np.float64)
                train, test = values[:-h], values[-h:]
                mine = out[out["unique_id"] == sid]
                for model in map(str, models):
                    lo, hi = f"{model}-lo-{int(LEVEL * 100)}", f"{model}-hi-{int(LEVEL * 100)}"
                    rows.append({"panel": set_name, **row(
                        sid, model, train, test, mine[model].to_numpy(), mine[lo].to_numpy(),
                        mine[hi].to_numpy(), m, seconds)})
    return rows


# --- the table ------------------------------------------------------------------------


def table(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (set_name, method), part in frame.groupby(["panel", "method"], sort=False):
        owa = 0.5 * (part["smape"].mean() / part["smape_naive2"].mean()
                     + part["mase"].mean() / part["mase_naive2"].mean())
        chosen = part["chosen"].fillna("").astype(str) if "chosen" in part else None
        out.append({"set": set_name, "method": method, "items": len(part),
                    "MASE": part["mase"].mean(), "sMAPE": part["smape"].mean(), "OWA": owa,
                    "MSIS": part["msis"].mean() if "msis" in part else np.nan,
                    "coverage": part["coverage"].mean() if "coverage" in part else np.nan,
                    "negative": int(part["negative"].sum()),
                    "refused": int(chosen.str.startswith("refused").sum())
                    if chosen is not None else 0,
                    "pretrained kept": int(chosen.str.contains("pretrained").sum())
                    if chosen is not None else 0,
                    "s/item": part["seconds"].mean()})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append",
                        choices=["tourism", "hospital", "car_parts", "series"])
    parser.add_argument("--method", default="pretrained",
                        choices=["pretrained", "pool", "pool-pretrained", "pool-nonet",
                                 "pool-nonet-pretrained", "statsforecast"])
    parser.add_argument("--label", help="the method's name in the table [--method]")
    parser.add_argument("--limit", type=int, help="only the first N items of each set")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="runs/zero_shot")
    parser.add_argument("--table", nargs="+", help="print one table from these CSVs")
    args = parser.parse_args()
    if args.table:
        frame = pd.concat([pd.read_csv(p) for p in args.table])
        print(table(frame).round(4).to_string(index=False))
        return
    label = args.label or args.method
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {label}",
          file=sys.stderr)
    frames = []
    for set_name in args.set or ["tourism", "hospital", "car_parts", "series"]:
        jobs_list = items(set_name, args.limit)
        started = time.perf_counter()
        if args.method == "statsforecast":
            rows = run_statsforecast(set_name, jobs_list)
        else:
            rows = run_rnnlab(set_name, jobs_list, args.method, label, args.jobs)
        frame = pd.DataFrame(rows)
        path = out / f"{set_name}-{label}.csv"
        frame.to_csv(path, index=False)
        print(f"{set_name}: {len(jobs_list)} items in {time.perf_counter() - started:.0f} s "
              f"-> {path}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
              file=sys.stderr)
        frames.append(frame)
    print(table(pd.concat(frames)).round(4).to_string(index=False))


if __name__ == "__main__":
    main()
