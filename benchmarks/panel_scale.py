"""Time and memory of a panel fit at scale: N synthetic series of L points each.

Each series is a level times a daily season (period 24) with a slow trend and noise, made
in one vectorised draw (seeded). `GlobalForecaster` fits them as `rnnlab train` fits a
panel: the global net across all series, then every series' pool on the worker pool. Run
it under `/usr/bin/time -v` for the peak resident memory of the whole command (the script
also prints the largest process's peak, its own and its workers').

    /usr/bin/time -v .venv/bin/python benchmarks/panel_scale.py --series 10000 --length 500
    /usr/bin/time -v .venv/bin/python benchmarks/panel_scale.py --series 100000 --length 200
    ... --candidates net    # each series' pool holds the global net alone
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def make_panel(n: int, length: int, seed: int = 0) -> dict[str, pd.Series]:
    """n positive seasonal series of `length` points, as one (n, length) draw."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    level = rng.uniform(10, 1000, (n, 1))
    amplitude = rng.uniform(0.0, 0.4, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    trend = rng.normal(0, 0.3 / length, (n, 1)) * t
    noise = rng.normal(0, rng.uniform(0.02, 0.2, (n, 1)), (n, length))
    values = level * np.exp(amplitude * np.sin(2 * np.pi * t / 24 + phase) + trend + noise)
    index = pd.RangeIndex(length)
    return {f"s{k}": pd.Series(values[k], index=index, name=f"s{k}") for k in range(n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--length", type=int, default=500)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--candidates", default="auto")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, help="cap the global net's epochs")
    parser.add_argument("--ensemble", type=int, default=3, help="seeds of the global net")
    args = parser.parse_args()

    from rnnlab.global_forecaster import GlobalForecaster
    from rnnlab.tasks import pool_map

    load = os.getloadavg()
    started = time.perf_counter()
    panel = make_panel(args.series, args.length)
    made = time.perf_counter() - started
    params = {"epochs": args.epochs} if args.epochs else {}
    params["ensemble"] = args.ensemble
    model = GlobalForecaster(horizon=args.horizon, candidates=args.candidates, progress=True,
                             **params)
    started = time.perf_counter()
    model.fit(panel, mapper=functools.partial(pool_map, jobs=args.jobs))
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    names = list(model.forecasters_)[:1000]
    for name in names:
        model.forecast(name, args.horizon)
    forecast_s = time.perf_counter() - started
    peak = max(resource.getrusage(who).ru_maxrss
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    print(f"{args.series} series x {args.length} points, H = {args.horizon}, candidates "
          f"{args.candidates}, ensemble {args.ensemble}: made in {made:.1f} s; "
          f"fit {fit_s:.0f} s (the net "
          f"{model.seconds_['net']:.0f} s, {model.history_.epochs_run} epochs; the pools "
          f"{model.seconds_['pools']:.0f} s); {len(names)} forecasts in {forecast_s:.1f} s; "
          f"{len(model.skipped_)} skipped; largest process peak RSS {peak:.0f} MB; load "
          f"average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
