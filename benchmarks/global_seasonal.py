"""One global model against one model per series on 200 seasonal series, 10 steps ahead.

The series are made here with numpy (levels, amplitudes, periods 12 or 24, noise, a trend
in some), written as one CSV each into a temporary folder and read back by
`rnnlab.panel.load_panel`, as `rnnlab train --data FOLDER --global` would. Both models are
scored on the same origins of the same test parts (common cut dates): every origin of a
test part forecasts 10 steps, recursively for the global model (--global-strategy direct:
one net with 10 outputs), with each per-series
`rnnlab.forecaster.Forecaster`'s own strategy (defaults: auto). Scores are M4's: sMAPE,
MASE with the seasonal naive scale (period m: the season found on the training part) and
OWA against Naive2. Time is the total fit time (one global fit, the sum of the per-series
fits).

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/global_seasonal.py
    ... benchmarks/global_seasonal.py --series 40 --epochs 20   # a quick look
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from rnnlab.baselines import NaiveForecaster
from rnnlab.forecaster import Forecaster
from rnnlab.global_forecaster import GlobalForecaster, fit_panel
from rnnlab.metrics import mase, owa, smape, verdict_of_losses
from rnnlab.panel import aggregate_paths, load_panel, score_panel_paths, split_panel


def write_series(folder: Path, count: int, length: int, seed: int) -> None:
    """`count` seasonal series, one CSV each: level + trend + season + noise, all positive."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2000-01-01", periods=length, freq="D").strftime("%Y-%m-%d")
    t = np.arange(length)
    for k in range(count):
        level = rng.uniform(20, 500)
        period = int(rng.choice([12, 24]))
        amplitude = level * rng.uniform(0.05, 0.4)
        noise = amplitude * rng.uniform(0.05, 0.5)
        slope = level * rng.uniform(-0.001, 0.003) if rng.random() < 0.4 else 0.0
        value = (level + slope * t + amplitude * np.sin(2 * np.pi * t / period
                                                        + rng.uniform(0, 2 * np.pi))
                 + rng.normal(0, noise, length))
        pd.DataFrame({"date": dates, "value": value.round(4)}).to_csv(
            folder / f"series{k:03d}.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--horizon", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=200, help="cap for both models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--global-seq-len", type=int, default=None,
                        help="the global model's window  [default: rnnlab's, 30]")
    parser.add_argument("--global-strategy", default="recursive",
                        help="the global model's strategy  [default: recursive]")
    parser.add_argument("--local-strategy", default="auto",
                        help="the per-series models' strategy  [default: auto]")
    args = parser.parse_args()
    horizon = args.horizon

    with tempfile.TemporaryDirectory(prefix="rnnlab-seasonal-") as tmp:
        write_series(Path(tmp), args.series, args.length, args.seed)
        panel = load_panel(tmp)
    split = split_panel(panel, seq_len=max(30, args.global_seq_len or 30))
    print(f"{len(split.sizes)} series of {args.length} values, split by {split.how} at "
          f"{split.cuts}; horizon {horizon}; epochs capped at {args.epochs}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    # One-off costs of the first fit in a process (lazy imports) kept out of both timings.
    warm = {name: panel[name] for name in list(split.sizes)[:2]}
    fit_panel(GlobalForecaster(epochs=1, progress=False), warm, split_panel(warm, seq_len=30))
    Forecaster(epochs=1, progress=False).fit(next(iter(warm.values())))

    started = time.perf_counter()
    glob = fit_panel(GlobalForecaster(epochs=args.epochs, seq_len=args.global_seq_len,
                                      horizon=horizon, strategy=args.global_strategy,
                                      progress=False), panel, split)
    global_seconds = time.perf_counter() - started
    table, per_step = score_panel_paths(glob, panel, split, horizon)
    summary = aggregate_paths(table, per_step, horizon)
    table = table.set_index("series")

    local, seconds, strategies = [], 0.0, []
    for name in table.index:
        sizes, series = split.sizes[name], panel[name]
        values = series.to_numpy(np.float64)
        fit_part = values[: sizes.n_fit]
        origins = np.arange(sizes.n_fit, len(values) - horizon + 1)
        targets = values[origins[:, None] + np.arange(horizon)]
        started = time.perf_counter()
        model = Forecaster(horizon=horizon, strategy=args.local_strategy, epochs=args.epochs,
                           progress=False)
        model.fit(series.iloc[: sizes.n_fit], val_size=sizes.n_val)
        seconds += time.perf_counter() - started
        strategies.append(model.model_config().strategy)
        path = model.paths_from(values, origins, horizon)
        naive = NaiveForecaster().fit(series.iloc[: sizes.n_fit]).paths_from(values, origins,
                                                                            horizon)
        m = int(table.loc[name, "m4_period"])
        s, q = smape(targets.ravel(), path.ravel()), mase(targets.ravel(), path.ravel(),
                                                          fit_part, m)
        found = verdict_of_losses(((targets - path) ** 2).mean(1),
                                  {"naive": ((targets - naive) ** 2).mean(1)}, horizon)
        local.append({"smape": s, "mase": q, "owa": owa(s, q, table.loc[name, "naive2_smape"],
                                                        table.loc[name, "naive2_mase_m4"]),
                      "tie_or_beat": found.outcome != "loss"})
    local = pd.DataFrame(local, index=table.index)

    def row(label, smapes, mases, owas, share, fit_seconds):
        m4_owa = owa(smapes.mean(), mases.mean(), table["naive2_smape"].mean(),
                     table["naive2_mase_m4"].mean())
        shown = "" if share is None else f"{100 * share:.0f}%"
        timing = "" if fit_seconds is None else f"{fit_seconds:.1f}"
        print(f"{label:<22} {smapes.mean():>7.2f} {smapes.median():>7.2f} "
              f"{mases.mean():>6.3f} {mases.median():>6.3f} {m4_owa:>6.3f} "
              f"{owas.median():>6.3f} {shown:>9} {timing:>8}")

    print(f"{'':<22} {'sMAPE':>15} {'MASE':>13} {'OWA':>6} {'OWA':>6} {'ties or':>9}")
    print(f"{'model':<22} {'mean':>7} {'median':>7} {'mean':>6} {'median':>6} {'M4':>6} "
          f"{'median':>6} {'beats nv':>9} {'fit s':>8}")
    history = glob.history_
    row("global lstm", table["model_smape"], table["model_mase_m4"], table["owa"],
        summary["share_ties_or_beats_naive"], global_seconds)
    row("per-series lstm", local["smape"], local["mase"], local["owa"],
        local["tie_or_beat"].mean(), seconds)
    row("naive2", table["naive2_smape"], table["naive2_mase_m4"],
        pd.Series(np.ones(len(table))), None, None)
    seasonal_owa = pd.Series([owa(*table.loc[name, ["seasonal_naive_smape",
                                                    "seasonal_naive_mase_m4", "naive2_smape",
                                                    "naive2_mase_m4"]])
                              for name in table.index])
    row("seasonal naive", table["seasonal_naive_smape"], table["seasonal_naive_mase_m4"],
        seasonal_owa, None, None)
    strategy_counts = pd.Series(strategies).value_counts().to_dict()
    print(f"global: {args.global_strategy}, seq_len {glob.seq_len}, {history.epochs_run} "
          f"epochs (best {history.best_epoch}), "
          f"{glob.n_windows_['train']} training windows; per-series strategies "
          f"{strategy_counts}; seasonal by M4's test on "
          f"{100 * table['naive2_seasonal'].mean():.0f}% of series")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("OWA M4: mean sMAPE / Naive2's and mean MASE / Naive2's, averaged; OWA median: "
          "of each series' own OWA; ties or beats naive: rnnlab.metrics.verdict_of_losses "
          "on per-origin mean squared errors over the 10 steps")


if __name__ == "__main__":
    main()
