"""One table for choosing a forecast: rnnlab's default (this copy and another), beside
statsforecast's AutoETS, AutoTheta and seasonal naive, on every set the choice was
measured on, all scored one way.

Sets (each item: a series, its horizon H, its season m, where the fit data ends and the
origins forecast from):

- tourism, hospital, car_parts: the panels of ../shared/data/panels (`panels.py`), the
  last H of each series held out (M4's protocol);
- m4_protocol: the weekly closes, weekly CO2 and hourly stretches of `m4_protocol.py`,
  the last H held out;
- refit_cuts: the 16 real series of `refit_cuts.py`, each cut at 6 ends, the last H of
  each cut held out;
- hourly_weekly and other_series: the series of those scripts, split 70/10/20 as
  `rnnlab train` splits them, forecast from every origin of the test part.

Per item: MASE (in-sample seasonal naive scale with the set's m, on the fit data), sMAPE
over every origin and step, and the same for M4's Naive2 from the same origins; per set
the means over items and OWA (the mean of the sMAPE and MASE ratios of those means to
Naive2's). `negative` counts items with a forecast below zero on fit data that never
went below it; `far_outside` items with a forecast beyond the fit data's range widened by
its span.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/acceptance.py --method rnnlab
    ... --method rnnlab --src /work/base/src --label v0.1
    /work/sf-venv/bin/python benchmarks/acceptance.py --method statsforecast
    .venv/bin/python benchmarks/acceptance.py --table runs/acceptance/*.csv
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
SETS = ("tourism", "hospital", "car_parts", "m4_protocol", "refit_cuts", "hourly_weekly",
        "other_series")


@dataclass
class Item:
    set: str
    id: str
    horizon: int
    m: int
    series: pd.Series
    n_fit: int
    origins: np.ndarray
    n_val: int | None = None  # the validation share the scripts' own fits held out


def items(name: str, limit: int | None = None) -> list[Item]:
    """Every item of the set `name`."""
    out = []
    if name in ("tourism", "hospital", "car_parts"):
        from panels import PANELS, load

        _, horizon, m = PANELS[name]
        out = [Item(name, str(s.name), horizon, m, s, len(s) - horizon,
                    np.array([len(s) - horizon])) for s in load(name)]
    elif name == "m4_protocol":
        from m4_protocol import series_set

        out = [Item(name, f"{g}:{s.name}", h, m, s, len(s) - h, np.array([len(s) - h]))
               for g, h, m, s in series_set()]
    elif name == "refit_cuts":
        from refit_cuts import CUTS, series_set

        for sid, h, m, s in series_set():
            for end in np.unique(np.linspace(int(len(s) * 0.75), len(s), CUTS).astype(int)):
                out.append(Item(name, f"{sid}@{end}", h, m, s.iloc[:end], end - h,
                                np.array([end - h])))
    else:
        from rnnlab.windows import seq_len_for_split, split_sizes

        module = __import__(name)
        for _, h, m, s in module.series_set():
            values = s.to_numpy(np.float64)
            window = seq_len_for_split(values, 0.1, 0.2)
            split = split_sizes(len(values), window.seq_len, 0.1, 0.2)
            out.append(Item(name, str(s.name), h, m, s, split.n_fit,
                            np.arange(split.n_fit, len(values) - h + 1), split.n_val))
    if limit:
        out = out[::max(1, len(out) // limit)][:limit]
    return out


# --- scores ---------------------------------------------------------------------------


def scores(item: Item, paths: np.ndarray) -> dict:
    from rnnlab.metrics import naive2_paths, seasonal_indices

    values = item.series.to_numpy(np.float64)
    fit = values[:item.n_fit]
    targets = values[item.origins[:, None] + np.arange(item.horizon)]
    lag = item.m if len(fit) > item.m else 1
    scale = float(np.mean(np.abs(fit[lag:] - fit[:-lag])))
    scale = scale if scale > 0 else np.nan
    indices = seasonal_indices(fit, item.m) if item.m > 1 else np.ones(1)
    naive2 = naive2_paths(values, item.origins, item.horizon, indices)

    def smape(f):
        denom = np.abs(targets) + np.abs(f)
        ratio = np.divide(2 * np.abs(targets - f), denom, out=np.zeros_like(denom),
                          where=denom > 0)
        return float(100 * ratio.mean())

    lo, hi = float(fit.min()), float(fit.max())
    return {"set": item.set, "id": item.id, "mase": float(np.mean(np.abs(targets - paths))) / scale,
            "smape": smape(paths), "mase_naive2": float(np.mean(np.abs(targets - naive2))) / scale,
            "smape_naive2": smape(naive2), "negative": bool(lo >= 0 and (paths < 0).any()),
            "far_outside": bool((paths < lo - (hi - lo)).any() or (paths > hi + (hi - lo)).any())}


# --- methods --------------------------------------------------------------------------


def rnnlab_item(job: tuple) -> dict:
    item, label, params = job
    import torch

    from rnnlab.forecaster import Forecaster

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    values = item.series.to_numpy(np.float64)
    started = time.perf_counter()
    try:
        model = Forecaster(horizon=item.horizon, progress=False, **params)
        model.fit(item.series.iloc[:item.n_fit], val_size=item.n_val)
        paths = model.paths_from(values, item.origins, item.horizon)
        note = ""
    except Exception as exc:  # noqa: BLE001 - a refusal is a result: scored as naive
        paths = np.repeat(values[item.origins - 1][:, None], item.horizon, axis=1)
        note = f"refused: {type(exc).__name__}: {str(exc)[:100]}"
    return {**scores(item, paths), "method": label, "seconds": time.perf_counter() - started,
            "note": note}


def statsforecast_item(item: Item) -> list[dict]:
    import statsforecast.models as models

    values = item.series.to_numpy(np.float64)
    rows = []
    for name in ("AutoETS", "AutoTheta", "SeasonalNaive"):
        started = time.perf_counter()
        model = getattr(models, name)(season_length=item.m)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(values[:item.n_fit])
            if len(item.origins) == 1:
                paths = model.predict(h=item.horizon)["mean"][None]
            else:  # fitted once, forwarded to every origin with its parameters
                paths = np.stack([model.forward(values[:o], h=item.horizon)["mean"]
                                  for o in item.origins])
        rows.append({**scores(item, np.asarray(paths, np.float64)), "method": name,
                     "seconds": time.perf_counter() - started, "note": ""})
    return rows


def table(frame: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (name, method), part in frame.groupby(["set", "method"], sort=False):
        out.append({"set": name, "method": method, "items": len(part),
                    "MASE": part["mase"].mean(), "sMAPE": part["smape"].mean(),
                    "OWA": 0.5 * (part["smape"].mean() / part["smape_naive2"].mean()
                                  + part["mase"].mean() / part["mase_naive2"].mean()),
                    "negative": int(part["negative"].sum()),
                    "far_outside": int(part["far_outside"].sum()),
                    "refused": int(part["note"].fillna("").str.startswith("refused").sum()),
                    "s/item": part["seconds"].mean()})
    order = {s: k for k, s in enumerate(SETS)}
    return pd.DataFrame(out).sort_values("set", key=lambda c: c.map(order), kind="stable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", choices=SETS)
    parser.add_argument("--method", choices=["rnnlab", "statsforecast"], default="rnnlab")
    parser.add_argument("--src", help="the src folder of another rnnlab copy to run")
    parser.add_argument("--label", help="the method's name in the table [rnnlab]")
    parser.add_argument("--param", action="append", default=[],
                        help="a Forecaster parameter, name=value (repeatable)")
    parser.add_argument("--limit", type=int, help="at most N items per set")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="runs/acceptance", help="folder for the CSVs")
    parser.add_argument("--table", nargs="+", help="print one table from these CSVs")
    args = parser.parse_args()
    if args.table:
        frame = pd.concat([pd.read_csv(p) for p in args.table])
        print(table(frame).round(4).to_string(index=False))
        return
    sys.path.insert(0, str(Path(args.src).resolve() if args.src else HERE.parent / "src"))
    from panels import _value

    params = {k: _value(v) for k, _, v in (p.partition("=") for p in args.param)}
    label = args.label or args.method
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.set or SETS:
        started, load = time.perf_counter(), os.getloadavg()[0]
        work = items(name, args.limit)
        if args.method == "rnnlab":
            with Pool(args.jobs) as pool:
                rows = pool.map(rnnlab_item, [(i, label, params) for i in work], chunksize=1)
        else:
            rows = [row for item in work for row in statsforecast_item(item)]
        frame = pd.DataFrame(rows)
        frame.to_csv(out / f"{name}-{label}.csv", index=False)
        print(f"{name}: {len(work)} items, {time.perf_counter() - started:.0f} s wall, load "
              f"average {load:.2f} -> {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
        print(table(frame).round(4).to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
